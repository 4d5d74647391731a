/*
 * die.c - bench_die(), shared by the benchmark's programs (ztoq_bench, copy_rates).
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "bench.h"

void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(1);
}
