/*
 * impl_native.c - the workloads through the native client libraries, sqlite3 and
 * libpq (prepared statements, COPY, single-row mode): the physical limit.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ---- sqlite3 ------------------------------------------------------------------------ */

static void lite_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		bench_die("%s: %s", sql, err);
}

static sqlite3 *lite_open(const bench_ctx *ctx)
{
	sqlite3 *db;

	if (sqlite3_open(ctx->sqlite_path, &db) != SQLITE_OK)
		bench_die("sqlite3_open: %s", sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 100000);
	/* as through the SQLite ODBC driver, where PRAGMA synchronous reads 1 (NORMAL): the
	 * same durability, so commits compare like for like (FULL, libsqlite3's default
	 * here, would fsync the WAL at every commit) */
	lite_exec(db, "PRAGMA synchronous = NORMAL");
	return db;
}

static sqlite3_stmt *lite_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		bench_die("%s: %s", sql, sqlite3_errmsg(db));
	return st;
}

/* ---- libpq -------------------------------------------------------------------------- */

static PGconn *pq_open(const bench_ctx *ctx)
{
	const char *keys[] = {"host", "port", "dbname", "user", "password", NULL};
	const char *vals[] = {ctx->pg_host, ctx->pg_port, ctx->pg_database, ctx->pg_user,
			      ctx->pg_password, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(c) != CONNECTION_OK)
		bench_die("PQconnectdbParams: %s", PQerrorMessage(c));
	return c;
}

static void pq_check(PGconn *c, PGresult *r, ExecStatusType want, const char *what)
{
	if (PQresultStatus(r) != want)
		bench_die("%s: %s", what, PQerrorMessage(c));
	PQclear(r);
}

static void pq_exec(PGconn *c, const char *sql)
{
	pq_check(c, PQexec(c, sql), PGRES_COMMAND_OK, sql);
}

#define INSERT_SQL "INSERT INTO bench_insert (id, name, score) VALUES "
#define CREATE_INSERT "CREATE TABLE bench_insert (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION)"

/* ---- workload 1 ----------------------------------------------------------------------- */

static int lite_insert_row(const bench_ctx *ctx, bench_result *out)
{
	sqlite3 *db = lite_open(ctx);
	sqlite3_stmt *st;
	char name[32];
	double t0;

	lite_exec(db, "DROP TABLE IF EXISTS bench_insert");
	lite_exec(db, CREATE_INSERT);
	t0 = bench_now();
	lite_exec(db, "BEGIN");
	st = lite_prepare(db, INSERT_SQL "(?, ?, ?)");
	for (long i = 0; i < ctx->insert_rows; i++) {
		int len = bench_name(name, sizeof(name), i);

		sqlite3_bind_int64(st, 1, i);
		sqlite3_bind_text(st, 2, name, len, SQLITE_TRANSIENT);
		sqlite3_bind_double(st, 3, i * 0.5);
		if (sqlite3_step(st) != SQLITE_DONE)
			bench_die("insert: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	lite_exec(db, "COMMIT");
	bench_done(out, t0, (double)ctx->insert_rows);
	sqlite3_close(db);
	return 0;
}

static int pq_insert_row(const bench_ctx *ctx, bench_result *out)
{
	PGconn *c = pq_open(ctx);
	char id[24], name[32], score[32];
	const char *vals[3] = {id, name, score};
	double t0;

	pq_exec(c, "DROP TABLE IF EXISTS bench_insert");
	pq_exec(c, CREATE_INSERT);
	t0 = bench_now();
	pq_exec(c, "BEGIN");
	pq_check(c, PQprepare(c, "ins", INSERT_SQL "($1, $2, $3)", 3, NULL), PGRES_COMMAND_OK,
		 "prepare");
	for (long i = 0; i < ctx->insert_rows; i++) {
		snprintf(id, sizeof(id), "%ld", i);
		bench_name(name, sizeof(name), i);
		snprintf(score, sizeof(score), "%.17g", i * 0.5);
		pq_check(c, PQexecPrepared(c, "ins", 3, vals, NULL, NULL, 0), PGRES_COMMAND_OK,
			 "insert");
	}
	pq_exec(c, "COMMIT");
	bench_done(out, t0, (double)ctx->insert_rows);
	PQfinish(c);
	return 0;
}

int native_insert_row(const bench_ctx *ctx, bench_result *out)
{
	return ctx->backend == ZTOQ_DB_SQLITE ? lite_insert_row(ctx, out) : pq_insert_row(ctx, out);
}

int native_insert_copy(const bench_ctx *ctx, bench_result *out)
{
	PGconn *c = pq_open(ctx);
	char *buf = malloc(1 << 16);
	size_t len = 0;
	double t0;

	pq_exec(c, "DROP TABLE IF EXISTS bench_insert");
	pq_exec(c, CREATE_INSERT);
	t0 = bench_now();
	pq_exec(c, "BEGIN");
	pq_check(c, PQexec(c, "COPY bench_insert (id, name, score) FROM STDIN"), PGRES_COPY_IN, "COPY");
	for (long i = 0; i < ctx->insert_rows; i++) {
		char name[32];

		bench_name(name, sizeof(name), i);
		len += (size_t)snprintf(buf + len, 128, "%ld\t%s\t%.17g\n", i, name, i * 0.5);
		if (len > (1 << 16) - 128 || i + 1 == ctx->insert_rows) {
			if (PQputCopyData(c, buf, (int)len) != 1)
				bench_die("PQputCopyData: %s", PQerrorMessage(c));
			len = 0;
		}
	}
	if (PQputCopyEnd(c, NULL) != 1)
		bench_die("PQputCopyEnd: %s", PQerrorMessage(c));
	pq_check(c, PQgetResult(c), PGRES_COMMAND_OK, "COPY end");
	pq_exec(c, "COMMIT");
	bench_done(out, t0, (double)ctx->insert_rows);
	free(buf);
	PQfinish(c);
	return 0;
}

/* ---- workload 2 ----------------------------------------------------------------------- */

int native_read(const bench_ctx *ctx, bench_result *out)
{
	const char *sql = "SELECT id, name, score FROM bench_read";
	double sum = 0, t0 = bench_now();
	long rows = 0;

	if (ctx->backend == ZTOQ_DB_SQLITE) {
		sqlite3 *db = lite_open(ctx);
		sqlite3_stmt *st = lite_prepare(db, sql);

		while (sqlite3_step(st) == SQLITE_ROW) {
			sqlite3_column_int64(st, 0);
			sqlite3_column_text(st, 1);
			sum += sqlite3_column_double(st, 2);
			rows++;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	} else {
		/* single-row mode: memory bounded like the others, no cursor round trips */
		PGconn *c = pq_open(ctx);
		PGresult *r;

		if (!PQsendQuery(c, sql) || !PQsetSingleRowMode(c))
			bench_die("PQsendQuery: %s", PQerrorMessage(c));
		while ((r = PQgetResult(c)) != NULL) {
			if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
				sum += strtod(PQgetvalue(r, 0, 2), NULL);
				rows++;
			} else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				bench_die("read: %s", PQerrorMessage(c));
			}
			PQclear(r);
		}
		PQfinish(c);
	}
	bench_done(out, t0, (double)rows);
	if (rows != ctx->read_rows || sum <= 0)
		bench_die("read %ld rows, expected %ld", rows, ctx->read_rows);
	return 0;
}

/* ---- workload 3 ----------------------------------------------------------------------- */

typedef struct {
	const bench_ctx *ctx;
	int thread;
} worker;

static void *lite_worker(void *p)
{
	worker *w = p;
	sqlite3 *db = lite_open(w->ctx);
	sqlite3_stmt *sel = lite_prepare(db, "SELECT counter FROM bench_txn WHERE id = ?");
	sqlite3_stmt *upd = lite_prepare(db, "UPDATE bench_txn SET counter = ? WHERE id = ?");

	for (long i = 0; i < w->ctx->txns_per_thread; i++) {
		int64_t key = (w->thread * 7919L + i * 13L) % TXN_TABLE_ROWS, counter;

		/* IMMEDIATE takes the write lock first (waiting in the busy handler), so a
		 * read-then-write transaction never fails to upgrade: what a native
		 * program does */
		lite_exec(db, "BEGIN IMMEDIATE");
		sqlite3_bind_int64(sel, 1, key);
		if (sqlite3_step(sel) != SQLITE_ROW)
			bench_die("select: %s", sqlite3_errmsg(db));
		counter = sqlite3_column_int64(sel, 0);
		sqlite3_reset(sel);
		sqlite3_bind_int64(upd, 1, counter + 1);
		sqlite3_bind_int64(upd, 2, key);
		if (sqlite3_step(upd) != SQLITE_DONE)
			bench_die("update: %s", sqlite3_errmsg(db));
		sqlite3_reset(upd);
		lite_exec(db, "COMMIT");
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sqlite3_close(db);
	return NULL;
}

static void *pq_worker(void *p)
{
	worker *w = p;
	PGconn *c = pq_open(w->ctx);

	pq_check(c, PQprepare(c, "sel", "SELECT counter FROM bench_txn WHERE id = $1", 1, NULL),
		 PGRES_COMMAND_OK, "prepare");
	pq_check(c, PQprepare(c, "upd", "UPDATE bench_txn SET counter = $1 WHERE id = $2", 2, NULL),
		 PGRES_COMMAND_OK, "prepare");
	for (long i = 0; i < w->ctx->txns_per_thread; i++) {
		char key[24], counter[24];
		const char *sel_args[1] = {key}, *upd_args[2] = {counter, key};
		PGresult *r;

		snprintf(key, sizeof(key), "%ld", (w->thread * 7919L + i * 13L) % TXN_TABLE_ROWS);
		pq_exec(c, "BEGIN");
		r = PQexecPrepared(c, "sel", 1, sel_args, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			bench_die("select: %s", PQerrorMessage(c));
		snprintf(counter, sizeof(counter), "%lld", atoll(PQgetvalue(r, 0, 0)) + 1);
		PQclear(r);
		pq_check(c, PQexecPrepared(c, "upd", 2, upd_args, NULL, NULL, 0), PGRES_COMMAND_OK,
			 "update");
		pq_exec(c, "COMMIT");
	}
	PQfinish(c);
	return NULL;
}

int native_txn(const bench_ctx *ctx, bench_result *out)
{
	worker w[64];
	double t0;

	for (int i = 0; i < ctx->threads; i++)
		w[i] = (worker){ctx, i};
	t0 = bench_now();
	bench_threads(ctx->threads, ctx->backend == ZTOQ_DB_SQLITE ? lite_worker : pq_worker, w,
		      sizeof(w[0]));
	bench_done(out, t0, (double)ctx->threads * (double)ctx->txns_per_thread);
	return 0;
}
