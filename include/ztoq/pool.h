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
 * minimum) and reopens up to the minimum; the read replicas' pools (replica_hosts) are
 * only cleared of their expired connections, since they open on demand. The pools also
 * do this on their own as connections come and go; call it from a timer in a
 * long-lived quiet program. Returns the primary pool's result. Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_pool_maintain(ztoq_db *db);

/*
 * Read replicas (replica_hosts): each replica host has its own pool, beside the
 * primary's that ztoq_pool_stats_get() describes, with the same sizes and timeouts,
 * opened on first use. Read-only transactions borrow from them (ztoq/session.h).
 */

/** How many replica pools `db` has: one per host of replica_hosts. Thread-safe. */
ZTOQ_EXTERN(size_t) ztoq_db_replica_count(const ztoq_db *db);

/**
 * Fills `out` with a snapshot of the pool of replica `index` (0-based, in the order of
 * replica_hosts); ZTOQ_EINVALID past ztoq_db_replica_count(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_pool_stats_get_replica(ztoq_db *db, size_t index, ztoq_pool_stats *out);

/** Where read-only transactions ran, counted since ztoq_db_open(). */
typedef struct {
	uint64_t routed;    /* outer read-only transactions run on a replica */
	uint64_t fallbacks; /* ones that could have, but ran on the primary: every replica
			       was down, lagging, busy, or failed to begin */
} ztoq_route_stats;

/** Fills `out` with `db`'s routing counters. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_route_stats_get(ztoq_db *db, ztoq_route_stats *out);

ZTOQ_END_DECL

#endif
