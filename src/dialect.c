/*
 * dialect.c - per-backend facts and error classification.
 *
 * PostgreSQL reports the server's SQLSTATE intact; the SQLite driver reports nearly
 * everything as HY000 with the SQLite result code as the native error, so SQLite is
 * classified by native code (see the driver table in DESIGN.md).
 */
#include "dialect.h"

#include <string.h>

#include "ztoq/error.h"

static const ztoq__dialect dialects[] = {
	[ZTOQ_DB_SQLITE] = {
		.type = ZTOQ_DB_SQLITE,
		.name = "sqlite",
		.serialize_connect = 1,
		.native_isolation = 0,
		.read_only_on = "PRAGMA query_only = 1",
		.read_only_off = "PRAGMA query_only = 0",
		.read_only_tx = NULL,
		/* The driver's own BEGIN is deferred: two read-then-write transactions then
		 * deadlock on the lock upgrade, and one fails at once whatever the busy
		 * timeout. IMMEDIATE takes the write lock up front, waiting its turn. */
		.begin_write = "BEGIN IMMEDIATE",
		.begin_read = "BEGIN",
		.ping_sql = "SELECT 1",
		.tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' "
			      "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
	},
	[ZTOQ_DB_POSTGRESQL] = {
		.type = ZTOQ_DB_POSTGRESQL,
		.name = "postgresql",
		/* psqlODBC calls setlocale() while connecting: not thread-safe (memcheck
		 * saw the locale string leak when threads connected at once) */
		.serialize_connect = 1,
		.native_isolation = 1,
		.read_only_on = NULL,
		.read_only_off = NULL,
		.read_only_tx = "SET TRANSACTION READ ONLY",
		.ping_sql = "SELECT 1",
		.tables_sql = "SELECT table_name FROM information_schema.tables WHERE table_schema "
			      "= current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
	},
	[ZTOQ_DB_ODBC] = {
		.type = ZTOQ_DB_ODBC,
		.name = "odbc",
		.serialize_connect = 1, /* unknown driver: assume the worst */
		.native_isolation = 1,
		.read_only_on = NULL,
		.read_only_off = NULL,
		.read_only_tx = NULL,
		.ping_sql = "SELECT 1",
	},
};

const ztoq__dialect *ztoq__dialect_get(ztoq_db_type type)
{
	if ((unsigned)type >= sizeof(dialects) / sizeof(dialects[0]))
		type = ZTOQ_DB_ODBC;
	return &dialects[type];
}

static int starts(const char *sqlstate, const char *prefix)
{
	return strncmp(sqlstate, prefix, strlen(prefix)) == 0;
}

static int has(const char *message, const char *needle)
{
	return message && strstr(message, needle) != NULL;
}

/* SQLite result codes (primary code: low byte of an extended code). */
static int classify_sqlite(int32_t native, const char *message)
{
	switch (native & 0xff) {
	case 5:  /* SQLITE_BUSY */
	case 6:  /* SQLITE_LOCKED */
		return ZTOQ_EBUSY;
	case 7:  /* SQLITE_NOMEM */
		return ZTOQ_ENOMEM;
	case 8:  /* SQLITE_READONLY */
		return ZTOQ_EREADONLY;
	case 9:  /* SQLITE_INTERRUPT */
		return ZTOQ_ETIMEOUT;
	case 14: /* SQLITE_CANTOPEN */
	case 26: /* SQLITE_NOTADB */
		return ZTOQ_ECONNECT;
	case 19: /* SQLITE_CONSTRAINT */
		return ZTOQ_ECONSTRAINT;
	default:
		break;
	}
	/* PRAGMA query_only reports "attempt to write a readonly database" */
	if (has(message, "readonly database"))
		return ZTOQ_EREADONLY;
	if (has(message, "database is locked"))
		return ZTOQ_EBUSY;
	return ZTOQ_ERROR;
}

/* Standard and PostgreSQL SQLSTATEs. */
static int classify_sqlstate(const char *sqlstate, const char *message)
{
	if (starts(sqlstate, "08001")) {
		if (has(message, "password authentication failed") ||
		    has(message, "no password supplied") || has(message, "authentication failed"))
			return ZTOQ_EAUTH;
		if (has(message, "does not exist"))
			return ZTOQ_ENOTFOUND;
		return ZTOQ_ECONNECT;
	}
	if (starts(sqlstate, "08") || starts(sqlstate, "57P0") ||
	    has(message, "server closed the connection unexpectedly") ||
	    has(message, "no connection to the server") ||
	    has(message, "could not send data to server"))
		return ZTOQ_EDISCONNECTED;
	if (starts(sqlstate, "23"))
		return ZTOQ_ECONSTRAINT;
	if (starts(sqlstate, "40001") || starts(sqlstate, "40P01"))
		return ZTOQ_ERETRY;
	if (starts(sqlstate, "25006"))
		return ZTOQ_EREADONLY;
	if (starts(sqlstate, "25P02"))
		return ZTOQ_ETXFAILED;
	if (starts(sqlstate, "57014") || starts(sqlstate, "55P03"))
		return ZTOQ_ETIMEOUT;
	if (starts(sqlstate, "28"))
		return ZTOQ_EAUTH;
	if (starts(sqlstate, "3D000"))
		return ZTOQ_ENOTFOUND;
	return ZTOQ_ERROR;
}

int ztoq__dialect_classify(ztoq_db_type type, const char *sqlstate, int32_t native,
			   const char *message)
{
	/* States raised by the driver manager or shared by every driver */
	if (starts(sqlstate, "IM002") || starts(sqlstate, "IM003") ||
	    has(message, "Can't open lib"))
		return ZTOQ_ENOTFOUND;
	if (starts(sqlstate, "HY001"))
		return ZTOQ_ENOMEM;
	if (starts(sqlstate, "HYT0"))
		return ZTOQ_ETIMEOUT;
	if (type == ZTOQ_DB_SQLITE) {
		int code = classify_sqlite(native, message);
		if (code != ZTOQ_ERROR)
			return code;
	}
	return classify_sqlstate(sqlstate, message);
}
