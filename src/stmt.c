/*
 * stmt.c - prepared statements with a per-connection cache, typed parameters and
 * typed columns.
 *
 * Parameters are copied into the statement and bound at execute time, only when their
 * type, buffer or size changed since the last execute. Each fetched row is read with
 * SQLGetData into per-column buffers, so getters work in any order and NULLs are known.
 */
#include "stmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "error.h"

#define CACHE_IDLE_MAX 64

/* The reader of `st`'s results: its failures are named by its SQL text. */
static ztoq__column_reader reader_of(const ztoq_stmt *st)
{
	return (ztoq__column_reader){st->session, st->handle, st->sql};
}

/* Records an ODBC failure of `st` (classified; fails the transaction). */
static int stmt_error(ztoq_stmt *st, const char *what)
{
	ztoq__column_reader r = reader_of(st);

	return ztoq__column_fail(&r, what);
}

static void free_columns(ztoq_stmt *st)
{
	for (int i = 0; st->values && i < st->ncolumns; i++)
		ztoq__free(st->values[i].text.data);
	ztoq__free(st->values);
	ztoq__column_free(st->columns, st->ncolumns > 0 ? (unsigned)st->ncolumns : 0);
	st->values = NULL;
	st->columns = NULL;
	st->ncolumns = -1;
}

static void free_stmt(ztoq_stmt *st)
{
	if (st->handle)
		ztoq__conn_free_stmt(st->handle);
	free_columns(st);
	for (unsigned i = 0; i < st->nparams; i++)
		ztoq__free(st->params[i].bytes);
	ztoq__free(st->params);
	ztoq__free(st->prepared);
	ztoq__free(st->sql);
	ztoq__free(st);
}

/* The cache's free function for a statement's entry. */
static void free_entry(ztoq__cache_entry *e)
{
	free_stmt(ZTOQ__CACHE_OBJECT(e, ztoq_stmt, entry));
}

/* ---- how SQLite's driver runs a statement --------------------------------------- */

/* A token of SQL text: a word (keyword or bare name), a quoted string or name, or one
 * other character; comments are skipped. `depth` counts the parentheses open. */
struct ztoq__stmt_scan {
	const char *pos, *end; /* what is left of the text */
	const char *tok;       /* the current token */
	size_t len;            /* its length, 0 at the end of the text */
	int word;              /* it is a word */
	int depth;             /* parentheses open after it */
};

/* A byte of a bare name; a byte >= 0x80 is one of a UTF-8 letter SQLite accepts. */
static int is_name_byte(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || (c & 0x80);
}

/* Moves `sc` to its next token; returns its length, 0 at the end. */
static size_t scan_next(struct ztoq__stmt_scan *sc)
{
	const char *p = sc->pos, *e = sc->end, *q;

	for (;;) {
		if (p < e && isspace((unsigned char)*p)) {
			p++;
		} else if (e - p >= 2 && p[0] == '-' && p[1] == '-') {
			q = memchr(p, '\n', (size_t)(e - p));
			p = q ? q : e;
		} else if (e - p >= 2 && p[0] == '/' && p[1] == '*') {
			for (p += 2; p < e && !(e - p >= 2 && p[0] == '*' && p[1] == '/'); p++)
				;
			p = p < e ? p + 2 : e;
		} else {
			break;
		}
	}
	sc->tok = p;
	sc->word = 0;
	if (p == e) {
		sc->len = 0;
	} else if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
		char close = *p == '[' ? ']' : *p;

		/* a doubled quote is one inside the string or name */
		for (q = p + 1; (q = memchr(q, close, (size_t)(e - q))) && q + 1 < e &&
				close != ']' && q[1] == close;
		     q += 2)
			;
		sc->len = (size_t)((q ? q + 1 : e) - p);
	} else if (is_name_byte((unsigned char)*p)) {
		for (q = p + 1; q < e && is_name_byte((unsigned char)*q); q++)
			;
		sc->len = (size_t)(q - p);
		sc->word = 1;
	} else {
		sc->len = 1;
		sc->depth += (*p == '(') - (*p == ')');
	}
	sc->pos = p + sc->len;
	return sc->len;
}

/* 1 when the current token is one of the `|`-separated keywords. */
static int is_one_of(const struct ztoq__stmt_scan *sc, const char *keywords)
{
	if (!sc->word)
		return 0;
	for (const char *k = keywords; *k; k += strcspn(k, "|") + (k[strcspn(k, "|")] != 0))
		if (strcspn(k, "|") == sc->len && strncasecmp(sc->tok, k, sc->len) == 0)
			return 1;
	return 0;
}

/* 1 when the current token is the character `c`. */
static int is_char(const struct ztoq__stmt_scan *sc, char c)
{
	return sc->len == 1 && !sc->word && sc->tok[0] == c;
}

/* From a '(' to the token after its ')'; 0 when the text ends first. */
static size_t skip_group(struct ztoq__stmt_scan *sc)
{
	int outer = sc->depth - 1;

	while (scan_next(sc) && !(is_char(sc, ')') && sc->depth == outer))
		;
	return sc->len ? scan_next(sc) : 0;
}

/*
 * After WITH: skips `[RECURSIVE] name [(columns)] AS [NOT] [MATERIALIZED] (...)
 * [, ...]` and stops on the word that follows, the statement's verb. 0 when the text
 * is not of that form.
 */
static int skip_ctes(struct ztoq__stmt_scan *sc)
{
	if (scan_next(sc) && is_one_of(sc, "recursive"))
		scan_next(sc);
	for (;;) {
		if (!sc->len || is_char(sc, '(') || is_char(sc, ')') || is_char(sc, ','))
			return 0; /* not a name */
		if (scan_next(sc) && is_char(sc, '(') && !skip_group(sc))
			return 0;
		if (!is_one_of(sc, "as"))
			return 0;
		if (scan_next(sc) && is_one_of(sc, "not"))
			scan_next(sc);
		if (is_one_of(sc, "materialized"))
			scan_next(sc);
		if (!is_char(sc, '(') || !skip_group(sc))
			return 0;
		if (!is_char(sc, ','))
			return sc->word;
		scan_next(sc);
	}
}

#define WRITE_VERBS "insert|update|delete|replace"

/* No-op CTE put before a write with RETURNING and a VALUES query (see below). */
static const char query_prefix[] = "WITH ztoq__query(x) AS (SELECT 1) ";

/*
 * Measured with the SQLite driver 0.9998 (docs/design.md): it decides how to run a
 * statement from its first keyword alone. One that starts with SELECT, PRAGMA,
 * EXPLAIN or WITH is stepped only at the first fetch (without parameters, outside the
 * driver's own transactions), so a PRAGMA assignment or a write with a CTE, which
 * have no result columns, never ran; its SQLRowCount is always 0. Any other statement
 * runs at execute and its rows are dropped, so INSERT ... RETURNING lost its rows,
 * and so did a VALUES query.
 *
 * So: PRAGMA and writes that start with WITH get a static cursor, which makes the
 * driver run them at execute (their rows, if any, kept in memory); so does a WITH
 * whose verb is not found (nothing is left to a fetch that may never come). A write
 * with RETURNING gets a no-op WITH in front too, so its rows are kept, and so does a
 * VALUES query, which then streams like a SELECT; the rows such a write changed are
 * read with changes(). Other statements are left as they were: a SELECT still
 * streams. The verb of a WITH is the word after its CTE list, at depth 0.
 */
int ztoq__stmt_plan_sqlite(struct ztoq__sqlite_plan *plan, const char *sql, size_t len)
{
	struct ztoq__stmt_scan sc = {sql, sql + len, sql, 0, 0, 0};
	int with, pragma, values, write, read = 1, returning = 0;

	memset(plan, 0, sizeof(*plan));
	scan_next(&sc);
	with = is_one_of(&sc, "with");
	pragma = is_one_of(&sc, "pragma");
	values = is_one_of(&sc, "values");
	if (with)
		read = skip_ctes(&sc) && is_one_of(&sc, "select|values");
	write = is_one_of(&sc, WRITE_VERBS);
	while (write && !returning && scan_next(&sc))
		returning = sc.depth == 0 && is_one_of(&sc, "returning");
	if ((returning || values) && !with) {
		if (!(plan->text = ztoq__malloc(sizeof(query_prefix) + len)))
			return ztoq__error_nomem();
		memcpy(plan->text, query_prefix, sizeof(query_prefix) - 1);
		memcpy(plan->text + sizeof(query_prefix) - 1, sql, len);
		plan->text[sizeof(query_prefix) - 1 + len] = '\0';
		with = 1;
	}
	plan->count_changes = write && with;
	plan->static_cursor = plan->count_changes || pragma || (with && !read);
	return ZTOQ_OK;
}

int ztoq__stmt_static_cursor(SQLHSTMT h)
{
	return SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_CURSOR_TYPE,
					    (SQLPOINTER)SQL_CURSOR_STATIC, 0));
}

/* Plans `st` for the SQLite driver; called once per statement, before it is prepared. */
static int plan_sqlite(ztoq_stmt *st, const char *sql)
{
	struct ztoq__sqlite_plan plan;
	int code;

	if ((code = ztoq__stmt_plan_sqlite(&plan, sql, strlen(sql))) < 0)
		return code;
	st->prepared = plan.text;
	st->count_changes = plan.count_changes;
	/* before SQLPrepare: the driver manager refuses the attribute after it */
	if (plan.static_cursor && !ztoq__stmt_static_cursor(st->handle))
		return stmt_error(st, "cannot ask for a static cursor");
	return ZTOQ_OK;
}

/* Gives the driver the statement's text: its SQLite rewrite when it has one. */
static SQLRETURN driver_prepare(ztoq_stmt *st)
{
	return SQLPrepare(st->handle, (SQLCHAR *)(st->prepared ? st->prepared : st->sql), SQL_NTS);
}

static int new_stmt(ztoq_stmt **out, ztoq_session *s, const char *sql, unsigned long hash)
{
	ztoq__conn *c = s->conn;
	ztoq_stmt *st;
	int code;

	if (!(st = ztoq__calloc(1, sizeof(*st))) || !(st->sql = ztoq__strdup(sql))) {
		ztoq__free(st);
		return ztoq__error_nomem();
	}
	st->conn = c;
	st->session = s;
	st->entry.sql = st->sql;
	st->entry.hash = hash;
	st->entry.free = free_entry;
	st->ncolumns = -1;
	st->changes = -1;
	if ((code = ztoq__conn_alloc_stmt(c, &st->handle)) < 0 ||
	    (c->dialect->plan_statements && (code = plan_sqlite(st, sql)) < 0)) {
		free_stmt(st);
		return code;
	}
	if (!SQL_SUCCEEDED(driver_prepare(st))) {
		code = stmt_error(st, "cannot prepare");
		free_stmt(st);
		return code;
	}
	ztoq__stmt_cache_add(&c->stmts, &st->entry, CACHE_IDLE_MAX);
	*out = st;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_prepare(ztoq_stmt **out, ztoq_session *s, const char *sql)
{
	ztoq__cache_entry *e;
	unsigned long hash;
	ztoq_stmt *st = NULL;
	int code;

	if (!out || !s || !sql)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_stmt_prepare: bad arguments");
	*out = NULL;
	if ((code = ztoq__session_check(s)) < 0)
		return code;
	hash = ztoq__stmt_cache_hash(sql);
	if ((e = ztoq__stmt_cache_find(&s->conn->stmts, sql, hash)) != NULL)
		st = ZTOQ__CACHE_OBJECT(e, ztoq_stmt, entry);
	else if ((code = new_stmt(&st, s, sql, hash)) < 0)
		return code;
	st->session = s;
	st->entry.in_use = 1;
	s->live_stmts++; /* bound to s->conn until finalized: the session does not route */
	*out = st;
	return ZTOQ_OK;
}

/* Closes the open result; `finished` says every row was fetched. */
static void close_cursor(ztoq_stmt *st, int finished)
{
	if (!st->cursor_open)
		return;
	SQLFreeStmt(st->handle, SQL_CLOSE);
	st->cursor_open = 0;
	/*
	 * The SQLite driver (StepAPI=1) does not reset a statement closed before its last
	 * row: the next execute would go on where this read stopped, and the read lock
	 * stays. SQLCancel would reset it but interrupts every statement of the
	 * connection; preparing again finalizes just this one. A result read to its end
	 * needs none of it. Should the prepare fail, the next execute prepares again and
	 * reports that failure (executing would only give HY010, for good).
	 */
	if (!finished && st->conn->dialect->reset_needs_prepare) {
		st->unprepared = !SQL_SUCCEEDED(driver_prepare(st));
		st->params_moved = 1;
	}
}

ZTOQ_EXTERN(void) ztoq_stmt_finalize(ztoq_stmt *st)
{
	ztoq_session *s;

	if (!st)
		return;
	s = st->session;
	s->live_stmts--;
	close_cursor(st, 0);
	if (st->unprepared) {
		/* not reset (its prepare again failed): it would keep its read lock in the cache */
		ztoq__stmt_cache_drop(&st->conn->stmts, &st->entry);
	} else {
		ztoq_stmt_clear_bindings(st);
		ztoq__stmt_cache_release(&st->conn->stmts, &st->entry);
	}
	ztoq__session_return_replica(s); /* the last statement of an ended routed tx */
}

/* ---- parameters ----------------------------------------------------------------- */

static struct ztoq__stmt_param *param_slot(ztoq_stmt *st, unsigned idx)
{
	if (idx == 0 || idx > 32767) {
		ztoq__error_set(ZTOQ_EINVALID, "parameter index %u is out of range", idx);
		return NULL;
	}
	if (idx > st->params_cap) {
		unsigned cap = st->params_cap ? st->params_cap : 8;
		struct ztoq__stmt_param *p;

		while (cap < idx)
			cap *= 2;
		if (!(p = ztoq__realloc(st->params, cap * sizeof(*p)))) {
			ztoq__error_nomem();
			return NULL;
		}
		memset(p + st->params_cap, 0, (cap - st->params_cap) * sizeof(*p));
		st->params = p;
		st->params_cap = cap;
		st->params_moved = 1;
	}
	if (idx > st->nparams)
		st->nparams = idx;
	return &st->params[idx - 1];
}

static int copy_bytes(struct ztoq__stmt_param *p, const void *data, size_t len)
{
	if (len + 1 > p->cap) {
		char *b = ztoq__realloc(p->bytes, len + 1);
		if (!b)
			return ztoq__error_nomem();
		p->bytes = b;
		p->cap = len + 1;
	}
	if (len)
		memcpy(p->bytes, data, len);
	p->bytes[len] = '\0';
	p->len = len;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_bind(ztoq_stmt *st, unsigned idx, const ztoq_value *value)
{
	struct ztoq__stmt_param *p;
	int code;

	if (!st || !value)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_stmt_bind: bad arguments");
	if (!(p = param_slot(st, idx)))
		return ztoq_error_last()->code;
	switch (value->type) {
	case ZTOQ_TYPE_NULL:
		break;
	case ZTOQ_TYPE_BOOL:
		p->v.bit = value->v.boolean ? 1 : 0;
		break;
	case ZTOQ_TYPE_INT64:
		p->v.int64 = value->v.int64;
		break;
	case ZTOQ_TYPE_DOUBLE:
		p->v.real = value->v.real;
		break;
	case ZTOQ_TYPE_TEXT:
	case ZTOQ_TYPE_BLOB:
		if (!value->v.bytes.ptr && value->v.bytes.len)
			return ztoq__error_set(ZTOQ_EINVALID, "parameter %u: NULL data", idx);
		if ((code = copy_bytes(p, value->v.bytes.ptr, value->v.bytes.len)) < 0)
			return code;
		break;
	case ZTOQ_TYPE_TIMESTAMP:
		p->v.ts = ztoq__column_timestamp_to_sql(&value->v.ts);
		break;
	default:
		return ztoq__error_set(ZTOQ_EINVALID, "parameter %u: unknown type %d", idx,
				       (int)value->type);
	}
	p->type = value->type;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_null(ztoq_stmt *st, unsigned idx)
{
	return ztoq_stmt_bind(st, idx, &ZTOQ_NULL_VALUE);
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_bool(ztoq_stmt *st, unsigned idx, int value)
{
	return ztoq_stmt_bind(st, idx, &ZTOQ_BOOL(value));
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_int64(ztoq_stmt *st, unsigned idx, int64_t value)
{
	return ztoq_stmt_bind(st, idx, &ZTOQ_INT64(value));
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_double(ztoq_stmt *st, unsigned idx, double value)
{
	return ztoq_stmt_bind(st, idx, &ZTOQ_DOUBLE(value));
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_text(ztoq_stmt *st, unsigned idx, const char *text, size_t len)
{
	if (!text)
		return ztoq_stmt_bind_null(st, idx);
	return ztoq_stmt_bind(st, idx, &ZTOQ_TEXTN(text, len == SIZE_MAX ? strlen(text) : len));
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_blob(ztoq_stmt *st, unsigned idx, const void *data, size_t len)
{
	return ztoq_stmt_bind(st, idx, &ZTOQ_BLOB(data, len));
}

ZTOQ_EXTERN(int) ztoq_stmt_bind_timestamp(ztoq_stmt *st, unsigned idx, const ztoq_timestamp *ts)
{
	if (!ts)
		return ztoq_stmt_bind_null(st, idx);
	return ztoq_stmt_bind(st, idx, &ZTOQ_TIMESTAMP(*ts));
}

ZTOQ_EXTERN(int) ztoq_stmt_clear_bindings(ztoq_stmt *st)
{
	if (!st)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_stmt_clear_bindings: st is NULL");
	for (unsigned i = 0; i < st->nparams; i++)
		st->params[i].type = ZTOQ_TYPE_NULL;
	return ZTOQ_OK;
}

/* Tells the driver where parameter `i` is, if that changed since the last execute. */
static int bind_param(ztoq_stmt *st, unsigned i)
{
	struct ztoq__stmt_param *p = &st->params[i];
	SQLSMALLINT ctype, sqltype, digits = 0;
	SQLULEN size = 0;
	SQLPOINTER ptr;
	SQLLEN buflen = 0;

	switch (p->type) {
	case ZTOQ_TYPE_BOOL:
		ctype = SQL_C_BIT, sqltype = SQL_BIT, ptr = &p->v.bit, size = 1;
		p->ind = 0;
		break;
	case ZTOQ_TYPE_INT64:
		ctype = SQL_C_SBIGINT, sqltype = SQL_BIGINT, ptr = &p->v.int64, size = 19;
		p->ind = 0;
		break;
	case ZTOQ_TYPE_DOUBLE:
		ctype = SQL_C_DOUBLE, sqltype = SQL_DOUBLE, ptr = &p->v.real, size = 15;
		p->ind = 0;
		break;
	case ZTOQ_TYPE_TEXT:
	case ZTOQ_TYPE_BLOB:
		ctype = p->type == ZTOQ_TYPE_TEXT ? SQL_C_CHAR : SQL_C_BINARY;
		sqltype = p->type == ZTOQ_TYPE_TEXT ? SQL_VARCHAR : SQL_VARBINARY;
		ptr = p->bytes, buflen = (SQLLEN)p->len, size = p->len ? p->len : 1;
		p->ind = (SQLLEN)p->len;
		/* a larger column size than needed is harmless; rebind only to grow it */
		if (p->bound_type == p->type && p->bound_ptr == ptr && size <= p->bound_size &&
		    !st->params_moved)
			return ZTOQ_OK;
		break;
	case ZTOQ_TYPE_TIMESTAMP:
		ctype = SQL_C_TYPE_TIMESTAMP, sqltype = SQL_TYPE_TIMESTAMP, ptr = &p->v.ts;
		size = 29, digits = 9;
		p->ind = 0;
		break;
	default:
		ctype = SQL_C_CHAR, sqltype = SQL_VARCHAR, ptr = NULL, size = 1;
		p->ind = SQL_NULL_DATA;
		break;
	}
	if (p->bound_type == p->type && p->bound_ptr == ptr && !st->params_moved &&
	    p->type != ZTOQ_TYPE_TEXT && p->type != ZTOQ_TYPE_BLOB)
		return ZTOQ_OK;
	if (!SQL_SUCCEEDED(SQLBindParameter(st->handle, (SQLUSMALLINT)(i + 1), SQL_PARAM_INPUT,
					    ctype, sqltype, size, digits, ptr, buflen, &p->ind)))
		return stmt_error(st, "cannot bind a parameter");
	p->bound_type = p->type;
	p->bound_ptr = ptr;
	p->bound_size = size;
	return ZTOQ_OK;
}

/* ---- execution and results ------------------------------------------------------ */

/* Describes the executed result of `st` into its columns and their value buffers. */
static int describe(ztoq_stmt *st)
{
	ztoq__column_reader r = reader_of(st);
	unsigned n;
	int code;

	if ((code = ztoq__column_describe(&r, &st->columns, &n)) < 0)
		return code;
	if (!(st->values = ztoq__calloc((size_t)n + 1, sizeof(*st->values)))) {
		ztoq__column_free(st->columns, n);
		st->columns = NULL;
		return ztoq__error_nomem();
	}
	st->ncolumns = (int)n;
	return ZTOQ_OK;
}

int ztoq__stmt_scalar(ztoq_session *s, const char *sql, const ztoq_value *params,
		      size_t nparams, int64_t *out, int *is_null)
{
	ztoq_stmt *st;
	int code, columns;

	if (!out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_scalar: out is NULL");
	*out = 0;
	if (is_null)
		*is_null = 1;
	if ((code = ztoq__stmt_prepare_bound(&st, s, sql, params, nparams)) < 0)
		return code;
	if ((code = ztoq_stmt_execute(st)) == ZTOQ_OK && (columns = ztoq_stmt_column_count(st)) != 1)
		code = ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_scalar: the query returns %d "
						      "columns, not one: %.200s", columns, sql);
	if (code == ZTOQ_OK && (code = ztoq_stmt_fetch(st)) == ZTOQ_DONE)
		code = ztoq__error_set(ZTOQ_ENOTFOUND, "ztoq_session_scalar: the query returned no "
						       "row: %.200s", sql);
	if (code == ZTOQ_ROW && (code = ztoq_stmt_get_int64(st, 0, out, is_null)) == ZTOQ_OK &&
	    (code = ztoq_stmt_fetch(st)) == ZTOQ_ROW)
		code = ztoq__error_set(ZTOQ_ERROR, "ztoq_session_scalar: the query returned more "
						   "than one row: %.200s", sql);
	ztoq_stmt_finalize(st);
	return code == ZTOQ_DONE ? ZTOQ_OK : code;
}

/*
 * SQLite: the rows the write just run changed (count_changes; it ran at execute).
 * The write is applied (and in autocommit committed) whatever happens here, so a
 * failure of this extra query leaves the count unknown (-1) instead of reporting the
 * write as failed (a caller that retried it would apply it twice): it neither fails
 * the open transaction (which would roll the write back) nor becomes the last error.
 */
static void read_changes(ztoq_stmt *st)
{
	ztoq_session *s = st->session;
	int failed = s->failed;
	int64_t changes;

	ztoq__error_hold();
	if (ztoq__stmt_scalar(s, "SELECT changes()", NULL, 0, &changes, NULL) == ZTOQ_OK)
		st->changes = changes;
	s->failed = failed;
	ztoq__error_release();
}

/*
 * ZTOQ_ESTATE (set) when `st` was prepared on a connection its session no longer runs
 * on: in a read-only transaction routed to a replica, which has ended since. Running
 * it there would put it outside the session's current transaction. Finalizing it
 * still works (and gives the replica's connection back). `fn` names the caller.
 */
static int check_conn(const ztoq_stmt *st, const char *fn)
{
	if (st->conn == st->session->conn)
		return ZTOQ_OK;
	return ztoq__error_set(ZTOQ_ESTATE, "%s: prepared in a read-only transaction that ran "
			       "on a replica, which has ended: prepare it again", fn);
}

ZTOQ_EXTERN(int) ztoq_stmt_execute(ztoq_stmt *st)
{
	SQLRETURN rc;
	int code;

	if (!st || !st->entry.in_use)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_stmt_execute: not a prepared statement");
	if ((code = check_conn(st, "ztoq_stmt_execute")) < 0 ||
	    (code = ztoq__session_check(st->session)) < 0)
		return code;
	close_cursor(st, 0);
	if (st->unprepared) {
		if (!SQL_SUCCEEDED(driver_prepare(st)))
			return stmt_error(st, "cannot prepare");
		st->unprepared = 0;
	}
	for (unsigned i = 0; i < st->nparams; i++)
		if ((code = bind_param(st, i)) < 0)
			return code;
	st->params_moved = 0;
	st->changes = -1;
	rc = ztoq__conn_execute(st->conn, st->handle, NULL, 0);
	if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA)
		return stmt_error(st, "execute failed");
	if (st->ncolumns < 0) {
		if ((code = describe(st)) < 0) {
			/* the driver's result is open (psqlODBC: the next execute gets HY010) */
			st->cursor_open = 1;
			close_cursor(st, 0);
			return code;
		}
	}
	st->cursor_open = st->ncolumns > 0;
	if (st->count_changes)
		read_changes(st);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_fetch(ztoq_stmt *st)
{
	ztoq__column_reader r;
	SQLRETURN rc;
	int code;

	if (!st || !st->entry.in_use)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_stmt_fetch: not a prepared statement");
	if ((code = check_conn(st, "ztoq_stmt_fetch")) < 0)
		return code;
	if (!st->cursor_open)
		return ZTOQ_DONE;
	rc = ztoq__conn_fetch(st->conn, st->handle); /* SQLite computes rows as they are fetched */
	if (rc == SQL_NO_DATA) {
		close_cursor(st, 1);
		return ZTOQ_DONE;
	}
	if (!SQL_SUCCEEDED(rc))
		return stmt_error(st, "fetch failed");
	r = reader_of(st);
	for (int i = 0; i < st->ncolumns; i++) {
		struct ztoq__stmt_value *v = &st->values[i];

		if ((code = ztoq__column_read(&r, (SQLUSMALLINT)(i + 1), &st->columns[i], &v->v,
					      &v->text, &v->is_null, "cannot read a column")) < 0)
			return code;
	}
	return ZTOQ_ROW;
}

ZTOQ_EXTERN(int64_t) ztoq_stmt_rows_affected(const ztoq_stmt *st)
{
	SQLLEN count = -1;

	if (st && st->entry.in_use && st->count_changes)
		return st->changes;
	/* asked of the driver only when wanted: a driver call fewer per execute */
	if (!st || !st->entry.in_use || !SQL_SUCCEEDED(SQLRowCount(st->handle, &count)))
		return -1;
	return count;
}

ZTOQ_EXTERN(int) ztoq_stmt_column_count(const ztoq_stmt *st)
{
	return (st && st->ncolumns > 0) ? st->ncolumns : 0;
}

ZTOQ_EXTERN(const char *) ztoq_stmt_column_name(const ztoq_stmt *st, unsigned col)
{
	if (!st || (int)col >= ztoq_stmt_column_count(st))
		return NULL;
	return st->columns[col].name;
}

ZTOQ_EXTERN(int) ztoq_stmt_column_index(const ztoq_stmt *st, const char *name)
{
	for (int i = 0; name && i < ztoq_stmt_column_count(st); i++)
		if (strcasecmp(st->columns[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- getters -------------------------------------------------------------------- */

/* The value for a getter, with NULL handled: returns NULL when there is no value. */
static struct ztoq__stmt_value *value_of(ztoq_stmt *st, unsigned col, int *is_null, int *code)
{
	*code = ZTOQ_OK;
	if (!st || (int)col >= ztoq_stmt_column_count(st)) {
		*code = ztoq__error_set(ZTOQ_EINVALID, "column %u does not exist", col);
		return NULL;
	}
	if (is_null)
		*is_null = st->values[col].is_null;
	return st->values[col].is_null ? NULL : &st->values[col];
}

/* The type of column `col`, which value_of() found. */
static ztoq_type type_of(const ztoq_stmt *st, unsigned col)
{
	return st->columns[col].type;
}

static int not_convertible(const ztoq_stmt *st, unsigned col, const char *to)
{
	const char *text = st->values[col].text.data;

	return ztoq__error_set(ZTOQ_EINVALID, "column %s: \"%.40s\" is not %s",
			       st->columns[col].name, text ? text : "", to);
}

/* Column `col` as a number (see ztoq__column_number), with *is_null set. */
static int numeric(ztoq_stmt *st, unsigned col, int whole, int64_t *i, double *d, int *is_null)
{
	int code;
	const struct ztoq__stmt_value *c = value_of(st, col, is_null, &code);
	ztoq_value v;

	*i = 0;
	*d = 0;
	if (!c || (code = ztoq_stmt_get_value(st, col, &v)) < 0)
		return code;
	if (ztoq__column_number(&v, whole, i, d) < 0)
		return not_convertible(st, col, whole ? "a whole number" : "a number");
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_get_int64(ztoq_stmt *st, unsigned col, int64_t *out, int *is_null)
{
	double ignored;

	return numeric(st, col, 1, out, &ignored, is_null);
}

ZTOQ_EXTERN(int) ztoq_stmt_get_double(ztoq_stmt *st, unsigned col, double *out, int *is_null)
{
	int64_t ignored;

	return numeric(st, col, 0, &ignored, out, is_null);
}

ZTOQ_EXTERN(int) ztoq_stmt_get_bool(ztoq_stmt *st, unsigned col, int *out, int *is_null)
{
	int code;
	const struct ztoq__stmt_value *c = value_of(st, col, is_null, &code);
	const char *text;

	*out = 0;
	if (!c)
		return code;
	if (type_of(st, col) == ZTOQ_TYPE_TEXT) {
		/* PostgreSQL booleans arrive as text by default */
		text = c->text.data;
		if (strcmp(text, "1") == 0 || strcasecmp(text, "t") == 0 ||
		    strcasecmp(text, "true") == 0)
			*out = 1;
		else if (strcmp(text, "0") != 0 && strcasecmp(text, "f") != 0 &&
			 strcasecmp(text, "false") != 0)
			return not_convertible(st, col, "a boolean");
		return ZTOQ_OK;
	}
	if (type_of(st, col) == ZTOQ_TYPE_BOOL || type_of(st, col) == ZTOQ_TYPE_INT64) {
		*out = c->v.int64 != 0;
		return ZTOQ_OK;
	}
	return not_convertible(st, col, "a boolean");
}

/* Renders a non-text value of `type` as text into its buffer. */
static int render_text(struct ztoq__stmt_value *c, ztoq_type type)
{
	char tmp[64];
	const SQL_TIMESTAMP_STRUCT *t = &c->v.ts;
	int n, code;

	switch (type) {
	case ZTOQ_TYPE_BOOL:
	case ZTOQ_TYPE_INT64:
		n = snprintf(tmp, sizeof(tmp), "%" PRId64, c->v.int64);
		break;
	case ZTOQ_TYPE_DOUBLE:
		n = snprintf(tmp, sizeof(tmp), "%.17g", c->v.real);
		break;
	case ZTOQ_TYPE_TIMESTAMP:
		n = snprintf(tmp, sizeof(tmp), "%04d-%02u-%02u %02u:%02u:%02u.%06lu", t->year,
			     t->month, t->day, t->hour, t->minute, t->second,
			     (unsigned long)(t->fraction / 1000));
		break;
	default:
		return ZTOQ_OK;
	}
	c->text.len = 0;
	if ((code = ztoq__column_reserve(&c->text, (size_t)n + 1)) < 0)
		return code;
	memcpy(c->text.data, tmp, (size_t)n + 1);
	c->text.len = (size_t)n;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_get_text(ztoq_stmt *st, unsigned col, const char **out, size_t *len,
				    int *is_null)
{
	int code;
	struct ztoq__stmt_value *c = value_of(st, col, is_null, &code);

	*out = NULL;
	if (len)
		*len = 0;
	if (!c)
		return code;
	if (type_of(st, col) == ZTOQ_TYPE_BLOB)
		return not_convertible(st, col, "text");
	if ((code = render_text(c, type_of(st, col))) < 0)
		return code;
	*out = c->text.data ? c->text.data : "";
	if (len)
		*len = c->text.len;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_get_blob(ztoq_stmt *st, unsigned col, const void **out, size_t *len,
				    int *is_null)
{
	int code;
	const struct ztoq__stmt_value *c = value_of(st, col, is_null, &code);

	*out = NULL;
	*len = 0;
	if (!c)
		return code;
	if (type_of(st, col) != ZTOQ_TYPE_BLOB && type_of(st, col) != ZTOQ_TYPE_TEXT)
		return not_convertible(st, col, "a blob");
	*out = c->text.data ? c->text.data : "";
	*len = c->text.len;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_get_timestamp(ztoq_stmt *st, unsigned col, ztoq_timestamp *out,
					 int *is_null)
{
	int code;
	const struct ztoq__stmt_value *c = value_of(st, col, is_null, &code);

	memset(out, 0, sizeof(*out));
	if (!c)
		return code;
	if (type_of(st, col) != ZTOQ_TYPE_TIMESTAMP)
		return not_convertible(st, col, "a timestamp");
	*out = ztoq__column_timestamp_from_sql(&c->v.ts);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_stmt_get_value(ztoq_stmt *st, unsigned col, ztoq_value *out)
{
	int code, is_null;
	const struct ztoq__stmt_value *c = value_of(st, col, &is_null, &code);

	*out = ZTOQ_NULL_VALUE;
	if (!c)
		return code;
	ztoq__column_value(out, type_of(st, col), &c->v, c->text.data, c->text.len);
	return ZTOQ_OK;
}

/* Prepares (cached) and binds `nparams` values. */
int ztoq__stmt_prepare_bound(ztoq_stmt **out, ztoq_session *s, const char *sql,
			     const ztoq_value *params, size_t nparams)
{
	int code;

	if ((code = ztoq_stmt_prepare(out, s, sql)) < 0)
		return code;
	for (size_t i = 0; i < nparams && code == ZTOQ_OK; i++)
		code = ztoq_stmt_bind(*out, (unsigned)(i + 1), &params[i]);
	if (code < 0) {
		ztoq_stmt_finalize(*out);
		*out = NULL;
	}
	return code;
}
