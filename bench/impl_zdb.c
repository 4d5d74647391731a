/*
 * impl_zdb.c - the workloads through libzdb 3.1 (Debian's libzdb-dev), the C
 * connection-pool library a user could pick instead of libztoq: its pool, its short
 * transactions (a connection taken from the pool per transaction, as ztoq does, and one
 * held by each thread), and a read of 1M rows in bounded memory.
 *
 * libzdb reports errors by exceptions (TRY/CATCH); here any one ends the measurement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zdb.h>

#include "bench.h"

/* Appends `s` to `buf` with every byte outside [A-Za-z0-9._-] %-escaped (URL rules). */
static void url_escape(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", c);
	}
	buf[n] = '\0';
}

/* A started pool of `max` connections, all open (like the others' warm pools). */
static ConnectionPool_T pool_open(const bench_ctx *ctx, int max, URL_T *url)
{
	char s[2048];
	ConnectionPool_T p;

	if (ctx->backend == ZTOQ_DB_SQLITE) {
		/* synchronous=normal: what the SQLite ODBC driver runs with (impl_native.c) */
		snprintf(s, sizeof(s), "sqlite://%s?synchronous=normal", ctx->sqlite_path);
	} else {
		snprintf(s, sizeof(s), "postgresql://%s:%s/%s?user=", ctx->pg_host, ctx->pg_port,
			 ctx->pg_database);
		url_escape(s, sizeof(s), ctx->pg_user);
		strncat(s, "&password=", sizeof(s) - strlen(s) - 1);
		url_escape(s, sizeof(s), ctx->pg_password);
	}
	if (!(*url = URL_new(s)))
		bench_die("libzdb: cannot parse the URL");
	p = ConnectionPool_new(*url);
	ConnectionPool_setInitialConnections(p, max);
	ConnectionPool_setMaxConnections(p, max);
	TRY
		ConnectionPool_start(p);
	CATCH(SQLException)
		bench_die("libzdb: start: %s", Exception_frame.message);
	END_TRY;
	return p;
}

static void pool_close(ConnectionPool_T *p, URL_T *url)
{
	ConnectionPool_free(p);
	URL_free(url);
}

/* A connection from `p`, waiting as long as it takes (libzdb returns NULL when full). */
static Connection_T take(ConnectionPool_T p)
{
	Connection_T c;

	while (!(c = ConnectionPool_getConnection(p)))
		;
	return c;
}

typedef struct {
	const bench_ctx *ctx;
	ConnectionPool_T pool;
	int thread;
	long count;
} worker_arg;

/* Runs `fn` on ctx->threads threads sharing a warm pool of as many connections. */
static int on_threads(const bench_ctx *ctx, void *(*fn)(void *), long count, bench_result *out)
{
	URL_T url;
	ConnectionPool_T p = pool_open(ctx, ctx->threads, &url);
	worker_arg args[64];
	double t0;

	for (int i = 0; i < ctx->threads; i++)
		args[i] = (worker_arg){ctx, p, i, count};
	t0 = bench_now();
	bench_threads(ctx->threads, fn, args, sizeof(args[0]));
	bench_done(out, t0, (double)ctx->threads * (double)count);
	pool_close(&p, &url);
	return 0;
}

/* ---- the short transaction: read one row by key, update it ------------------------ */

/*
 * One transaction on `c` (statements prepared by the caller). On SQLite it begins with
 * BEGIN IMMEDIATE, as every other peer's does: libzdb's own BEGIN is deferred, and two
 * readers that both want to write then fail with "database table is locked" instead of
 * waiting.
 */
static void read_update(const bench_ctx *ctx, Connection_T c, PreparedStatement_T sel,
			PreparedStatement_T upd, long key)
{
	int sqlite = ctx->backend == ZTOQ_DB_SQLITE;

	TRY
		ResultSet_T r;

		if (sqlite)
			Connection_execute(c, "BEGIN IMMEDIATE");
		else
			Connection_beginTransaction(c);
		PreparedStatement_setLLong(sel, 1, key);
		r = PreparedStatement_executeQuery(sel);
		if (!ResultSet_next(r))
			bench_die("libzdb: no row %ld", key);
		PreparedStatement_setLLong(upd, 1, ResultSet_getLLong(r, 1) + 1);
		/* to its end: an unfinished SQLite statement keeps its table locked past
		 * COMMIT in libzdb's shared-cache mode ("database table is locked") */
		if (ResultSet_next(r))
			bench_die("libzdb: two rows for %ld", key);
		PreparedStatement_setLLong(upd, 2, key);
		PreparedStatement_execute(upd);
		if (sqlite)
			Connection_execute(c, "COMMIT");
		else
			Connection_commit(c);
	CATCH(SQLException)
		bench_die("libzdb: transaction: %s", Exception_frame.message);
	END_TRY;
}

/* Prepares `sql` on `c`; any failure ends the measurement. */
static PreparedStatement_T prepare(Connection_T c, const char *sql)
{
	PreparedStatement_T volatile st = NULL;

	TRY
		st = Connection_prepareStatement(c, "%s", sql);
	CATCH(SQLException)
		bench_die("libzdb: prepare: %s", Exception_frame.message);
	END_TRY;
	return st;
}

#define SELECT_COUNTER "SELECT counter FROM bench_txn WHERE id = ?"
#define UPDATE_COUNTER "UPDATE bench_txn SET counter = ? WHERE id = ?"

/* A connection per transaction from the pool, as ztoq_db_transaction does. */
static void *txn_pooled_worker(void *p)
{
	worker_arg *w = p;

	for (long i = 0; i < w->count; i++) {
		Connection_T c = take(w->pool);

		/* libzdb has no statement cache: a statement lives until its connection
		 * goes back to the pool, so each transaction prepares again */
		read_update(w->ctx, c, prepare(c, SELECT_COUNTER), prepare(c, UPDATE_COUNTER),
			    (w->thread * 7919L + i * 13L) % TXN_TABLE_ROWS);
		Connection_close(c);
	}
	return NULL;
}

/* One connection held by each thread for all its transactions, statements prepared once. */
static void *txn_held_worker(void *p)
{
	worker_arg *w = p;
	Connection_T c = take(w->pool);
	PreparedStatement_T sel = prepare(c, SELECT_COUNTER), upd = prepare(c, UPDATE_COUNTER);

	for (long i = 0; i < w->count; i++)
		read_update(w->ctx, c, sel, upd, (w->thread * 7919L + i * 13L) % TXN_TABLE_ROWS);
	Connection_close(c);
	return NULL;
}

int zdb_txn(const bench_ctx *ctx, bench_result *out)
{
	return on_threads(ctx, txn_pooled_worker, ctx->txns_per_thread, out);
}

int zdb_txn_held(const bench_ctx *ctx, bench_result *out)
{
	return on_threads(ctx, txn_held_worker, ctx->txns_per_thread, out);
}

/* ---- the pool alone ---------------------------------------------------------------- */

static void *pool_worker(void *p)
{
	worker_arg *w = p;

	for (long i = 0; i < w->count; i++)
		Connection_close(take(w->pool));
	return NULL;
}

int zdb_pool_ops(const bench_ctx *ctx, bench_result *out)
{
	return on_threads(ctx, pool_worker, ctx->pool_ops, out);
}

/* ---- read 1M rows in bounded memory ---------------------------------------------- */

/* Sums the score of every row `r` gives; returns how many there were. */
static long sum_rows(ResultSet_T r, double *sum)
{
	long rows = 0;

	while (ResultSet_next(r)) {
		ResultSet_getLLong(r, 1);
		ResultSet_getString(r, 2);
		*sum += ResultSet_getDouble(r, 3);
		rows++;
	}
	return rows;
}

/*
 * libzdb 3.1 has no fetch size: a PostgreSQL query returns its whole result at once. In
 * bounded memory, a libzdb user reads through a cursor, 1,000 rows a FETCH, as libpq
 * does in impl_native.c's peer; SQLite steps row by row.
 */
int zdb_read(const bench_ctx *ctx, bench_result *out)
{
	URL_T url;
	ConnectionPool_T p = pool_open(ctx, 1, &url);
	Connection_T c = take(p);
	double sum = 0, t0 = bench_now();
	long rows = 0;

	TRY
		if (ctx->backend == ZTOQ_DB_SQLITE) {
			rows = sum_rows(Connection_executeQuery(c, "SELECT id, name, score FROM bench_read"),
					&sum);
		} else {
			long got;

			Connection_beginTransaction(c);
			Connection_execute(c, "DECLARE bench_cur NO SCROLL CURSOR FOR "
					      "SELECT id, name, score FROM bench_read");
			do {
				got = sum_rows(Connection_executeQuery(c, "FETCH %ld FROM bench_cur",
								       ctx->read_batch),
					       &sum);
				rows += got;
			} while (got > 0);
			Connection_commit(c);
		}
	CATCH(SQLException)
		bench_die("libzdb: read: %s", Exception_frame.message);
	END_TRY;
	bench_done(out, t0, (double)rows);
	Connection_close(c);
	pool_close(&p, &url);
	if (rows != ctx->read_rows || sum <= 0)
		bench_die("read %ld rows, expected %ld", rows, ctx->read_rows);
	return 0;
}
