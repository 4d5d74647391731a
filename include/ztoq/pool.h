/*
 * ztoq/pool.h - figures of the connection pool a ztoq_db owns.
 *
 * The pool is bounded (min/max connections), hands a returned connection straight to
 * the longest waiter (FIFO), honours an acquire deadline, checks a connection idle for
 * longer than validate_after_ms with a real round trip, evicts broken connections, and
 * closes idle connections past idle_timeout_ms or max_lifetime_ms (never below the
 * minimum). Connections are borrowed through sessions (ztoq/session.h).
 */
#ifndef ZTOQ_POOL_H
#define ZTOQ_POOL_H

#include "common.h"

ZTOQ_BEGIN_DECL

typedef struct ztoq_db ztoq_db;

/** A snapshot of the pool's figures. */
typedef struct {
	size_t total;            /* connections open (idle + in use) */
	size_t idle;             /* open and waiting in the pool */
	size_t in_use;           /* borrowed by sessions */
	size_t waiting;          /* threads waiting in acquire */
	size_t min, max;         /* the bounds in force */
	uint64_t created;        /* connections opened since the start */
	uint64_t closed;         /* connections closed (idle timeout, lifetime, close) */
	uint64_t evicted;        /* connections dropped because they were broken */
	uint64_t timeouts;       /* acquires that hit their deadline */
	uint64_t acquires;       /* successful acquires */
	uint64_t wait_ns_total;  /* time spent waiting in acquire, summed */
	uint64_t wait_ns_max;    /* the longest single wait */
} ztoq_pool_stats;

/** Fills `out` with a consistent snapshot of `db`'s pool. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_pool_stats_get(ztoq_db *db, ztoq_pool_stats *out);

/**
 * Closes idle connections past their idle timeout or lifetime (never below the
 * minimum) and reopens up to the minimum. The pool also does this on its own as
 * connections come and go; call it from a timer in a long-lived quiet program.
 * Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_pool_maintain(ztoq_db *db);

ZTOQ_END_DECL

#endif
