/*
 * ztoq/stmt.h - prepared statements, typed parameters and typed columns.
 *
 * All values go through bound parameters: no function here builds SQL from values.
 * Statements are prepared once per connection and cached: preparing the same SQL
 * again on a session whose pooled connection has seen it costs no round trip.
 * A statement belongs to its session and is used from one thread at a time.
 */
#ifndef ZTOQ_STMT_H
#define ZTOQ_STMT_H

#include <string.h>

#include "common.h"
#include "session.h"

ZTOQ_BEGIN_DECL

typedef struct ztoq_stmt ztoq_stmt;

/** Value types of parameters and columns. */
typedef enum {
	ZTOQ_TYPE_NULL = 0,
	ZTOQ_TYPE_BOOL,
	ZTOQ_TYPE_INT64,
	ZTOQ_TYPE_DOUBLE,
	ZTOQ_TYPE_TEXT,
	ZTOQ_TYPE_BLOB,
	ZTOQ_TYPE_TIMESTAMP
} ztoq_type;

/** A timestamp without time zone (ZTOQ stores UTC). */
typedef struct {
	int16_t year;
	uint16_t month, day, hour, minute, second;
	uint32_t nanosecond;
} ztoq_timestamp;

/** A typed value. Text and blob point at memory the value does not own. */
typedef struct {
	ztoq_type type;
	union {
		int boolean;
		int64_t int64;
		double real;
		struct {
			const void *ptr;
			size_t len;
		} bytes; /* TEXT (UTF-8, no NUL needed) and BLOB */
		ztoq_timestamp ts;
	} v;
} ztoq_value;

#define ZTOQ_NULL_VALUE ((ztoq_value){.type = ZTOQ_TYPE_NULL})
#define ZTOQ_INT64(x) ((ztoq_value){.type = ZTOQ_TYPE_INT64, .v.int64 = (x)})
#define ZTOQ_DOUBLE(x) ((ztoq_value){.type = ZTOQ_TYPE_DOUBLE, .v.real = (x)})
#define ZTOQ_BOOL(x) ((ztoq_value){.type = ZTOQ_TYPE_BOOL, .v.boolean = !!(x)})
#define ZTOQ_TEXT(s) ((ztoq_value){.type = ZTOQ_TYPE_TEXT, .v.bytes = {(s), strlen(s)}})
#define ZTOQ_TEXTN(s, n) ((ztoq_value){.type = ZTOQ_TYPE_TEXT, .v.bytes = {(s), (n)}})
#define ZTOQ_BLOB(p, n) ((ztoq_value){.type = ZTOQ_TYPE_BLOB, .v.bytes = {(p), (n)}})
#define ZTOQ_TIMESTAMP(t) ((ztoq_value){.type = ZTOQ_TYPE_TIMESTAMP, .v.ts = (t)})

/** ztoq_stmt_fetch() returns ZTOQ_ROW when a row is ready and ZTOQ_DONE after the last. */
#define ZTOQ_ROW 1
#define ZTOQ_DONE 0

/**
 * Prepares `sql` (parameters written `?`) on the session's connection, or takes it
 * from the connection's cache. The caller owns *out and ends it with
 * ztoq_stmt_finalize() before the session closes.
 */
ZTOQ_EXTERN(int) ztoq_stmt_prepare(ztoq_stmt **out, ztoq_session *s, const char *sql);

/** Returns the statement to its connection's cache (closing any open result). NULL ignored. */
ZTOQ_EXTERN(void) ztoq_stmt_finalize(ztoq_stmt *st);

/**
 * Binds parameter `idx` (1-based). The value is copied: text and blob memory may be
 * reused as soon as the call returns. Bindings stay until replaced or cleared.
 */
ZTOQ_EXTERN(int) ztoq_stmt_bind(ztoq_stmt *st, unsigned idx, const ztoq_value *value);
/** Binds SQL NULL. */
ZTOQ_EXTERN(int) ztoq_stmt_bind_null(ztoq_stmt *st, unsigned idx);
/** Binds a boolean (0 false, anything else true). */
ZTOQ_EXTERN(int) ztoq_stmt_bind_bool(ztoq_stmt *st, unsigned idx, int value);
/** Binds a 64-bit integer. */
ZTOQ_EXTERN(int) ztoq_stmt_bind_int64(ztoq_stmt *st, unsigned idx, int64_t value);
/** Binds a double. */
ZTOQ_EXTERN(int) ztoq_stmt_bind_double(ztoq_stmt *st, unsigned idx, double value);
/** Text of `len` bytes (SIZE_MAX: up to the NUL). */
ZTOQ_EXTERN(int) ztoq_stmt_bind_text(ztoq_stmt *st, unsigned idx, const char *text, size_t len);
/** Binds `len` bytes of binary data (NUL bytes included). */
ZTOQ_EXTERN(int) ztoq_stmt_bind_blob(ztoq_stmt *st, unsigned idx, const void *data, size_t len);
/** Binds a timestamp; NULL binds SQL NULL. */
ZTOQ_EXTERN(int) ztoq_stmt_bind_timestamp(ztoq_stmt *st, unsigned idx, const ztoq_timestamp *ts);

/** Forgets every binding. */
ZTOQ_EXTERN(int) ztoq_stmt_clear_bindings(ztoq_stmt *st);

/**
 * Executes with the current bindings (closing any previous result first). Inside a
 * transaction a failure fails the transaction (see ztoq/session.h). ZTOQ_ESTATE for a
 * statement prepared in a read-only transaction that ran on a replica, once that
 * transaction has ended (docs/scaling.md): finalize it and prepare it again.
 */
ZTOQ_EXTERN(int) ztoq_stmt_execute(ztoq_stmt *st);

/** Moves to the next row: ZTOQ_ROW, ZTOQ_DONE, or an error (ZTOQ_ESTATE as execute). */
ZTOQ_EXTERN(int) ztoq_stmt_fetch(ztoq_stmt *st);

/**
 * Rows inserted, updated or deleted by the last execute (-1 if unknown). On SQLite a
 * write that starts with WITH or has RETURNING is counted by a second query,
 * `SELECT changes()`; should that one fail, the write (already applied) still
 * returns ZTOQ_OK and its count is -1: do not retry it.
 */
ZTOQ_EXTERN(int64_t) ztoq_stmt_rows_affected(const ztoq_stmt *st);

/** Number of result columns (0 for statements that return no rows). */
ZTOQ_EXTERN(int) ztoq_stmt_column_count(const ztoq_stmt *st);

/** Name of result column `col` (0-based); owned by the statement. NULL if out of range. */
ZTOQ_EXTERN(const char *) ztoq_stmt_column_name(const ztoq_stmt *st, unsigned col);

/** Index of the column called `name` (case-insensitive), or -1. */
ZTOQ_EXTERN(int) ztoq_stmt_column_index(const ztoq_stmt *st, const char *name);

/**
 * Typed getters for column `col` (0-based) of the current row. `is_null` (may be NULL)
 * receives 1 for SQL NULL, in which case *out is zero/empty. Numbers stored as text are
 * converted; a value that cannot be converted is ZTOQ_EINVALID. Text and blob pointers
 * are owned by the statement and valid until the next fetch; text is NUL-terminated.
 * Not thread-safe (the statement's). This one reads the column as a 64-bit integer.
 */
ZTOQ_EXTERN(int) ztoq_stmt_get_int64(ztoq_stmt *st, unsigned col, int64_t *out, int *is_null);
/** The column as a double. */
ZTOQ_EXTERN(int) ztoq_stmt_get_double(ztoq_stmt *st, unsigned col, double *out, int *is_null);
/** The column as a boolean (PostgreSQL's "t"/"f" text too). */
ZTOQ_EXTERN(int) ztoq_stmt_get_bool(ztoq_stmt *st, unsigned col, int *out, int *is_null);
/** The column as NUL-terminated text of `*len` bytes (numbers rendered); not blobs. */
ZTOQ_EXTERN(int) ztoq_stmt_get_text(ztoq_stmt *st, unsigned col, const char **out, size_t *len,
				    int *is_null);
/** The column as bytes (blob or text). */
ZTOQ_EXTERN(int) ztoq_stmt_get_blob(ztoq_stmt *st, unsigned col, const void **out, size_t *len,
				    int *is_null);
/** The column as a timestamp. */
ZTOQ_EXTERN(int) ztoq_stmt_get_timestamp(ztoq_stmt *st, unsigned col, ztoq_timestamp *out,
					 int *is_null);
/** The column as a typed value (its natural type); pointers as for get_text. */
ZTOQ_EXTERN(int) ztoq_stmt_get_value(ztoq_stmt *st, unsigned col, ztoq_value *out);

/**
 * Prepares (cached), binds `nparams` values and executes `sql` in one call, for
 * statements that return no rows. `rows_affected` may be NULL; it receives -1 when the
 * count is unknown (see ztoq_stmt_rows_affected()).
 */
ZTOQ_EXTERN(int) ztoq_session_exec(ztoq_session *s, const char *sql, const ztoq_value *params,
				   size_t nparams, int64_t *rows_affected);

/** Called once per result row by ztoq_session_query(); return 0 to go on, anything else to stop. */
typedef int (*ztoq_row_fn)(ztoq_stmt *row, void *payload);

/**
 * Runs a query with `nparams` bound values and calls `fn` for each row, in order (ZTOQ's
 * execute_query). In `fn`, read the row through the statement's getters, by position or
 * by name (ztoq_stmt_column_index()); pointers are valid until `fn` returns. A non-zero
 * return from `fn` stops the query cleanly and is returned.
 */
ZTOQ_EXTERN(int) ztoq_session_query(ztoq_session *s, const char *sql, const ztoq_value *params,
				    size_t nparams, ztoq_row_fn fn, void *payload);

/**
 * Runs a query that returns one value (a count, an id, an EXISTS) with `nparams` bound
 * values, and reads it as a 64-bit integer into *out (as ztoq_stmt_get_int64() reads a
 * column: numbers stored as text are converted). `is_null` (may be NULL) receives 1 for
 * SQL NULL, in which case *out is 0. The query must return exactly one row of exactly
 * one column: no row is ZTOQ_ENOTFOUND, more than one row ZTOQ_ERROR, another number of
 * columns (a statement that returns none too) ZTOQ_EINVALID, each with a message that
 * names the query; *out and *is_null mean something only on ZTOQ_OK. A failing
 * statement fails the open transaction, as with ztoq_session_exec(); the errors about
 * the result's shape do not. The caller owns `sql` and `params` (copied as bound);
 * nothing is kept after the call. Not thread-safe (the session's).
 */
ZTOQ_EXTERN(int) ztoq_session_scalar(ztoq_session *s, const char *sql, const ztoq_value *params,
				     size_t nparams, int64_t *out, int *is_null);

ZTOQ_END_DECL

#endif
