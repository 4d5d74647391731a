/*
 * watchdog.h - bounds driver calls that the drivers themselves cannot bound.
 *
 * A call that can wait on the network or on a long computation is "watched": its
 * connection is put on the manager's watchdog list with a deadline. A thread per
 * manager wakes at the earliest deadline and, for an overrun call, makes it return:
 * SQLCancel() on the connection's idle cancel handle where the driver's cancel is local
 * (SQLite: sqlite3_interrupt, connection-wide), or shutdown() of the connection's socket
 * where a cancel would itself need the network (psqlODBC's cancel opens a new
 * connection). ztoq__watchdog_disarm() then says what was done, so the error the call
 * returns is reported as ZTOQ_ETIMEOUT (see conn.c).
 */
#ifndef ZTOQ__WATCHDOG_H
#define ZTOQ__WATCHDOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ztoq__conn;
typedef struct ztoq__watchdog ztoq__watchdog;

/*
 * Makes a manager's watchdog; its thread (every signal blocked in it) starts with the
 * first ztoq__watchdog_arm(). The manager owns the result. Returns ZTOQ_OK or
 * ZTOQ_ENOMEM (recorded).
 */
int ztoq__watchdog_new(ztoq__watchdog **out);

/* Stops the thread, if it started, and frees. No connection may be watched. NULL is
 * ignored. */
void ztoq__watchdog_free(ztoq__watchdog *w);

/*
 * Watches `c`, which is about to run a driver call, until `deadline_ns`
 * (CLOCK_MONOTONIC), starting the thread on first use. Called by the thread that owns
 * `c`, which must not be watched already; thread-safe against the watchdog and other
 * connections. Returns ZTOQ_OK, or ZTOQ_ENOMEM (not recorded; `c` is not watched)
 * when the thread cannot start.
 */
int ztoq__watchdog_arm(ztoq__watchdog *w, struct ztoq__conn *c, uint64_t deadline_ns);

/*
 * Ends the watch of `c` (owner thread); when it returns the watchdog no longer touches
 * `c`: a cancel or shutdown under way is waited for. Returns what the watchdog did to
 * the call: 0 (nothing) or a ZTOQ__TIMED_OUT_* value.
 */
int ztoq__watchdog_disarm(ztoq__watchdog *w, struct ztoq__conn *c);

/* The candidate sockets of a connection about to open, by inode (see claim_socket). */
#define ZTOQ__MAX_SOCKETS 256
typedef struct {
	size_t n;
	ino_t inos[ZTOQ__MAX_SOCKETS];
} ztoq__socket_snapshot;

/* Lists the connected TCP sockets to `port` (0: any) that no connection claimed. */
void ztoq__watchdog_socket_snapshot(ztoq__socket_snapshot *before, int port);

/*
 * Finds the TCP socket of a PostgreSQL connection just opened (the driver does not
 * expose it): the one candidate that is not in `before`, and keeps a duplicate of its
 * descriptor in `c->sock`, so that the number shut down later is always that socket,
 * even after the driver closed its own descriptor and the number was reused. `c->sock`
 * stays -1 when there is not exactly one. Thread-safe (connects call it in turn).
 */
void ztoq__watchdog_claim_socket(struct ztoq__conn *c, int port,
				 const ztoq__socket_snapshot *before);

/* The local TCP port of `c->sock`, or -1 (no socket). Owner thread. */
int ztoq__watchdog_socket_port(const struct ztoq__conn *c);

/* The segments `c->sock` has sent so far (TCP_INFO), or 0. Owner thread. */
uint64_t ztoq__watchdog_socket_segments(const struct ztoq__conn *c);

/* Gives up and closes `c`'s duplicate socket (-1 afterwards; the driver's stays).
 * Owner thread, never while watched; thread-safe against other connections' claims. */
void ztoq__watchdog_release_socket(struct ztoq__conn *c);

#endif
