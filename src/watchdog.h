/*
 * watchdog.h - bounds driver calls that the drivers themselves cannot bound.
 *
 * A call that can wait on the network or on a long computation is "watched": its
 * connection is put on the manager's watchdog list with a deadline. A thread per
 * manager wakes at the earliest deadline and, for an overrun call, makes it return:
 * SQLCancel() where the driver's cancel is local (SQLite: sqlite3_interrupt), or
 * shutdown() of the connection's socket where a cancel would itself need the network
 * (psqlODBC's cancel opens a new connection). The connection is then marked timed out,
 * so the error the call returns is reported as ZTOQ_ETIMEOUT (see conn.c).
 */
#ifndef ZTOQ_WATCHDOG_H
#define ZTOQ_WATCHDOG_H

#include <sql.h>
#include <stddef.h>
#include <stdint.h>

struct ztoq__conn;
typedef struct ztoq__watchdog ztoq__watchdog;

/* Starts a manager's watchdog thread. Returns ZTOQ_OK or ZTOQ_ENOMEM (recorded). */
int ztoq__watchdog_new(ztoq__watchdog **out);

/* Stops the thread and frees. No connection may be watched. NULL is ignored. */
void ztoq__watchdog_free(ztoq__watchdog *w);

/*
 * Watches `c`, which is about to run a driver call on `handle`, until `deadline_ns`
 * (CLOCK_MONOTONIC). Called by the thread that owns `c`; thread-safe.
 */
void ztoq__watchdog_arm(ztoq__watchdog *w, struct ztoq__conn *c, SQLHSTMT handle,
			uint64_t deadline_ns);

/* Ends the watch of `c`; after it returns the watchdog no longer touches `c`. */
void ztoq__watchdog_disarm(ztoq__watchdog *w, struct ztoq__conn *c);

/* The candidate sockets of a connection about to open (see claim_socket). */
#define ZTOQ__MAX_SOCKETS 256
typedef struct {
	size_t n;
	int fds[ZTOQ__MAX_SOCKETS];
} ztoq__socket_snapshot;

/* Lists the connected TCP sockets to `port` (0: any) that no connection claimed. */
void ztoq__watchdog_socket_snapshot(ztoq__socket_snapshot *before, int port);

/*
 * Finds the TCP socket of a PostgreSQL connection just opened (the driver does not
 * expose it): the one candidate that is not in `before`. `c->sock` stays -1 when there
 * is not exactly one (two connections opened at the same moment). Thread-safe.
 */
void ztoq__watchdog_claim_socket(struct ztoq__conn *c, int port,
				 const ztoq__socket_snapshot *before);

/* Gives up `c`'s socket before it is closed. Thread-safe. */
void ztoq__watchdog_release_socket(struct ztoq__conn *c);

#endif
