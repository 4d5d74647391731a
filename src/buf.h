/*
 * buf.h - a growable byte buffer for composing strings.
 *
 * A failed allocation is sticky: later appends do nothing and ztoq__buf_detach()
 * reports ZTOQ_ENOMEM, so callers check once at the end.
 */
#ifndef ZTOQ__BUF_H
#define ZTOQ__BUF_H

#include <stddef.h>

typedef struct {
	char *data;
	size_t len, cap;
	int failed;
} ztoq__buf;

#define ZTOQ__BUF_INIT {NULL, 0, 0, 0}

void ztoq__buf_append(ztoq__buf *b, const char *s, size_t len);
void ztoq__buf_puts(ztoq__buf *b, const char *s);
/* Appends `s`, writing every `quote` character twice (the SQL and ODBC escape). */
void ztoq__buf_append_doubling(ztoq__buf *b, const char *s, char quote);

void ztoq__buf_printf(ztoq__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the NUL-terminated string to *out (caller frees); ZTOQ_ENOMEM if any append failed. */
int ztoq__buf_detach(ztoq__buf *b, char **out);

/* Releases the buffer, wiping its bytes (it may hold a password). */
void ztoq__buf_dispose(ztoq__buf *b);

#endif
