/*
 * tx.c - transactions, savepoints, isolation, read-only, and the retry runner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "error.h"
#include "session.h"

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

static int savepoint(ztoq_session *s, const char *verb, int level)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "%s ztoq_sp_%d", verb, level);
	return ztoq__conn_exec(s->conn, sql);
}

/* Starts the outermost level: isolation, access mode, then the transaction itself. */
static int begin_outer(ztoq_session *s, const ztoq_tx_options *opts)
{
	const ztoq__dialect *d = s->conn->dialect;
	ztoq_isolation want = opts ? opts->isolation : ZTOQ_ISOLATION_DEFAULT;
	int read_only = opts && opts->read_only;
	int code;

	if ((unsigned)want > ZTOQ_ISOLATION_SERIALIZABLE)
		return ztoq__error_set(ZTOQ_EINVALID, "unknown isolation level %d", (int)want);
	if (opts && opts->version != ZTOQ_TX_OPTIONS_VERSION)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_tx_options.version is %u, expected %u "
						      "(initialise with ZTOQ_TX_OPTIONS_INIT)",
				       opts->version, ZTOQ_TX_OPTIONS_VERSION);
	/* Only a driver that honours the attribute gets it; SQLite is always serializable. */
	if (d->native_isolation) {
		SQLULEN level = want ? odbc_levels[want] : s->conn->default_isolation;
		if ((code = ztoq__conn_set_isolation(s->conn, level)) < 0)
			return code;
		s->isolation = from_odbc(s->conn->isolation);
	} else {
		s->isolation = ZTOQ_ISOLATION_SERIALIZABLE;
	}
	if ((code = ztoq__conn_set_read_only(s->conn, read_only)) < 0 ||
	    (code = ztoq__conn_begin(s->conn, read_only)) < 0)
		return code;
	s->read_only = read_only;
	s->depth = 1;
	if (read_only && d->read_only_tx && (code = ztoq__conn_exec(s->conn, d->read_only_tx)) < 0)
		return ztoq__tx_rollback_after(s, code);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_tx_begin(ztoq_session *s, const ztoq_tx_options *opts)
{
	int code;

	if (!s)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_tx_begin: session is NULL");
	if (s->depth == 0)
		return begin_outer(s, opts);
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
	return code < 0 ? code : reset;
}

ZTOQ_EXTERN(int) ztoq_tx_rollback(ztoq_session *s)
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

ZTOQ_EXTERN(int) ztoq_tx_commit(ztoq_session *s)
{
	int code;

	if (!s || s->depth == 0)
		return ztoq__error_set(ZTOQ_ESTATE, "commit with no transaction open");
	if (s->failed) {
		ztoq_tx_rollback(s);
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

int ztoq__tx_rollback_after(ztoq_session *s, int code)
{
	ztoq__error_hold();
	ztoq_tx_rollback(s);
	ztoq__error_release();
	return code;
}

int ztoq__tx_abort_all(ztoq_session *s)
{
	if (s->depth == 0)
		return ZTOQ_OK;
	return end_outer(s, 0);
}

ZTOQ_EXTERN(int) ztoq_tx_depth(const ztoq_session *s)
{
	return s ? s->depth : 0;
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

ZTOQ_EXTERN(int) ztoq_session_transaction(ztoq_session *s, const ztoq_tx_options *opts,
					  ztoq_tx_fn fn, void *payload)
{
	int code, result;

	if (!s || !fn)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_transaction: bad arguments");
	if ((code = ztoq_tx_begin(s, opts)) < 0)
		return code;
	result = fn(s, payload);
	if (result != 0)
		return ztoq__tx_rollback_after(s, result);
	return ztoq_tx_commit(s);
}

/* Sleeps for the backoff before retry number `attempt` (1-based): base * 2^(n-1), jittered. */
static void backoff(unsigned base_ms, unsigned attempt)
{
	static _Thread_local unsigned seed;
	uint64_t ns = (uint64_t)base_ms * 1000000u << (attempt > 10 ? 10 : attempt - 1);
	struct timespec ts;

	if (!seed)
		seed = (unsigned)ztoq__now_ns() | 1u;
	/* full range of [ns/2, ns): spreads out colliding writers */
	ns = ns / 2 + (ns / 2) * (uint64_t)rand_r(&seed) / ((uint64_t)RAND_MAX + 1);
	ts = ztoq__timespec(ns);
	nanosleep(&ts, NULL);
}

ZTOQ_EXTERN(int) ztoq_db_transaction(ztoq_db *db, const ztoq_tx_options *opts, ztoq_tx_fn fn,
				     void *payload)
{
	ztoq_tx_options defaults = ZTOQ_TX_OPTIONS_INIT;
	unsigned attempt = 0;
	int code;

	if (!db || !fn)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_transaction: bad arguments");
	if (!opts)
		opts = &defaults;
	for (;;) {
		ztoq_session *s;

		if ((code = ztoq_session_open(&s, db)) < 0)
			break;
		attempt++;
		code = ztoq_session_transaction(s, opts, fn, payload);
		ztoq_session_close(s);
		if (code >= 0 || !ztoq_error_is_retryable(code) || attempt > opts->max_retries)
			break;
		backoff(opts->retry_base_ms ? opts->retry_base_ms : 1, attempt);
	}
	if (opts->attempts)
		*opts->attempts = attempt;
	return code;
}
