/*
 * alloc.c - the allocator entry point, with a fault-injection hook for tests.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ztoq/common.h"

static atomic_long fail_countdown;

void ztoq__alloc_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}

static int should_fail(void)
{
	long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
	if (n <= 0)
		return 0;
	return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *ztoq__malloc(size_t size)
{
	return should_fail() ? NULL : malloc(size ? size : 1);
}

void *ztoq__calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *ztoq__realloc(void *ptr, size_t size)
{
	return should_fail() ? NULL : realloc(ptr, size ? size : 1);
}

char *ztoq__strndup(const char *s, size_t len)
{
	char *copy = ztoq__malloc(len + 1);
	if (copy) {
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

char *ztoq__strdup(const char *s)
{
	return ztoq__strndup(s, strlen(s));
}

void ztoq__free(void *ptr)
{
	free(ptr);
}

void ztoq__free_secret(char *s)
{
	if (s) {
		volatile char *p = s;
		while (*p)
			*p++ = '\0';
		free(s);
	}
}

ZTOQ_EXTERN(void) ztoq_free(void *ptr)
{
	free(ptr);
}

ZTOQ_EXTERN(const char *) ztoq_version(void)
{
	return ZTOQ_VERSION;
}
