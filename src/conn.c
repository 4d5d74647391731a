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
 * Connecting and disconnecting take this lock, whatever the driver: the SQLite driver
 * corrupts memory when two threads connect on one environment at once, psqlODBC calls
 * setlocale() while connecting, and unixODBC's lists of environments and connections
 * are unlocked on this platform (helgrind saw SQLAllocHandle race SQLDisconnect).
 * Connections are pooled, so it is taken only when the pool opens or closes one.
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

int ztoq__conn_error(ztoq__conn *c, SQLSMALLINT handle_type, SQLHANDLE handle,
		     const char *fmt, ...)
{
	char context[512];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	code = ztoq__error_odbc(c->dialect->type, handle_type, handle, c->secret, ZTOQ_ERROR,
				"%s", context);
	if (code != ZTOQ_EDISCONNECTED) {
		/* The driver may know better than the message (psqlODBC after an I/O failure). */
		SQLUINTEGER dead = SQL_CD_FALSE;
		if (SQL_SUCCEEDED(SQLGetConnectAttr(c->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)) &&
		    dead == SQL_CD_TRUE) {
			code = ztoq__error_reclassify(ZTOQ_EDISCONNECTED);
		}
	}
	if (code == ZTOQ_EDISCONNECTED)
		c->broken = 1;
	return code;
}

/* Turns a failed connect into a message that says which part of the setup is wrong. */
static int connect_error(const ztoq__dialect *d, SQLHDBC dbc, const char *redacted,
			 const char *secret)
{
	const ztoq_error *e;
	int code = ztoq__error_odbc(d->type, SQL_HANDLE_DBC, dbc, secret, ZTOQ_ERROR,
				    "cannot connect (%s)", redacted);

	/* Only the driver manager's own records mean a missing DSN or driver; a server's
	 * "database does not exist" (08001) is the driver's reason and is kept as is. */
	e = ztoq_error_last();
	if (code == ZTOQ_ENOTFOUND &&
	    (strncmp(e->sqlstate, "IM", 2) == 0 || strstr(e->message, "[Driver Manager]")))
		return ztoq__error_odbc(d->type, SQL_HANDLE_DBC, dbc, secret, code,
					"%s (%s)",
					strstr(redacted, "DSN=")
						? "no such DSN in odbc.ini, or its driver is missing"
						: "ODBC driver not registered in odbcinst.ini",
					redacted);
	if (code == ZTOQ_ERROR)
		return ztoq__error_odbc(d->type, SQL_HANDLE_DBC, dbc, secret, ZTOQ_ECONNECT,
					"cannot connect (%s)", redacted);
	return code;
}

int ztoq__conn_open(ztoq__conn **out, SQLHENV env, const ztoq__dialect *dialect,
		    const char *connstr, const char *redacted, const char *secret,
		    long login_timeout_s)
{
	ztoq__conn *c;
	SQLHDBC dbc = SQL_NULL_HDBC;
	SQLRETURN rc = SQL_ERROR;
	int code;

	*out = NULL;
	if (!(c = ztoq__calloc(1, sizeof(*c))))
		return ztoq__error_nomem();
	c->dialect = dialect;
	c->secret = secret;
	ztoq__odbc_lock();
	if (SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc))) {
		if (login_timeout_s > 0)
			SQLSetConnectAttr(dbc, SQL_ATTR_LOGIN_TIMEOUT,
					  (SQLPOINTER)(intptr_t)login_timeout_s, SQL_IS_UINTEGER);
		rc = SQLDriverConnect(dbc, NULL, (SQLCHAR *)connstr, SQL_NTS, NULL, 0, NULL,
				      SQL_DRIVER_NOPROMPT);
	} else {
		dbc = SQL_NULL_HDBC;
	}
	ztoq__odbc_unlock();
	if (dbc == SQL_NULL_HDBC) {
		ztoq__free(c);
		return ztoq__error_odbc(dialect->type, SQL_HANDLE_ENV, env, secret, ZTOQ_ENOMEM,
					"cannot allocate an ODBC connection handle");
	}
	if (!SQL_SUCCEEDED(rc)) {
		code = connect_error(dialect, dbc, redacted, secret);
		ztoq__odbc_lock();
		SQLFreeHandle(SQL_HANDLE_DBC, dbc);
		ztoq__odbc_unlock();
		ztoq__free(c);
		return code;
	}
	c->dbc = dbc;
	c->autocommit = 1;
	if (!SQL_SUCCEEDED(SQLGetConnectAttr(dbc, SQL_ATTR_TXN_ISOLATION, &c->isolation, 0, NULL)))
		c->isolation = 0;
	c->default_isolation = c->isolation;
	c->created_ns = c->released_ns = ztoq__now_ns();
	*out = c;
	return ZTOQ_OK;
}

void ztoq__conn_close(ztoq__conn *c)
{
	if (!c)
		return;
	ztoq__stmt_cache_free(c);
	if (c->in_tx && !c->broken) {
		ztoq__error_hold(); /* closing records nothing: the last error stays */
		ztoq__conn_end(c, 0);
		ztoq__error_release();
	}
	if (c->exec_handle)
		ztoq__conn_free_stmt(c->exec_handle);
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
	if (SQL_SUCCEEDED(rc))
		return ZTOQ_OK;
	*out = SQL_NULL_HSTMT;
	return ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "cannot allocate a statement");
}

void ztoq__conn_free_stmt(SQLHSTMT handle)
{
	ztoq__odbc_lock();
	SQLFreeHandle(SQL_HANDLE_STMT, handle);
	ztoq__odbc_unlock();
}

int ztoq__conn_exec(ztoq__conn *c, const char *sql)
{
	SQLSMALLINT columns = 0;
	SQLRETURN rc;
	int code;

	if (!c->exec_handle && (code = ztoq__conn_alloc_stmt(c, &c->exec_handle)) < 0)
		return code;
	rc = SQLExecDirect(c->exec_handle, (SQLCHAR *)sql, SQL_NTS);
	if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA) {
		code = ztoq__conn_error(c, SQL_HANDLE_STMT, c->exec_handle, "%s", sql);
		SQLFreeStmt(c->exec_handle, SQL_CLOSE);
		return code;
	}
	/* read a result to its end, so no driver keeps a statement (and a lock) open; a
	 * read that fails is an error (the ping's, when the link broke) */
	code = ZTOQ_OK;
	if (SQL_SUCCEEDED(SQLNumResultCols(c->exec_handle, &columns)) && columns > 0) {
		while (SQL_SUCCEEDED(rc = SQLFetch(c->exec_handle)))
			;
		if (rc != SQL_NO_DATA)
			code = ztoq__conn_error(c, SQL_HANDLE_STMT, c->exec_handle, "%s", sql);
	}
	SQLFreeStmt(c->exec_handle, SQL_CLOSE);
	return code;
}

int ztoq__conn_ping(ztoq__conn *c)
{
	int code = ztoq__conn_exec(c, c->dialect->ping_sql);

	if (code < 0)
		c->broken = 1;
	return code;
}

static int set_autocommit(ztoq__conn *c, int on)
{
	SQLRETURN rc;

	if (c->autocommit == on)
		return ZTOQ_OK;
	rc = SQLSetConnectAttr(c->dbc, SQL_ATTR_AUTOCOMMIT,
			       (SQLPOINTER)(uintptr_t)(on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF),
			       SQL_IS_UINTEGER);
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
	rc = SQLSetConnectAttr(c->dbc, SQL_ATTR_TXN_ISOLATION, (SQLPOINTER)(uintptr_t)level,
			       SQL_IS_UINTEGER);
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
	rc = SQLSetConnectAttr(c->dbc, SQL_ATTR_ACCESS_MODE,
			       (SQLPOINTER)(uintptr_t)(on ? SQL_MODE_READ_ONLY : SQL_MODE_READ_WRITE),
			       SQL_IS_UINTEGER);
	if (!SQL_SUCCEEDED(rc))
		return ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "cannot set the access mode");
	/* Drivers accept the access mode and ignore it: the server must enforce it. */
	if (sql && (code = ztoq__conn_exec(c, sql)) < 0)
		return code;
	c->read_only = on;
	return ZTOQ_OK;
}

int ztoq__conn_begin(ztoq__conn *c, int read_only)
{
	const char *begin = read_only ? c->dialect->begin_read : c->dialect->begin_write;
	int code = begin ? ztoq__conn_exec(c, begin) : set_autocommit(c, 0);

	if (code == ZTOQ_OK)
		c->in_tx = 1;
	return code;
}

int ztoq__conn_end(ztoq__conn *c, int commit)
{
	int code = ZTOQ_OK;

	if (c->dialect->begin_write)
		code = ztoq__conn_exec(c, commit ? "COMMIT" : "ROLLBACK");
	else if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, c->dbc, commit ? SQL_COMMIT : SQL_ROLLBACK)))
		code = ztoq__conn_error(c, SQL_HANDLE_DBC, c->dbc, "%s failed",
					commit ? "commit" : "rollback");
	c->in_tx = 0;
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
				    : SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, c->dbc, SQL_ROLLBACK));
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
	if (code == ZTOQ_OK)
		code = ztoq__conn_set_isolation(c, c->default_isolation);
	ztoq__error_release();
	if (code < 0)
		c->broken = 1;
	return code;
}
