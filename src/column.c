/*
 * column.c - the one reader of result columns (see column.h): describing a result,
 * reading a value with SQLGetData into a growing buffer, and the conversions between
 * the C types values are read as and ztoq_value.
 */
#include "column.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define MAX_NAME 256

int ztoq__column_fail(const ztoq__column_reader *r, const char *what)
{
	ztoq__conn *c = r->session->conn;
	int code = r->sql ? ztoq__conn_error(c, SQL_HANDLE_STMT, r->handle, "%s: %s", what, r->sql)
			  : ztoq__conn_error(c, SQL_HANDLE_STMT, r->handle, "%s", what);

	return ztoq__session_failed(r->session, code);
}

/* The ztoq type a result column of ODBC type `sql_type` is read as. */
static ztoq_type natural_type(SQLSMALLINT sql_type)
{
	switch (sql_type) {
	case SQL_BIT:
		return ZTOQ_TYPE_BOOL;
	case SQL_TINYINT:
	case SQL_SMALLINT:
	case SQL_INTEGER:
	case SQL_BIGINT:
		return ZTOQ_TYPE_INT64;
	case SQL_REAL:
	case SQL_FLOAT:
	case SQL_DOUBLE:
		return ZTOQ_TYPE_DOUBLE;
	case SQL_BINARY:
	case SQL_VARBINARY:
	case SQL_LONGVARBINARY:
		return ZTOQ_TYPE_BLOB;
	case SQL_TYPE_TIMESTAMP:
	case SQL_TIMESTAMP:
		return ZTOQ_TYPE_TIMESTAMP;
	default:
		return ZTOQ_TYPE_TEXT;
	}
}

/*
 * The C type the values of `c` (of c->type) are read and bound as, and the bytes one
 * takes: 0 for text and blobs, which can be any length.
 */
static void choose_ctype(ztoq__column *c)
{
	switch (c->type) {
	case ZTOQ_TYPE_BOOL:
	case ZTOQ_TYPE_INT64:
		c->ctype = SQL_C_SBIGINT, c->size = sizeof(int64_t);
		break;
	case ZTOQ_TYPE_DOUBLE:
		c->ctype = SQL_C_DOUBLE, c->size = sizeof(double);
		break;
	case ZTOQ_TYPE_TIMESTAMP:
		c->ctype = SQL_C_TYPE_TIMESTAMP, c->size = sizeof(SQL_TIMESTAMP_STRUCT);
		break;
	case ZTOQ_TYPE_BLOB:
		c->ctype = SQL_C_BINARY, c->size = 0;
		break;
	default:
		c->ctype = SQL_C_CHAR, c->size = 0;
		break;
	}
}

int ztoq__column_describe(const ztoq__column_reader *r, ztoq__column **out, unsigned *count)
{
	ztoq__column *cols;
	SQLSMALLINT n = 0;

	*out = NULL;
	*count = 0;
	if (!SQL_SUCCEEDED(SQLNumResultCols(r->handle, &n)))
		return ztoq__column_fail(r, "cannot count result columns");
	if (n < 0)
		n = 0;
	/* one more: no zero-sized allocation for a result without columns */
	if (!(cols = ztoq__calloc((size_t)n + 1, sizeof(*cols))))
		return ztoq__error_nomem();
	for (SQLSMALLINT i = 0; i < n; i++) {
		SQLCHAR name[MAX_NAME];
		SQLSMALLINT namelen = 0, sql_type, digits, nullable;
		SQLULEN size;
		int code = ZTOQ_OK;

		if (!SQL_SUCCEEDED(SQLDescribeCol(r->handle, (SQLUSMALLINT)(i + 1), name,
						  sizeof(name), &namelen, &sql_type, &size,
						  &digits, &nullable)))
			code = ztoq__column_fail(r, "cannot describe a result column");
		else if (!(cols[i].name = ztoq__strdup((char *)name)))
			code = ztoq__error_nomem();
		if (code < 0) {
			ztoq__column_free(cols, (unsigned)i);
			return code;
		}
		cols[i].type = natural_type(sql_type);
		choose_ctype(&cols[i]);
	}
	*out = cols;
	*count = (unsigned)n;
	return ZTOQ_OK;
}

void ztoq__column_free(ztoq__column *cols, unsigned count)
{
	for (unsigned i = 0; cols && i < count; i++)
		ztoq__free(cols[i].name);
	ztoq__free(cols);
}

int ztoq__column_reserve(ztoq__column_buf *buf, size_t more)
{
	size_t cap = buf->cap ? buf->cap : ZTOQ__COLUMN_FIRST_CAP;
	char *p;

	if (buf->cap - buf->len >= more)
		return ZTOQ_OK;
	while (cap - buf->len < more)
		cap *= 2;
	if (!(p = ztoq__realloc(buf->data, cap)))
		return ztoq__error_nomem();
	buf->data = p;
	buf->cap = cap;
	return ZTOQ_OK;
}

/*
 * One byte is always kept free, for the NUL that text gets and blobs get too: text is
 * given the whole room (the driver writes its own NUL there), a blob one byte less.
 */
int ztoq__column_read_bytes(const ztoq__column_reader *r, SQLUSMALLINT col, SQLSMALLINT ctype,
			    size_t want, ztoq__column_buf *buf, int *is_null, const char *what)
{
	int code;

	*is_null = 0;
	for (;;) {
		SQLLEN ind = 0, give;
		SQLRETURN rc;
		size_t room;

		if ((code = ztoq__column_reserve(buf, want)) < 0)
			return code;
		room = buf->cap - buf->len;
		give = (SQLLEN)(ctype == SQL_C_CHAR ? room : room - 1);
		rc = SQLGetData(r->handle, col, ctype, buf->data + buf->len, give, &ind);
		if (rc == SQL_NO_DATA)
			break;
		if (!SQL_SUCCEEDED(rc))
			return ztoq__column_fail(r, what);
		if (ind == SQL_NULL_DATA) {
			*is_null = 1;
			break;
		}
		if (rc == SQL_SUCCESS) {
			buf->len += (size_t)ind;
			break;
		}
		/* truncated: room - 1 bytes arrived; `ind` is what was left before this call */
		buf->len += room - 1;
		want = (ind == SQL_NO_TOTAL || (size_t)ind < room) ? room * 2
								  : (size_t)ind - (room - 1) + 1;
	}
	if (buf->data)
		buf->data[buf->len] = '\0';
	return ZTOQ_OK;
}

int ztoq__column_number(const ztoq_value *v, int whole, int64_t *i, double *d)
{
	char *end;

	switch (v->type) {
	case ZTOQ_TYPE_BOOL:
	case ZTOQ_TYPE_INT64:
		*i = v->type == ZTOQ_TYPE_BOOL ? v->v.boolean : v->v.int64;
		*d = (double)*i;
		return ZTOQ_OK;
	case ZTOQ_TYPE_DOUBLE:
		*d = v->v.real;
		*i = (int64_t)*d;
		return ZTOQ_OK;
	case ZTOQ_TYPE_TEXT:
		errno = 0;
		*i = strtoll(v->v.bytes.ptr, &end, 10);
		if (end != (const char *)v->v.bytes.ptr && *end == '\0' && errno == 0) {
			*d = (double)*i;
			return ZTOQ_OK;
		}
		*d = strtod(v->v.bytes.ptr, &end);
		if (!whole && end != (const char *)v->v.bytes.ptr && *end == '\0')
			return ZTOQ_OK;
		break;
	default:
		break;
	}
	*i = 0;
	*d = 0;
	return ZTOQ_EINVALID;
}
