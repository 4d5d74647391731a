/*
 * clock.h - monotonic time in nanoseconds, for deadlines and pool ages.
 */
#ifndef ZTOQ__CLOCK_H
#define ZTOQ__CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ztoq__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline struct timespec ztoq__timespec(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	return ts;
}

#endif
