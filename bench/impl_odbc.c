/*
 * impl_odbc.c - the workloads written directly against ODBC: the same drivers and the
 * same connection string as libztoq, no layer in between. The floor for any ODBC
 * library.
 */
#include <pthread.h>
#include <sql.h>
#include <sqlext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void die_odbc(SQLSMALLINT type, SQLHANDLE h, const char *what)
{
	SQLCHAR state[6] = "", msg[512] = "";
	SQLINTEGER native;
	SQLSMALLINT len;

	SQLGetDiagRec(type, h, 1, state, &native, msg, sizeof(msg), &len);
	bench_die("%s: [%s] %s", what, state, msg);
}

#define OK_STMT(h, call) \
	do { \
		SQLRETURN rc_ = (call); \
		if (!SQL_SUCCEEDED(rc_) && rc_ != SQL_NO_DATA) \
			die_odbc(SQL_HANDLE_STMT, h, #call); \
	} while (0)

/* The SQLite driver corrupts memory when threads connect at once (docs/drivers.md). */
static pthread_mutex_t connect_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
	SQLHENV env;
	SQLHDBC dbc;
} conn;

static conn connect_to(const char *connstr)
{
	conn c;

	pthread_mutex_lock(&connect_lock);
	SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &c.env);
	SQLSetEnvAttr(c.env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
	SQLAllocHandle(SQL_HANDLE_DBC, c.env, &c.dbc);
	if (!SQL_SUCCEEDED(SQLDriverConnect(c.dbc, NULL, (SQLCHAR *)connstr, SQL_NTS, NULL, 0, NULL,
					    SQL_DRIVER_NOPROMPT)))
		die_odbc(SQL_HANDLE_DBC, c.dbc, "SQLDriverConnect");
	pthread_mutex_unlock(&connect_lock);
	return c;
}

static conn connect_ctx(const bench_ctx *ctx, const char *extra)
{
	char *base = bench_connstr(ctx), *full = malloc(strlen(base) + strlen(extra) + 1);
	conn c;

	strcpy(full, base);
	strcat(full, extra);
	c = connect_to(full);
	free(base);
	free(full);
	return c;
}

static void disconnect(conn c)
{
	pthread_mutex_lock(&connect_lock);
	SQLDisconnect(c.dbc);
	SQLFreeHandle(SQL_HANDLE_DBC, c.dbc);
	SQLFreeHandle(SQL_HANDLE_ENV, c.env);
	pthread_mutex_unlock(&connect_lock);
}

static void exec_sql(conn c, const char *sql)
{
	SQLHSTMT st;

	SQLAllocHandle(SQL_HANDLE_STMT, c.dbc, &st);
	OK_STMT(st, SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS));
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

static void set_autocommit(conn c, int on)
{
	SQLSetConnectAttr(c.dbc, SQL_ATTR_AUTOCOMMIT,
			  (SQLPOINTER)(uintptr_t)(on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF),
			  SQL_IS_UINTEGER);
}

static void commit(conn c)
{
	if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, c.dbc, SQL_COMMIT)))
		die_odbc(SQL_HANDLE_DBC, c.dbc, "commit");
}

static conn insert_setup(const bench_ctx *ctx)
{
	conn c = connect_ctx(ctx, "");

	exec_sql(c, "DROP TABLE IF EXISTS bench_insert");
	exec_sql(c, "CREATE TABLE bench_insert (id BIGINT PRIMARY KEY, name TEXT, "
		    "score DOUBLE PRECISION)");
	return c;
}

/*
 * Inserts ctx->insert_rows rows with a statement of `per_stmt` rows of parameters,
 * executed with `paramset` parameter sets (SQL_ATTR_PARAMSET_SIZE) each time.
 */
static int insert(const bench_ctx *ctx, bench_result *out, long per_stmt, long paramset)
{
	long slots = per_stmt * paramset, n = ctx->insert_rows;
	conn c = insert_setup(ctx);
	int64_t *ids = malloc((size_t)slots * sizeof(*ids));
	double *scores = malloc((size_t)slots * sizeof(*scores));
	char(*names)[32] = malloc((size_t)slots * sizeof(*names));
	SQLLEN *lens = malloc((size_t)slots * sizeof(*lens));
	char *sql = malloc((size_t)per_stmt * 16 + 64);
	SQLHSTMT st;
	double t0;

	strcpy(sql, "INSERT INTO bench_insert (id, name, score) VALUES ");
	for (long r = 0; r < per_stmt; r++)
		strcat(sql, r ? ", (?, ?, ?)" : "(?, ?, ?)");
	t0 = bench_now();
	set_autocommit(c, 0);
	SQLAllocHandle(SQL_HANDLE_STMT, c.dbc, &st);
	OK_STMT(st, SQLPrepare(st, (SQLCHAR *)sql, SQL_NTS));
	if (paramset > 1) {
		SQLSetStmtAttr(st, SQL_ATTR_PARAM_BIND_TYPE, SQL_PARAM_BIND_BY_COLUMN, 0);
		SQLSetStmtAttr(st, SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(uintptr_t)paramset, 0);
	}
	/* parameter r * 3 + k of set j lives at index j + r * paramset of its array */
	for (long r = 0; r < per_stmt; r++) {
		long at = r * paramset;
		SQLUSMALLINT p = (SQLUSMALLINT)(r * 3 + 1);

		OK_STMT(st, SQLBindParameter(st, p, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 19,
					     0, &ids[at], 0, NULL));
		OK_STMT(st, SQLBindParameter(st, p + 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 31,
					     0, names[at], 32, &lens[at]));
		OK_STMT(st, SQLBindParameter(st, p + 2, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 15,
					     0, &scores[at], 0, NULL));
	}
	for (long done = 0; done < n; done += slots) {
		if (n - done < slots)
			bench_die("row count %ld is not a multiple of %ld", n, slots);
		for (long j = 0; j < paramset; j++)
			for (long r = 0; r < per_stmt; r++) {
				long at = r * paramset + j, row = done + j * per_stmt + r;

				ids[at] = row;
				lens[at] = bench_name(names[at], 32, row);
				scores[at] = row * 0.5;
			}
		OK_STMT(st, SQLExecute(st));
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);
	commit(c);
	bench_done(out, t0, (double)n);
	disconnect(c);
	free(ids), free(scores), free(names), free(lens), free(sql);
	return 0;
}

int odbc_insert_row(const bench_ctx *ctx, bench_result *out)
{
	return insert(ctx, out, 1, 1);
}

int odbc_insert_array(const bench_ctx *ctx, bench_result *out)
{
	return insert(ctx, out, 1, 1000);
}

int odbc_insert_values(const bench_ctx *ctx, bench_result *out)
{
	return insert(ctx, out, ctx->backend == ZTOQ_DB_SQLITE ? 100 : 1000, 1);
}

/*
 * Block fetch of (id, name, score) in rowsets of `n` rows (ctx->read_batch, or 1: a
 * fetch per row); sums score. With `cursor` (PostgreSQL), what ztoq's stream does, by
 * hand: in a transaction, DECLARE a cursor and run FETCH FORWARD n, one block fetch
 * each, until one returns no row.
 */
static int read_block(const bench_ctx *ctx, bench_result *out, const char *extra, int cursor,
		      size_t n)
{
	int64_t *ids = malloc(n * sizeof(*ids));
	double *scores = malloc(n * sizeof(*scores)), sum = 0;
	char(*names)[32] = malloc(n * sizeof(*names));
	SQLLEN *li = malloc(n * sizeof(SQLLEN)), *ln = malloc(n * sizeof(SQLLEN)),
	       *ls = malloc(n * sizeof(SQLLEN));
	SQLULEN fetched = 0;
	SQLRETURN rc;
	SQLHSTMT st;
	long rows = 0, got;
	char fetch[64];
	double t0 = bench_now();
	conn c = connect_ctx(ctx, extra);

	SQLAllocHandle(SQL_HANDLE_STMT, c.dbc, &st);
	SQLSetStmtAttr(st, SQL_ATTR_ROW_ARRAY_SIZE, (SQLPOINTER)(uintptr_t)n, 0);
	SQLSetStmtAttr(st, SQL_ATTR_ROWS_FETCHED_PTR, &fetched, 0);
	SQLBindCol(st, 1, SQL_C_SBIGINT, ids, 0, li);
	SQLBindCol(st, 2, SQL_C_CHAR, names, 32, ln);
	SQLBindCol(st, 3, SQL_C_DOUBLE, scores, 0, ls);
	if (cursor) {
		set_autocommit(c, 0);
		exec_sql(c, "DECLARE bench_cur NO SCROLL CURSOR FOR SELECT id, name, score FROM bench_read");
		snprintf(fetch, sizeof(fetch), "FETCH FORWARD %zu FROM bench_cur", n);
	}
	do {
		OK_STMT(st, SQLExecDirect(st, (SQLCHAR *)(cursor ? fetch
								  : "SELECT id, name, score FROM bench_read"),
					  SQL_NTS));
		got = 0;
		while ((rc = SQLFetch(st)) != SQL_NO_DATA) {
			if (!SQL_SUCCEEDED(rc))
				die_odbc(SQL_HANDLE_STMT, st, "SQLFetch");
			for (SQLULEN i = 0; i < fetched; i++)
				sum += scores[i];
			got += (long)fetched;
		}
		rows += got;
		SQLCloseCursor(st);
	} while (cursor && got > 0);
	if (cursor)
		commit(c);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
	bench_done(out, t0, (double)rows);
	if (rows != ctx->read_rows)
		bench_die("read %ld rows, expected %ld", rows, ctx->read_rows);
	disconnect(c);
	free(ids), free(scores), free(names), free(li), free(ln), free(ls);
	return 0;
}

int odbc_read_block(const bench_ctx *ctx, bench_result *out)
{
	char extra[64];

	/* psqlODBC buffers whole results unless it reads through a cursor */
	snprintf(extra, sizeof(extra), ";UseDeclareFetch=1;Fetch=%ld", ctx->read_batch);
	return read_block(ctx, out, ctx->backend == ZTOQ_DB_POSTGRESQL ? extra : "", 0,
			  (size_t)ctx->read_batch);
}

/*
 * SQLite: a fetch per row into the bound buffers, the only lossless way through its
 * driver when a text value may be longer than its buffer (a truncated value in a block
 * cannot be read again: the driver refuses SQLSetPos on a forward-only cursor).
 */
int odbc_read_rowwise(const bench_ctx *ctx, bench_result *out)
{
	return read_block(ctx, out, "", 0, 1);
}

int odbc_read_cursor(const bench_ctx *ctx, bench_result *out)
{
	return read_block(ctx, out, "", 1, (size_t)ctx->read_batch);
}

int odbc_read_buffered(const bench_ctx *ctx, bench_result *out)
{
	return read_block(ctx, out, "", 0, (size_t)ctx->read_batch);
}

/* ---- short transactions ---------------------------------------------------------- */

typedef struct {
	const bench_ctx *ctx;
	int thread;
	long count;
	conn c;
} worker;

static int ok(SQLRETURN rc)
{
	return SQL_SUCCEEDED(rc) || rc == SQL_NO_DATA;
}

/*
 * The statements of one read-then-update transaction. PostgreSQL: autocommit off and
 * SQLEndTran. SQLite: as libztoq does it, autocommit on and BEGIN IMMEDIATE / COMMIT in
 * SQL, because the driver's own transactions begin deferred and two read-then-write
 * transactions then deadlock on the lock upgrade (one fails at once, and is retried).
 */
typedef struct {
	conn c;
	SQLHSTMT sel, upd, begin, commit, rollback; /* begin..rollback: SQLite only */
	int64_t key, counter;
} txn;

static SQLHSTMT prepare(conn c, const char *sql)
{
	SQLHSTMT h;

	SQLAllocHandle(SQL_HANDLE_STMT, c.dbc, &h);
	OK_STMT(h, SQLPrepare(h, (SQLCHAR *)sql, SQL_NTS));
	return h;
}

/* Commits or rolls back; nonzero when that succeeded. */
static int end_txn(txn *t, int keep)
{
	if (t->begin)
		return ok(SQLExecute(keep ? t->commit : t->rollback));
	return SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, t->c.dbc, keep ? SQL_COMMIT : SQL_ROLLBACK));
}

/* One read-then-update transaction; 0 when it committed, -1 to retry (SQLite busy). */
static int read_update(txn *t)
{
	SQLLEN ind;

	if ((t->begin && !ok(SQLExecute(t->begin))) || !ok(SQLExecute(t->sel)) ||
	    !SQL_SUCCEEDED(SQLFetch(t->sel)) ||
	    !SQL_SUCCEEDED(SQLGetData(t->sel, 1, SQL_C_SBIGINT, &t->counter, 0, &ind)))
		goto fail;
	SQLFreeStmt(t->sel, SQL_CLOSE);
	t->counter++;
	if (ok(SQLExecute(t->upd)) && end_txn(t, 1))
		return 0;
fail:
	SQLFreeStmt(t->sel, SQL_CLOSE);
	end_txn(t, 0);
	return -1;
}

static void run_txns(conn c, ztoq_db_type backend, int thread, long count)
{
	txn t = {c, SQL_NULL_HSTMT, SQL_NULL_HSTMT, SQL_NULL_HSTMT, SQL_NULL_HSTMT, SQL_NULL_HSTMT,
		 0, 0};
	long retries = 0;

	if (backend == ZTOQ_DB_SQLITE) {
		t.begin = prepare(c, "BEGIN IMMEDIATE");
		t.commit = prepare(c, "COMMIT");
		t.rollback = prepare(c, "ROLLBACK");
	} else {
		set_autocommit(c, 0);
	}
	t.sel = prepare(c, "SELECT counter FROM bench_txn WHERE id = ?");
	t.upd = prepare(c, "UPDATE bench_txn SET counter = ? WHERE id = ?");
	SQLBindParameter(t.sel, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 19, 0, &t.key, 0, NULL);
	SQLBindParameter(t.upd, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 19, 0, &t.counter, 0,
			 NULL);
	SQLBindParameter(t.upd, 2, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 19, 0, &t.key, 0, NULL);
	for (long i = 0; i < count; i++) {
		t.key = (thread * 7919L + i * 13L) % TXN_TABLE_ROWS;
		while (read_update(&t) < 0)
			if (++retries > 100000)
				die_odbc(SQL_HANDLE_STMT, t.upd, "too many retries");
	}
	SQLFreeHandle(SQL_HANDLE_STMT, t.sel);
	SQLFreeHandle(SQL_HANDLE_STMT, t.upd);
	if (t.begin) {
		SQLFreeHandle(SQL_HANDLE_STMT, t.begin);
		SQLFreeHandle(SQL_HANDLE_STMT, t.commit);
		SQLFreeHandle(SQL_HANDLE_STMT, t.rollback);
	}
}

static void *txn_worker(void *p)
{
	worker *w = p;

	run_txns(w->c, w->ctx->backend, w->thread, w->count);
	return NULL;
}

int odbc_txn(const bench_ctx *ctx, bench_result *out)
{
	worker w[64];
	double t0;

	/* one connection per thread, opened before the clock: the floor of any pool */
	for (int i = 0; i < ctx->threads; i++)
		w[i] = (worker){ctx, i, ctx->txns_per_thread, connect_ctx(ctx, "")};
	t0 = bench_now();
	bench_threads(ctx->threads, txn_worker, w, sizeof(w[0]));
	bench_done(out, t0, (double)ctx->threads * (double)ctx->txns_per_thread);
	for (int i = 0; i < ctx->threads; i++)
		disconnect(w[i].c);
	return 0;
}

int odbc_connect_new(const bench_ctx *ctx, bench_result *out)
{
	double t0 = bench_now();

	for (long i = 0; i < ctx->connect_txns; i++) {
		conn c = connect_ctx(ctx, "");
		run_txns(c, ctx->backend, 0, 1);
		disconnect(c);
	}
	bench_done(out, t0, (double)ctx->connect_txns);
	return 0;
}
