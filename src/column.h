/*
 * column.h - the one reader of result columns, shared by stmt.c (row by row) and
 * batch.c (bound batches).
 *
 * It describes a result (SQLNumResultCols, SQLDescribeCol) into column descriptors,
 * reads one value with SQLGetData (a long one into a growing buffer), and converts
 * between the ODBC C types a value is read as and ztoq_value. Nothing here is shared
 * between threads: a reader is used by the thread that owns its session.
 */
#ifndef ZTOQ__COLUMN_H
#define ZTOQ__COLUMN_H

#include <string.h>

#include "session.h"
#include "ztoq/error.h"
#include "ztoq/stmt.h"

/*
 * Where a result is read from, and what its failures are recorded against: the
 * session (a failure fails its transaction) and the statement handle, whose
 * diagnostics make the error. `sql`, when not NULL, is added to the messages.
 * Borrowed pointers; the caller builds one wherever it reads.
 */
typedef struct {
	ztoq_session *session;
	SQLHSTMT handle;
	const char *sql;
} ztoq__column_reader;

/*
 * A result column: its name (owned by the array ztoq__column_describe made), the
 * ztoq type its values are read as (from its ODBC type), the C type they are read and
 * bound as, and the bytes a value of that C type takes (0 for text and blobs: any).
 */
typedef struct {
	char *name;
	ztoq_type type;
	SQLSMALLINT ctype;
	size_t size;
} ztoq__column;

/* The bytes of text and blob values, owned by whoever holds it; grows by doubling. */
typedef struct {
	char *data;
	size_t len, cap;
} ztoq__column_buf;

/*
 * Records the diagnostics of r->handle as the last error ("what: sql", or "what"
 * without sql) and fails the session's transaction. Returns the classified code.
 */
int ztoq__column_fail(const ztoq__column_reader *r, const char *what);

/*
 * Describes the executed result of r->handle: *out gets a new array of *count columns
 * (the caller frees it with ztoq__column_free). On failure the error is recorded and
 * *out is NULL.
 */
int ztoq__column_describe(const ztoq__column_reader *r, ztoq__column **out, unsigned *count);

/* Frees an array made by ztoq__column_describe. NULL is ignored. */
void ztoq__column_free(ztoq__column *cols, unsigned count);

/* The capacity a buffer starts with, and a text or blob column's first read asks for. */
#define ZTOQ__COLUMN_FIRST_CAP 256

/* Makes room for `more` bytes after buf->len (doubling, from ZTOQ__COLUMN_FIRST_CAP);
 * ZTOQ_ENOMEM recorded. */
int ztoq__column_reserve(ztoq__column_buf *buf, size_t more);

/*
 * Reads the whole value of column `col` (from 1) of the current row as `ctype`
 * (SQL_C_CHAR or SQL_C_BINARY) with SQLGetData, appending it to `buf` after buf->len,
 * first with room for `want` bytes, then for what the driver says is left. A NUL
 * follows the value (not counted in buf->len). *is_null is set for a NULL, which
 * appends nothing. A driver failure is recorded as `what` (ztoq__column_fail).
 */
int ztoq__column_read_bytes(const ztoq__column_reader *r, SQLUSMALLINT col, SQLSMALLINT ctype,
			    size_t want, ztoq__column_buf *buf, int *is_null, const char *what);

/*
 * Reads column `col` (from 1), described by `d`, of the current row: a fixed-size
 * value into `fixed` (d->size bytes), text and blobs into `buf` from its start
 * (ztoq__column_read_bytes, first with room for ZTOQ__COLUMN_FIRST_CAP bytes).
 * *is_null is set. Failures as above. Inline: stmt.c calls it for every column of
 * every row it fetches.
 */
static inline int ztoq__column_read(const ztoq__column_reader *r, SQLUSMALLINT col,
				    const ztoq__column *d, void *fixed, ztoq__column_buf *buf,
				    int *is_null, const char *what)
{
	SQLLEN ind = 0;

	if (!d->size) {
		buf->len = 0;
		return ztoq__column_read_bytes(r, col, d->ctype, ZTOQ__COLUMN_FIRST_CAP, buf,
					       is_null, what);
	}
	if (!SQL_SUCCEEDED(SQLGetData(r->handle, col, d->ctype, fixed, 0, &ind)))
		return ztoq__column_fail(r, what);
	*is_null = ind == SQL_NULL_DATA;
	return ZTOQ_OK;
}

/* A ztoq timestamp as ODBC's SQL_TIMESTAMP_STRUCT, and back. */
static inline SQL_TIMESTAMP_STRUCT ztoq__column_timestamp_to_sql(const ztoq_timestamp *t)
{
	return (SQL_TIMESTAMP_STRUCT){t->year, t->month, t->day, t->hour, t->minute, t->second,
				      t->nanosecond};
}

static inline ztoq_timestamp ztoq__column_timestamp_from_sql(const SQL_TIMESTAMP_STRUCT *t)
{
	return (ztoq_timestamp){t->year, t->month, t->day, t->hour, t->minute, t->second,
				(uint32_t)t->fraction};
}

/*
 * The value of a column of `type`, not NULL, as read: `fixed` holds a fixed-size one
 * (in the column's C type), `bytes` and `len` text or a blob. The value
 * points into `bytes`; nothing is allocated. Inline: batch reads call it per cell.
 */
static inline void ztoq__column_value(ztoq_value *out, ztoq_type type, const void *fixed,
				      const char *bytes, size_t len)
{
	int64_t whole;
	SQL_TIMESTAMP_STRUCT t;

	out->type = type;
	switch (type) {
	case ZTOQ_TYPE_BOOL:
		memcpy(&whole, fixed, sizeof(whole));
		out->v.boolean = whole != 0;
		break;
	case ZTOQ_TYPE_INT64:
		memcpy(&out->v.int64, fixed, sizeof(out->v.int64));
		break;
	case ZTOQ_TYPE_DOUBLE:
		memcpy(&out->v.real, fixed, sizeof(out->v.real));
		break;
	case ZTOQ_TYPE_TIMESTAMP:
		memcpy(&t, fixed, sizeof(t));
		out->v.ts = ztoq__column_timestamp_from_sql(&t);
		break;
	default:
		out->v.bytes.ptr = bytes ? bytes : "";
		out->v.bytes.len = len;
		break;
	}
}

/*
 * A value as a number: integers exactly, doubles, and numbers stored as text (only
 * whole ones when `whole` is set). ZTOQ_EINVALID, with *i and *d 0 and no error
 * recorded, when it is none of those (the caller names the column).
 */
int ztoq__column_number(const ztoq_value *v, int whole, int64_t *i, double *d);

#endif
