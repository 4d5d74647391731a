/*
 * session.c - a borrowed connection and its transaction: levels (BEGIN, savepoints,
 * COMMIT, ROLLBACK), isolation and read-only, the abort of whatever is open on
 * close; and the one-call statements (exec, query, scalar) above the statement module.
 *
 * ztoq_tx_* (tx.c) are the public names of the transaction levels kept here; the
 * thread-local sessions and the retry runner are the manager's (db.c).
 */
#include "session.h"

#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "pool.h"
#include "replica.h"
#include "stmt.h"

static const SQLULEN odbc_levels[] = {
	[ZTOQ_ISOLATION_DEFAULT] = 0,
	[ZTOQ_ISOLATION_READ_UNCOMMITTED] = SQL_TXN_READ_UNCOMMITTED,
	[ZTOQ_ISOLATION_READ_COMMITTED] = SQL_TXN_READ_COMMITTED,
	[ZTOQ_ISOLATION_REPEATABLE_READ] = SQL_TXN_REPEATABLE_READ,
	[ZTOQ_ISOLATION_SERIALIZABLE] = SQL_TXN_SERIALIZABLE,
};

static ztoq_isolation from_odbc(SQLULEN level)
{
	for (int i = ZTOQ_ISOLATION_SERIALIZABLE; i > ZTOQ_ISOLATION_DEFAULT; i--)
		if (odbc_levels[i] == level)
			return (ztoq_isolation)i;
	return ZTOQ_ISOLATION_DEFAULT;
}

/* ---- routing to read replicas (replica.c picks the replica) ----------------- */

/*
 * Gives the replica connection back and returns to the home connection, unless a
 * statement prepared on it is still alive (it stays lent until the next outer
 * transaction or the end of the session). A session opened on a replica has no home
 * and keeps it.
 */
static void unroute(ztoq_session *s)
{
	if (!s->replica || !s->home)
		return;
	s->conn = s->home;
	ztoq__session_return_replica(s);
}

/*
 * Lends the session a replica connection for a read-only outer transaction, when it
 * may have one: not read-your-writes, no live prepared statement, replicas configured.
 * Returns 1 when s->conn is now a replica's; 0 when the transaction stays where it is
 * (a fallback counted when a replica could have been used).
 */
static int route(ztoq_session *s)
{
	ztoq__conn *c;

	if (s->replica)
		return s->conn == s->replica; /* opened on it, or held by live statements */
	if (s->routed_at_open) {
		s->routed_at_open = 0; /* none fitted a moment ago: the one fallback counted */
		return 0;
	}
	if (!s->db->nreplicas || s->read_your_writes || s->live_stmts > 0)
		return 0;
	if (!ztoq__replica_acquire(s->db, &c, &s->replica_of)) {
		atomic_fetch_add(&s->db->fallbacks, 1);
		return 0;
	}
	s->conn = s->replica = c;
	return 1;
}

/*
 * After a read-only transaction failed to begin on a replica (its error held): back to
 * the primary, borrowing the session's home connection when it has none yet. The
 * replica's connection goes back first (marked down if it broke), not held while
 * waiting for the primary's. Counts the fallback. On failure a session opened on the
 * replica (ztoq_db_transaction's, closed at once) is left with no connection.
 */
static int fall_back(ztoq_session *s)
{
	ztoq__conn *lent = s->replica; /* NULL: its failed begin's rollback gave it back */
	int code;

	atomic_fetch_add(&s->db->fallbacks, 1);
	s->replica = NULL;
	if (lent)
		ztoq__replica_release(s->replica_of, lent);
	if (!s->home && (code = ztoq__pool_acquire(s->db->pool, &s->home, UINT64_MAX)) < 0)
		return code;
	s->conn = s->home;
	return ZTOQ_OK;
}

/* ---- transaction levels -------------------------------------------------------- */

static int savepoint(ztoq_session *s, const char *verb, int level)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "%s ztoq_sp_%d", verb, level);
	return ztoq__conn_exec(s->conn, sql);
}

static int check_options(const ztoq_tx_options *opts)
{
	ztoq_isolation want = opts ? opts->isolation : ZTOQ_ISOLATION_DEFAULT;

	if ((unsigned)want > ZTOQ_ISOLATION_SERIALIZABLE)
		return ztoq__error_set(ZTOQ_EINVALID, "unknown isolation level %d", (int)want);
	if (opts && opts->version != ZTOQ_TX_OPTIONS_VERSION)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_tx_options.version is %u, expected %u "
						      "(initialise with ZTOQ_TX_OPTIONS_INIT)",
				       opts->version, ZTOQ_TX_OPTIONS_VERSION);
	return ZTOQ_OK;
}

/*
 * The level and access mode of a transaction in the dialect's own first statement
 * (tx_settings), with the server's statement timeout when a transaction pooler keeps
 * it from being the connection's; rolls back when that statement fails. Behind a
 * transaction pooler all three are sent, the level resolved (s->isolation), since the
 * server connection's defaults may be another client's.
 */
static int apply_tx_settings(ztoq_session *s, ztoq_isolation want, int read_only)
{
	ztoq__conn *c = s->conn;
	ztoq__buf sql = ZTOQ__BUF_INIT;
	char *text;
	int code;

	c->dialect->tx_settings(&sql, c->tx_pooler ? s->isolation : want, read_only,
				c->tx_pooler ? (long)(c->statement_timeout_ns / 1000000u) : 0,
				c->tx_pooler);
	if (!sql.len && !sql.failed)
		return ZTOQ_OK;
	if ((code = ztoq__buf_detach(&sql, &text)) == ZTOQ_OK) {
		code = ztoq__conn_exec(c, text);
		ztoq__free(text);
	}
	return code < 0 ? ztoq__session_rollback_after(s, code) : ZTOQ_OK;
}

/*
 * Starts the outermost level on s->conn: isolation, access mode, then the transaction
 * itself, with `begin` (may be NULL: the dialect's statement). A dialect with
 * tx_settings sets both inside the transaction; another through the connection's
 * attributes.
 */
static int begin_on_conn(ztoq_session *s, const ztoq_tx_options *opts, const char *begin)
{
	const ztoq__dialect *d = s->conn->dialect;
	ztoq_isolation want = opts ? opts->isolation : ZTOQ_ISOLATION_DEFAULT;
	int read_only = opts && opts->read_only;
	int code;

	/* Only a driver that honours the level gets it; SQLite is always serializable. */
	if (d->tx_settings) {
		s->isolation = want ? want : from_odbc(s->conn->default_isolation);
	} else if (d->native_isolation) {
		SQLULEN level = want ? odbc_levels[want] : s->conn->default_isolation;
		if ((code = ztoq__conn_set_isolation(s->conn, level)) < 0)
			return code;
		s->isolation = from_odbc(s->conn->isolation);
	} else {
		s->isolation = ZTOQ_ISOLATION_SERIALIZABLE;
	}
	if ((!d->tx_settings && (code = ztoq__conn_set_read_only(s->conn, read_only)) < 0) ||
	    (code = ztoq__conn_begin(s->conn, read_only, begin)) < 0)
		return code;
	s->read_only = read_only;
	s->depth = 1;
	return d->tx_settings ? apply_tx_settings(s, want, read_only) : ZTOQ_OK;
}

/*
 * Starts the outermost level: a read-only one on a replica when the session may route
 * (its begin is a round trip there, so a replica gone since its connection was pooled
 * shows here, and the transaction falls back to the primary without an error).
 */
static int begin_outer(ztoq_session *s, const ztoq_tx_options *opts, const char *begin)
{
	int code;

	if ((code = check_options(opts)) < 0)
		return code;
	if (opts && opts->read_only && !begin && route(s)) {
		ztoq__error_hold(); /* a replica that fails to begin is not the caller's error */
		code = begin_on_conn(s, opts, NULL);
		ztoq__error_release();
		if (code == ZTOQ_OK) {
			atomic_fetch_add(&s->db->routed, 1);
			return ZTOQ_OK;
		}
		if ((code = fall_back(s)) < 0)
			return code;
	}
	return begin_on_conn(s, opts, begin);
}

int ztoq__session_begin(ztoq_session *s, const ztoq_tx_options *opts)
{
	int code;

	if (!s)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_tx_begin: session is NULL");
	if (s->depth == 0)
		return begin_outer(s, opts, NULL);
	if ((code = ztoq__session_check(s)) < 0)
		return code;
	if ((code = savepoint(s, "SAVEPOINT", s->depth + 1)) < 0)
		return ztoq__session_failed(s, code);
	s->depth++;
	return ZTOQ_OK;
}

/* Ends the outermost level: the connection is back in autocommit, read-write. */
static int end_outer(ztoq_session *s, int commit)
{
	int code = ztoq__conn_end(s->conn, commit), reset;

	if (code < 0)
		ztoq__error_hold(); /* the end's own error stays the last one */
	reset = ztoq__conn_set_read_only(s->conn, 0);
	if (code < 0)
		ztoq__error_release();
	s->depth = 0;
	s->failed = 0;
	s->read_only = 0;
	s->outer_ends++;
	unroute(s);
	return code < 0 ? code : reset;
}

int ztoq__session_rollback(ztoq_session *s)
{
	int code;

	if (!s || s->depth == 0)
		return ztoq__error_set(ZTOQ_ESTATE, "rollback with no transaction open");
	if (s->depth == 1)
		return end_outer(s, 0);
	code = savepoint(s, "ROLLBACK TO SAVEPOINT", s->depth);
	if (code == ZTOQ_OK)
		code = savepoint(s, "RELEASE SAVEPOINT", s->depth);
	if (code < 0) {
		/* The savepoint cannot be undone alone: fail the outer level too. */
		s->depth--;
		s->failed = s->depth;
		return code;
	}
	if (s->failed >= s->depth)
		s->failed = 0;
	s->depth--;
	return ZTOQ_OK;
}

int ztoq__session_commit(ztoq_session *s)
{
	int code;

	if (!s || s->depth == 0)
		return ztoq__error_set(ZTOQ_ESTATE, "commit with no transaction open");
	if (s->failed) {
		ztoq__session_rollback(s);
		return ztoq__error_set(ZTOQ_ETXFAILED,
				       "commit refused: a statement failed in this transaction, "
				       "which was rolled back");
	}
	if (s->depth == 1)
		return end_outer(s, 1);
	if ((code = savepoint(s, "RELEASE SAVEPOINT", s->depth)) < 0)
		return ztoq__session_failed(s, code);
	s->depth--;
	return ZTOQ_OK;
}

int ztoq__session_rollback_after(ztoq_session *s, int code)
{
	ztoq__error_hold();
	ztoq__session_rollback(s);
	ztoq__error_release();
	return code;
}

int ztoq__session_begin_migration(ztoq_session *s)
{
	if (s->depth > 0)
		return ztoq__error_set(ZTOQ_ESTATE, "a migration's transaction cannot be nested");
	/* the dialects that have a migration_begin begin in SQL (SQLite) */
	return begin_outer(s, NULL, s->conn->dialect->migration_begin);
}

/* ---- statements outside the statement cache ---------------------------------- */

int ztoq__session_exec_plain(ztoq_session *s, const char *sql)
{
	int code;

	if ((code = ztoq__session_check(s)) < 0)
		return code;
	if ((code = ztoq__conn_exec(s->conn, sql)) < 0)
		return ztoq__session_failed(s, code);
	return ZTOQ_OK;
}

/* Executes the `len` bytes at `sql` on the fresh handle `h`, planned for the driver. */
static int exec_script(ztoq__conn *c, SQLHSTMT h, const char *sql, size_t len, SQLRETURN *rc)
{
	struct ztoq__sqlite_plan plan = {0};
	int code;

	if (c->dialect->plan_statements && (code = ztoq__stmt_plan_sqlite(&plan, sql, len)) < 0)
		return code;
	*rc = plan.static_cursor && !ztoq__stmt_static_cursor(h)
		      ? SQL_ERROR /* its diagnostic is on h */
		      : ztoq__conn_execute(c, h, plan.text ? plan.text : sql,
					   plan.text ? SQL_NTS : (SQLINTEGER)len);
	ztoq__free(plan.text);
	return ZTOQ_OK;
}

int ztoq__session_exec_script(ztoq_session *s, const char *sql, size_t len, const char *fmt, ...)
{
	SQLRETURN rc = SQL_SUCCESS;
	SQLHSTMT h;
	char what[512];
	va_list ap;
	int code;

	if ((code = ztoq__session_check(s)) < 0)
		return code;
	if ((code = ztoq__conn_alloc_stmt(s->conn, &h)) < 0)
		return ztoq__session_failed(s, code);
	code = exec_script(s->conn, h, sql, len, &rc);
	if (code == ZTOQ_OK && !SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		code = ztoq__conn_error(s->conn, SQL_HANDLE_STMT, h, "%s", what);
	}
	ztoq__conn_free_stmt(h);
	return code < 0 ? ztoq__session_failed(s, code) : ZTOQ_OK;
}

void ztoq__session_discard(ztoq_session *s)
{
	s->conn->broken = 1;
}

/* ---- opening and closing ------------------------------------------------------ */

/*
 * Opens a session on a primary connection, or, with `on_replica`, on a replica's when
 * one fits (no primary connection held until a fallback needs one).
 */
static int open_session(ztoq_session **out, ztoq_db *db, uint64_t timeout_ns, int on_replica)
{
	ztoq_session *s;
	int code;

	if (!out || !db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_open: bad arguments");
	*out = NULL;
	if (!(s = ztoq__calloc(1, sizeof(*s))))
		return ztoq__error_nomem();
	s->db = db;
	s->read_your_writes = db->set.read_your_writes != 0;
	if (on_replica && route(s)) {
		*out = s;
		return ZTOQ_OK;
	}
	s->routed_at_open = on_replica;
	if ((code = ztoq__pool_acquire(db->pool, &s->home, timeout_ns)) < 0) {
		ztoq__free(s);
		return code;
	}
	s->conn = s->home;
	*out = s;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_session_open(ztoq_session **out, ztoq_db *db)
{
	return open_session(out, db, UINT64_MAX, 0);
}

ZTOQ_EXTERN(int) ztoq_session_open_timeout(ztoq_session **out, ztoq_db *db, unsigned timeout_ms)
{
	return open_session(out, db, (uint64_t)timeout_ms * 1000000u, 0);
}

int ztoq__session_open_read(ztoq_session **out, ztoq_db *db)
{
	return open_session(out, db, UINT64_MAX, 1);
}

int ztoq__session_end(ztoq_session *s)
{
	int code = ZTOQ_OK, failed = s->failed;

	if (s->depth > 0) {
		ztoq__error_hold(); /* rolling back is cleanup: it records nothing */
		end_outer(s, 0); /* every open level */
		ztoq__error_release();
		/* a failed transaction can only be rolled back: its error stays the last one */
		if (!failed)
			code = ztoq__error_set(ZTOQ_ESTATE,
					       "session closed with a transaction open: rolled back");
	}
	if (s->replica)
		ztoq__replica_release(s->replica_of, s->replica);
	if (s->home)
		ztoq__pool_release(s->db->pool, s->home);
	ztoq__free(s);
	return code;
}

ZTOQ_EXTERN(int) ztoq_session_close(ztoq_session *s)
{
	if (!s)
		return ZTOQ_OK;
	if (s->thread_owned)
		return ztoq__error_set(ZTOQ_ESTATE, "a thread-local session is closed with "
						    "ztoq_db_close_thread_session()");
	return ztoq__session_end(s);
}

ZTOQ_EXTERN(ztoq_db *) ztoq_session_db(const ztoq_session *s)
{
	return s->db;
}

ZTOQ_EXTERN(ztoq_isolation) ztoq_session_isolation(const ztoq_session *s)
{
	if (s->depth > 0)
		return s->isolation;
	return s->conn->dialect->native_isolation ? from_odbc(s->conn->isolation)
						  : ZTOQ_ISOLATION_SERIALIZABLE;
}

ZTOQ_EXTERN(int) ztoq_session_read_only(const ztoq_session *s)
{
	return s->read_only;
}

ZTOQ_EXTERN(int) ztoq_session_set_read_your_writes(ztoq_session *s, int on)
{
	if (!s)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_set_read_your_writes: "
						      "session is NULL");
	s->read_your_writes = on != 0;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_session_on_replica(const ztoq_session *s)
{
	return s->depth > 0 && s->replica && s->conn == s->replica;
}

/*
 * ztoq_session_transaction's `fn` ended the transaction itself (ztoq_tx_commit or
 * ztoq_tx_rollback at depth 1) and returned `result`: what it committed stays
 * committed, so nothing may run it again (ztoq_db_transaction retries a disconnect);
 * a transaction it began after is rolled back. Returns ZTOQ_ESTATE, recorded.
 */
static int fn_ended_it(ztoq_session *s, int result)
{
	if (s->depth > 0)
		ztoq__session_rollback_after(s, result);
	return ztoq__error_set(ZTOQ_ESTATE,
			       "the transaction's function ended the transaction itself "
			       "(ztoq_tx_commit or ztoq_tx_rollback at depth 1), then returned "
			       "%s: it is not run again", result ? ztoq_error_name(result) : "0");
}

ZTOQ_EXTERN(int) ztoq_session_transaction(ztoq_session *s, const ztoq_tx_options *opts,
					  ztoq_tx_fn fn, void *payload)
{
	unsigned ends;
	int code, result;

	if (!s || !fn)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_transaction: bad arguments");
	if ((code = ztoq__session_begin(s, opts)) < 0)
		return code;
	ends = s->outer_ends;
	result = fn(s, payload);
	if (s->outer_ends != ends)
		return fn_ended_it(s, result);
	if (result != 0)
		return ztoq__session_rollback_after(s, result);
	return ztoq__session_commit(s);
}

/* ---- one-call statements (above the statement module) -------------------------- */

ZTOQ_EXTERN(int) ztoq_session_exec(ztoq_session *s, const char *sql, const ztoq_value *params,
				   size_t nparams, int64_t *rows_affected)
{
	ztoq_stmt *st;
	int code;

	if ((code = ztoq__stmt_prepare_bound(&st, s, sql, params, nparams)) < 0)
		return code;
	code = ztoq_stmt_execute(st);
	if (code == ZTOQ_OK && rows_affected)
		*rows_affected = ztoq_stmt_rows_affected(st);
	ztoq_stmt_finalize(st);
	return code;
}

ZTOQ_EXTERN(int) ztoq_session_query(ztoq_session *s, const char *sql, const ztoq_value *params,
				    size_t nparams, ztoq_row_fn fn, void *payload)
{
	ztoq_stmt *st;
	int code;

	if (!fn)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_query: fn is NULL");
	if ((code = ztoq__stmt_prepare_bound(&st, s, sql, params, nparams)) < 0)
		return code;
	code = ztoq_stmt_execute(st);
	while (code == ZTOQ_OK && (code = ztoq_stmt_fetch(st)) == ZTOQ_ROW)
		code = fn(st, payload);
	ztoq_stmt_finalize(st);
	return code == ZTOQ_DONE ? ZTOQ_OK : code;
}

ZTOQ_EXTERN(int) ztoq_session_scalar(ztoq_session *s, const char *sql, const ztoq_value *params,
				     size_t nparams, int64_t *out, int *is_null)
{
	return ztoq__stmt_scalar(s, sql, params, nparams, out, is_null);
}
