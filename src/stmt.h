/*
 * stmt.h - statement internals shared with the batch module.
 */
#ifndef ZTOQ__STMT_H
#define ZTOQ__STMT_H

#include "column.h"
#include "session.h"
#include "stmt_cache.h"
#include "ztoq/stmt.h"

/* A bound parameter: the value copied into memory the statement owns. */
struct ztoq__stmt_param {
	ztoq_type type;
	union {
		int64_t int64;
		double real;
		unsigned char bit;
		SQL_TIMESTAMP_STRUCT ts;
	} v;
	char *bytes; /* TEXT and BLOB */
	size_t len, cap;
	SQLLEN ind;
	/* What the driver was last told, to skip SQLBindParameter when nothing changed */
	ztoq_type bound_type;
	const void *bound_ptr;
	size_t bound_size;
};

/* The value of a result column in the current row (its descriptor: ztoq_stmt.columns). */
struct ztoq__stmt_value {
	int is_null;
	union {
		int64_t int64;
		double real;
		SQL_TIMESTAMP_STRUCT ts;
	} v;
	ztoq__column_buf text; /* TEXT and BLOB values, and text renderings */
};

struct ztoq_stmt {
	ztoq_session *session;
	ztoq__conn *conn;
	SQLHSTMT handle;
	char *sql;
	ztoq__cache_entry entry; /* in the connection's cache; entry.sql is `sql` */
	int cursor_open;
	struct ztoq__stmt_param *params;
	unsigned nparams, params_cap;
	int params_moved;
	char *prepared;    /* what the driver was given, when it differs from `sql` */
	int count_changes; /* SQLite: rows affected are changes(), not SQLRowCount */
	int64_t changes;   /* that count for the last execute, -1 before */
	int unprepared; /* a prepare again (close_cursor) failed: execute retries it */
	ztoq__column *columns;           /* the result's, ncolumns of them */
	struct ztoq__stmt_value *values; /* the current row's, one a column */
	int ncolumns; /* -1 until described */
};

/* Prepares (from the cache) and binds `nparams` values; *out is NULL on failure. */
/*
 * ztoq_session_scalar() (include/ztoq/stmt.h), here so that stmt.c can read a value
 * too without calling up into the session module.
 */
int ztoq__stmt_scalar(ztoq_session *s, const char *sql, const ztoq_value *params,
		      size_t nparams, int64_t *out, int *is_null);

int ztoq__stmt_prepare_bound(ztoq_stmt **out, ztoq_session *s, const char *sql,
			     const ztoq_value *params, size_t nparams);

/* How the SQLite driver (StepAPI=1) must be given a statement so that it runs as written. */
struct ztoq__sqlite_plan {
	char *text;	   /* text to give the driver instead, or NULL; the caller frees it */
	int static_cursor; /* set ztoq__stmt_static_cursor() on the fresh handle first */
	int count_changes; /* a write: its rows affected are changes(), not SQLRowCount */
};

/*
 * Plans the `len` bytes of one statement at `sql` for the SQLite driver (stmt.c says
 * why; docs/design.md "Statements"). Every entry point that gives SQL text to that
 * driver uses it (stmt.c, session.c). Pure function of the text, thread-safe;
 * ZTOQ_ENOMEM is the only failure.
 */
int ztoq__stmt_plan_sqlite(struct ztoq__sqlite_plan *plan, const char *sql, size_t len);

/* Asks for a static cursor on `h` (before SQLPrepare/SQLExecDirect); 0 when refused. */
int ztoq__stmt_static_cursor(SQLHSTMT h);

#endif
