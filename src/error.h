/*
 * error.h - how the library records failures into the thread-local last error.
 */
#ifndef ZTOQ__ERROR_H
#define ZTOQ__ERROR_H

#include <sql.h>
#include <stdint.h>
#include <sqlext.h>

#include "ztoq/config.h"
#include "ztoq/error.h"

/* Maps a diagnostic record to a ztoq_error_code (ZTOQ_ERROR when nothing matches): a
 * backend's rules (src/dialect.h), which the caller picks; error.c only records. */
typedef int (*ztoq__classify_fn)(const char *sqlstate, int32_t native, const char *message);

/* Records `code` with a printf-style message; returns `code`. */
int ztoq__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Records the diagnostic records of an ODBC handle, classified by the backend's
 * `classify` (ZTOQ_ERROR if nothing matches or `classify` is NULL, or `fallback` when it
 * is not ZTOQ_ERROR). `secret`
 * (may be NULL) is replaced by "***" in the texts wherever it stands as a token of its
 * own, when it has 4 bytes or more (a shorter one would garble ordinary words; the
 * connection strings in contexts are redacted by attribute, whatever the length). The
 * message is "<context>: [SQLSTATE] driver text"; a context too long for the message
 * is cut and ends in "...", so the SQLSTATE and the driver's text always survive.
 * Returns the code.
 */
int ztoq__error_odbc(ztoq__classify_fn classify, SQLSMALLINT handle_type, SQLHANDLE handle,
		     const char *secret, int fallback, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* The room of an error's message, its NUL included: appended text past it is cut. */
#define ZTOQ__ERROR_MESSAGE_SIZE 2048

/* Appends text to the last error's message (keeps code and diagnostics); returns the code. */
int ztoq__error_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Changes the code of the last error (keeps message and diagnostics); returns it. */
int ztoq__error_reclassify(int code);

/*
 * A value quoted in a message, cut to at most ZTOQ__SHOWN bytes, never inside a UTF-8
 * character, with "..." so that the words after it survive a 10 KiB value:
 * printf("\"%.*s%s\"", ZTOQ__CLIP(value)).
 */
#define ZTOQ__SHOWN 200
#define ZTOQ__CLIP(v) ztoq__clip_len(v), (v), strlen(v) > ZTOQ__SHOWN ? "..." : ""

/* How many bytes of `v` ZTOQ__CLIP shows (error.c). Thread-safe. */
int ztoq__clip_len(const char *v);

/*
 * The first error wins: between ztoq__error_hold() and ztoq__error_release(), a
 * cleanup after a failure (a rollback, a close) records nothing, though every function
 * still returns its code. Holds nest; per thread, like the last error.
 */
void ztoq__error_hold(void);
void ztoq__error_release(void);

/* Shorthand for the message of an allocation failure. */
#define ztoq__error_nomem() ztoq__error_set(ZTOQ_ENOMEM, "out of memory")

#endif
