/*
 * impl_ztoq.c - the workloads through libztoq.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CHECK(expr) \
	do { \
		int rc_ = (expr); \
		if (rc_ < 0) \
			bench_die("%s: %s", #expr, ztoq_error_last()->message); \
	} while (0)

static ztoq_db *open_db(const bench_ctx *ctx, int max_conns)
{
	ztoq_config *cfg = bench_config(ctx, max_conns);
	ztoq_db *db;

	CHECK(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

/* A manager with one connection and a session on it. */
typedef struct {
	ztoq_db *db;
	ztoq_session *s;
} single;

static single open_single(const bench_ctx *ctx)
{
	single one = {open_db(ctx, 1), NULL};

	CHECK(ztoq_session_open(&one.s, one.db));
	return one;
}

static int close_single(single *one)
{
	ztoq_session_close(one->s);
	ztoq_db_close(one->db);
	return 0;
}

static void exec(ztoq_session *s, const char *sql)
{
	CHECK(ztoq_session_exec(s, sql, NULL, 0, NULL));
}

/* Drops and creates `table` with `columns`, then fills it with `n` rows: `select` over
 * i = 0 .. n - 1. */
static void make_table(const bench_ctx *ctx, ztoq_session *s, const char *table,
		       const char *columns, const char *select, long n)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	exec(s, sql);
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (%s)", table, columns);
	exec(s, sql);
	if (n <= 0)
		return;
	if (ctx->backend == ZTOQ_DB_SQLITE)
		snprintf(sql, sizeof(sql),
			 "INSERT INTO %s SELECT %s FROM (WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL "
			 "SELECT i + 1 FROM c WHERE i < %ld) SELECT i FROM c)",
			 table, select, n - 1);
	else
		snprintf(sql, sizeof(sql), "INSERT INTO %s SELECT %s FROM generate_series(0, %ld) i",
			 table, select, n - 1);
	exec(s, sql);
}

#define ROW_COLUMNS "id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION"

int ztoq_insert_row(const bench_ctx *ctx, bench_result *out)
{
	single one = open_single(ctx);
	ztoq_stmt *st;
	char name[32];
	double t0;

	make_table(ctx, one.s, "bench_insert", ROW_COLUMNS, NULL, 0);
	t0 = bench_now();
	CHECK(ztoq_tx_begin(one.s, NULL));
	CHECK(ztoq_stmt_prepare(&st, one.s,
				"INSERT INTO bench_insert (id, name, score) VALUES (?, ?, ?)"));
	for (long i = 0; i < ctx->insert_rows; i++) {
		int len = bench_name(name, sizeof(name), i);

		CHECK(ztoq_stmt_bind_int64(st, 1, i));
		CHECK(ztoq_stmt_bind_text(st, 2, name, (size_t)len));
		CHECK(ztoq_stmt_bind_double(st, 3, i * 0.5));
		CHECK(ztoq_stmt_execute(st));
	}
	ztoq_stmt_finalize(st);
	CHECK(ztoq_tx_commit(one.s));
	bench_done(out, t0, (double)ctx->insert_rows);
	return close_single(&one);
}

static const char *const bulk_cols[] = {"id", "name", "score"};
static const ztoq_type bulk_types[] = {ZTOQ_TYPE_INT64, ZTOQ_TYPE_TEXT, ZTOQ_TYPE_DOUBLE};
static const ztoq_bulk_table bulk_table = {"bench_insert", bulk_cols, bulk_types, NULL, 3};

/* Row i of the insert workloads into rows[0..2], its name into `name`. */
static void make_row(ztoq_value *rows, char (*name)[32], long i)
{
	int len = bench_name(*name, sizeof(*name), i);

	rows[0] = ZTOQ_INT64(i);
	rows[1] = ZTOQ_TEXTN(*name, (size_t)len);
	rows[2] = ZTOQ_DOUBLE(i * 0.5);
}

int ztoq_insert_bulk(const bench_ctx *ctx, bench_result *out)
{
	single one = open_single(ctx);
	ztoq_value *rows;
	char (*names)[32];
	double t0;
	long n = ctx->insert_rows;

	make_table(ctx, one.s, "bench_insert", ROW_COLUMNS, NULL, 0);
	t0 = bench_now();
	/* the rows are built in the timed part, as every implementation does */
	rows = malloc((size_t)n * 3 * sizeof(*rows));
	names = malloc((size_t)n * sizeof(*names));
	if (!rows || !names)
		bench_die("out of memory");
	for (long i = 0; i < n; i++)
		make_row(&rows[3 * i], &names[i], i);
	CHECK(ztoq_bulk_insert(NULL, one.s, &bulk_table, rows, (size_t)n, NULL));
	bench_done(out, t0, (double)n);
	free(rows);
	free(names);
	return close_single(&one);
}

/* The streamed form's source: the same rows, made a chunk at a time. */
typedef struct {
	long next, total;
	char (*names)[32]; /* one a row of the largest chunk asked for */
	size_t cap;
} row_source;

static int next_rows(ztoq_value *rows, size_t max, size_t *nrows, void *payload)
{
	row_source *src = payload;
	size_t n = (size_t)(src->total - src->next) < max ? (size_t)(src->total - src->next) : max;

	if (max > src->cap) {
		free(src->names);
		if (!(src->names = malloc(max * sizeof(*src->names))))
			return ZTOQ_ENOMEM;
		src->cap = max;
	}
	for (size_t k = 0; k < n; k++)
		make_row(&rows[3 * k], &src->names[k], src->next + (long)k);
	src->next += (long)n;
	*nrows = n;
	return ZTOQ_OK;
}

/* ctx->insert_rows rows through ztoq_bulk_insert_stream(), one transaction. */
int ztoq_insert_bulk_stream(const bench_ctx *ctx, bench_result *out)
{
	single one = open_single(ctx);
	row_source src = {0, ctx->insert_rows, NULL, 0};
	double t0;

	make_table(ctx, one.s, "bench_insert", ROW_COLUMNS, NULL, 0);
	t0 = bench_now();
	CHECK(ztoq_bulk_insert_stream(NULL, one.s, &bulk_table, next_rows, &src,
				      ZTOQ_BULK_COMMIT_AT_END, NULL));
	bench_done(out, t0, (double)ctx->insert_rows);
	free(src.names);
	return close_single(&one);
}

typedef struct {
	double sum;
	long rows;
} summed;

static int sum_batch(const ztoq_batch *b, void *payload)
{
	summed *t = payload;
	size_t n = ztoq_batch_rows(b);

	for (size_t r = 0; r < n; r++) {
		double v;
		CHECK(ztoq_batch_get_double(b, r, 2, &v, NULL));
		t->sum += v;
	}
	t->rows += (long)n;
	return 0;
}

/* Reads bench_read in batches, streamed or paged by key, and checks the sum. */
static int read_all(const bench_ctx *ctx, bench_result *out, int by_key)
{
	single one = open_single(ctx);
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	ztoq_value start = ZTOQ_INT64(-1);
	summed t = {0, 0};
	double expected = 0.5 * (double)ctx->read_rows * (double)(ctx->read_rows - 1) / 2, t0;

	opts.batch_size = (size_t)ctx->read_batch;
	t0 = bench_now();
	if (by_key)
		CHECK(ztoq_batch_keyset(NULL, one.s, "SELECT id, name, score FROM bench_read "
						      "WHERE id > ? ORDER BY id LIMIT ?",
					0, &start, sum_batch, &t, &opts));
	else
		CHECK(ztoq_batch_stream(NULL, one.s, "SELECT id, name, score FROM bench_read", NULL,
					0, sum_batch, &t, &opts));
	bench_done(out, t0, (double)t.rows);
	if (t.rows != ctx->read_rows || t.sum != expected)
		bench_die("read %ld rows summing to %.1f, expected %ld and %.1f", t.rows, t.sum,
			  ctx->read_rows, expected);
	return close_single(&one);
}

int ztoq_read_stream(const bench_ctx *ctx, bench_result *out)
{
	return read_all(ctx, out, 0);
}

int ztoq_read_keyset(const bench_ctx *ctx, bench_result *out)
{
	return read_all(ctx, out, 1);
}

/* Creates bench_read with ctx->read_rows rows (id, name, score = id / 2). */
int ztoq_setup_read(const bench_ctx *ctx, bench_result *out)
{
	single one = open_single(ctx);
	double t0 = bench_now();

	make_table(ctx, one.s, "bench_read", ROW_COLUMNS, "i, 'name-' || i, i * 0.5",
		   ctx->read_rows);
	if (ctx->backend == ZTOQ_DB_POSTGRESQL)
		exec(one.s, "VACUUM ANALYZE bench_read");
	bench_done(out, t0, (double)ctx->read_rows);
	return close_single(&one);
}

/* Creates bench_txn with TXN_TABLE_ROWS rows (id, counter 0). */
int ztoq_setup_txn(const bench_ctx *ctx, bench_result *out)
{
	single one = open_single(ctx);
	double t0 = bench_now();

	make_table(ctx, one.s, "bench_txn", "id BIGINT PRIMARY KEY, counter BIGINT", "i, 0",
		   TXN_TABLE_ROWS);
	bench_done(out, t0, TXN_TABLE_ROWS);
	return close_single(&one);
}

/* ---- short transactions ---------------------------------------------------------- */

typedef struct {
	ztoq_db *db;
	long key;
} txn_arg;

/* The transaction of workloads 3 and 5: read one row by key, update it. */
static int read_update(ztoq_session *s, void *payload)
{
	const txn_arg *a = payload;
	ztoq_value key = ZTOQ_INT64(a->key), upd[2];
	ztoq_stmt *st;
	int64_t counter = 0;
	int rc;

	if ((rc = ztoq_stmt_prepare(&st, s, "SELECT counter FROM bench_txn WHERE id = ?")) < 0)
		return rc;
	if ((rc = ztoq_stmt_bind(st, 1, &key)) == 0 && (rc = ztoq_stmt_execute(st)) == 0 &&
	    (rc = ztoq_stmt_fetch(st)) == ZTOQ_ROW)
		rc = ztoq_stmt_get_int64(st, 0, &counter, NULL);
	ztoq_stmt_finalize(st);
	if (rc < 0)
		return rc;
	upd[0] = ZTOQ_INT64(counter + 1);
	upd[1] = key;
	return ztoq_session_exec(s, "UPDATE bench_txn SET counter = ? WHERE id = ?", upd, 2, NULL);
}

typedef struct {
	ztoq_db *db;
	int thread;
	long count;
} worker_arg;

static void *txn_worker(void *p)
{
	worker_arg *w = p;
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;

	opts.max_retries = 1000; /* SQLite: busy writers are retried */
	opts.retry_base_ms = 1;
	for (long i = 0; i < w->count; i++) {
		txn_arg a = {w->db, (w->thread * 7919L + i * 13L) % TXN_TABLE_ROWS};
		CHECK(ztoq_db_transaction(w->db, &opts, read_update, &a));
	}
	return NULL;
}

/*
 * Runs `worker` on ctx->threads threads sharing a pool of as many connections, all open
 * from the start, each doing `count` operations; times them all.
 */
static int on_threads(const bench_ctx *ctx, void *(*worker)(void *), long count,
		      bench_result *out)
{
	ztoq_db *db = open_db(ctx, ctx->threads);
	worker_arg args[64];
	double t0;

	for (int i = 0; i < ctx->threads; i++)
		args[i] = (worker_arg){db, i, count};
	t0 = bench_now();
	bench_threads(ctx->threads, worker, args, sizeof(args[0]));
	bench_done(out, t0, (double)ctx->threads * (double)count);
	ztoq_db_close(db);
	return 0;
}

int ztoq_txn(const bench_ctx *ctx, bench_result *out)
{
	return on_threads(ctx, txn_worker, ctx->txns_per_thread, out);
}

/* ---- read-heavy mixed: 9 read-only transactions in 10 (read replicas, issue 10) --- */

/* A read-only transaction: one row by key. */
static int read_one(ztoq_session *s, void *payload)
{
	const txn_arg *a = payload;
	ztoq_value key = ZTOQ_INT64(a->key);
	int64_t counter;

	return ztoq_session_scalar(s, "SELECT counter FROM bench_txn WHERE id = ?", &key, 1,
				   &counter, NULL);
}

static void *mixed_worker(void *p)
{
	worker_arg *w = p;
	ztoq_tx_options write = ZTOQ_TX_OPTIONS_INIT, read = ZTOQ_TX_OPTIONS_INIT;

	read.read_only = 1;
	for (long i = 0; i < w->count; i++) {
		txn_arg a = {w->db, (w->thread * 7919L + i * 13L) % TXN_TABLE_ROWS};
		int is_write = i % 10 == 0;

		CHECK(ztoq_db_transaction(w->db, is_write ? &write : &read,
					  is_write ? read_update : read_one, &a));
	}
	return NULL;
}

static int count_rows(ztoq_session *s, void *payload)
{
	return ztoq_session_scalar(s, "SELECT COUNT(*) FROM bench_txn", NULL, 0, payload, NULL);
}

/* Waits (10 s at most) until the replica has replayed the freshly made bench_txn. */
static void wait_for_replica(ztoq_db *db)
{
	ztoq_tx_options read = ZTOQ_TX_OPTIONS_INIT;
	ztoq_route_stats before, after;
	int64_t rows = 0;

	read.read_only = 1;
	CHECK(ztoq_route_stats_get(db, &before));
	for (int i = 0; i < 200; i++) {
		if (ztoq_db_transaction(db, &read, count_rows, &rows) == 0 && rows == TXN_TABLE_ROWS)
			break;
		nanosleep(&(struct timespec){0, 50000000}, NULL);
	}
	CHECK(ztoq_route_stats_get(db, &after));
	if (rows != TXN_TABLE_ROWS || after.fallbacks != before.fallbacks)
		bench_die("mixed: the replica did not show bench_txn within 10 s");
}

/*
 * Opens `n` replica connections, one read-only transaction each, held together: only one
 * thread at a time connects to a replica (the others fall back meanwhile), so the
 * measurement starts with the replica pool as warm as the primary's.
 */
static void warm_replica(ztoq_db *db, int n)
{
	ztoq_tx_options read = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s[64];

	read.read_only = 1;
	for (int i = 0; i < n; i++) {
		CHECK(ztoq_session_open(&s[i], db));
		CHECK(ztoq_tx_begin(s[i], &read));
		if (!ztoq_session_on_replica(s[i]))
			bench_die("mixed: warming connection %d is not on the replica", i);
	}
	for (int i = 0; i < n; i++) {
		CHECK(ztoq_tx_rollback(s[i]));
		CHECK(ztoq_session_close(s[i]));
	}
}

/* The mixed workload on ctx->threads threads, with `replica` (NULL: none). */
static int mixed(const bench_ctx *ctx, const char *replica, bench_result *out)
{
	ztoq_config *cfg = bench_config(ctx, ctx->threads);
	ztoq_route_stats before = {0}, rs;
	worker_arg args[64];
	char hosts[64];
	ztoq_db *db;
	double t0;

	if (replica) {
		snprintf(hosts, sizeof(hosts), "%s:%s", ctx->pg_host, replica);
		CHECK(ztoq_config_set(cfg, "replica_hosts", hosts));
	}
	CHECK(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	if (replica) {
		wait_for_replica(db);
		warm_replica(db, ctx->threads);
		CHECK(ztoq_route_stats_get(db, &before)); /* the measurement counts from here */
	}
	for (int i = 0; i < ctx->threads; i++)
		args[i] = (worker_arg){db, i, ctx->txns_per_thread};
	t0 = bench_now();
	bench_threads(ctx->threads, mixed_worker, args, sizeof(args[0]));
	bench_done(out, t0, (double)ctx->threads * (double)ctx->txns_per_thread);
	CHECK(ztoq_route_stats_get(db, &rs));
	/* every read-only transaction must have reached the replica, or it measured nothing */
	if (replica && (rs.fallbacks != before.fallbacks || rs.routed - before.routed < (uint64_t)ctx->threads))
		bench_die("mixed: %llu read-only transactions routed, %llu fell back",
			  (unsigned long long)(rs.routed - before.routed),
			  (unsigned long long)(rs.fallbacks - before.fallbacks));
	ztoq_db_close(db);
	return 0;
}

int ztoq_mixed_primary(const bench_ctx *ctx, bench_result *out)
{
	return mixed(ctx, NULL, out);
}

int ztoq_mixed_replica(const bench_ctx *ctx, bench_result *out)
{
	if (!ctx->pg_replica_port)
		bench_die("mixed: no replica (ZTOQ_TEST_BENCH_PG_SH unset or pg.sh replica failed)");
	return mixed(ctx, ctx->pg_replica_port, out);
}

/* ---- the pool alone ---------------------------------------------------------------- */

static void *pool_worker(void *p)
{
	worker_arg *w = p;

	for (long i = 0; i < w->count; i++) {
		ztoq_session *s;

		CHECK(ztoq_session_open(&s, w->db));
		CHECK(ztoq_session_close(s));
	}
	return NULL;
}

/* Every connection is open from the start (bench_config): this measures the pool, not
 * connects. */
int ztoq_pool_ops(const bench_ctx *ctx, bench_result *out)
{
	return on_threads(ctx, pool_worker, ctx->pool_ops, out);
}

/* ---- pool versus a new connection per transaction ---------------------------------- */

int ztoq_connect_pooled(const bench_ctx *ctx, bench_result *out)
{
	ztoq_db *db = open_db(ctx, 1);
	double t0 = bench_now();

	for (long i = 0; i < ctx->pooled_txns; i++) {
		txn_arg a = {db, i % TXN_TABLE_ROWS};
		CHECK(ztoq_db_transaction(db, NULL, read_update, &a));
	}
	bench_done(out, t0, (double)ctx->pooled_txns);
	ztoq_db_close(db);
	return 0;
}

int ztoq_connect_new(const bench_ctx *ctx, bench_result *out)
{
	ztoq_config *cfg = bench_config(ctx, 1);
	double t0;

	CHECK(ztoq_config_set(cfg, "min_connections", "0"));
	t0 = bench_now();
	for (long i = 0; i < ctx->connect_txns; i++) {
		txn_arg a = {NULL, i % TXN_TABLE_ROWS};
		ztoq_db *db;

		CHECK(ztoq_db_open(&db, cfg));
		a.db = db;
		CHECK(ztoq_db_transaction(db, NULL, read_update, &a));
		ztoq_db_close(db);
	}
	bench_done(out, t0, (double)ctx->connect_txns);
	ztoq_config_free(cfg);
	return 0;
}
