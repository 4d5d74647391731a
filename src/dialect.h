/*
 * dialect.h - the one backend contract: how SQLite, PostgreSQL and any other ODBC
 * driver differ, as one table of facts and operations per backend.
 *
 * Each backend fills a `ztoq__dialect` in a file of its own (dialect_sqlite.c,
 * dialect_postgresql.c, dialect_odbc.c), in the manner of SQLite's sqlite3_io_methods
 * or libgit2's refdb backends; the rest of the library asks the table and never tests
 * which backend it runs on (tests/check_backend_branches.sh keeps it so). A manager's
 * backend is the one its driver reports (SQL_DBMS_NAME, checked on every connect):
 * db_type only chooses how a connection string is composed when there is no DSN, a
 * DSN's driver library names it (driver_file) or, for a driver the library does not
 * know, a first connect asks (db.c).
 *
 * The tables are static and never change: every function here is thread-safe.
 */
#ifndef ZTOQ__DIALECT_H
#define ZTOQ__DIALECT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "migrations.h"
#include "ztoq/bulk.h"
#include "ztoq/config.h"
#include "ztoq/session.h"

/* How the watchdog stops a call that overran its deadline (src/watchdog.c). */
typedef enum {
	ZTOQ__STOP_QUERY_TIMEOUT, /* the driver's own SQL_ATTR_QUERY_TIMEOUT (a driver we
				   * do not know) */
	ZTOQ__STOP_CANCEL,        /* SQLCancel of a spare idle handle of the connection */
	ZTOQ__STOP_SOCKET         /* shutdown() of the connection's socket, after a grace
				   * for the server's own statement_timeout */
} ztoq__stop;

/* The statement form of a bulk write (src/bulk.c). */
typedef enum {
	ZTOQ__BULK_ROWS,   /* one row a statement (a driver we do not know) */
	ZTOQ__BULK_VALUES, /* multi-row VALUES */
	ZTOQ__BULK_ARRAYS  /* one array parameter a column, unnest()ed by the server */
} ztoq__bulk_form;

/*
 * One connection-string attribute the library adds (see docs/backends.md). A
 * `required` one is what the library's behaviour depends on: its value wins over a
 * DSN's, and a caller's whole string that sets it otherwise is refused. Any other is a
 * tunable: a DSN or a caller's string that sets it keeps its own value.
 */
typedef struct {
	const char *key;    /* as the driver documents it: "Protocol" */
	const char *alias;  /* the driver's abbreviation of the key ("A1"), or NULL */
	char value[2 * ZTOQ__SSLROOTCERT_MAX + 200]; /* pqopt: keepalives, a statement
						   * timeout, a quoted sslrootcert path */
	int required;
	int braced;         /* always written as {value} */
} ztoq__attribute;

#define ZTOQ__MAX_ATTRIBUTES 8
/* What a column holds, for a copy's canonical reads (copy.c): integers and booleans
 * read as integers, doubles as text that parses back to the same bits, text as text,
 * blobs as bytes, timestamps as text "YYYY-MM-DD HH:MM:SS[.f]". */
typedef enum {
	ZTOQ__COPY_INT, ZTOQ__COPY_BOOL, ZTOQ__COPY_DOUBLE, ZTOQ__COPY_TEXT, ZTOQ__COPY_BLOB,
	ZTOQ__COPY_TS
} ztoq__copy_kind;

typedef struct ztoq__dialect {
	ztoq_db_type type;
	const char *name;           /* the db_type naming it: "sqlite", "postgresql", "odbc" */
	const char *dbms_name;      /* the SQL_DBMS_NAME its driver reports, or NULL (any
				       other) */
	const char *driver_file;    /* part of its driver library's file name, or NULL: a
				       DSN whose driver's file has it is this backend
				       (ztoq__connstr_guess; every connect checks it) */

	/* settings and the connection string */
	const char *min_connections; /* pool size defaults (config.c) */
	const char *max_connections;
	/* What a configuration without a DSN needs (ZTOQ_OK or ZTOQ_EINVALID recorded). */
	int (*validate)(const ztoq__settings *set);
	/* Appends the driver and the target (file, or server and database) of a
	 * configuration without a DSN to `b`; NULL where a DSN is needed (validate says
	 * so). Returns ZTOQ_OK or ZTOQ_EINVALID for a value the driver cannot take. */
	int (*compose_target)(ztoq__buf *b, const ztoq__settings *set);
	/* 1 when a user name and a password go into the string (Uid, Pwd). */
	int credentials;
	/* Fills `out` (ZTOQ__MAX_ATTRIBUTES at most) with the attributes the library adds
	 * after the target, DSN or caller's string; returns how many. `dsn` says the
	 * string names a DSN or is the caller's own. */
	size_t (*attributes)(ztoq__attribute *out, const ztoq__settings *set, int dsn);
	/* The `:memory:` rule: rewrites a db_path that would give each pooled connection
	 * a database of its own into one the pool shares (into `buf`, `size` bytes);
	 * returns 1 when it did. NULL: no such path. */
	int (*private_path)(char *buf, size_t size, const char *path);
	/* 1 when the database lives only while a connection is open: the pool keeps one. */
	int (*needs_one_open)(const char *path);
	/* Turns a failed first open (`code`) into one that says why, when the settings
	 * can tell (a missing file or folder); returns the code to report. May be NULL. */
	int (*explain_open)(int code, const ztoq__settings *set);

	/* connections */
	int connect_alone;          /* the driver's connect runs under the library's ODBC
				       lock; otherwise connects take turns on their own lock
				       only (see conn.c) */
	ztoq__stop stop;            /* how the watchdog ends an overrunning call */
	/* Maps a diagnostic record to a ztoq_error_code (ZTOQ_ERROR when nothing
	 * matches); error.c records, this classifies. */
	int (*classify)(const char *sqlstate, int32_t native, const char *message);

	/* transactions */
	int native_isolation;       /* the isolation level really changes (with tx_settings
				       when it is set, else SQL_ATTR_TXN_ISOLATION) */
	/* Appends to `b` the first statement(s) of a transaction at `level` (DEFAULT: the
	 * connection's), read-only or not, whose statements the server ends after
	 * `timeout_ms` (0: as the connection says); appends nothing when none is needed.
	 * `whole`: every one of the three, even at its default (`level` given, timeout_ms 0
	 * meaning none), since behind a transaction pooler the server connection may carry
	 * another client's defaults. Everything it sets ends with the transaction (no
	 * session state, see docs/scaling.md). NULL: SQL_ATTR_TXN_ISOLATION and the
	 * connection's access mode. */
	void (*tx_settings)(ztoq__buf *b, ztoq_isolation level, int read_only, long timeout_ms,
			    int whole);
	int tx_pooling;             /* 1: keeps to pooler=transaction (tx_settings, and the
				       attributes need no session state) */
	const char *read_only_on;   /* makes the connection read-only, or NULL */
	const char *read_only_off;  /* undoes it, or NULL */
	const char *begin_write;    /* starts a read-write transaction in SQL, or NULL: */
	const char *begin_read;     /*   then autocommit stays on and COMMIT/ROLLBACK end it */
	const char *ping_sql;       /* cheapest real round trip */
	/* One row, one integer: -1 on a server that is not in recovery (a primary), else
	 * how far its replay lags behind what it received, ms. NULL: the backend has no
	 * read replicas (replica_hosts is refused). */
	const char *replica_lag_sql;
	/* 1 when the server is a standby in recovery (read-only), else 0; NULL: host names
	 * one server, not a list of servers of which one is the primary (db.c) */
	const char *in_recovery_sql;

	/* statements, streams and bulk writes */
	int reset_needs_prepare;    /* closing a result early leaves the statement where it
				       stopped: prepare it again (see stmt.c close_cursor) */
	int plan_statements;        /* the driver runs a query-like statement only at its
				       first fetch: statements are planned (stmt.c) */
	/* Server cursors, through which batches stream (batch.c); NULL where a result is
	 * read as the driver delivers it. Each appends to `b` the statement that declares
	 * the cursor `name` for `query`, fetches its next `rows` rows, or closes it. */
	void (*cursor_declare)(ztoq__buf *b, const char *name, const char *query);
	void (*cursor_fetch)(ztoq__buf *b, const char *name, size_t rows);
	void (*cursor_close)(ztoq__buf *b, const char *name);
	ztoq__bulk_form bulk_form;  /* how bulk.c writes many rows */
	/* ZTOQ__BULK_ARRAYS only (NULL otherwise). bulk_arrays_source appends to `b` what
	 * follows "INSERT INTO table (columns)": a query over one array parameter per
	 * column of `t`. bulk_array appends to `a` the text of one such parameter: `count`
	 * values, `stride` apart from `v` (one column of row-major rows). */
	void (*bulk_arrays_source)(ztoq__buf *b, const ztoq_bulk_table *t);
	void (*bulk_array)(ztoq__buf *a, const ztoq_value *v, size_t count, size_t stride);
	/* 1 when a failed write's error (the last error, classified as `code`) is about
	 * the data of its rows, so that fewer rows at a time may pass (bulk.c). */
	int (*is_row_error)(int code, const char *sqlstate, int32_t native);

	/* catalog */
	const char *tables_sql;     /* names of the user tables, sorted, or NULL */

	/* migrations (src/migrate.c); migration_sql is NULL where ZTOQ has no schema */
	const char *(*migration_sql)(const ztoq__migration *m, int up);
	const char *migration_begin;   /* starts a migration's transaction in autocommit mode,
					* shutting out other migrators, or NULL: ztoq_tx_begin() */
	/* Taken as the first statement of each of a run's transactions and held until it
	 * ends (so that no migrator that dies can leave it behind), or NULL. */
	const char *migration_lock;
	/* Appends to `b` the statement that bounds the wait for migration_lock to
	 * `timeout_ms`, within the transaction only; set with migration_lock. */
	void (*lock_wait)(ztoq__buf *b, long timeout_ms);
	const char *lock_wait_reset;   /* undoes lock_wait's statement, in the transaction */
	const char *tracking_sql;      /* creates ZTOQ__TRACKING_TABLE if it is missing */
	const char *table_exists_sql;  /* counts the user tables named by its one parameter */
	const char *drop_table_suffix; /* follows "DROP TABLE name" */
	const char *drop_types_sql;    /* drops ZTOQ's types, after its tables, or NULL */
	const char *foreign_keys_off;  /* run outside the drop transaction so that tables drop
					* in any order; NULL where drop_table_suffix does it */
	const char *foreign_keys_on;   /* undoes foreign_keys_off */
	/* copying a database (copy.c); copy_read NULL: the backend cannot be copied */
	const char *copy_columns_sql;  /* name and declared type (text) of each column of
					* the table named by its one parameter, in order */
	/* Appends the canonical read (copy.c) of column `name` (quoted) of `kind`. */
	void (*copy_read)(ztoq__buf *b, const char *name, ztoq__copy_kind kind);
	/* The table and column (text, text) of every column of the current schema that
	 * owns a sequence; NULL where ids need no sequence. */
	const char *copy_serials_sql;
	/* Appends the statement that sets the sequence of `table`.`column` (one that
	 * copy_serials_sql lists) past the column's largest value. */
	void (*copy_sequence)(ztoq__buf *b, const char *table, const char *column);
	/* (drop, create) statements (text, text) of the secondary indexes and foreign
	 * keys of the table named by its one parameter that a large table's copy drops
	 * before its rows and re-creates after them, in its transaction: foreign keys
	 * first (re-created last); never the primary key nor an index that backs a
	 * constraint. NULL: tables are loaded with them in place. */
	const char *copy_rebuild_sql;
	/* Statements run on the copy's target session before it writes the tables and
	 * after them, outside a transaction (NULL-terminated lists; NULL: none). */
	const char *const *copy_write_on;
	const char *const *copy_write_off;
} ztoq__dialect;

/* The db_type of a configuration that names none (config.c's option table). */
#define ZTOQ__DEFAULT_DB_TYPE "sqlite"

/* The backends (dialect_*.c). */
extern const ztoq__dialect ztoq__dialect_sqlite;
extern const ztoq__dialect ztoq__dialect_postgresql;
extern const ztoq__dialect ztoq__dialect_odbc;

/* The migration engine's tracking table. */
#define ZTOQ__TRACKING_TABLE "ztoq_schema_migrations"

/* Creates the tracking table, with the backend's timestamp and 64-bit types. */
#define ZTOQ__TRACKING_SQL(timestamp, int64) \
	"CREATE TABLE IF NOT EXISTS " ZTOQ__TRACKING_TABLE " (" \
	"version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, " \
	"checksum VARCHAR(16) NOT NULL, applied_at " timestamp " NOT NULL, " \
	"duration_ms " int64 " NOT NULL)"

/* The dialect of a backend (an unknown one: the generic ODBC dialect). */
const ztoq__dialect *ztoq__dialect_get(ztoq_db_type type);

/* The dialect a db_type value names ("sqlite"...), or NULL: the one name lookup. */
const ztoq__dialect *ztoq__dialect_by_name(const char *name);

/* The dialect whose driver_file the file name of `path` (a driver library) contains,
 * or NULL. Thread-safe. */
const ztoq__dialect *ztoq__dialect_of_driver_file(const char *path);

/* The dialect whose driver reports `dbms_name` (SQL_DBMS_NAME): the generic ODBC
 * dialect for a DBMS no other dialect claims. */
const ztoq__dialect *ztoq__dialect_of_dbms(const char *dbms_name);

/* ---- helpers the dialects share --------------------------------------------------- */

/* States raised by the driver manager or shared by every driver (ZTOQ_ERROR: none). */
int ztoq__dialect_classify_manager(const char *sqlstate, const char *message);

/* Classification by standard (and PostgreSQL) SQLSTATEs and driver-manager states. */
int ztoq__dialect_classify_sqlstate(const char *sqlstate, int32_t native, const char *message);

/* Row errors by SQLSTATE class: cardinality (21), data exception (22), integrity (23). */
int ztoq__dialect_row_error_sqlstate(int code, const char *sqlstate, int32_t native);

/* Appends "name" with '"' doubled: the SQL standard's identifier quoting, which every
 * backend here takes (so it is not an operation of the table). */
void ztoq__dialect_quote_ansi(ztoq__buf *b, const char *name);

/*
 * Connection-string syntax (connstr.c). put_value appends ";Key=value", braced with
 * '}' doubled when the value needs it or `always_quote`; put_plain appends it as is
 * (numbers, the library's constants); put_unquotable refuses (ZTOQ_EINVALID naming
 * `option` and `driver`) a value a driver that takes no braces cannot be given.
 */
void ztoq__connstr_put_value(ztoq__buf *b, const char *key, const char *value, int always_quote);
void ztoq__connstr_put_plain(ztoq__buf *b, const char *key, const char *value);
int ztoq__connstr_put_unquotable(ztoq__buf *b, const char *key, const char *option,
				 const char *value, const char *driver);

#endif
