/*
 * conn.h - one physical ODBC connection and what we know about its state.
 *
 * A conn is used by one thread at a time (the pool hands it out exclusively).
 */
#ifndef ZTOQ__CONN_H
#define ZTOQ__CONN_H

#include <sql.h>
#include <sqlext.h>
#include <stdint.h>

#include "dialect.h"
#include "stmt_cache.h"
#include "watchdog.h"

/* What the watchdog did to a call that overran its deadline (ztoq__conn.timed_out). */
enum {
	ZTOQ__TIMED_OUT_CANCELLED = 1, /* SQLCancel: the connection can be trusted */
	ZTOQ__TIMED_OUT_CLOSED = 2,    /* its socket was shut down: the connection is gone */
	ZTOQ__NOT_WATCHED = 3          /* the watchdog could not start: the call was not made */
};

/* The transaction open on a connection (ztoq__conn.in_tx). */
enum {
	ZTOQ__TX_NONE = 0,
	ZTOQ__TX_READ_WRITE = 1,
	ZTOQ__TX_READ_ONLY = 2 /* a COMMIT that breaks lost nothing: not unknown */
};

/* Where and how a manager's connections are opened (owned by the manager). */
typedef struct {
	SQLHENV env;
	const ztoq__dialect *dialect; /* NULL: not known yet (a DSN's first connect) */
	const ztoq__dialect *connect_as; /* while dialect is NULL: whose locks the connect
					  takes (the backend its driver's file names), or
					  NULL: those of a driver the library does not know */
	const char *connstr;
	const char *redacted;        /* names it in error messages */
	const char *secret;          /* scrubbed from driver messages; may be NULL */
	long login_timeout_s;        /* 0: the driver's default (psqlODBC: wait for ever) */
	int port;                    /* PostgreSQL's TCP port, to find the socket; 0: any */
	uint64_t statement_timeout_ns; /* 0: statements are not bounded */
	int tx_pooler;               /* behind a transaction pooler: no session state */
	ztoq__watchdog *watchdog;
} ztoq__conn_target;

typedef struct ztoq__conn {
	SQLHDBC dbc;
	const ztoq__dialect *dialect;
	const char *secret;        /* the password, to scrub from messages (not owned) */
	SQLULEN isolation;         /* SQL_ATTR_TXN_ISOLATION in force */
	SQLULEN default_isolation; /* what the driver started with: the pool default */
	int read_only;             /* SQL_ATTR_ACCESS_MODE and the server-side setting are on */
	int autocommit;            /* SQL_ATTR_AUTOCOMMIT is on */
	int in_tx;                 /* ZTOQ__TX_*: a transaction begun by ztoq__conn_begin */
	int broken;                /* saw a disconnect error: never reuse */
	uint64_t created_ns;       /* when it was opened (its pool's age clock, pool.c) */
	uint64_t released_ns;      /* when it last went back to the pool (same clock) */
	uint64_t pool_breaks;      /* the pool's count of breaks when it was opened or
				      last validated (pool.c: recheck_on_break) */
	ztoq__stmt_cache stmts;    /* prepared statements cached on this connection */
	SQLHSTMT exec_handle;      /* reused by ztoq__conn_exec; SQL_NULL_HSTMT until first use */
	struct ztoq__conn *next;   /* pool's idle list */

	/* bounded calls (watchdog.c) */
	ztoq__watchdog *watchdog;
	uint64_t statement_timeout_ns; /* 0: statements are not bounded */
	uint64_t grace_ns;         /* added to it where the server bounds statements itself */
	int tx_pooler;             /* behind a transaction pooler: the server's timeout is
				      set in each transaction (tx_settings), none outside */
	int watched;               /* depth of ztoq__conn_watch calls (owner's view) */
	int timed_out;             /* ZTOQ__TIMED_OUT_*: the watchdog ended the last call */
	SQLHSTMT cancel_handle;    /* SQLite: an idle handle only the watchdog cancels */
	/* written under watchdog.c's sockets_lock, by the owner only (claim and release);
	 * the watchdog reads sock while the conn is watched, when nobody writes it */
	int sock;                  /* a duplicate of the connection's TCP socket, or -1 */
	ino_t sock_ino;            /* that socket's inode, to know it by */
	struct ztoq__conn *sock_next;
	/* guarded by the watchdog's mutex */
	uint64_t watch_deadline;   /* 0: not on the watchdog's list */
	int firing;                /* the watchdog is acting on it, outside its mutex */
	int fired;                 /* what it did (ZTOQ__TIMED_OUT_*), for disarm */
	struct ztoq__conn *watch_next, *watch_prev;
} ztoq__conn;

/*
 * The library-wide lock around ODBC calls that change the driver manager's or a
 * driver's global lists: allocating and freeing handles, disconnecting, and the
 * SQLite driver's connect. Never held across a PostgreSQL connect (network I/O).
 */
void ztoq__odbc_lock(void);
void ztoq__odbc_unlock(void);

/*
 * Allocates a statement handle on `c` under ztoq__odbc_lock() (unixODBC's handle lists
 * are shared by every connection); records the error on failure.
 */
int ztoq__conn_alloc_stmt(ztoq__conn *c, SQLHSTMT *out);

/* Frees a statement handle under ztoq__odbc_lock(). */
void ztoq__conn_free_stmt(SQLHSTMT handle);

/*
 * Opens a connection to `t` (which must outlive it). Only the SQLite driver's connect
 * (and any driver the dialect does not know) runs under ztoq__odbc_lock(). A SQLite
 * connection gets its cancel handle; a PostgreSQL one its socket, when it can be found
 * and confirmed (one more round trip). The driver's SQL_DBMS_NAME must be t->dialect's
 * backend (ZTOQ_EINVALID otherwise). With t->dialect NULL the connect is made as for
 * an unknown driver and (*out)->dialect is the backend the driver reported: that
 * connection is only fit to be closed (db.c's detection). Returns ZTOQ_OK or a
 * classified error.
 */
int ztoq__conn_open(ztoq__conn **out, const ztoq__conn_target *t);

/* SQLGetInfo text `what` of `dbc` into `buf` ("" when the driver does not say). */
void ztoq__conn_info(SQLHDBC dbc, SQLUSMALLINT what, char *buf, size_t size);

/* Disconnects and frees (serialised like open). NULL is ignored. */
void ztoq__conn_close(ztoq__conn *c);

/*
 * Executes one statement outside the statement cache (BEGIN, COMMIT, SAVEPOINT, the
 * ping), on a handle the connection keeps; any rows are read and dropped. Bounded by
 * the statement timeout.
 */
int ztoq__conn_exec(ztoq__conn *c, const char *sql);

/*
 * ztoq__conn_exec of a query whose first column of its first row is an integer, read
 * into *value (-1: NULL or no row), bounded by `deadline_ns` (CLOCK_MONOTONIC; 0: the
 * statement timeout). Owner thread only.
 */
int ztoq__conn_exec_int(ztoq__conn *c, const char *sql, uint64_t deadline_ns,
			SQLINTEGER *value);

/*
 * A real round trip (the dialect's ping query), bounded by `deadline_ns`
 * (CLOCK_MONOTONIC; 0: the statement timeout). Marks the conn broken on failure.
 */
int ztoq__conn_ping(ztoq__conn *c, uint64_t deadline_ns);

/*
 * Puts the driver call about to run on `c` under the watchdog until `deadline_ns` (0:
 * now + the statement timeout, or no watch when there is none). The watchdog never
 * touches the call's own handle (see watchdog.c). A watch inside a watch is part of
 * the outer one. Owner thread only. Returns ZTOQ_OK, or ZTOQ_ENOMEM when the
 * watchdog's thread cannot start: the caller must not make the call, and its
 * ztoq__conn_error() reports that.
 */
int ztoq__conn_watch(ztoq__conn *c, uint64_t deadline_ns);

/*
 * Ends the watch begun by ztoq__conn_watch; `rc` is what the call returned. When the
 * watchdog shut the socket the conn is broken whatever `rc` says (a late fire).
 */
void ztoq__conn_unwatch(ztoq__conn *c, SQLRETURN rc);

/*
 * The driver calls that can wait, made under the watchdog (ztoq__conn_watch with the
 * statement timeout): SQLExecDirect of `len` bytes of `sql` on `h`, or SQLExecute of
 * `h` when `sql` is NULL; SQLFetch of `h`. They return what the driver returned; a
 * call the watchdog ended is reported as ZTOQ_ETIMEOUT by ztoq__conn_error. Owner
 * thread only.
 */
SQLRETURN ztoq__conn_execute(ztoq__conn *c, SQLHSTMT h, const char *sql, SQLINTEGER len);
SQLRETURN ztoq__conn_fetch(ztoq__conn *c, SQLHSTMT h);

/* Sets SQL_ATTR_TXN_ISOLATION, only when it differs from the level in force. */
int ztoq__conn_set_isolation(ztoq__conn *c, SQLULEN level);

/* Turns read-only on or off (access mode + the dialect's server-side setting), if it differs. */
int ztoq__conn_set_read_only(ztoq__conn *c, int on);

/*
 * Begins a transaction: with the dialect's BEGIN statement where it has one (autocommit
 * stays on), else by turning autocommit off. `begin` (may be NULL) is a statement to
 * begin with instead of the dialect's; only a dialect that begins in SQL may be given
 * one (ztoq__conn_end ends it with COMMIT or ROLLBACK).
 */
int ztoq__conn_begin(ztoq__conn *c, int read_only, const char *begin);

/*
 * Ends the open transaction (commit or rollback) and puts the conn back in autocommit.
 * When the commit or rollback fails, its error stays the last error: the cleanup
 * after it (a ROLLBACK, autocommit back on) records nothing, and marks the conn broken
 * when it fails too.
 */
int ztoq__conn_end(ztoq__conn *c, int commit);

/*
 * Records the diagnostics of `handle` as the last error (context printf-style) and
 * marks the conn broken when the error says the connection is gone. A call the
 * watchdog ended is reported as ZTOQ_ETIMEOUT.
 */
int ztoq__conn_error(ztoq__conn *c, SQLSMALLINT handle_type, SQLHANDLE handle,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));


/*
 * Puts the conn back to the pool defaults: rolls back an open transaction, autocommit
 * on, default isolation, read-write. Costs no round trip when nothing changed. On
 * failure the conn is marked broken; the last error is never changed.
 */
int ztoq__conn_reset(ztoq__conn *c);
#endif
