/*
 * ztoq/common.h - macros and helpers shared by every public header.
 */
#ifndef ZTOQ_COMMON_H
#define ZTOQ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define ZTOQ_BEGIN_DECL extern "C" {
#define ZTOQ_END_DECL }
#else
#define ZTOQ_BEGIN_DECL
#define ZTOQ_END_DECL
#endif

/* Marks a function as part of the public ABI; everything else stays hidden. */
#if defined(__GNUC__) && defined(ZTOQ_BUILDING)
#define ZTOQ_EXTERN(type) __attribute__((visibility("default"))) type
#else
#define ZTOQ_EXTERN(type) type
#endif

#define ZTOQ_VERSION "0.1.0"
#define ZTOQ_VERSION_NUMBER 100 /* major * 10000 + minor * 100 + patch */

ZTOQ_BEGIN_DECL

/** Version string of the library actually linked. Thread-safe; static storage. */
ZTOQ_EXTERN(const char *) ztoq_version(void);

/**
 * Frees memory that a ztoq function returned through `char **out` (strings such as
 * connection strings or JSON). NULL is ignored. Thread-safe.
 */
ZTOQ_EXTERN(void) ztoq_free(void *ptr);

ZTOQ_END_DECL

#endif
