/*
 * alloc.h - the library's single allocator entry point.
 *
 * Every allocation goes through these, so tests can make the Nth one fail
 * (ztoq__alloc_fail_after) and check that each failure path cleans up.
 */
#ifndef ZTOQ__ALLOC_H
#define ZTOQ__ALLOC_H

#include <stddef.h>

void *ztoq__malloc(size_t size);
void *ztoq__calloc(size_t n, size_t size);
void *ztoq__realloc(void *ptr, size_t size);
char *ztoq__strndup(const char *s, size_t len);
char *ztoq__strdup(const char *s);
void ztoq__free(void *ptr);

/* Overwrites a string that held a secret (a password) with NULs, then frees it. */
void ztoq__free_secret(char *s);

/* Test hook: the `n`th allocation from now (1 = the next) fails; 0 disarms. */
void ztoq__alloc_fail_after(long n);

#endif
