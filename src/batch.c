/*
 * batch.c - results read in batches of bounded size, through bound column buffers.
 *
 * A batch is one buffer of batch_size rows laid out row-wise (each column's value and
 * its length indicator at fixed offsets in the row), bound with SQLBindCol and
 * SQL_ATTR_ROW_BIND_TYPE. Text and blob values keep text_width bytes in line; a longer
 * value is read whole with SQLGetData into the batch's spill area. How rows reach the
 * buffer depends on what the driver supports (measured, see docs/performance.md):
 *
 *   PostgreSQL  block fetch: SQL_ATTR_ROW_ARRAY_SIZE = batch size, one SQLFetch per
 *               batch; a long value is re-read with SQLSetPos(SQL_POSITION) +
 *               SQLGetData. Streams go through a server-side cursor (DECLARE ... /
 *               FETCH FORWARD n), on the pooled connection as it is: psqlODBC's own
 *               UseDeclareFetch would make every small query pay cursor round trips.
 *   SQLite      the driver refuses SQLSetPos on a forward-only cursor, so a long
 *               value in a block would be lost. When the result has a text or blob
 *               column, rows are fetched one at a time into a bound scratch row,
 *               copied to their slot, and a long value is read with SQLGetData. (The
 *               driver's SQL_ATTR_ROW_BIND_OFFSET_PTR moves the values but not the
 *               length indicators, so it is not used.) When every column is fixed
 *               width nothing can be cut short: block fetch, as on PostgreSQL.
 *
 * The buffers are unbound and the statement attributes restored before a statement
 * goes back to its connection's cache.
 */
#include "ztoq/batch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "column.h"
#include "error.h"
#include "stmt.h"

#define DEFAULT_BATCH_SIZE 1000
#define DEFAULT_TEXT_WIDTH 128

/* How a column is bound (its name and type: ztoq_batch.columns). */
struct ztoq__batch_column {
	SQLSMALLINT ctype;
	size_t value_off; /* within a row */
	size_t ind_off;
	size_t width;     /* bytes of the value slot */
	size_t inline_max; /* longest value kept in line: width, less the NUL for text */
};

struct ztoq_batch {
	ztoq__column_reader r; /* the session, and the statement being read */
	int cursor;          /* streams read a server-side cursor (PostgreSQL) */
	int block;           /* one SQLFetch per batch (else one per row), per result */
	unsigned ncols;
	ztoq__column *columns; /* ncols of them, described */
	struct ztoq__batch_column *cols;     /* and bound */
	unsigned *variable;  /* the text and blob columns, nvariable of them */
	unsigned nvariable;
	size_t row_size;
	size_t capacity;     /* rows per batch */
	size_t text_width;
	char *rows;          /* capacity rows, then a scratch row fetched into one by one */
	size_t *spill;       /* capacity * ncols: offset in `arena` of a long value */
	ztoq__column_buf arena;
	size_t nrows;
	int ended;           /* the last fetch said SQL_NO_DATA: the cursor is closed */
	uint64_t first_row, index;
	SQLULEN fetched;
};

/* ---- layout and binding --------------------------------------------------------- */

static char *row_at(const ztoq_batch *b, size_t row)
{
	return b->rows + row * b->row_size;
}

static SQLLEN *ind_at(const ztoq_batch *b, size_t row, unsigned col)
{
	return (SQLLEN *)(void *)(row_at(b, row) + b->cols[col].ind_off);
}

static void free_layout(ztoq_batch *b)
{
	ztoq__column_free(b->columns, b->ncols);
	ztoq__free(b->cols);
	ztoq__free(b->variable);
	ztoq__free(b->rows);
	ztoq__free(b->spill);
	b->columns = NULL;
	b->cols = NULL;
	b->variable = NULL;
	b->nvariable = 0;
	b->rows = NULL;
	b->spill = NULL;
	b->ncols = 0;
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* The C type and slot width column `d` is bound with. */
static void choose_binding(struct ztoq__batch_column *c, const ztoq__column *d,
			   size_t text_width)
{
	c->ctype = d->ctype;
	c->width = d->size ? d->size : text_width;
	c->inline_max = c->ctype == SQL_C_CHAR ? c->width - 1 : c->width;
}

/* A text or blob column: its value can be longer than its slot. */
static int is_variable(const struct ztoq__batch_column *c)
{
	return c->ctype == SQL_C_CHAR || c->ctype == SQL_C_BINARY;
}

static int same_shape(const ztoq_batch *b, const ztoq__column *cols, unsigned n)
{
	if (!b->cols || b->ncols != n)
		return 0;
	for (unsigned i = 0; i < b->ncols; i++)
		if (b->columns[i].type != cols[i].type)
			return 0;
	return 1;
}

/* Lays out a row for `columns` and allocates the batch's buffers. Takes `columns`. */
static int build_layout(ztoq_batch *b, ztoq__column *columns, unsigned n)
{
	size_t off = 0;

	free_layout(b);
	b->columns = columns;
	b->ncols = n;
	if (!(b->cols = ztoq__calloc(n, sizeof(*b->cols))) ||
	    !(b->variable = ztoq__calloc(n, sizeof(*b->variable))))
		return ztoq__error_nomem();
	for (unsigned i = 0; i < b->ncols; i++) {
		struct ztoq__batch_column *c = &b->cols[i];

		choose_binding(c, &columns[i], b->text_width);
		if (is_variable(c))
			b->variable[b->nvariable++] = i;
		c->value_off = off;
		off = align8(off + c->width);
		c->ind_off = off;
		off += sizeof(SQLLEN);
	}
	b->row_size = off;
	if (b->capacity + 1 > SIZE_MAX / b->row_size)
		return ztoq__error_set(ZTOQ_EINVALID, "a batch of %zu rows of %zu bytes is too large",
				       b->capacity, b->row_size);
	/* not cleared: the driver writes every value and indicator read back (clearing
	 * megabytes for each result was 21 % of a copy's client CPU samples in perf) */
	if (!(b->rows = ztoq__malloc((b->capacity + 1) * b->row_size)) ||
	    !(b->spill = ztoq__malloc(b->capacity * b->ncols * sizeof(*b->spill) + 1)))
		return ztoq__error_nomem();
	return ZTOQ_OK;
}

static int set_attr(ztoq_batch *b, SQLINTEGER attr, SQLPOINTER value)
{
	if (!SQL_SUCCEEDED(SQLSetStmtAttr(b->r.handle, attr, value, 0)))
		return ztoq__column_fail(&b->r, "cannot set up the batch buffers");
	return ZTOQ_OK;
}

/*
 * Binds the batch's buffers to `handle`, whose statement has been executed (so its
 * result can be described). The layout is kept when the shape is the same as before.
 */
static int bind_columns(ztoq_batch *b, SQLHSTMT handle)
{
	ztoq__column *columns;
	unsigned n;
	int code;

	b->r.handle = handle;
	if ((code = ztoq__column_describe(&b->r, &columns, &n)) < 0)
		return code;
	if (n == 0) {
		ztoq__column_free(columns, n);
		return ztoq__error_set(ZTOQ_EINVALID, "the statement returns no rows to batch");
	}
	if (same_shape(b, columns, n))
		ztoq__column_free(columns, n);
	else if ((code = build_layout(b, columns, n)) < 0)
		return code;
	b->block = b->cursor || b->nvariable == 0; /* nothing can be cut short */
	if ((code = set_attr(b, SQL_ATTR_ROW_BIND_TYPE, (SQLPOINTER)(uintptr_t)b->row_size)) < 0 ||
	    (code = set_attr(b, SQL_ATTR_ROW_ARRAY_SIZE,
			     (SQLPOINTER)(uintptr_t)(b->block ? b->capacity : 1))) < 0 ||
	    (code = set_attr(b, SQL_ATTR_ROWS_FETCHED_PTR, &b->fetched)) < 0)
		return code;
	for (unsigned i = 0; i < b->ncols; i++) {
		struct ztoq__batch_column *c = &b->cols[i];
		char *row = row_at(b, b->block ? 0 : b->capacity);

		if (!SQL_SUCCEEDED(SQLBindCol(handle, (SQLUSMALLINT)(i + 1), c->ctype,
					      row + c->value_off, (SQLLEN)c->width,
					      (SQLLEN *)(void *)(row + c->ind_off))))
			return ztoq__column_fail(&b->r, "cannot bind a result column");
	}
	return ZTOQ_OK;
}

/* Undoes bind_columns(), so the statement can be cached and fetched row by row again. */
static void unbind_columns(ztoq_batch *b)
{
	if (!b->r.handle)
		return;
	SQLFreeStmt(b->r.handle, SQL_UNBIND);
	SQLSetStmtAttr(b->r.handle, SQL_ATTR_ROW_ARRAY_SIZE, (SQLPOINTER)1, 0);
	SQLSetStmtAttr(b->r.handle, SQL_ATTR_ROW_BIND_TYPE, (SQLPOINTER)SQL_BIND_BY_COLUMN, 0);
	SQLSetStmtAttr(b->r.handle, SQL_ATTR_ROWS_FETCHED_PTR, NULL, 0);
	b->r.handle = SQL_NULL_HSTMT;
}

/* ---- reading -------------------------------------------------------------------- */

/*
 * Reads the whole value of (row, col), which did not fit in line, with SQLGetData on
 * the current row into the spill area, and records where it is and its length.
 */
static int spill_value(ztoq_batch *b, size_t row, unsigned col)
{
	const struct ztoq__batch_column *c = &b->cols[col];
	size_t start = b->arena.len;
	SQLLEN *ind = ind_at(b, row, col);
	int code, is_null;

	if ((code = ztoq__column_read_bytes(&b->r, (SQLUSMALLINT)(col + 1), c->ctype, c->width * 2,
					    &b->arena, &is_null, "cannot read a long value")) < 0)
		return code;
	if (is_null) {
		*ind = SQL_NULL_DATA;
		return ZTOQ_OK;
	}
	b->arena.len++; /* the NUL after it */
	b->spill[row * b->ncols + col] = start;
	*ind = (SQLLEN)(b->arena.len - 1 - start);
	return ZTOQ_OK;
}

/* Spills every value of `row` that did not fit in line. */
static int spill_row(ztoq_batch *b, size_t row)
{
	int code;

	for (unsigned v = 0; v < b->nvariable; v++) {
		unsigned i = b->variable[v];
		SQLLEN ind = *ind_at(b, row, i);
		int fits = ind != SQL_NO_TOTAL && (size_t)ind <= b->cols[i].inline_max;

		if (ind == SQL_NULL_DATA || fits)
			continue;
		if (b->block && !SQL_SUCCEEDED(SQLSetPos(b->r.handle, (SQLSETPOSIROW)(row + 1),
							 SQL_POSITION, SQL_LOCK_NO_CHANGE)))
			return ztoq__column_fail(&b->r, "cannot position on a row to read a long "
							"value");
		if ((code = spill_value(b, row, i)) < 0)
			return code;
	}
	return ZTOQ_OK;
}

/* Fills the batch with up to `capacity` rows. *done = 1 when the result ended. */
static int fill(ztoq_batch *b, int *done)
{
	SQLRETURN rc;
	int code;

	b->nrows = 0;
	b->arena.len = 0;
	*done = b->ended = 0;
	while (b->nrows < b->capacity) {
		b->fetched = 0;
		rc = ztoq__conn_fetch(b->r.session->conn, b->r.handle);
		if (rc == SQL_NO_DATA) {
			*done = b->ended = 1;
			break;
		}
		if (!SQL_SUCCEEDED(rc))
			return ztoq__column_fail(&b->r, "fetch failed");
		if (!b->block) {
			memcpy(row_at(b, b->nrows), row_at(b, b->capacity), b->row_size);
			if ((code = spill_row(b, b->nrows)) < 0)
				return code;
			b->nrows++;
			continue;
		}
		b->nrows = b->fetched;
		for (size_t r = 0; rc == SQL_SUCCESS_WITH_INFO && r < b->nrows; r++)
			if ((code = spill_row(b, r)) < 0)
				return code;
		*done = b->nrows < b->capacity;
		break;
	}
	return ZTOQ_OK;
}

/* ---- a read from start to end ---------------------------------------------------- */

static int start_read(ztoq_batch *b, ztoq_batch_stats *stats, ztoq_session *s,
		      ztoq_batch_fn process, const ztoq_batch_options *opts)
{
	memset(b, 0, sizeof(*b));
	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!s || !process)
		return ztoq__error_set(ZTOQ_EINVALID, "batched read: session and process callback "
						      "are required");
	if (opts && opts->version != ZTOQ_BATCH_OPTIONS_VERSION)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_batch_options.version is %u, expected %u "
						      "(initialise with ZTOQ_BATCH_OPTIONS_INIT)",
				       opts->version, ZTOQ_BATCH_OPTIONS_VERSION);
	b->r.session = s;
	b->capacity = opts && opts->batch_size ? opts->batch_size : DEFAULT_BATCH_SIZE;
	b->text_width = opts && opts->text_width ? opts->text_width : DEFAULT_TEXT_WIDTH;
	if (b->text_width < 2)
		b->text_width = 2;
	if (b->capacity > SIZE_MAX / 4096)
		return ztoq__error_set(ZTOQ_EINVALID, "batch size %zu is too large", b->capacity);
	b->cursor = s->conn->dialect->cursor_declare != NULL;
	return ZTOQ_OK;
}

static void end_read(ztoq_batch *b)
{
	unbind_columns(b);
	free_layout(b);
	ztoq__free(b->arena.data);
}

/* Hands the filled batch to `process`. Returns 0, ZTOQ_BATCH_STOP or an error. */
static int deliver(ztoq_batch *b, ztoq_batch_stats *stats, ztoq_batch_fn process,
		   void *payload)
{
	int rc = process(b, payload);

	b->first_row += b->nrows;
	b->index++;
	if (stats) {
		stats->batches++;
		stats->rows += b->nrows;
	}
	if (rc > 0) {
		if (stats)
			stats->stopped = 1;
		return ZTOQ_BATCH_STOP;
	}
	if (rc < 0 && ztoq_error_last()->code != rc)
		return ztoq__error_set(rc, "the batch process callback failed with %s",
				       ztoq_error_name(rc));
	return rc;
}

/* Fills and delivers batches from the bound statement until it ends or stops. */
static int drain(ztoq_batch *b, ztoq_batch_stats *stats, ztoq_batch_fn process,
		 void *payload, int *done)
{
	int code;

	do {
		if ((code = fill(b, done)) < 0)
			return code;
		if (b->nrows == 0)
			break;
		if ((code = deliver(b, stats, process, payload)) != ZTOQ_OK)
			return code;
	} while (!*done);
	return ZTOQ_OK;
}

/* ---- execute_in_batches --------------------------------------------------------- */

ZTOQ_EXTERN(int) ztoq_batch_execute(ztoq_batch_stats *out, ztoq_session *s,
				    ztoq_batch_query_fn query, ztoq_batch_fn process,
				    void *payload, const ztoq_batch_options *opts)
{
	ztoq_batch b;
	int code, done = 0;

	if ((code = start_read(&b, out, s, process, opts)) < 0)
		return code;
	if (!query)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_batch_execute: query is NULL");
	while (code == ZTOQ_OK && !done) {
		ztoq_stmt *st = NULL;

		code = query(&st, s, (int64_t)b.first_row, (int64_t)b.capacity, payload);
		if (code == ZTOQ_OK && !st)
			code = ztoq__error_set(ZTOQ_EINVALID, "the batch query callback returned "
							      "no statement");
		if (code == ZTOQ_OK && (code = bind_columns(&b, st->handle)) == ZTOQ_OK)
			code = fill(&b, &done);
		unbind_columns(&b);
		ztoq_stmt_finalize(st);
		if (code < 0 || b.nrows == 0)
			break;
		done = b.nrows < b.capacity;
		code = deliver(&b, out, process, payload);
	}
	end_read(&b);
	return code == ZTOQ_BATCH_STOP ? ZTOQ_OK : code;
}

/* ---- streaming ------------------------------------------------------------------ */

/* A statement read to its end (SQLite and other drivers without server cursors). */
static int stream_direct(ztoq_batch *b, ztoq_batch_stats *stats, const char *sql,
			 const ztoq_value *params, size_t nparams, ztoq_batch_fn process,
			 void *payload)
{
	ztoq_stmt *st;
	int code, done = 0;

	if ((code = ztoq__stmt_prepare_bound(&st, b->r.session, sql, params, nparams)) < 0)
		return code;
	if ((code = ztoq_stmt_execute(st)) == ZTOQ_OK &&
	    (code = bind_columns(b, st->handle)) == ZTOQ_OK)
		code = drain(b, stats, process, payload, &done);
	unbind_columns(b);
	if (b->ended)
		st->cursor_open = 0; /* read to its end: nothing to close */
	ztoq_stmt_finalize(st);
	return code;
}

/*
 * Cursor names are unique per thread while open: a stream nested in another's process
 * callback gets the next number. A session is used by one thread at a time.
 */
static _Thread_local unsigned cursor_depth;

/* Reads an open cursor with `fetch_sql` (the dialect's cursor_fetch), one batch per
 * round trip. */
static int fetch_cursor(ztoq_batch *b, ztoq_batch_stats *stats, const char *fetch_sql,
			ztoq_batch_fn process, void *payload)
{
	SQLHSTMT h;
	int code = ZTOQ_OK, done = 0, bound = 0;

	if ((code = ztoq__conn_alloc_stmt(b->r.session->conn, &h)) < 0)
		return code;
	b->r.handle = h;
	if (!SQL_SUCCEEDED(SQLPrepare(h, (SQLCHAR *)fetch_sql, SQL_NTS)))
		code = ztoq__column_fail(&b->r, "cannot prepare FETCH");
	while (code == ZTOQ_OK && !done) {
		SQLFreeStmt(h, SQL_CLOSE);
		if (!SQL_SUCCEEDED(ztoq__conn_execute(b->r.session->conn, h, NULL, 0))) {
			code = ztoq__column_fail(&b->r, "FETCH from the stream's cursor failed");
			break;
		}
		if (!bound && (code = bind_columns(b, h)) < 0)
			break;
		bound = 1;
		if ((code = fill(b, &done)) < 0 || b->nrows == 0)
			break;
		code = deliver(b, stats, process, payload);
	}
	b->r.handle = SQL_NULL_HSTMT;
	ztoq__conn_free_stmt(h);
	return code;
}

/*
 * Declares a cursor with `declare`, fetches it in batches with `fetch`, closes it with
 * `close` (the dialect's statements, composed by stream_cursor), in a transaction of
 * its own unless the session is in one.
 */
static int run_cursor(ztoq_batch *b, ztoq_batch_stats *stats, const char *declare,
		      const char *fetch, const char *close, const ztoq_value *params,
		      size_t nparams, ztoq_batch_fn process, void *payload)
{
	ztoq_session *s = b->r.session;
	int own_tx = ztoq_tx_depth(s) == 0, code, closed;

	if (own_tx && (code = ztoq_tx_begin(s, NULL)) < 0)
		return code;
	code = ztoq_session_exec(s, declare, params, nparams, NULL);
	if (code == ZTOQ_OK) {
		cursor_depth++;
		code = fetch_cursor(b, stats, fetch, process, payload);
		cursor_depth--;
		/* In the stream's own transaction, its commit or rollback ends the cursor
		 * (declared without HOLD); a failed transaction has lost it already. In the
		 * caller's, it is closed: the next stream at this depth reuses its name. */
		if (!own_tx && !s->failed) {
			if (code < 0)
				ztoq__error_hold(); /* the failure's own error stays the last one */
			closed = ztoq_session_exec(s, close, NULL, 0, NULL);
			if (code < 0)
				ztoq__error_release();
			else
				code = closed;
		}
	}
	if (own_tx && code >= 0 && (closed = ztoq_tx_commit(s)) < 0)
		code = closed;
	else if (own_tx && code < 0)
		ztoq__session_rollback_after(s, code);
	return code;
}

/* Streams `sql` through a server cursor, its statements written by the dialect. */
static int stream_cursor(ztoq_batch *b, ztoq_batch_stats *stats, const char *sql,
			 const ztoq_value *params, size_t nparams, ztoq_batch_fn process,
			 void *payload)
{
	const ztoq__dialect *d = b->r.session->conn->dialect;
	ztoq__buf declare = ZTOQ__BUF_INIT, fetch = ZTOQ__BUF_INIT, close = ZTOQ__BUF_INIT;
	char name[32];
	int code;

	snprintf(name, sizeof(name), "ztoq_stream_%u", cursor_depth + 1);
	d->cursor_declare(&declare, name, sql);
	d->cursor_fetch(&fetch, name, b->capacity);
	d->cursor_close(&close, name);
	if (declare.failed || fetch.failed || close.failed)
		code = ztoq__error_nomem();
	else
		code = run_cursor(b, stats, declare.data, fetch.data, close.data, params,
				  nparams, process, payload);
	ztoq__buf_dispose(&declare);
	ztoq__buf_dispose(&fetch);
	ztoq__buf_dispose(&close);
	return code;
}

ZTOQ_EXTERN(int) ztoq_batch_stream(ztoq_batch_stats *out, ztoq_session *s, const char *sql,
				   const ztoq_value *params, size_t nparams,
				   ztoq_batch_fn process, void *payload,
				   const ztoq_batch_options *opts)
{
	ztoq_batch b;
	int code;

	if ((code = start_read(&b, out, s, process, opts)) < 0)
		return code;
	if (!sql || (nparams && !params))
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_batch_stream: bad arguments");
	if (b.cursor)
		code = stream_cursor(&b, out, sql, params, nparams, process, payload);
	else
		code = stream_direct(&b, out, sql, params, nparams, process, payload);
	end_read(&b);
	return code == ZTOQ_BATCH_STOP ? ZTOQ_OK : code;
}

/* ---- keyset paging -------------------------------------------------------------- */

ZTOQ_EXTERN(int) ztoq_batch_keyset(ztoq_batch_stats *out, ztoq_session *s, const char *sql,
				   unsigned key_column, const ztoq_value *start,
				   ztoq_batch_fn process, void *payload,
				   const ztoq_batch_options *opts)
{
	ztoq_batch b;
	ztoq_stmt *st = NULL;
	ztoq_value key;
	int code, done = 0;

	if ((code = start_read(&b, out, s, process, opts)) < 0)
		return code;
	if (!sql || !start)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_batch_keyset: bad arguments");
	if ((code = ztoq_stmt_prepare(&st, s, sql)) < 0)
		return code;
	key = *start;
	while (!done) {
		if ((code = ztoq_stmt_bind(st, 1, &key)) < 0 ||
		    (code = ztoq_stmt_bind_int64(st, 2, (int64_t)b.capacity)) < 0 ||
		    (code = ztoq_stmt_execute(st)) < 0 ||
		    (!b.r.handle && (code = bind_columns(&b, st->handle)) < 0) ||
		    (code = fill(&b, &done)) < 0 || b.nrows == 0)
			break;
		if (key_column >= b.ncols) {
			code = ztoq__error_set(ZTOQ_EINVALID, "key column %u does not exist",
					       key_column);
			break;
		}
		done = b.nrows < b.capacity;
		if ((code = deliver(&b, out, process, payload)) != ZTOQ_OK)
			break;
		/* the next iteration binds (copies) it before its fetch overwrites the batch */
		if ((code = ztoq_batch_get_value(&b, b.nrows - 1, key_column, &key)) < 0)
			break;
		if (key.type == ZTOQ_TYPE_NULL) {
			code = ztoq__error_set(ZTOQ_EINVALID, "keyset paging: the key column %s is "
							      "NULL in row %llu",
					       b.columns[key_column].name,
					       (unsigned long long)b.first_row - 1);
			break;
		}
	}
	end_read(&b);
	ztoq_stmt_finalize(st);
	return code == ZTOQ_BATCH_STOP ? ZTOQ_OK : code;
}

/* ---- accessors ------------------------------------------------------------------ */

ZTOQ_EXTERN(size_t) ztoq_batch_rows(const ztoq_batch *b)
{
	return b ? b->nrows : 0;
}

ZTOQ_EXTERN(uint64_t) ztoq_batch_first_row(const ztoq_batch *b)
{
	return b ? b->first_row : 0;
}

ZTOQ_EXTERN(uint64_t) ztoq_batch_index(const ztoq_batch *b)
{
	return b ? b->index : 0;
}

ZTOQ_EXTERN(unsigned) ztoq_batch_column_count(const ztoq_batch *b)
{
	return b ? b->ncols : 0;
}

ZTOQ_EXTERN(const char *) ztoq_batch_column_name(const ztoq_batch *b, unsigned col)
{
	return b && col < b->ncols ? b->columns[col].name : NULL;
}

ZTOQ_EXTERN(int) ztoq_batch_get_value(const ztoq_batch *b, size_t row, unsigned col,
				      ztoq_value *out)
{
	const struct ztoq__batch_column *c;
	const char *slot;
	SQLLEN ind;

	*out = ZTOQ_NULL_VALUE;
	if (!b || row >= b->nrows || col >= b->ncols)
		return ztoq__error_set(ZTOQ_EINVALID, "batch cell (%zu, %u) does not exist", row, col);
	c = &b->cols[col];
	slot = row_at(b, row) + c->value_off;
	ind = *ind_at(b, row, col);
	if (ind == SQL_NULL_DATA)
		return ZTOQ_OK;
	if ((size_t)ind > c->inline_max && is_variable(c))
		slot = b->arena.data + b->spill[row * b->ncols + col];
	ztoq__column_value(out, b->columns[col].type, slot, slot, (size_t)ind);
	return ZTOQ_OK;
}

static int not_convertible(const ztoq_batch *b, unsigned col, const char *to)
{
	return ztoq__error_set(ZTOQ_EINVALID, "column %s is not %s", b->columns[col].name, to);
}

/* A cell as a number (see ztoq__column_number), with *is_null (may be NULL) set. */
static int numeric(const ztoq_batch *b, size_t row, unsigned col, int whole, int64_t *i,
		   double *d, int *is_null)
{
	ztoq_value v;
	int code = ztoq_batch_get_value(b, row, col, &v);

	*i = 0;
	*d = 0;
	if (is_null)
		*is_null = v.type == ZTOQ_TYPE_NULL;
	if (code < 0 || v.type == ZTOQ_TYPE_NULL)
		return code;
	if (ztoq__column_number(&v, whole, i, d) < 0)
		return not_convertible(b, col, whole ? "a whole number" : "a number");
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_batch_get_int64(const ztoq_batch *b, size_t row, unsigned col,
				      int64_t *out, int *is_null)
{
	double ignored;

	return numeric(b, row, col, 1, out, &ignored, is_null);
}

ZTOQ_EXTERN(int) ztoq_batch_get_double(const ztoq_batch *b, size_t row, unsigned col,
				       double *out, int *is_null)
{
	int64_t ignored;

	return numeric(b, row, col, 0, &ignored, out, is_null);
}

ZTOQ_EXTERN(int) ztoq_batch_get_text(const ztoq_batch *b, size_t row, unsigned col,
				     const char **out, size_t *len, int *is_null)
{
	ztoq_value v;
	int code = ztoq_batch_get_value(b, row, col, &v);

	*out = "";
	if (len)
		*len = 0;
	if (is_null)
		*is_null = v.type == ZTOQ_TYPE_NULL;
	if (code < 0 || v.type == ZTOQ_TYPE_NULL)
		return code;
	if (v.type != ZTOQ_TYPE_TEXT && v.type != ZTOQ_TYPE_BLOB)
		return not_convertible(b, col, "text");
	*out = v.v.bytes.ptr;
	if (len)
		*len = v.v.bytes.len;
	return ZTOQ_OK;
}
