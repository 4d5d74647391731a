/*
 * clock.h - monotonic time in nanoseconds, for deadlines (precise) and pool ages (coarse).
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

/*
 * The same monotonic clock as of the kernel's last tick (a few milliseconds behind at
 * most): several times cheaper to read (7 against 47 ns on this project's kvm-clock
 * machines, where three precise reads were most of a pool acquire + release). For ages
 * counted in milliseconds or more (pool idle time, lifetime, validation), never for
 * measuring a wait.
 */
static inline uint64_t ztoq__now_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline struct timespec ztoq__timespec(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	return ts;
}

#endif
