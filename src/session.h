/*
 * session.h - a session's internals: its transaction state, shared with the modules
 * above it (tx, db, batch, bulk, health, migrate) and read by the statement module
 * below it.
 *
 * The statement module must refuse statements in a failed transaction and fail the
 * transaction when a statement fails, but it sits below the session (the session's
 * one-call conveniences use it). So the check and the bookkeeping are static inline
 * functions over the struct's fields: reading them calls nothing above the
 * statement module. docs/design.md "Module map" draws the layers.
 */
#ifndef ZTOQ__SESSION_H
#define ZTOQ__SESSION_H

#include "conn.h"
#include "db.h"
#include "error.h"
#include "replica.h"
#include "ztoq/session.h"

struct ztoq__replica;

struct ztoq_session {
	ztoq_db *db;
	ztoq__conn *conn;         /* where statements run: home, or the replica's */
	ztoq__conn *home;         /* the primary's connection, held while the session
				     lives (NULL: opened on a replica, ztoq_db_transaction) */
	ztoq__conn *replica;      /* a replica's, lent for a read-only transaction (kept
				     after it while statements prepared on it live), or NULL */
	struct ztoq__replica *replica_of; /* the replica it came from */
	int live_stmts;           /* prepared and not finalized (stmt.c): no routing */
	int read_your_writes;     /* read-only transactions stay on the primary */
	int routed_at_open;       /* open_session tried a replica already (counted) */
	int depth;                /* open transaction levels */
	unsigned outer_ends;      /* outer transactions ended (committed or rolled back) */
	int failed;               /* the level a statement failed in (0: none) */
	ztoq_isolation isolation; /* in force for the open transaction */
	int read_only;            /* the open transaction is read-only */
	int thread_owned;         /* a thread-local session (db.c's registry) */
};

/*
 * Gives back a replica connection lent to statements of an ended routed transaction,
 * once none of them is alive and the session is back on its home connection. Called
 * when a statement is finalized (stmt.c) and when a routed transaction ends.
 */
static inline void ztoq__session_return_replica(ztoq_session *s)
{
	if (s->live_stmts > 0 || !s->replica || !s->home || s->conn != s->home)
		return;
	ztoq__replica_release(s->replica_of, s->replica);
	s->replica = NULL;
}

/* Refuses statements in a failed transaction: ZTOQ_OK or ZTOQ_ETXFAILED. */
static inline int ztoq__session_check(const ztoq_session *s)
{
	if (s->failed)
		return ztoq__error_set(ZTOQ_ETXFAILED,
				       "a statement failed earlier in this transaction: roll it "
				       "back before running more");
	return ZTOQ_OK;
}

/* Records a failed statement: fails the innermost open level. Returns `code`. */
static inline int ztoq__session_failed(ztoq_session *s, int code)
{
	if (s->depth > 0 && !s->failed)
		s->failed = s->depth;
	return code;
}

/*
 * The transaction levels of a session (ztoq_tx_begin/commit/rollback are these): the
 * outer level is the connection's transaction (the dialect's BEGIN form, `opts` its
 * isolation and read-only mode, NULL the defaults), an inner one a savepoint. The
 * session owns its levels and its connection; `opts` is only read during the call.
 * Return ZTOQ_OK or a negative code, recorded as the last error: ZTOQ_EINVALID for a
 * NULL session or bad `opts`, ZTOQ_ESTATE to end with no level open, ZTOQ_ETXFAILED
 * to nest in or commit a level in which a statement failed (a commit rolls it back
 * instead), or the driver's error, which fails the level (a savepoint that cannot be
 * undone fails the outer level too). Owner thread only, like the session.
 */
int ztoq__session_begin(ztoq_session *s, const ztoq_tx_options *opts);
int ztoq__session_commit(ztoq_session *s);
int ztoq__session_rollback(ztoq_session *s);

/*
 * Rolls back the innermost level after a failure whose error is the last error; the
 * rollback's own failure records nothing (the first error wins). Returns `code`.
 */
int ztoq__session_rollback_after(ztoq_session *s, int code);

/*
 * Begins a migration's transaction: with the dialect's migration_begin statement (it
 * shuts out other migrators; SQLite's BEGIN EXCLUSIVE) where it has one, else as
 * ztoq_tx_begin(s, NULL). Ended by ztoq__session_commit/_rollback. No transaction may
 * be open.
 */
int ztoq__session_begin_migration(ztoq_session *s);

/*
 * Runs one of the library's fixed statements (no parameters; rows are dropped)
 * outside the statement cache. A failure fails the open transaction.
 */
int ztoq__session_exec_plain(ztoq_session *s, const char *sql);

/*
 * Runs the `len` bytes at `sql` as one statement of a script (any statement, planned
 * as ztoq_stmt_prepare plans it; rows are dropped), outside the statement cache. On
 * failure the error's message starts with the printf-style context. A failure fails
 * the open transaction.
 */
int ztoq__session_exec_script(ztoq_session *s, const char *sql, size_t len, const char *fmt,
			      ...) __attribute__((format(printf, 4, 5)));

/*
 * The session's connection is not reused: closing the session closes it instead of
 * returning it to the pool (it may hold a lock or a transaction nobody could end).
 */
void ztoq__session_discard(ztoq_session *s);

/*
 * Opens a session for a read-only ztoq_db_transaction: on a replica's connection when
 * one fits (no primary connection is held unless the transaction falls back), else
 * as ztoq_session_open(). Thread-safe.
 */
int ztoq__session_open_read(ztoq_session **out, ztoq_db *db);

/*
 * Ends a session whatever its kind (thread-local ones too): rolls back what is open
 * (ZTOQ_ESTATE unless a statement had failed), returns the connection to the pool and
 * frees the session.
 */
int ztoq__session_end(ztoq_session *s);

#endif
