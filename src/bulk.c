/*
 * bulk.c - many typed rows written in one call, one transaction, with bad rows found
 * by bisection under savepoints.
 *
 * Measured on this project's machines (docs/performance.md, 100,000 rows of three
 * columns): SQLite through its ODBC driver takes ~0.5 s row at a time, ~0.35 s with
 * array parameters (SQL_ATTR_PARAMSET_SIZE, which the driver loops over) and ~0.12 s
 * with multi-row VALUES of 100 rows; psqlODBC takes ~1.6 s with array parameters (it
 * interpolates them and sends BatchSize rows a round trip), ~0.4 s with multi-row
 * VALUES of 1,000 rows and ~0.3 s with one unnest() of typed arrays per 10,000 rows.
 * So SQLite gets multi-row VALUES and PostgreSQL gets unnest(); other drivers get one
 * row per statement, which any SQL database accepts.
 *
 * Neither driver's per-row status array says which row failed (docs/drivers.md), so the
 * database is asked directly: every chunk of rows runs in a savepoint; a chunk that
 * fails with a data error is rolled back and its halves are tried, down to single
 * rows. A chunk that succeeds is never run twice, so a row is written at most once.
 */
#include "bulk.h"

#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "session.h"

#define SQLITE_VALUES_PER_STATEMENT 300 /* 100 rows of 3 columns was the best measured */
#define PG_ROWS_PER_STATEMENT 10000
#define DEFAULT_ROWS_PER_SAVEPOINT 10000

struct ztoq__bulk_writer {
	ztoq_session *s;
	const ztoq__dialect *d;
	const ztoq_bulk_table *t;
	const ztoq_value *rows; /* the rows being written (those of one ztoq__bulk_write) */
	size_t first;           /* the number of rows[0]: rows the writer wrote before */
	const ztoq_bulk_options *opts;
	ztoq_bulk_result *res;
	size_t per_stmt, per_savepoint;
	ztoq_stmt *many;   /* per_stmt rows (the arrays form: any number) */
	ztoq_stmt *one;    /* one row (SQLite and others) */
	ztoq__buf *arrays; /* the arrays form: one array per column */
};
typedef struct ztoq__bulk_writer bulk;

/* ---- SQL ------------------------------------------------------------------------ */

/* Appends `name` as a quoted identifier; "a.b" becomes "a"."b". */
static void put_ident(ztoq__buf *sql, const char *name)
{
	ztoq__buf_puts(sql, "\"");
	for (const char *p = name; *p; p++) {
		if (*p == '.')
			ztoq__buf_puts(sql, "\".\"");
		else if (*p == '"')
			ztoq__buf_puts(sql, "\"\"");
		else
			ztoq__buf_append(sql, p, 1);
	}
	ztoq__buf_puts(sql, "\"");
}

static void put_ident_list(ztoq__buf *sql, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			ztoq__buf_puts(sql, ", ");
		put_ident(sql, names[i]);
	}
}

static int is_key(const bulk *b, const char *column)
{
	for (size_t k = 0; k < b->opts->nkeys; k++)
		if (strcmp(b->opts->key_columns[k], column) == 0)
			return 1;
	return 0;
}

/* Appends the ON CONFLICT clause the options ask for (the same on both backends). */
static void put_conflict(ztoq__buf *sql, const bulk *b)
{
	const ztoq_bulk_options *o = b->opts;
	int first = 1;

	if (o->conflict == ZTOQ_BULK_CONFLICT_ERROR)
		return;
	ztoq__buf_puts(sql, " ON CONFLICT");
	if (o->nkeys) {
		ztoq__buf_puts(sql, " (");
		put_ident_list(sql, o->key_columns, o->nkeys);
		ztoq__buf_puts(sql, ")");
	}
	for (size_t i = 0; o->conflict == ZTOQ_BULK_CONFLICT_UPDATE && i < b->t->ncolumns; i++) {
		if (is_key(b, b->t->columns[i]))
			continue;
		ztoq__buf_puts(sql, first ? " DO UPDATE SET " : ", ");
		put_ident(sql, b->t->columns[i]);
		ztoq__buf_puts(sql, " = excluded.");
		put_ident(sql, b->t->columns[i]);
		first = 0;
	}
	if (first)
		ztoq__buf_puts(sql, " DO NOTHING");
}

/* Prepares the INSERT for `nrows` rows (the arrays form: for any number of rows). */
static int prepare_insert(ztoq_stmt **out, bulk *b, size_t nrows)
{
	ztoq__buf sql = ZTOQ__BUF_INIT;
	char *text;
	size_t n = b->t->ncolumns;
	int code;

	ztoq__buf_puts(&sql, "INSERT INTO ");
	put_ident(&sql, b->t->table);
	ztoq__buf_puts(&sql, " (");
	put_ident_list(&sql, b->t->columns, n);
	ztoq__buf_puts(&sql, ")");
	if (b->d->bulk_form == ZTOQ__BULK_ARRAYS) {
		b->d->bulk_arrays_source(&sql, b->t);
	} else {
		ztoq__buf_puts(&sql, " VALUES ");
		for (size_t r = 0; r < nrows; r++) {
			ztoq__buf_puts(&sql, r ? ", (?" : "(?");
			for (size_t c = 1; c < n; c++)
				ztoq__buf_puts(&sql, ", ?");
			ztoq__buf_puts(&sql, ")");
		}
	}
	put_conflict(&sql, b);
	if ((code = ztoq__buf_detach(&sql, &text)) < 0)
		return code;
	code = ztoq_stmt_prepare(out, b->s, text);
	ztoq__free(text);
	return code;
}

/* ---- the arrays form: one array parameter a column ---------------------------- */

/* Sends rows [lo, hi) as one statement: one array parameter per column, each array
 * written by the dialect (bulk_array) into the column's reused buffer. */
static int arrays_execute(bulk *b, size_t lo, size_t hi)
{
	size_t n = b->t->ncolumns;
	int code;

	for (size_t c = 0; c < n; c++) {
		ztoq__buf *a = &b->arrays[c];

		a->len = 0;
		b->d->bulk_array(a, &b->rows[lo * n + c], hi - lo, n);
		if (a->failed)
			return ztoq__error_nomem();
		if ((code = ztoq_stmt_bind_text(b->many, (unsigned)(c + 1), a->data, a->len)) < 0)
			return code;
	}
	if ((code = ztoq_stmt_execute(b->many)) < 0)
		return code;
	b->res->affected += (uint64_t)ztoq_stmt_rows_affected(b->many);
	return ZTOQ_OK;
}

/* ---- SQLite and others: rows as parameters of multi-row VALUES ------------------ */

static int values_execute(bulk *b, ztoq_stmt *st, size_t lo, size_t count)
{
	size_t n = b->t->ncolumns;
	const ztoq_value *v = &b->rows[lo * n];
	int code;

	for (size_t i = 0; i < count * n; i++)
		if ((code = ztoq_stmt_bind(st, (unsigned)(i + 1), &v[i])) < 0)
			return code;
	if ((code = ztoq_stmt_execute(st)) < 0)
		return code;
	b->res->affected += (uint64_t)ztoq_stmt_rows_affected(st);
	return ZTOQ_OK;
}

/* Writes rows [lo, hi) with as few statements as the backend's form allows. */
static int write_rows(bulk *b, size_t lo, size_t hi)
{
	int code = ZTOQ_OK;

	while (lo < hi && code == ZTOQ_OK) {
		size_t n = hi - lo;

		if (b->d->bulk_form == ZTOQ__BULK_ARRAYS) {
			n = n < b->per_stmt ? n : b->per_stmt;
			code = arrays_execute(b, lo, lo + n);
		} else if (n >= b->per_stmt && b->per_stmt > 1) {
			n = b->per_stmt;
			code = values_execute(b, b->many, lo, n);
		} else {
			n = 1;
			code = values_execute(b, b->one, lo, n);
		}
		lo += n;
	}
	return code;
}

/* ---- bad rows ------------------------------------------------------------------- */

/* 1 when the failure is about the data of the rows, so a smaller chunk may pass. */
static int is_row_error(const bulk *b, int code)
{
	const ztoq_error *e = ztoq_error_last();

	return b->d->is_row_error(code, e->sqlstate, e->native);
}

static int bad_row(bulk *b, size_t row, int code)
{
	row += b->first;
	if (b->res->rejected++ == 0)
		b->res->first_bad = row;
	if (b->opts->on_bad_row)
		b->opts->on_bad_row(row, ztoq_error_last(), b->opts->payload);
	if (b->opts->policy == ZTOQ_BULK_SKIP)
		return ZTOQ_OK;
	ztoq__error_append(" (bulk write into %s: row %zu; all the call wrote is rolled back)",
			   b->t->table, row);
	return code;
}

/*
 * Writes rows [lo, hi) in a savepoint. When that fails because of the data, the
 * savepoint is rolled back and each half is tried on its own, down to single rows.
 */
static int write_range(bulk *b, size_t lo, size_t hi)
{
	uint64_t affected = b->res->affected;
	size_t mid;
	int code;

	if ((code = ztoq_tx_begin(b->s, NULL)) < 0)
		return code;
	if ((code = write_rows(b, lo, hi)) == ZTOQ_OK)
		return ztoq_tx_commit(b->s);
	ztoq__session_rollback_after(b->s, code); /* the statement's error stays the last one */
	b->res->affected = affected;
	if (!is_row_error(b, code))
		return code;
	if (hi - lo == 1)
		return bad_row(b, lo, code);
	mid = lo + (hi - lo) / 2;
	if ((code = write_range(b, lo, mid)) < 0)
		return code;
	return write_range(b, mid, hi);
}

/* ---- the call ------------------------------------------------------------------- */

static const char *type_name(ztoq_type t)
{
	static const char *const names[] = {"NULL", "bool", "int64", "double", "text", "blob",
					    "timestamp"};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

/* Checks the table and the options. */
static int check_table(const ztoq_bulk_table *t, const ztoq_bulk_options *o)
{
	if (!t || !t->table || !t->columns || !t->types || !t->ncolumns)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_bulk_insert: table, columns, types "
						      "and rows are required");
	if (o->version != ZTOQ_BULK_OPTIONS_VERSION)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_bulk_options.version is %u, expected %u "
						      "(initialise with ZTOQ_BULK_OPTIONS_INIT)",
				       o->version, ZTOQ_BULK_OPTIONS_VERSION);
	if ((unsigned)o->policy > ZTOQ_BULK_SKIP || (unsigned)o->conflict > ZTOQ_BULK_CONFLICT_IGNORE ||
	    (o->nkeys && !o->key_columns) ||
	    (o->conflict == ZTOQ_BULK_CONFLICT_UPDATE && !o->nkeys))
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_bulk_insert: bad options (an upsert "
						      "needs key columns)");
	for (size_t c = 0; c < t->ncolumns; c++) {
		const char *st = t->sql_types ? t->sql_types[c] : NULL;

		if (!t->columns[c] || t->types[c] <= ZTOQ_TYPE_NULL || t->types[c] > ZTOQ_TYPE_TIMESTAMP)
			return ztoq__error_set(ZTOQ_EINVALID, "bulk column %zu: no name or no type", c);
		if (st && (!*st || st[strspn(st, "abcdefghijklmnopqrstuvwxyz"
						 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ (),")]))
			return ztoq__error_set(ZTOQ_EINVALID, "bulk column %s: bad SQL type \"%s\"",
					       t->columns[c], st);
	}
	return ZTOQ_OK;
}

/* Checks the type of every value of `nrows` rows, the first of which is row `first`. */
static int check_values(const ztoq_bulk_table *t, const ztoq_value *rows, size_t nrows,
			size_t first)
{
	for (size_t i = 0; i < nrows * t->ncolumns; i++) {
		ztoq_type want = t->types[i % t->ncolumns], got = rows[i].type;

		if (got != want && got != ZTOQ_TYPE_NULL)
			return ztoq__error_set(ZTOQ_EINVALID, "bulk row %zu, column %s: a %s value "
							      "where the column takes %s",
					       first + i / t->ncolumns, t->columns[i % t->ncolumns],
					       type_name(got), type_name(want));
		if ((got == ZTOQ_TYPE_TEXT || got == ZTOQ_TYPE_BLOB) && !rows[i].v.bytes.ptr &&
		    rows[i].v.bytes.len)
			return ztoq__error_set(ZTOQ_EINVALID, "bulk row %zu: NULL data",
					       first + i / t->ncolumns);
	}
	return ZTOQ_OK;
}

/* Chooses the statement form and sizes, and prepares the statements. */
static int setup(bulk *b)
{
	size_t n = b->t->ncolumns;
	int code;

	if (b->d->bulk_form == ZTOQ__BULK_ARRAYS)
		b->per_stmt = PG_ROWS_PER_STATEMENT;
	else if (b->d->bulk_form == ZTOQ__BULK_VALUES)
		b->per_stmt = n < SQLITE_VALUES_PER_STATEMENT ? SQLITE_VALUES_PER_STATEMENT / n : 1;
	else
		b->per_stmt = 1;
	b->per_savepoint = b->opts->rows_per_savepoint ? b->opts->rows_per_savepoint
						       : DEFAULT_ROWS_PER_SAVEPOINT;
	/* a statement size left to the library fits in a savepoint the caller sized */
	if (b->opts->rows_per_statement)
		b->per_stmt = b->opts->rows_per_statement;
	else if (b->per_stmt > b->per_savepoint)
		b->per_stmt = b->per_savepoint;
	if (b->per_savepoint < b->per_stmt)
		b->per_savepoint = b->per_stmt;
	b->per_savepoint -= b->per_savepoint % b->per_stmt;
	if (b->d->bulk_form == ZTOQ__BULK_ARRAYS) {
		if (!(b->arrays = ztoq__calloc(n, sizeof(*b->arrays))))
			return ztoq__error_nomem();
		return prepare_insert(&b->many, b, 0);
	}
	if (b->per_stmt > 1 && (code = prepare_insert(&b->many, b, b->per_stmt)) < 0)
		return code;
	return prepare_insert(&b->one, b, 1);
}

/* Checks the session, the table and the options of a bulk write. */
int ztoq__bulk_check(ztoq_session *s, const ztoq_bulk_table *table, const ztoq_bulk_options *opts)
{
	static const ztoq_bulk_options defaults = ZTOQ_BULK_OPTIONS_INIT;

	if (!s)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_bulk_insert: session is NULL");
	return check_table(table, opts ? opts : &defaults);
}

int ztoq__bulk_open(ztoq__bulk_writer **out, ztoq_session *s, const ztoq_bulk_table *table,
		    const ztoq_bulk_options *opts, ztoq_bulk_result *res)
{
	static const ztoq_bulk_options defaults = ZTOQ_BULK_OPTIONS_INIT;
	bulk *b;
	int code;

	*out = NULL;
	if (!(b = ztoq__calloc(1, sizeof(*b))))
		return ztoq__error_nomem();
	b->s = s;
	b->t = table;
	b->opts = opts ? opts : &defaults;
	b->res = res;
	b->d = s->conn->dialect;
	if ((code = setup(b)) < 0) {
		ztoq__bulk_close(b);
		return code;
	}
	*out = b;
	return ZTOQ_OK;
}

void ztoq__bulk_close(ztoq__bulk_writer *b)
{
	if (!b)
		return;
	for (size_t c = 0; b->arrays && c < b->t->ncolumns; c++)
		ztoq__buf_dispose(&b->arrays[c]);
	ztoq__free(b->arrays);
	ztoq_stmt_finalize(b->many);
	ztoq_stmt_finalize(b->one);
	ztoq__free(b);
}

int ztoq__bulk_write(ztoq__bulk_writer *b, const ztoq_value *rows, size_t nrows)
{
	int code = ZTOQ_OK;

	b->rows = rows;
	for (size_t lo = 0; lo < nrows && code == ZTOQ_OK; lo += b->per_savepoint)
		code = write_range(b, lo, nrows - lo < b->per_savepoint ? nrows : lo + b->per_savepoint);
	if (code == ZTOQ_OK)
		b->first += nrows;
	return code;
}

/* Ends the call's own transaction level: commits it, or rolls it back after `code`. */
static int finish(ztoq_session *s, int code)
{
	if (code == ZTOQ_OK)
		return ztoq_tx_commit(s);
	return ztoq__session_rollback_after(s, code);
}

ZTOQ_EXTERN(int) ztoq_bulk_insert(ztoq_bulk_result *out, ztoq_session *s,
				  const ztoq_bulk_table *table, const ztoq_value *rows,
				  size_t nrows, const ztoq_bulk_options *opts)
{
	ztoq_bulk_result res = {0, 0, SIZE_MAX};
	ztoq__bulk_writer *w = NULL;
	int code;

	if (out)
		*out = res;
	if ((code = ztoq__bulk_check(s, table, opts)) < 0)
		return code;
	if (nrows && !rows)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_bulk_insert: table, columns, types "
						      "and rows are required");
	if ((code = check_values(table, rows, nrows, 0)) < 0 || (code = ztoq_tx_begin(s, NULL)) < 0)
		return code;
	if ((code = ztoq__bulk_open(&w, s, table, opts, &res)) == ZTOQ_OK)
		code = ztoq__bulk_write(w, rows, nrows);
	ztoq__bulk_close(w);
	if ((code = finish(s, code)) < 0)
		res.affected = 0;
	if (out)
		*out = res;
	return code;
}

/* Pulls the next chunk from the source into `rows`: *nrows 0 at the end. */
static int pull(bulk *b, ztoq_bulk_source_fn source, void *payload, ztoq_value *rows,
		size_t *nrows)
{
	int code;

	*nrows = 0;
	ztoq_error_clear();
	if ((code = source(rows, b->per_savepoint, nrows, payload)) < 0) {
		if (ztoq_error_last()->code != code)
			ztoq__error_set(code, "the bulk source of %s stopped the write (code %d) "
					      "after row %zu",
					b->t->table, code, b->first);
		return code;
	}
	if (*nrows > b->per_savepoint)
		return ztoq__error_set(ZTOQ_EINVALID, "the bulk source of %s gave %zu rows where "
						      "at most %zu fit",
				       b->t->table, *nrows, b->per_savepoint);
	return check_values(b->t, rows, *nrows, b->first);
}

/*
 * The streamed write's loop: pulls and writes chunks until the source ends; with
 * `each`, every chunk is its own transaction, and the rows of the chunks it committed
 * stay counted in res->affected whatever happens after.
 */
static int stream_chunks(bulk *b, ztoq_bulk_source_fn source, void *payload, int each,
			 ztoq_value *rows)
{
	size_t nrows;
	int code;

	for (;;) {
		uint64_t committed = b->res->affected;

		if ((code = pull(b, source, payload, rows, &nrows)) < 0 || nrows == 0)
			return code;
		if (each && (code = ztoq_tx_begin(b->s, NULL)) < 0)
			return code;
		code = ztoq__bulk_write(b, rows, nrows);
		if (each && (code = finish(b->s, code)) < 0)
			b->res->affected = committed;
		if (code < 0)
			return code;
	}
}

ZTOQ_EXTERN(int) ztoq_bulk_insert_stream(ztoq_bulk_result *out, ztoq_session *s,
					 const ztoq_bulk_table *table, ztoq_bulk_source_fn source,
					 void *payload, ztoq_bulk_commit commit,
					 const ztoq_bulk_options *opts)
{
	ztoq_bulk_result res = {0, 0, SIZE_MAX};
	int each = commit == ZTOQ_BULK_COMMIT_EACH_CHUNK;
	ztoq__bulk_writer *w = NULL;
	ztoq_value *rows = NULL;
	int code;

	if (out)
		*out = res;
	if ((code = ztoq__bulk_check(s, table, opts)) < 0)
		return code;
	if (!source || (unsigned)commit > ZTOQ_BULK_COMMIT_EACH_CHUNK)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_bulk_insert_stream: no source, or an "
						      "unknown commit mode %d",
				       (int)commit);
	if (each && s->depth > 0)
		return ztoq__error_set(ZTOQ_ESTATE, "ztoq_bulk_insert_stream: a commit per chunk "
						     "needs a session with no transaction open");
	if (!each && (code = ztoq_tx_begin(s, NULL)) < 0)
		return code;
	if ((code = ztoq__bulk_open(&w, s, table, opts, &res)) == ZTOQ_OK &&
	    !(rows = ztoq__calloc(w->per_savepoint * table->ncolumns, sizeof(*rows))))
		code = ztoq__error_nomem();
	if (code == ZTOQ_OK)
		code = stream_chunks(w, source, payload, each, rows);
	ztoq__bulk_close(w);
	ztoq__free(rows);
	if (!each && (code = finish(s, code)) < 0)
		res.affected = 0;
	if (out)
		*out = res;
	return code;
}
