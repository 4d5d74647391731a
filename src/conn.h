/*
 * conn.h - one physical ODBC connection and what we know about its state.
 *
 * A conn is used by one thread at a time (the pool hands it out exclusively).
 */
#ifndef ZTOQ_CONN_H
#define ZTOQ_CONN_H

#include <sql.h>
#include <sqlext.h>
#include <stdint.h>

#include "dialect.h"

struct ztoq_stmt;

typedef struct ztoq__conn {
	SQLHDBC dbc;
	const ztoq__dialect *dialect;
	const char *secret;        /* the password, to scrub from messages (not owned) */
	SQLULEN isolation;         /* SQL_ATTR_TXN_ISOLATION in force */
	SQLULEN default_isolation; /* what the driver started with: the pool default */
	int read_only;             /* SQL_ATTR_ACCESS_MODE and the server-side setting are on */
	int autocommit;            /* SQL_ATTR_AUTOCOMMIT is on */
	int in_tx;                 /* a transaction begun by ztoq__conn_begin is open */
	int broken;                /* saw a disconnect error: never reuse */
	uint64_t created_ns;       /* when it was opened */
	uint64_t released_ns;      /* when it last went back to the pool */
	struct ztoq_stmt *stmts;   /* prepared statements cached on this connection */
	SQLHSTMT exec_handle;      /* reused by ztoq__conn_exec; SQL_NULL_HSTMT until first use */
	unsigned nstmts;
	struct ztoq__conn *next;   /* pool's idle list */
} ztoq__conn;

/*
 * The library-wide lock around ODBC calls that change the driver manager's or a
 * driver's global lists: allocating and freeing environments and connections,
 * connecting and disconnecting.
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
 * Opens a connection on `env` with `connstr`. `redacted` names it in error messages;
 * `secret` is scrubbed from driver messages. Connects under ztoq__odbc_lock().
 * Returns ZTOQ_OK or a classified error.
 */
int ztoq__conn_open(ztoq__conn **out, SQLHENV env, const ztoq__dialect *dialect,
		    const char *connstr, const char *redacted, const char *secret,
		    long login_timeout_s);

/* Disconnects and frees (serialised like open). NULL is ignored. */
void ztoq__conn_close(ztoq__conn *c);

/*
 * Executes one statement outside the statement cache (BEGIN, COMMIT, SAVEPOINT, the
 * ping), on a handle the connection keeps; any rows are read and dropped.
 */
int ztoq__conn_exec(ztoq__conn *c, const char *sql);

/* A real round trip (the dialect's ping query). Marks the conn broken on failure. */
int ztoq__conn_ping(ztoq__conn *c);

/* Sets SQL_ATTR_TXN_ISOLATION, only when it differs from the level in force. */
int ztoq__conn_set_isolation(ztoq__conn *c, SQLULEN level);

/* Turns read-only on or off (access mode + the dialect's server-side setting), if it differs. */
int ztoq__conn_set_read_only(ztoq__conn *c, int on);

/*
 * Begins a transaction: with the dialect's BEGIN statement where it has one (autocommit
 * stays on), else by turning autocommit off.
 */
int ztoq__conn_begin(ztoq__conn *c, int read_only);

/*
 * Ends the open transaction (commit or rollback) and puts the conn back in autocommit.
 * When the commit or rollback fails, its error stays the last error: the cleanup
 * after it (a ROLLBACK, autocommit back on) records nothing, and marks the conn broken
 * when it fails too.
 */
int ztoq__conn_end(ztoq__conn *c, int commit);

/*
 * Records the diagnostics of `handle` as the last error (context printf-style) and
 * marks the conn broken when the error says the connection is gone.
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
