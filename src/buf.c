/*
 * buf.c - growable byte buffer.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

static int grow(ztoq__buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 64;
	char *data;

	if (b->failed)
		return -1;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (!(data = ztoq__realloc(b->data, cap))) {
		b->failed = 1;
		return -1;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

void ztoq__buf_append(ztoq__buf *b, const char *s, size_t len)
{
	if (grow(b, len) < 0)
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void ztoq__buf_puts(ztoq__buf *b, const char *s)
{
	ztoq__buf_append(b, s, strlen(s));
}

void ztoq__buf_append_doubling(ztoq__buf *b, const char *s, char quote)
{
	for (const char *p = s; *p; p++) {
		ztoq__buf_append(b, p, 1);
		if (*p == quote)
			ztoq__buf_append(b, p, 1);
	}
}

void ztoq__buf_printf(ztoq__buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int ztoq__buf_detach(ztoq__buf *b, char **out)
{
	if (grow(b, 0) < 0) {
		ztoq__buf_dispose(b);
		return ztoq__error_nomem();
	}
	*out = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return 0;
}

void ztoq__buf_dispose(ztoq__buf *b)
{
	if (b->data) {
		volatile char *p = b->data;
		for (size_t i = 0; i < b->cap; i++)
			p[i] = '\0';
		ztoq__free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}
