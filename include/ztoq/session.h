/*
 * ztoq/session.h - sessions (borrowed connections) and transactions.
 *
 * A session is one pooled connection lent to one thread. Statements outside a
 * transaction commit on their own. ztoq_tx_begin() starts a transaction (or, inside
 * one, a savepoint); ztoq_tx_commit()/ztoq_tx_rollback() end the innermost level.
 * Any failed statement fails the innermost open level: later statements are refused
 * with ZTOQ_ETXFAILED until that level is rolled back, and its commit rolls back.
 * Closing a session rolls back whatever is still open and resets the connection to the
 * pool defaults (isolation, read-write, autocommit).
 *
 * A session is not thread-safe: use it from one thread at a time.
 */
#ifndef ZTOQ_SESSION_H
#define ZTOQ_SESSION_H

#include "common.h"
#include "db.h"

ZTOQ_BEGIN_DECL

typedef struct ztoq_session ztoq_session;

/** Isolation levels: PostgreSQL sets them with SET TRANSACTION in the transaction,
 * another ODBC driver through SQL_ATTR_TXN_ISOLATION. */
typedef enum {
	ZTOQ_ISOLATION_DEFAULT = 0, /* the pool's default (the driver's) */
	ZTOQ_ISOLATION_READ_UNCOMMITTED,
	ZTOQ_ISOLATION_READ_COMMITTED,
	ZTOQ_ISOLATION_REPEATABLE_READ,
	ZTOQ_ISOLATION_SERIALIZABLE
} ztoq_isolation;

/** Options of a transaction. Initialise with ZTOQ_TX_OPTIONS_INIT. */
typedef struct {
	unsigned version;         /* ZTOQ_TX_OPTIONS_VERSION */
	ztoq_isolation isolation; /* at least this level; the level in force may be stronger */
	int read_only;            /* refuse writes (enforced by the server too) */
	unsigned max_retries;     /* ztoq_db_transaction: reruns on ZTOQ_ERETRY, ZTOQ_EBUSY and
				     ZTOQ_EDISCONNECTED (before COMMIT) */
	unsigned retry_base_ms;   /* first backoff; doubles each retry, with jitter */
	unsigned *attempts;       /* out, may be NULL: how many times the callback ran */
} ztoq_tx_options;

#define ZTOQ_TX_OPTIONS_VERSION 1
#define ZTOQ_TX_OPTIONS_INIT {ZTOQ_TX_OPTIONS_VERSION, ZTOQ_ISOLATION_DEFAULT, 0, 0, 10, NULL}

/** The work of a transaction: return 0 to commit, anything else to roll back. */
typedef int (*ztoq_tx_fn)(ztoq_session *session, void *payload);

/**
 * Borrows a connection from `db`'s pool, waiting at most the configured acquire
 * timeout (ZTOQ_ETIMEOUT, with the pool's figures in the message). The caller owns
 * the session and must end it with ztoq_session_close(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_session_open(ztoq_session **out, ztoq_db *db);

/** As ztoq_session_open(), with an explicit deadline in milliseconds. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_session_open_timeout(ztoq_session **out, ztoq_db *db, unsigned timeout_ms);

/**
 * Rolls back anything still open, returns the connection to the pool (reset to the
 * pool defaults; a broken one is evicted) and frees the session. Returns
 * ZTOQ_ESTATE if a transaction had to be rolled back, so forgotten commits show;
 * one in which a statement failed is rolled back quietly, its error kept as the
 * last error.
 * NULL is ignored. A thread-local session is closed with
 * ztoq_db_close_thread_session() instead.
 */
ZTOQ_EXTERN(int) ztoq_session_close(ztoq_session *s);

/** The manager the session belongs to. */
ZTOQ_EXTERN(ztoq_db *) ztoq_session_db(const ztoq_session *s);

/**
 * Begins a transaction, or a savepoint when one is already open (nested levels
 * ignore the isolation and read-only options of `opts`; NULL means defaults).
 */
ZTOQ_EXTERN(int) ztoq_tx_begin(ztoq_session *s, const ztoq_tx_options *opts);

/**
 * Commits the innermost level (releases the savepoint, or commits the transaction).
 * If the level failed, it is rolled back instead and ZTOQ_ETXFAILED is returned.
 */
ZTOQ_EXTERN(int) ztoq_tx_commit(ztoq_session *s);

/** Rolls back the innermost level (to its savepoint, or the whole transaction). */
ZTOQ_EXTERN(int) ztoq_tx_rollback(ztoq_session *s);

/** Number of open levels: 0 outside a transaction, 1 in one, 2+ in savepoints. */
ZTOQ_EXTERN(int) ztoq_tx_depth(const ztoq_session *s);

/**
 * The isolation level really in force for the session's transaction: the level asked
 * for, or a stronger one where the backend cannot give it (SQLite: always
 * ZTOQ_ISOLATION_SERIALIZABLE). Never weaker than asked.
 */
ZTOQ_EXTERN(ztoq_isolation) ztoq_session_isolation(const ztoq_session *s);

/** 1 when the session's current transaction is read-only. */
ZTOQ_EXTERN(int) ztoq_session_read_only(const ztoq_session *s);

/**
 * Read replicas (replica_hosts): an outer transaction begun read-only runs on a
 * replica connection, borrowed for that transaction alone (the session keeps its own
 * connection to the primary meanwhile), unless the session requires read-your-writes
 * or holds a prepared statement (ztoq_stmt_prepare() to ztoq_stmt_finalize(): a
 * statement is bound to its connection). A replica that is down, lags more than
 * max_replica_lag_ms, has no free connection within 100 ms, or cannot begin the
 * transaction is skipped, and the transaction runs on the primary without an error
 * (ztoq_route_stats_get() counts it). A replica may be behind the primary: what this
 * session just committed may not be visible there yet.
 *
 * `on` 1 keeps this session's read-only transactions on the primary, so they see its
 * own writes; 0 lets them go to a replica. The default is the read_your_writes
 * option. Takes effect at the next outer transaction. Owner thread only.
 */
ZTOQ_EXTERN(int) ztoq_session_set_read_your_writes(ztoq_session *s, int on);

/** 1 when the session's open transaction runs on a replica. Owner thread only. */
ZTOQ_EXTERN(int) ztoq_session_on_replica(const ztoq_session *s);

/**
 * Runs `fn` in a transaction on session `s` (a savepoint if one is open): commits when
 * fn returns 0, rolls back and returns fn's value otherwise. No retry. A fn that ends
 * the outer transaction itself (ztoq_tx_commit or ztoq_tx_rollback at depth 1) gets
 * ZTOQ_ESTATE whatever it returns (a transaction it began after is rolled back), and
 * ztoq_db_transaction() never runs it again: what it committed stays committed.
 */
ZTOQ_EXTERN(int) ztoq_session_transaction(ztoq_session *s, const ztoq_tx_options *opts,
					  ztoq_tx_fn fn, void *payload);

/**
 * Runs `fn` in a transaction on a pooled connection: commits when fn returns 0, rolls
 * back and returns fn's value otherwise (a failed commit is returned too). With
 * opts->read_only and read replicas (replica_hosts) the session is opened straight on
 * a replica's connection, no primary connection held, unless none fits or the
 * read_your_writes option is 1 (then on the primary, as ztoq_session_transaction()
 * says). With
 * opts->max_retries, a run that fails with a retryable error (serialization failure,
 * deadlock, SQLite busy) or whose connection broke before its COMMIT
 * (ZTOQ_EDISCONNECTED: nothing was committed; the next run gets a new connection, on
 * the primary a host list leads to) is rolled back and run again after a jittered
 * exponential backoff; constraint violations, other errors and ZTOQ_ECOMMITUNKNOWN (a
 * break during COMMIT: it may have committed) are never retried. `fn` must not end the
 * transaction itself. Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_db_transaction(ztoq_db *db, const ztoq_tx_options *opts, ztoq_tx_fn fn,
				     void *payload);

/**
 * The calling thread's session on `db`: opened on first use, the same on later calls
 * from this thread, distinct across threads. Owned by the library: release it with
 * ztoq_db_close_thread_session(); a thread that exits without doing so gives it back
 * (rolled back) automatically, and ztoq_db_close() reclaims those still held.
 */
ZTOQ_EXTERN(int) ztoq_db_thread_session(ztoq_session **out, ztoq_db *db);

/** Returns the calling thread's session on `db` to the pool (rolled back if open). */
ZTOQ_EXTERN(int) ztoq_db_close_thread_session(ztoq_db *db);

ZTOQ_END_DECL

#endif
