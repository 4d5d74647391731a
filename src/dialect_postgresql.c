/*
 * dialect_postgresql.c - PostgreSQL through psqlODBC.
 *
 * psqlODBC reports the server's SQLSTATE intact: errors are classified by it.
 */
#include "dialect.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

static int validate(const ztoq__settings *set)
{
	int rc = ztoq__settings_require(set->host, "host", "PostgreSQL needs a server host");

	return rc < 0 ? rc
		      : ztoq__settings_require(set->database, "database",
					       "PostgreSQL needs a database name");
}

static int compose_target(ztoq__buf *b, const ztoq__settings *set)
{
	char port[16];
	int rc;

	ztoq__connstr_put_value(b, "Driver", set->driver ? set->driver : set->pg_driver, 1);
	if ((rc = ztoq__connstr_put_unquotable(b, "Server", "host", set->host, "PostgreSQL")) < 0)
		return rc;
	snprintf(port, sizeof(port), "%ld", set->port);
	ztoq__connstr_put_plain(b, "Port", port);
	return ztoq__connstr_put_unquotable(b, "Database", "database", set->database,
					    "PostgreSQL");
}

/*
 * Protocol 7.4-0: an error aborts the whole transaction, with no per-statement
 * savepoint (docs/drivers.md). pqopt: libpq options psqlODBC passes through:
 * keepalives and tcp_user_timeout notice a peer that is gone within about a minute,
 * and the server's own statement_timeout cancels a statement that runs too long
 * (statement_timeout_ms, exact to the millisecond).
 */
static size_t attributes(ztoq__attribute *out, const ztoq__settings *set, int dsn)
{
	ztoq__attribute *opt = &out[1];
	int len;

	(void)dsn;
	out[0] = (ztoq__attribute){.key = "Protocol", .alias = "A1", .value = "7.4-0",
				   .required = 1};
	*opt = (ztoq__attribute){.key = "pqopt", .alias = "D5", .braced = 1};
	len = snprintf(opt->value, sizeof(opt->value),
		       "keepalives=1 keepalives_idle=30 keepalives_interval=10 "
		       "keepalives_count=3 tcp_user_timeout=60000");
	if (set->statement_timeout_ms > 0)
		snprintf(opt->value + len, sizeof(opt->value) - (size_t)len,
			 " options='-c statement_timeout=%ld'", set->statement_timeout_ms);
	return 2;
}

/*
 * A server cursor, so that psqlODBC does not buffer a whole result in memory: it is
 * declared in a transaction (batch.c opens one) and read forward only.
 */
static void cursor_declare(ztoq__buf *b, const char *name, const char *query)
{
	ztoq__buf_printf(b, "DECLARE %s NO SCROLL CURSOR FOR %s", name, query);
}

static void cursor_fetch(ztoq__buf *b, const char *name, size_t rows)
{
	ztoq__buf_printf(b, "FETCH FORWARD %zu FROM %s", rows, name);
}

static void cursor_close(ztoq__buf *b, const char *name)
{
	ztoq__buf_printf(b, "CLOSE %s", name);
}

/* The server's lock_timeout, for the one wait for the migration lock. */
static void lock_wait(ztoq__buf *b, long timeout_ms)
{
	ztoq__buf_printf(b, "SET lock_timeout = %ld", timeout_ms);
}

static const char *migration_sql(const ztoq__migration *m, int up)
{
	return up ? m->postgresql_up : m->postgresql_down;
}

const ztoq__dialect ztoq__dialect_postgresql = {
	.type = ZTOQ_DB_POSTGRESQL,
	.name = "postgresql",
	.dbms_name = "PostgreSQL",
	.min_connections = "5",
	.max_connections = "20",
	.validate = validate,
	.compose_target = compose_target,
	.credentials = 1,
	.attributes = attributes,
	.stop = ZTOQ__STOP_SOCKET, /* psqlODBC's own cancel needs the network too */
	.classify = ztoq__dialect_classify_sqlstate,
	.native_isolation = 1,
	.read_only_tx = "SET TRANSACTION READ ONLY",
	.ping_sql = "SELECT 1",
	.cursor_declare = cursor_declare,
	.cursor_fetch = cursor_fetch,
	.cursor_close = cursor_close,
	.bulk_form = ZTOQ__BULK_ARRAYS,
	.is_row_error = ztoq__dialect_row_error_sqlstate,
	/* pg_tables: every table of the schema, not only those the user has privileges
	 * on (as information_schema.tables would) */
	.tables_sql = "SELECT tablename FROM pg_catalog.pg_tables "
		      "WHERE schemaname = current_schema() ORDER BY tablename",
	.quote = ztoq__dialect_quote_ansi,
	.migration_sql = migration_sql,
	/* key: "ztoq_mig" read as a big-endian 64-bit integer */
	.migration_lock = "SELECT pg_advisory_lock(8823800102648637799)",
	.migration_unlock = "SELECT pg_advisory_unlock(8823800102648637799)",
	.lock_wait = lock_wait,
	.lock_wait_reset = "RESET lock_timeout",
	.tracking_sql = ZTOQ__TRACKING_SQL("TIMESTAMP WITHOUT TIME ZONE", "BIGINT"),
	.table_exists_sql = "SELECT COUNT(*) FROM pg_catalog.pg_tables "
			    "WHERE schemaname = current_schema() AND tablename = ?",
	.drop_table_suffix = " CASCADE", /* views and foreign keys of other schemas */
	.drop_types_sql = "DROP TYPE IF EXISTS entitytype",
};
