/*
 * dialect.c - per-backend facts and error classification.
 *
 * PostgreSQL reports the server's SQLSTATE intact; the SQLite driver reports nearly
 * everything as HY000 with the SQLite result code as the native error, so SQLite is
 * classified by native code (see the driver table in docs/drivers.md).
 */
#include "dialect.h"

#include <string.h>

#include "ztoq/error.h"

/* The migration engine's tracking table, with the backend's timestamp and 64-bit types. */
#define TRACKING_SQL(timestamp, int64) \
	"CREATE TABLE IF NOT EXISTS " ZTOQ__TRACKING_TABLE " (" \
	"version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, " \
	"checksum VARCHAR(16) NOT NULL, applied_at " timestamp " NOT NULL, " \
	"duration_ms " int64 " NOT NULL)"

static const ztoq__dialect dialects[] = {
	[ZTOQ_DB_SQLITE] = {
		.type = ZTOQ_DB_SQLITE,
		.name = "sqlite",
		.native_isolation = 0,
		.reset_needs_prepare = 1,
		.read_only_on = "PRAGMA query_only = 1",
		.read_only_off = "PRAGMA query_only = 0",
		.read_only_tx = NULL,
		/* The driver's own BEGIN is deferred: two read-then-write transactions then
		 * deadlock on the lock upgrade, and one fails at once whatever the busy
		 * timeout. IMMEDIATE takes the write lock up front, waiting its turn. */
		.begin_write = "BEGIN IMMEDIATE",
		.begin_read = "BEGIN",
		.ping_sql = "SELECT 1",
		/* LIKE ignores case, as SQLite does when it reserves the sqlite_ names */
		.tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' "
			      "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
		.dbms_name = "SQLite",
		.file_database = 1,
		.connect_alone = 1, /* the driver corrupts memory otherwise (docs/drivers.md) */
		.stop = ZTOQ__STOP_CANCEL,
		.plan_statements = 1, /* StepAPI=1 */
		.bulk_form = ZTOQ__BULK_VALUES,
		/* no lock outlives a transaction: each migration's is exclusive instead */
		.migration_begin = "BEGIN EXCLUSIVE",
		.tracking_sql = TRACKING_SQL("DATETIME", "INTEGER"),
		.table_exists_sql = "SELECT COUNT(*) FROM sqlite_master "
				    "WHERE type = 'table' AND name = ?",
		.drop_table_suffix = "",
		/* SQLite checks foreign keys while it drops, refusing a parent before its
		 * children */
		.foreign_keys_off = "PRAGMA foreign_keys = OFF",
		.foreign_keys_on = "PRAGMA foreign_keys = ON",
	},
	[ZTOQ_DB_POSTGRESQL] = {
		.type = ZTOQ_DB_POSTGRESQL,
		.name = "postgresql",
		.native_isolation = 1,
		.read_only_on = NULL,
		.read_only_off = NULL,
		.read_only_tx = "SET TRANSACTION READ ONLY",
		.ping_sql = "SELECT 1",
		/* pg_tables: every table of the schema, not only those the user has
		 * privileges on (as information_schema.tables would) */
		.tables_sql = "SELECT tablename FROM pg_catalog.pg_tables "
			      "WHERE schemaname = current_schema() ORDER BY tablename",
		.dbms_name = "PostgreSQL",
		.stop = ZTOQ__STOP_SOCKET, /* psqlODBC's own cancel needs the network too */
		.stream_cursor = 1,
		.bulk_form = ZTOQ__BULK_ARRAYS,
		/* key: "ztoq_mig" read as a big-endian 64-bit integer */
		.migration_lock = "SELECT pg_advisory_lock(8823800102648637799)",
		.migration_unlock = "SELECT pg_advisory_unlock(8823800102648637799)",
		.tracking_sql = TRACKING_SQL("TIMESTAMP WITHOUT TIME ZONE", "BIGINT"),
		.table_exists_sql = "SELECT COUNT(*) FROM pg_catalog.pg_tables "
				    "WHERE schemaname = current_schema() AND tablename = ?",
		.drop_table_suffix = " CASCADE", /* views and foreign keys of other schemas */
		.drop_types_sql = "DROP TYPE IF EXISTS entitytype",
	},
	[ZTOQ_DB_ODBC] = {
		.type = ZTOQ_DB_ODBC,
		.name = "odbc",
		.connect_alone = 1,
		.stop = ZTOQ__STOP_QUERY_TIMEOUT,
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

const ztoq__dialect *ztoq__dialect_of_dbms(const char *dbms_name)
{
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
		if (dialects[i].dbms_name && strcmp(dialects[i].dbms_name, dbms_name) == 0)
			return &dialects[i];
	return NULL;
}

int ztoq__dialect_is_row_error(const ztoq__dialect *d, int code, const char *sqlstate,
			       int32_t native)
{
	if (code == ZTOQ_ECONSTRAINT)
		return 1;
	if (code != ZTOQ_ERROR && code != ZTOQ_EINVALID)
		return 0;
	if (d->type == ZTOQ_DB_SQLITE) { /* TOOBIG, CONSTRAINT, MISMATCH, RANGE */
		native &= 0xff;
		return native == 18 || native == 19 || native == 20 || native == 25;
	}
	/* cardinality (an upsert touching one row twice), data exception, integrity */
	return strncmp(sqlstate, "21", 2) == 0 || strncmp(sqlstate, "22", 2) == 0 ||
	       strncmp(sqlstate, "23", 2) == 0;
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
