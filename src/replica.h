/*
 * replica.h - read replicas: one pool per replica host (replica_hosts), opened on first
 * use, and the choice of the replica a read-only transaction borrows a connection of.
 *
 * A replica is skipped while it is down (a connect failed or a connection of it broke:
 * for REPLICA_DOWN_NS, replica.c, so a dead one costs one connect attempt per interval;
 * REPLICA_STALLED_DOWN_NS after a connect that ran into its timeout) or while another
 * thread connects to it, or while its lag, measured at most every 100 ms when
 * max_replica_lag_ms > 0, is over the limit. The state is atomics: no lock is held across a connect or a query.
 */
#ifndef ZTOQ__REPLICA_H
#define ZTOQ__REPLICA_H

#include "conn.h"
#include "db.h"

struct ztoq__replica;

/*
 * Builds db's replica pools from replica_hosts, once db->target is complete (the
 * primary's connection string and dialect), sized and timed `like` the primary's.
 * Connects to nothing: a replica that is down does not fail the open. ZTOQ_EINVALID
 * for a bad list; what was built is freed by ztoq__replicas_close(). Not thread-safe
 * (ztoq_db_open).
 */
int ztoq__replicas_open(ztoq_db *db, const ztoq__pool_settings *like);

/* Closes every replica pool; none of their connections may be in use. */
void ztoq__replicas_close(ztoq_db *db);

/*
 * Borrows a connection of the next replica (round robin) that is up and within the lag
 * limit, waiting at most 100 ms for a free one of each. Returns 1 with *out and *from
 * (to give it back with ztoq__replica_release()), or 0 when none fits; records no
 * error either way. Thread-safe.
 */
int ztoq__replica_acquire(ztoq_db *db, ztoq__conn **out, struct ztoq__replica **from);

/*
 * Gives back a connection borrowed from replica `r`; a broken one (a disconnect) marks
 * the replica down first. Thread-safe.
 */
void ztoq__replica_release(struct ztoq__replica *r, ztoq__conn *c);

#endif
