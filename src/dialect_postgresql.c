/*
 * dialect_postgresql.c - PostgreSQL through psqlODBC.
 *
 * psqlODBC reports the server's SQLSTATE intact: errors are classified by it.
 */
#include "dialect.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "hosts.h"

/* Without a DSN PostgreSQL needs host (a list of servers: hosts.h) and database;
 * ZTOQ_EINVALID (recorded) names the first missing or bad one. */
static int validate(const ztoq__settings *set)
{
	ztoq__host_list hosts;
	int rc = ztoq__settings_require(set->host, "host", "PostgreSQL needs a server host");

	if (rc == ZTOQ_OK)
		rc = ztoq__hosts_parse(&hosts, set->host, "host", set->port);
	if (rc == ZTOQ_OK && set->replica_hosts) /* read replicas: replica.c */
		rc = ztoq__hosts_parse(&hosts, set->replica_hosts, "replica_hosts", set->port);
	return rc < 0 ? rc
		      : ztoq__settings_require(set->database, "database",
					       "PostgreSQL needs a database name");
}

/*
 * Appends the driver (driver, else pg_driver), Server, Port and Database to `b`: the
 * first server of host (db.c composes each server's string of a list on its own);
 * psqlODBC takes no braces there, so a host or database it cannot be given is
 * ZTOQ_EINVALID (recorded).
 */
static int compose_target(ztoq__buf *b, const ztoq__settings *set)
{
	ztoq__host_list hosts;
	char port[16];
	int rc;

	if ((rc = ztoq__hosts_parse(&hosts, set->host, "host", set->port)) < 0)
		return rc;
	ztoq__connstr_put_value(b, "Driver", set->driver ? set->driver : set->pg_driver, 1);
	if ((rc = ztoq__connstr_put_unquotable(b, "Server", "host", hosts.hosts[0].name,
					       "PostgreSQL")) < 0)
		return rc;
	snprintf(port, sizeof(port), "%ld", hosts.hosts[0].port);
	ztoq__connstr_put_plain(b, "Port", port);
	return ztoq__connstr_put_unquotable(b, "Database", "database", set->database,
					    "PostgreSQL");
}

/*
 * Appends ` name='value'` to `opt` (`size` bytes, `len` used) in libpq's conninfo
 * quoting (a backslash before ' and before a backslash), cut to fit.
 */
static void put_conninfo(char *opt, size_t size, size_t len, const char *name,
			   const char *value)
{
	len += (size_t)snprintf(opt + len, size - len, " %s='", name);
	for (; *value && len + 3 < size; value++) {
		if (*value == '\'' || *value == '\\')
			opt[len++] = '\\';
		opt[len++] = *value;
	}
	if (len + 2 > size)
		len = size - 2;
	opt[len++] = '\'';
	opt[len] = '\0';
}

/*
 * Protocol 7.4-0: an error aborts the whole transaction, with no per-statement
 * savepoint (docs/drivers.md). pqopt: libpq options psqlODBC passes through:
 * keepalives and tcp_user_timeout notice a peer that is gone within about a minute,
 * the server's own statement_timeout cancels a statement that runs too long
 * (statement_timeout_ms, exact to the millisecond), and sslrootcert names the CA file
 * (psqlODBC has no attribute of its own for it). SSLmode: the user's sslmode, when
 * given, wins over a DSN's. Behind a transaction pooler (pooler=transaction), which
 * refuses the `options` startup parameter and hands each transaction to any server
 * connection: no statement_timeout there (tx_settings sets it in each transaction), and
 * UseServerSidePrepare=0, since a plan prepared on one server connection is missing on
 * the next (docs/scaling.md).
 */
static size_t attributes(ztoq__attribute *out, const ztoq__settings *set, int dsn)
{
	ztoq__attribute *opt = &out[1];
	size_t len, n = 2;

	(void)dsn;
	out[0] = (ztoq__attribute){.key = "Protocol", .alias = "A1", .value = "7.4-0",
				   .required = 1};
	*opt = (ztoq__attribute){.key = "pqopt", .alias = "D5", .braced = 1};
	len = (size_t)snprintf(opt->value, sizeof(opt->value),
			       "keepalives=1 keepalives_idle=30 keepalives_interval=10 "
			       "keepalives_count=3 tcp_user_timeout=60000");
	if (set->statement_timeout_ms > 0 && !set->tx_pooler)
		len += (size_t)snprintf(opt->value + len, sizeof(opt->value) - len,
					" options='-c statement_timeout=%ld'",
					set->statement_timeout_ms);
	if (set->sslrootcert)
		put_conninfo(opt->value, sizeof(opt->value), len, "sslrootcert", set->sslrootcert);
	if (set->sslmode) {
		out[n] = (ztoq__attribute){.key = "SSLmode", .alias = "CA", .required = 1};
		snprintf(out[n++].value, sizeof(out[0].value), "%s", set->sslmode);
	}
	if (set->tx_pooler)
		out[n++] = (ztoq__attribute){.key = "UseServerSidePrepare", .alias = "C8",
					     .value = "0", .required = 1};
	return n;
}

/*
 * SET TRANSACTION (never psqlODBC's SQL_ATTR_TXN_ISOLATION, which it sends as SET
 * SESSION CHARACTERISTICS: behind a transaction pooler that lands on another client's
 * server connection) and SET LOCAL statement_timeout: both end with the transaction.
 * `whole` (behind a transaction pooler): READ WRITE and statement_timeout 0 too, since
 * another client may have left other defaults on the server connection.
 */
static void tx_settings(ztoq__buf *b, ztoq_isolation level, int read_only, long timeout_ms,
			int whole)
{
	static const char *const names[] = {
		[ZTOQ_ISOLATION_READ_UNCOMMITTED] = "READ UNCOMMITTED",
		[ZTOQ_ISOLATION_READ_COMMITTED] = "READ COMMITTED",
		[ZTOQ_ISOLATION_REPEATABLE_READ] = "REPEATABLE READ",
		[ZTOQ_ISOLATION_SERIALIZABLE] = "SERIALIZABLE",
	};

	if (level || read_only || whole)
		ztoq__buf_printf(b, "SET TRANSACTION%s%s%s", level ? " ISOLATION LEVEL " : "",
				 level ? names[level] : "",
				 read_only ? " READ ONLY" : whole ? " READ WRITE" : "");
	if (timeout_ms > 0 || whole)
		ztoq__buf_printf(b, "%sSET LOCAL statement_timeout = %ld", b->len ? "; " : "",
				 timeout_ms);
}

/* ---- bulk writes: one typed array a column, unnest()ed by the server ----------- */

/* The array type of column `col`: the caller's sql_types, else the value type's. */
static const char *array_type(const ztoq_bulk_table *t, size_t col)
{
	static const char *const names[] = {
		[ZTOQ_TYPE_BOOL] = "boolean",     [ZTOQ_TYPE_INT64] = "bigint",
		[ZTOQ_TYPE_DOUBLE] = "float8",    [ZTOQ_TYPE_TEXT] = "text",
		[ZTOQ_TYPE_BLOB] = "bytea",       [ZTOQ_TYPE_TIMESTAMP] = "timestamp",
	};

	if (t->sql_types && t->sql_types[col])
		return t->sql_types[col];
	return names[t->types[col]];
}

/* " SELECT * FROM unnest(?::bigint[], ...)": the rows of one array parameter a column,
 * cast to the column's array type (bulk.c checked the caller's sql_types). */
static void bulk_arrays_source(ztoq__buf *b, const ztoq_bulk_table *t)
{
	ztoq__buf_puts(b, " SELECT * FROM unnest(");
	for (size_t c = 0; c < t->ncolumns; c++)
		ztoq__buf_printf(b, "%s?::%s[]", c ? ", " : "", array_type(t, c));
	ztoq__buf_puts(b, ")");
}

/* Appends `v` in decimal: exact, and cheaper than printf. */
static void put_int64(ztoq__buf *a, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	ztoq__buf_append(a, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Appends `v` as float8 input reads it back: NaN and the infinities by name. */
static void put_double(ztoq__buf *a, double v)
{
	if (isnan(v))
		ztoq__buf_puts(a, "NaN");
	else if (isinf(v))
		ztoq__buf_puts(a, v < 0 ? "-Infinity" : "Infinity");
	else if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v)
		put_int64(a, (int64_t)v); /* exact, and far cheaper than %.17g */
	else
		ztoq__buf_printf(a, "%.17g", v);
}

/* Appends a quoted array element: backslash and double quote escaped. */
static void put_quoted(ztoq__buf *a, const char *p, size_t len)
{
	const char *end = p + len, *run = p;

	ztoq__buf_puts(a, "\"");
	for (; p < end; p++) {
		if (*p != '"' && *p != '\\')
			continue;
		ztoq__buf_append(a, run, (size_t)(p - run));
		ztoq__buf_append(a, "\\", 1);
		run = p;
	}
	ztoq__buf_append(a, run, (size_t)(end - run));
	ztoq__buf_puts(a, "\"");
}

/* Appends one value as an element of an array literal: NULL bare, a timestamp
 * and text quoted, a blob as bytea hex input. */
static void put_element(ztoq__buf *a, const ztoq_value *v)
{
	static const char hex[] = "0123456789abcdef";
	const ztoq_timestamp *t = &v->v.ts;
	const unsigned char *p;

	switch (v->type) {
	case ZTOQ_TYPE_NULL:
		ztoq__buf_puts(a, "NULL");
		break;
	case ZTOQ_TYPE_BOOL:
		ztoq__buf_puts(a, v->v.boolean ? "t" : "f");
		break;
	case ZTOQ_TYPE_INT64:
		put_int64(a, v->v.int64);
		break;
	case ZTOQ_TYPE_DOUBLE:
		put_double(a, v->v.real);
		break;
	case ZTOQ_TYPE_TIMESTAMP:
		ztoq__buf_printf(a, "\"%04d-%02u-%02u %02u:%02u:%02u.%09lu\"", t->year, t->month,
				 t->day, t->hour, t->minute, t->second, (unsigned long)t->nanosecond);
		break;
	case ZTOQ_TYPE_BLOB: /* bytea hex input, its backslash escaped for the array */
		ztoq__buf_puts(a, "\"\\\\x");
		p = v->v.bytes.ptr;
		for (size_t i = 0; i < v->v.bytes.len; i++) {
			char pair[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
			ztoq__buf_append(a, pair, 2);
		}
		ztoq__buf_puts(a, "\"");
		break;
	default:
		put_quoted(a, v->v.bytes.ptr, v->v.bytes.len);
		break;
	}
}

/* An array literal "{v1,v2,...}" of `count` values `stride` apart from `v`. */
static void bulk_array(ztoq__buf *a, const ztoq_value *v, size_t count, size_t stride)
{
	ztoq__buf_puts(a, "{");
	for (size_t r = 0; r < count; r++) {
		if (r)
			ztoq__buf_puts(a, ",");
		put_element(a, &v[r * stride]);
	}
	ztoq__buf_puts(a, "}");
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

/* The server's lock_timeout, for the wait for the migration lock (SET LOCAL: no
 * session state, and lock_wait_reset puts back the default for the migration). */
static void lock_wait(ztoq__buf *b, long timeout_ms)
{
	ztoq__buf_printf(b, "SET LOCAL lock_timeout = %ld", timeout_ms);
}

static const char *migration_sql(const ztoq__migration *m, int up)
{
	return up ? m->postgresql_up : m->postgresql_down;
}

/* ---- copying (copy.c) ------------------------------------------------------------ */

/* Booleans as integers, doubles as text (the shortest exact form since PostgreSQL 12),
 * enums and json as text, timestamps to the microsecond. */
static void copy_read(ztoq__buf *b, const char *name, ztoq__copy_kind kind)
{
	static const char *const forms[][2] = {
		[ZTOQ__COPY_INT] = {"", ""}, [ZTOQ__COPY_BOOL] = {"CAST(", " AS integer)"},
		[ZTOQ__COPY_DOUBLE] = {"CAST(", " AS text)"}, [ZTOQ__COPY_TEXT] = {"CAST(", " AS text)"},
		[ZTOQ__COPY_BLOB] = {"", ""},
		[ZTOQ__COPY_TS] = {"to_char(", ", 'YYYY-MM-DD HH24:MI:SS.US')"},
	};

	ztoq__buf_puts(b, forms[kind][0]);
	ztoq__dialect_quote_ansi(b, name);
	ztoq__buf_puts(b, forms[kind][1]);
}

/* setval() of the column's serial sequence past its largest value. Names come from
 * the catalog (copy_serials_sql) and the copy's table list. */
static void copy_sequence(ztoq__buf *b, const char *table, const char *column)
{
	ztoq__buf_puts(b, "SELECT setval(pg_get_serial_sequence('");
	ztoq__buf_append_doubling(b, table, '\'');
	ztoq__buf_puts(b, "', '");
	ztoq__buf_append_doubling(b, column, '\'');
	ztoq__buf_puts(b, "'), COALESCE((SELECT MAX(");
	ztoq__dialect_quote_ansi(b, column);
	ztoq__buf_puts(b, ") FROM ");
	ztoq__dialect_quote_ansi(b, table);
	ztoq__buf_puts(b, "), 0) + 1, false)");
}

const ztoq__dialect ztoq__dialect_postgresql = {
	.type = ZTOQ_DB_POSTGRESQL,
	.name = "postgresql",
	.dbms_name = "PostgreSQL",
	.driver_file = "psqlodbc", /* psqlodbcw.so, psqlodbca.so */
	.min_connections = "5",
	.max_connections = "20",
	.validate = validate,
	.compose_target = compose_target,
	.credentials = 1,
	.attributes = attributes,
	.stop = ZTOQ__STOP_SOCKET, /* psqlODBC's own cancel needs the network too */
	.classify = ztoq__dialect_classify_sqlstate,
	.native_isolation = 1,
	.tx_settings = tx_settings,
	.tx_pooling = 1,
	.ping_sql = "SELECT 1",
	/* pg_last_xact_replay_timestamp() alone reports an idle primary as lag: a replica
	 * that replayed all it received is 0 behind (docs/scaling.md says what it cannot
	 * see); behind, with no transaction replayed since it started, its lag is not
	 * known: a day, too far for any limit worth setting */
	.replica_lag_sql = "SELECT CAST(CASE WHEN NOT pg_is_in_recovery() THEN -1 "
			   "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
			   "ELSE COALESCE(EXTRACT(EPOCH FROM now() - "
			   "pg_last_xact_replay_timestamp()) * 1000, 86400000) END AS BIGINT)",
	.in_recovery_sql = "SELECT pg_is_in_recovery()::int",
	.cursor_declare = cursor_declare,
	.cursor_fetch = cursor_fetch,
	.cursor_close = cursor_close,
	.bulk_form = ZTOQ__BULK_ARRAYS,
	.bulk_arrays_source = bulk_arrays_source,
	.bulk_array = bulk_array,
	.is_row_error = ztoq__dialect_row_error_sqlstate,
	/* pg_tables: every table of the schema, not only those the user has privileges
	 * on (as information_schema.tables would) */
	.tables_sql = "SELECT tablename FROM pg_catalog.pg_tables "
		      "WHERE schemaname = current_schema() ORDER BY tablename",
	.migration_sql = migration_sql,
	/* key: "ztoq_mig" read as a big-endian 64-bit integer; a transaction-level lock,
	 * which no migrator can leave behind, behind a pooler or not */
	.migration_lock = "SELECT pg_advisory_xact_lock(8823800102648637799)",
	.lock_wait = lock_wait,
	.lock_wait_reset = "SET LOCAL lock_timeout TO DEFAULT",
	.tracking_sql = ZTOQ__TRACKING_SQL("TIMESTAMP WITHOUT TIME ZONE", "BIGINT"),
	.table_exists_sql = "SELECT COUNT(*) FROM pg_catalog.pg_tables "
			    "WHERE schemaname = current_schema() AND tablename = ?",
	.drop_table_suffix = " CASCADE", /* views and foreign keys of other schemas */
	.drop_types_sql = "DROP TYPE IF EXISTS entitytype",
	.copy_columns_sql = "SELECT CAST(a.attname AS text), format_type(a.atttypid, NULL) "
			    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c "
			    "ON c.oid = a.attrelid WHERE c.relname = ? AND c.relkind = 'r' "
			    "AND c.relnamespace = CAST(current_schema() AS regnamespace) "
			    "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
	.copy_read = copy_read,
	/* pg_get_serial_sequence() takes the table as SQL text, the column as a name */
	.copy_serials_sql = "SELECT CAST(c.relname AS text), CAST(a.attname AS text) "
			    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c "
			    "ON c.oid = a.attrelid WHERE c.relkind = 'r' "
			    "AND c.relnamespace = CAST(current_schema() AS regnamespace) "
			    "AND a.attnum > 0 AND NOT a.attisdropped AND pg_get_serial_sequence("
			    "quote_ident(c.relname), CAST(a.attname AS text)) IS NOT NULL",
	.copy_sequence = copy_sequence,
	/* an index another table's foreign key references has that key's conindid */
	.copy_rebuild_sql =
		"WITH t AS (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = ? "
		"AND c.relkind = 'r' AND c.relnamespace = CAST(current_schema() AS regnamespace)) "
		"SELECT d, c FROM (SELECT 0 AS k, 'ALTER TABLE ' || CAST(CAST(t.oid AS regclass) "
		"AS text) || ' DROP CONSTRAINT ' || quote_ident(f.conname) AS d, 'ALTER TABLE ' "
		"|| CAST(CAST(t.oid AS regclass) AS text) || ' ADD CONSTRAINT ' || "
		"quote_ident(f.conname) || ' ' || pg_get_constraintdef(f.oid) AS c "
		"FROM pg_catalog.pg_constraint f JOIN t ON f.conrelid = t.oid WHERE f.contype = 'f' "
		"UNION ALL SELECT 1, 'DROP INDEX ' || CAST(CAST(i.indexrelid AS regclass) AS text), "
		"pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i JOIN t ON "
		"i.indrelid = t.oid WHERE NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM "
		"pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)) r ORDER BY k, d",
};
