/*
 * pool.h - the thread-safe connection pool behind a ztoq_db.
 */
#ifndef ZTOQ__POOL_H
#define ZTOQ__POOL_H

#include <stdint.h>

#include "conn.h"
#include "ztoq/pool.h"

typedef struct ztoq__pool ztoq__pool;

/* How the pool opens a new connection (the db supplies it). */
typedef int (*ztoq__pool_open_fn)(ztoq__conn **out, void *ctx);

typedef struct {
	size_t min, max;
	int lazy; /* open connections on demand only; min is then only a floor for closing */
	/* a connection that breaks has every idle one opened before it validated at its
	 * next acquire, however recently released (a host list: after a failover the old
	 * primary's connections are all dead) */
	int recheck_on_break;
	uint64_t acquire_timeout_ns, idle_timeout_ns, max_lifetime_ns, validate_after_ns;
	ztoq__pool_open_fn open;
	void *open_ctx;
} ztoq__pool_settings;

/*
 * Creates the pool and, unless lazy, opens `min` connections: then it fails if they
 * cannot be opened.
 */
int ztoq__pool_new(ztoq__pool **out, const ztoq__pool_settings *settings);

/*
 * Closes the expired idle connections and, unless the pool is lazy, opens up to its
 * minimum (failing when they cannot be opened). Thread-safe.
 */
int ztoq__pool_maintain(ztoq__pool *p);

/* Closes every idle connection and frees the pool. No connection may be in use. */
void ztoq__pool_free(ztoq__pool *p);

/*
 * Borrows a connection, waiting at most `timeout_ns` (UINT64_MAX: the pool's own
 * acquire timeout). Thread-safe.
 */
int ztoq__pool_acquire(ztoq__pool *p, ztoq__conn **out, uint64_t timeout_ns);

/* Gives a connection back; a broken one is closed and replaced for waiters. Thread-safe. */
void ztoq__pool_release(ztoq__pool *p, ztoq__conn *c);

/* Copies the pool's figures, under its lock (ztoq_pool_stats_get()). Thread-safe. */
void ztoq__pool_stats(ztoq__pool *p, ztoq_pool_stats *out);

#endif
