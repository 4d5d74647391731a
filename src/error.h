/*
 * error.h - how the library records failures into the thread-local last error.
 */
#ifndef ZTOQ_ERROR_INTERNAL_H
#define ZTOQ_ERROR_INTERNAL_H

#include <sql.h>
#include <sqlext.h>

#include "ztoq/config.h"
#include "ztoq/error.h"

/* Records `code` with a printf-style message; returns `code`. */
int ztoq__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Records the diagnostic records of an ODBC handle, classified for backend `type`
 * (ZTOQ_ERROR if nothing matches, or `fallback` when it is not ZTOQ_ERROR). Every
 * occurrence of `secret` (may be NULL) is replaced in the texts. The message is
 * "<context>: [SQLSTATE] driver text". Returns the code.
 */
int ztoq__error_odbc(ztoq_db_type type, SQLSMALLINT handle_type, SQLHANDLE handle,
		     const char *secret, int fallback, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Appends text to the last error's message (keeps code and diagnostics); returns the code. */
int ztoq__error_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Changes the code of the last error (keeps message and diagnostics); returns it. */
int ztoq__error_reclassify(int code);

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
