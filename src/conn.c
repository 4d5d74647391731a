/*
 * conn.c - one physical ODBC connection.
 */
#include "conn.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "error.h"
#include "stmt_cache.h"

/*
 * Allocating and freeing handles and disconnecting take this lock, whatever the
 * driver: unixODBC's lists of environments, connections and statements are unlocked on
 * this platform (helgrind saw SQLAllocHandle race SQLDisconnect). The SQLite driver's
 * connect takes it too: it corrupts memory when two threads connect on one environment
 * at once. A PostgreSQL connect does not: it waits on the network, for as long as
 * connect_timeout_s allows, and every other manager would wait with it (it takes
 * pg_connect_lock below instead).
 */
static pthread_mutex_t odbc_lock = PTHREAD_MUTEX_INITIALIZER;

void ztoq__odbc_lock(void)
{
	pthread_mutex_lock(&odbc_lock);
}

void ztoq__odbc_unlock(void)
{
	pthread_mutex_unlock(&odbc_lock);
}

/*
 * psqlODBC's connect is not safe against itself either: once logged in it calls
 * setlocale(LC_CTYPE, "") and reads the name it returns, which glibc frees when another
 * thread calls setlocale (memcheck: an invalid read in pg_char_to_encoding, with eight
 * threads connecting). PostgreSQL connects therefore take turns on a lock of their own,
 * which nothing else takes: no statement, no SQLite connect, no handle allocation waits
 * behind a stalled one. The wait for a turn is bounded by the connect's own timeout.
 * Taking turns also lets the watchdog tell which new socket is the connection's.
 */
static pthread_mutex_t pg_connect_lock = PTHREAD_MUTEX_INITIALIZER;

/* Waits for a PostgreSQL connect's turn, at most `timeout_s` seconds (0: for ever). */
static int pg_connect_turn(long timeout_s)
{
	struct timespec until;

	if (timeout_s <= 0) {
		pthread_mutex_lock(&pg_connect_lock);
		return ZTOQ_OK;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_s;
	if (pthread_mutex_timedlock(&pg_connect_lock, &until) == 0)
		return ZTOQ_OK;
	return ztoq__error_set(ZTOQ_ETIMEOUT,
			       "cannot connect: another PostgreSQL connect of this process has "
			       "not finished within connect_timeout_s (%ld s); psqlODBC's "
			       "connects take turns",
			       timeout_s);
}

/* How `d` classifies a driver's diagnostics; a connection whose backend is not known
 * yet (the first connect of a DSN) is classified as any driver's. */
static ztoq__classify_fn classify_of(const ztoq__dialect *d)
{
	return (d ? d : &ztoq__dialect_odbc)->classify;
}

int ztoq__conn_error(ztoq__conn *c, SQLSMALLINT handle_type, SQLHANDLE handle,
		     const char *fmt, ...)
{
	char context[512];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	if (c->timed_out == ZTOQ__NOT_WATCHED) { /* the call was not made */
		c->timed_out = 0;
		return ztoq__error_set(ZTOQ_ENOMEM, "%s: not run: the watchdog thread that "
						    "bounds it cannot start", context);
	}
	code = ztoq__error_odbc(classify_of(c->dialect), handle_type, handle, c->secret, ZTOQ_ERROR,
				"%s", context);
	if (code != ZTOQ_EDISCONNECTED && !c->timed_out) {
		/* The driver may know better than the message (psqlODBC after an I/O failure). */
		SQLUINTEGER dead = SQL_CD_FALSE;
		if (SQL_SUCCEEDED(SQLGetConnectAttr(c->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)) &&
		    dead == SQL_CD_TRUE) {
			code = ztoq__error_reclassify(ZTOQ_EDISCONNECTED);
		}
	}
	if (code == ZTOQ_EDISCONNECTED || c->timed_out == ZTOQ__TIMED_OUT_CLOSED)
		c->broken = 1;
	/* a lock wait that ended (SQLite: its busy handler ignores the interrupt) stays
	 * ZTOQ_EBUSY, which callers retry */
	if (c->timed_out && code != ZTOQ_EBUSY) {
		code = ztoq__error_reclassify(ZTOQ_ETIMEOUT);
		ztoq__error_append(" (timed out: %s)", c->timed_out == ZTOQ__TIMED_OUT_CLOSED
			? "no answer from the server in time; the connection was closed"
			: "cancelled after the time limit");
	}
	c->timed_out = 0;
	return code;
}

int ztoq__conn_watch(ztoq__conn *c, uint64_t deadline_ns)
{
	if (c->watched) {
		c->watched++; /* inside another watched call: its deadline stands */
		return ZTOQ_OK;
	}
	if (!c->watchdog || (!deadline_ns && !c->statement_timeout_ns))
		return ZTOQ_OK;
	c->timed_out = 0;
	if (!deadline_ns)
		deadline_ns = ztoq__now_ns() + c->statement_timeout_ns + c->grace_ns;
	if (ztoq__watchdog_arm(c->watchdog, c, deadline_ns) < 0) {
		c->timed_out = ZTOQ__NOT_WATCHED;
		return ZTOQ_ENOMEM;
	}
	c->watched = 1;
	return ZTOQ_OK;
}

void ztoq__conn_unwatch(ztoq__conn *c, SQLRETURN rc)
{
	int fired;

	if (!c->watched || --c->watched > 0)
		return;
	fired = ztoq__watchdog_disarm(c->watchdog, c);
	if (fired == ZTOQ__TIMED_OUT_CLOSED) {
		/* even if the call got its answer first: the connection is gone */
		c->timed_out = fired;
		c->broken = 1;
	} else {
		/* a cancel that came as the call finished changed nothing */
		c->timed_out = SQL_SUCCEEDED(rc) || rc == SQL_NO_DATA ? 0 : fired;
	}
}

/*
 * The library's own round trips that no statement timeout bounds (COMMIT and ROLLBACK
 * through SQLEndTran, connection attributes, the socket check) without one: generous,
 * as they wait for the server only, never for a lock or a computation.
 */
#define OWN_ROUND_TRIP_NS (30 * 1000000000ull)

/* The deadline for one of the library's own round trips (0: the statement timeout,
 * or none). Only a server's can wait: SQLite's (connection attributes, SQLEndTran)
 * need no watch, nor the watchdog's thread, without a statement timeout. */
static uint64_t own_deadline(const ztoq__conn *c)
{
	if (c->statement_timeout_ns || !c->dialect || c->dialect->stop != ZTOQ__STOP_SOCKET)
		return 0;
	return ztoq__now_ns() + OWN_ROUND_TRIP_NS;
}

SQLRETURN ztoq__conn_execute(ztoq__conn *c, SQLHSTMT h, const char *sql, SQLINTEGER len)
{
	SQLRETURN rc;

	if (ztoq__conn_watch(c, 0) < 0)
		return SQL_ERROR;
	rc = sql ? SQLExecDirect(h, (SQLCHAR *)sql, len) : SQLExecute(h);
	ztoq__conn_unwatch(c, rc);
	return rc;
}

SQLRETURN ztoq__conn_fetch(ztoq__conn *c, SQLHSTMT h)
{
	SQLRETURN rc;

	if (ztoq__conn_watch(c, 0) < 0)
		return SQL_ERROR;
	rc = SQLFetch(h);
	ztoq__conn_unwatch(c, rc);
	return rc;
}

/* Turns a failed connect to `t` into a message that says which part of the setup is
 * wrong. */
static int connect_error(const ztoq__dialect *d, SQLHDBC dbc, const ztoq__conn_target *t)
{
	const char *redacted = t->redacted, *secret = t->secret;
	const ztoq_error *e;
	int code = ztoq__error_odbc(classify_of(d), SQL_HANDLE_DBC, dbc, secret, ZTOQ_ERROR,
				    "cannot connect (%s)", redacted);

	/* Only the driver manager's own records mean a missing DSN or driver; a server's
	 * "database does not exist" (08001) is the driver's reason and is kept as is. */
	e = ztoq_error_last();
	if (code == ZTOQ_ENOTFOUND &&
	    (strncmp(e->sqlstate, "IM", 2) == 0 || strstr(e->message, "[Driver Manager]")))
		return ztoq__error_odbc(classify_of(d), SQL_HANDLE_DBC, dbc, secret, code,
					"%s (%s)",
					strstr(redacted, "DSN=")
						? "no such DSN in odbc.ini, or its driver is missing"
						: "ODBC driver not registered in odbcinst.ini",
					redacted);
	if (code == ZTOQ_ERROR)
		code = ztoq__error_odbc(classify_of(d), SQL_HANDLE_DBC, dbc, secret, ZTOQ_ECONNECT,
					"cannot connect (%s)", redacted);
	/* PgBouncer in transaction mode refuses libpq's `options` (our statement_timeout) */
	if (!t->tx_pooler && strstr(ztoq_error_last()->message, "unsupported startup parameter"))
		ztoq__error_append(" (behind a transaction pooler set pooler=transaction)");
	return code;
}

/*
 * PostgreSQL bounds statements itself (the server's statement_timeout, set through
 * pqopt, or behind a transaction pooler in each transaction only): the watchdog steps
 * in only when that answer does not come, after this grace.
 */
#define SERVER_TIMEOUT_GRACE_NS 1000000000u

static int exec_until(ztoq__conn *c, const char *sql, uint64_t deadline_ns, SQLINTEGER *first);

/*
 * psqlODBC: whether the socket claimed is the connection's. A DSN may name any port
 * (every TCP socket is then a candidate), another thread may open one meanwhile, and a
 * Unix-domain connection has no TCP socket of its own. It is confirmed by a round trip:
 * the client port the server sees is the socket's own (a direct TCP connection), or the
 * socket carried the query (through a proxy, which the server sees instead). A socket
 * that cannot be confirmed is given up: the server's statement_timeout and the
 * keepalives then bound the connection's calls. A failed query fails the open.
 * Owner thread.
 */
static int confirm_socket(ztoq__conn *c)
{
	uint64_t segments = ztoq__watchdog_socket_segments(c);
	SQLINTEGER port;
	int code;

	if (c->sock < 0)
		return ZTOQ_OK;
	if ((code = exec_until(c, "SELECT inet_client_port()", own_deadline(c), &port)) < 0)
		return code;
	if ((port < 0 || port != ztoq__watchdog_socket_port(c)) &&
	    ztoq__watchdog_socket_segments(c) == segments)
		ztoq__watchdog_release_socket(c);
	return ZTOQ_OK;
}

void ztoq__conn_info(SQLHDBC dbc, SQLUSMALLINT what, char *buf, size_t size)
{
	SQLSMALLINT len = 0;

	if (!SQL_SUCCEEDED(SQLGetInfo(dbc, what, buf, (SQLSMALLINT)size, &len)))
		buf[0] = '\0';
	buf[size - 1] = '\0';
}

/*
 * The backend the driver of a new connection reports (SQL_DBMS_NAME), on every
 * connect: a DSN can change under a running manager. A first connect (t->dialect
 * NULL) takes it as c->dialect and is then only fit to be closed: opened as for an
 * unknown driver, it has none of its backend's setup. Any other must find the backend
 * its manager's connections have, or fails with ZTOQ_EINVALID naming both.
 */
static int check_backend(ztoq__conn *c, const ztoq__conn_target *t)
{
	char dbms[128], driver[128];
	const ztoq__dialect *found;

	ztoq__conn_info(c->dbc, SQL_DBMS_NAME, dbms, sizeof(dbms));
	found = ztoq__dialect_of_dbms(dbms);
	if (!t->dialect) {
		c->dialect = found;
		return ZTOQ_OK;
	}
	if (found == t->dialect)
		return ZTOQ_OK;
	ztoq__conn_info(c->dbc, SQL_DRIVER_NAME, driver, sizeof(driver));
	return ztoq__error_set(ZTOQ_EINVALID,
			       "the driver %s reports %s, but %s expects %s: db_type and the "
			       "driver (or the DSN) disagree",
			       driver[0] ? driver : "(unnamed)", dbms[0] ? dbms : "no DBMS name",
			       t->redacted,
			       t->dialect->dbms_name ? t->dialect->dbms_name : "another database");
}

int ztoq__conn_open(ztoq__conn **out, const ztoq__conn_target *t)
{
	/* a first connect that learns the backend is made as for an unknown driver, under
	 * the locks of the backend its driver's file names, if any */
	const ztoq__dialect *dialect = t->dialect ? t->dialect : &ztoq__dialect_odbc;
	int serialise = (t->dialect ? t->dialect : t->connect_as ? t->connect_as : dialect)
				->connect_alone;
	ztoq__socket_snapshot before;
	ztoq__conn *c;
	SQLHDBC dbc = SQL_NULL_HDBC;
	SQLRETURN rc = SQL_ERROR;
	int code;

	*out = NULL;
	if (!(c = ztoq__calloc(1, sizeof(*c))))
		return ztoq__error_nomem();
	c->dialect = dialect;
	c->secret = t->secret;
	c->sock = -1;
	if (!serialise && (code = pg_connect_turn(t->login_timeout_s)) < 0) {
		ztoq__free(c);
		return code;
	}
	ztoq__odbc_lock();
	if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, t->env, &dbc)))
		dbc = SQL_NULL_HDBC;
	if (!serialise)
		ztoq__odbc_unlock();
	if (dbc != SQL_NULL_HDBC) {
		if (t->login_timeout_s > 0)
			SQLSetConnectAttr(dbc, SQL_ATTR_LOGIN_TIMEOUT,
					  (SQLPOINTER)(intptr_t)t->login_timeout_s, SQL_IS_UINTEGER);
		if (!serialise)
			ztoq__watchdog_socket_snapshot(&before, t->port);
		rc = SQLDriverConnect(dbc, NULL, (SQLCHAR *)t->connstr, SQL_NTS, NULL, 0, NULL,
				      SQL_DRIVER_NOPROMPT);
		/* still our turn: no other connect's socket can appear meanwhile */
		if (!serialise && SQL_SUCCEEDED(rc))
			ztoq__watchdog_claim_socket(c, t->port, &before);
	}
	if (serialise)
		ztoq__odbc_unlock();
	else
		pthread_mutex_unlock(&pg_connect_lock);
	if (dbc == SQL_NULL_HDBC) {
		ztoq__free(c);
		return ztoq__error_odbc(classify_of(dialect), SQL_HANDLE_ENV, t->env, t->secret, ZTOQ_ENOMEM,
					"cannot allocate an ODBC connection handle");
	}
	if (!SQL_SUCCEEDED(rc)) {
		code = connect_error(dialect, dbc, t);
		ztoq__odbc_lock();
		SQLFreeHandle(SQL_HANDLE_DBC, dbc);
		ztoq__odbc_unlock();
		ztoq__free(c);
		return code;
	}
	c->dbc = dbc;
	if ((code = check_backend(c, t)) < 0) {
		ztoq__conn_close(c);
		return code;
	}
	if (!t->dialect) { /* a first connect: only fit to be closed */
		*out = c;
		return ZTOQ_OK;
	}
	c->autocommit = 1;
	c->watchdog = t->watchdog;
	c->statement_timeout_ns = t->statement_timeout_ns;
	c->tx_pooler = t->tx_pooler;
	if (dialect->stop == ZTOQ__STOP_SOCKET)
		c->grace_ns = SERVER_TIMEOUT_GRACE_NS;
	if (!SQL_SUCCEEDED(SQLGetConnectAttr(dbc, SQL_ATTR_TXN_ISOLATION, &c->isolation, 0, NULL)))
		c->isolation = 0;
	c->default_isolation = c->isolation;
	if ((dialect->stop == ZTOQ__STOP_CANCEL &&
	     (code = ztoq__conn_alloc_stmt(c, &c->cancel_handle)) < 0) ||
	    (dialect->stop == ZTOQ__STOP_SOCKET && (code = confirm_socket(c)) < 0)) {
		ztoq__conn_close(c);
		return code;
	}
	*out = c;
	return ZTOQ_OK;
}

void ztoq__conn_close(ztoq__conn *c)
{
	if (!c)
		return;
	/* psqlODBC deallocates a statement it prepared on the server as the statement is
	 * freed, and waits for the answer: bounded like a round trip, so that closing an
	 * idle connection whose network went silent ends (the watchdog closes it) */
	if (ztoq__conn_watch(c, own_deadline(c)) < 0)
		c->timed_out = 0; /* no watchdog: freed unbounded, as a close cannot fail */
	ztoq__stmt_cache_free(&c->stmts);
	ztoq__conn_unwatch(c, SQL_SUCCESS);
	if (c->in_tx && !c->broken) {
		ztoq__error_hold(); /* closing records nothing: the last error stays */
		ztoq__conn_end(c, 0);
		ztoq__error_release();
	}
	if (c->exec_handle)
		ztoq__conn_free_stmt(c->exec_handle);
	if (c->cancel_handle)
		ztoq__conn_free_stmt(c->cancel_handle);
	ztoq__watchdog_release_socket(c);
	/* under the lock for unixODBC's lists; psqlODBC only writes its short Terminate
	 * message, which fits in the socket's buffer, and waits for no answer */
	ztoq__odbc_lock();
	SQLDisconnect(c->dbc);
	SQLFreeHandle(SQL_HANDLE_DBC, c->dbc);
	ztoq__odbc_unlock();
	ztoq__free(c);
}

int ztoq__conn_alloc_stmt(ztoq__conn *c, SQLHSTMT *out)
{
	SQLRETURN rc;

	ztoq__odbc_lock();
	rc = SQLAllocHandle(SQL_HANDLE_STMT, c->dbc, out);
	ztoq__odbc_unlock();
	if (SQL_SUCCEEDED(rc)) {
		/* drivers that bound statements themselves (not psqlODBC, which would send
		 * SET statement_timeout in whole seconds, nor SQLite, which ignores it) */
		if (c->statement_timeout_ns && c->dialect->stop == ZTOQ__STOP_QUERY_TIMEOUT)
			SQLSetStmtAttr(*out, SQL_ATTR_QUERY_TIMEOUT,
				       (SQLPOINTER)(uintptr_t)((c->statement_timeout_ns + 999999999u) /
							       1000000000u), 0);
		return ZTOQ_OK;
	}
	*out = SQL_NULL_HSTMT;
	return ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "cannot allocate a statement");
}

void ztoq__conn_free_stmt(SQLHSTMT handle)
{
	ztoq__odbc_lock();
	SQLFreeHandle(SQL_HANDLE_STMT, handle);
	ztoq__odbc_unlock();
}

/*
 * ztoq__conn_exec bounded by `deadline_ns` (0: the statement timeout). When `first` is
 * not NULL it gets the first column of the first row as an integer (-1: NULL or none).
 * Not planned like ztoq_stmt_prepare (ztoq__stmt_plan_sqlite): only the library's fixed
 * strings come here, and none is left undone by the SQLite driver (StepAPI=1): BEGIN,
 * COMMIT, SAVEPOINT, DDL and DELETE run at execute, a SELECT's rows are fetched below,
 * and flag PRAGMAs (query_only, foreign_keys) act at prepare (measured: each read back
 * set, in and out of a transaction). A new PRAGMA reading a value, or a CTE write,
 * would have to go through the planner.
 */
static int exec_until(ztoq__conn *c, const char *sql, uint64_t deadline_ns, SQLINTEGER *first)
{
	SQLSMALLINT columns = 0;
	SQLRETURN rc;
	int code = ZTOQ_OK;

	if (first)
		*first = -1;
	if (!c->exec_handle && (code = ztoq__conn_alloc_stmt(c, &c->exec_handle)) < 0)
		return code;
	if (ztoq__conn_watch(c, deadline_ns) < 0)
		return ztoq__conn_error(c, SQL_HANDLE_STMT, c->exec_handle, "%s", sql);
	rc = SQLExecDirect(c->exec_handle, (SQLCHAR *)sql, SQL_NTS);
	/* read a result to its end, so no driver keeps a statement (and a lock) open */
	if ((SQL_SUCCEEDED(rc) || rc == SQL_NO_DATA) &&
	    SQL_SUCCEEDED(SQLNumResultCols(c->exec_handle, &columns)) && columns > 0) {
		for (SQLLEN row = 0; SQL_SUCCEEDED(rc = SQLFetch(c->exec_handle)); row++) {
			SQLLEN ind = SQL_NULL_DATA;

			if (first && row == 0 &&
			    SQL_SUCCEEDED(SQLGetData(c->exec_handle, 1, SQL_C_SLONG, first, 0, &ind)) &&
			    ind == SQL_NULL_DATA)
				*first = -1;
		}
	}
	ztoq__conn_unwatch(c, rc);
	if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA)
		code = ztoq__conn_error(c, SQL_HANDLE_STMT, c->exec_handle, "%s", sql);
	SQLFreeStmt(c->exec_handle, SQL_CLOSE);
	return code;
}

int ztoq__conn_exec(ztoq__conn *c, const char *sql)
{
	return exec_until(c, sql, 0, NULL);
}

int ztoq__conn_exec_int(ztoq__conn *c, const char *sql, uint64_t deadline_ns,
			SQLINTEGER *value)
{
	return exec_until(c, sql, deadline_ns, value);
}

int ztoq__conn_ping(ztoq__conn *c, uint64_t deadline_ns)
{
	int code = exec_until(c, c->dialect->ping_sql, deadline_ns, NULL);

	if (code < 0)
		c->broken = 1;
	return code;
}

/* SQLSetConnectAttr (psqlODBC sends a statement for some), watched like a round trip. */
static SQLRETURN set_attr(ztoq__conn *c, SQLINTEGER attr, SQLULEN value)
{
	SQLRETURN rc;

	if (ztoq__conn_watch(c, own_deadline(c)) < 0)
		return SQL_ERROR;
	rc = SQLSetConnectAttr(c->dbc, attr, (SQLPOINTER)(uintptr_t)value, SQL_IS_UINTEGER);
	ztoq__conn_unwatch(c, rc);
	return rc;
}

/* SQLEndTran (psqlODBC: COMMIT or ROLLBACK), watched like a round trip. */
static SQLRETURN end_tran(ztoq__conn *c, int commit)
{
	SQLRETURN rc;

	if (ztoq__conn_watch(c, own_deadline(c)) < 0)
		return SQL_ERROR;
	rc = SQLEndTran(SQL_HANDLE_DBC, c->dbc, commit ? SQL_COMMIT : SQL_ROLLBACK);
	ztoq__conn_unwatch(c, rc);
	return rc;
}

static int set_autocommit(ztoq__conn *c, int on)
{
	SQLRETURN rc;

	if (c->autocommit == on)
		return ZTOQ_OK;
	rc = set_attr(c, SQL_ATTR_AUTOCOMMIT, on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF);
	if (!SQL_SUCCEEDED(rc))
		return ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "cannot set autocommit %s",
					on ? "on" : "off");
	c->autocommit = on;
	return ZTOQ_OK;
}

int ztoq__conn_set_isolation(ztoq__conn *c, SQLULEN level)
{
	SQLRETURN rc;

	if (c->isolation == level || level == 0)
		return ZTOQ_OK;
	rc = set_attr(c, SQL_ATTR_TXN_ISOLATION, level);
	if (!SQL_SUCCEEDED(rc))
		return ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc,
					"cannot set the transaction isolation level");
	c->isolation = level;
	return ZTOQ_OK;
}

int ztoq__conn_set_read_only(ztoq__conn *c, int on)
{
	const char *sql = on ? c->dialect->read_only_on : c->dialect->read_only_off;
	SQLRETURN rc;
	int code;

	if (c->read_only == on)
		return ZTOQ_OK;
	rc = set_attr(c, SQL_ATTR_ACCESS_MODE, on ? SQL_MODE_READ_ONLY : SQL_MODE_READ_WRITE);
	if (!SQL_SUCCEEDED(rc))
		return ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "cannot set the access mode");
	/* Drivers accept the access mode and ignore it: the server must enforce it. */
	if (sql && (code = ztoq__conn_exec(c, sql)) < 0)
		return code;
	c->read_only = on;
	return ZTOQ_OK;
}

int ztoq__conn_begin(ztoq__conn *c, int read_only, const char *begin)
{
	int code;

	if (!begin)
		begin = read_only ? c->dialect->begin_read : c->dialect->begin_write;
	code = begin ? ztoq__conn_exec(c, begin) : set_autocommit(c, 0);

	if (code == ZTOQ_OK)
		c->in_tx = read_only ? ZTOQ__TX_READ_ONLY : ZTOQ__TX_READ_WRITE;
	return code;
}

/*
 * SQLSTATE 25P03 (PostgreSQL's idle_in_transaction_session_timeout): the server ended
 * the transaction, rolled back, and the connection before the COMMIT came.
 */
#define ENDED_BEFORE_COMMIT "25P03"

/*
 * Turns the last error, a broken connection's during the COMMIT of a transaction that
 * was `in_tx` (ZTOQ__TX_*), into ZTOQ_ECOMMITUNKNOWN, unless its outcome is certain:
 * the server said it had ended the transaction first (a rollback), or the transaction
 * was read-only (it wrote nothing). Those stay the disconnect, which
 * ztoq_db_transaction runs again. Any other reason stays unknown: a backend ended
 * during a synchronous-replication wait (57P01) has committed locally.
 */
static int commit_unknown(int in_tx)
{
	if (strcmp(ztoq_error_last()->sqlstate, ENDED_BEFORE_COMMIT) == 0) {
		ztoq__error_append(" (the server had ended the transaction before the COMMIT: "
				   "nothing was committed)");
		return ztoq__error_reclassify(ZTOQ_EDISCONNECTED);
	}
	if (in_tx == ZTOQ__TX_READ_ONLY) {
		ztoq__error_append(" (the connection broke during the COMMIT of a read-only "
				   "transaction: nothing was written)");
		return ztoq__error_reclassify(ZTOQ_EDISCONNECTED);
	}
	ztoq__error_append(" (the connection broke during COMMIT: the transaction may or "
			   "may not have committed)");
	return ztoq__error_reclassify(ZTOQ_ECOMMITUNKNOWN);
}

int ztoq__conn_end(ztoq__conn *c, int commit)
{
	int code = ZTOQ_OK, in_tx = c->in_tx;

	if (c->dialect->begin_write)
		code = ztoq__conn_exec(c, commit ? "COMMIT" : "ROLLBACK");
	else if (!SQL_SUCCEEDED(end_tran(c, commit)))
		code = ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "%s failed",
					commit ? "commit" : "rollback");
	c->in_tx = ZTOQ__TX_NONE;
	/* the COMMIT was sent, or was being sent, when the connection broke: whether the
	 * server committed is not known (include/ztoq/error.h) */
	if (code < 0 && commit && c->broken)
		code = commit_unknown(in_tx);
	/* After a failure the rest is cleanup: the failure's own error stays the last one. */
	if (code < 0)
		ztoq__error_hold();
	/*
	 * A failed COMMIT may leave the transaction open (SQLite: busy, a deferred foreign
	 * key; PostgreSQL after SQLEndTran failed): end it, or turning autocommit back on
	 * below would commit it. SQLite has rolled back by itself after an I/O error or a
	 * full disk, and then this ROLLBACK fails with "no transaction is active".
	 */
	if (code < 0 && commit) {
		int ended = c->dialect->begin_write
				    ? ztoq__conn_exec(c, "ROLLBACK") == ZTOQ_OK
				    : SQL_SUCCEEDED(end_tran(c, 0));
		if (!ended)
			c->broken = 1;
	}
	if (set_autocommit(c, 1) < 0)
		c->broken = 1;
	if (code < 0)
		ztoq__error_release();
	return code;
}

int ztoq__conn_reset(ztoq__conn *c)
{
	int code = ZTOQ_OK;

	if (c->broken)
		return ZTOQ_EDISCONNECTED;
	/* a reset is cleanup: whatever the caller last saw failing stays the last error */
	ztoq__error_hold();
	if (c->in_tx)
		code = ztoq__conn_end(c, 0);
	if (code == ZTOQ_OK)
		code = ztoq__conn_set_read_only(c, 0);
	/* with tx_settings the level is the transaction's only: nothing to put back */
	if (code == ZTOQ_OK && !c->dialect->tx_settings)
		code = ztoq__conn_set_isolation(c, c->default_isolation);
	ztoq__error_release();
	if (code < 0)
		c->broken = 1;
	return code;
}
