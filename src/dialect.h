/*
 * dialect.h - the one place where SQLite and PostgreSQL differ.
 */
#ifndef ZTOQ_DIALECT_H
#define ZTOQ_DIALECT_H

#include <stdint.h>

#include "ztoq/config.h"

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

typedef struct {
	ztoq_db_type type;
	const char *name;           /* "sqlite", "postgresql", "odbc" */
	int native_isolation;       /* SQL_ATTR_TXN_ISOLATION really changes the level */
	const char *read_only_on;   /* makes the connection read-only, or NULL */
	const char *read_only_off;  /* undoes it, or NULL */
	const char *read_only_tx;   /* first statement of a read-only transaction, or NULL */
	const char *begin_write;    /* starts a read-write transaction in SQL, or NULL: */
	const char *begin_read;     /*   then autocommit stays on and COMMIT/ROLLBACK end it */
	const char *ping_sql;       /* cheapest real round trip */
	int reset_needs_prepare;    /* closing a result early leaves the statement where it
				       stopped: prepare it again (see stmt.c close_cursor) */
	const char *tables_sql;     /* names of the user tables, sorted, or NULL */
	const char *dbms_name;      /* the SQL_DBMS_NAME its driver reports, or NULL */
	int file_database;          /* the database is a file (db_path, ":memory:") */
	int connect_alone;          /* the driver's connect runs under the library's ODBC
				       lock; otherwise connects take turns on their own lock
				       only (see conn.c) */
	ztoq__stop stop;            /* how the watchdog ends an overrunning call */
	int plan_statements;        /* the driver runs a query-like statement only at its
				       first fetch: statements are planned (stmt.c) */
	int stream_cursor;          /* batches stream through a server cursor (batch.c) */
	ztoq__bulk_form bulk_form;  /* how bulk.c writes many rows */

	/* migrations (src/migrate.c); NULL for odbc, which migrates as the backend its
	 * driver names */
	const char *migration_begin;   /* starts a migration's transaction in autocommit mode,
					* shutting out other migrators, or NULL: ztoq_tx_begin() */
	const char *migration_lock;    /* held for a whole migration run, or NULL */
	const char *migration_unlock;  /* releases migration_lock */
	const char *tracking_sql;      /* creates ZTOQ__TRACKING_TABLE if it is missing */
	const char *table_exists_sql;  /* counts the user tables named by its one parameter */
	const char *drop_table_suffix; /* follows "DROP TABLE name" */
	const char *drop_types_sql;    /* drops ZTOQ's types, after its tables, or NULL */
	const char *foreign_keys_off;  /* run outside the drop transaction so that tables drop
					* in any order; NULL where drop_table_suffix does it */
	const char *foreign_keys_on;   /* undoes foreign_keys_off */
} ztoq__dialect;

/* The migration engine's tracking table. */
#define ZTOQ__TRACKING_TABLE "ztoq_schema_migrations"

/* The dialect of a backend. Static storage; thread-safe. */
const ztoq__dialect *ztoq__dialect_get(ztoq_db_type type);

/* The dialect whose driver reports `dbms_name` (SQL_DBMS_NAME), or NULL. Thread-safe. */
const ztoq__dialect *ztoq__dialect_of_dbms(const char *dbms_name);

/*
 * 1 when a failed write's error (the last error, classified as `code`) is about the
 * data of its rows, so that fewer rows at a time may pass (bulk.c). Thread-safe.
 */
int ztoq__dialect_is_row_error(const ztoq__dialect *d, int code, const char *sqlstate,
			       int32_t native);

/* Maps a diagnostic record to a ztoq_error_code (ZTOQ_ERROR when nothing matches). */
int ztoq__dialect_classify(ztoq_db_type type, const char *sqlstate, int32_t native,
			   const char *message);

#endif
