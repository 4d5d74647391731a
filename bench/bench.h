/*
 * bench.h - what the benchmark's implementations share.
 *
 * Every measurement runs in a child process forked by main.c: the implementation does
 * its setup, times only the work, and reports rows and seconds; the parent reads the
 * child's peak RSS from wait4(). Implementations exit non-zero on any failure.
 */
#ifndef ZTOQ_BENCH_H
#define ZTOQ_BENCH_H

#include <stdint.h>
#include <time.h>

#include <ztoq/ztoq.h>

/* Where to connect and how much to do. */
typedef struct {
	ztoq_db_type backend;
	const char *sqlite_path;
	const char *pg_host, *pg_port, *pg_database, *pg_user, *pg_password;
	long insert_rows;  /* workload 1 */
	long load_rows;    /* the bulk load in bounded memory (insert_rows for it) */
	long read_rows;    /* workload 2 */
	long read_batch;
	int threads;       /* workloads 3 and 4 */
	long txns_per_thread;
	long pool_ops;     /* workload 4, per thread */
	long connect_txns; /* workload 5, new connection each time */
	long pooled_txns;  /* workload 5, pooled */
	const char *pg_replica_port; /* mixed: a streaming replica of the server, or NULL */
} bench_ctx;

/* What one measurement did: rows (or operations) in seconds. */
typedef struct {
	double rows;
	double seconds;
} bench_result;

/* Runs one measurement; 0 on success. Called in a child process. */
typedef int (*bench_fn)(const bench_ctx *ctx, bench_result *out);

#define TXN_TABLE_ROWS 10000

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records what was measured: `rows` done since `t0`. Call it as the timed work ends. */
static inline void bench_done(bench_result *out, double t0, double rows)
{
	out->seconds = bench_now() - t0;
	out->rows = rows;
}

/* Fails the measurement with a message (exits the child). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The libztoq configuration for ctx->backend (pool of up to `max_conns`). */
ztoq_config *bench_config(const bench_ctx *ctx, int max_conns);

/* The ODBC connection string libztoq composes for ctx->backend. Caller frees. */
char *bench_connstr(const bench_ctx *ctx);

/* Runs `fn(i)` on `n` threads and waits for them. */
void bench_threads(int n, void *(*fn)(void *), void *args, size_t arg_size);

/* The text column value of row `i` ("name-<i>"), into buf. Returns its length. */
int bench_name(char *buf, size_t size, long i);

/* ---- implementations (impl_*.c) ---------------------------------------------------- */

int ztoq_insert_row(const bench_ctx *ctx, bench_result *out);
int ztoq_insert_bulk(const bench_ctx *ctx, bench_result *out);
int ztoq_insert_bulk_stream(const bench_ctx *ctx, bench_result *out);
int ztoq_read_stream(const bench_ctx *ctx, bench_result *out);
int ztoq_read_keyset(const bench_ctx *ctx, bench_result *out);
int ztoq_txn(const bench_ctx *ctx, bench_result *out);
int ztoq_pool_ops(const bench_ctx *ctx, bench_result *out);
int ztoq_connect_pooled(const bench_ctx *ctx, bench_result *out);
int ztoq_connect_new(const bench_ctx *ctx, bench_result *out);
int ztoq_setup_read(const bench_ctx *ctx, bench_result *out);
int ztoq_setup_txn(const bench_ctx *ctx, bench_result *out);
int ztoq_mixed_primary(const bench_ctx *ctx, bench_result *out);
int ztoq_mixed_replica(const bench_ctx *ctx, bench_result *out);

int odbc_insert_row(const bench_ctx *ctx, bench_result *out);
int odbc_insert_array(const bench_ctx *ctx, bench_result *out);
int odbc_insert_values(const bench_ctx *ctx, bench_result *out);
int odbc_read_block(const bench_ctx *ctx, bench_result *out);
int odbc_read_buffered(const bench_ctx *ctx, bench_result *out);
int odbc_read_cursor(const bench_ctx *ctx, bench_result *out);
int odbc_read_rowwise(const bench_ctx *ctx, bench_result *out);
int odbc_txn(const bench_ctx *ctx, bench_result *out);
int odbc_connect_new(const bench_ctx *ctx, bench_result *out);

int native_insert_row(const bench_ctx *ctx, bench_result *out);
int native_insert_copy(const bench_ctx *ctx, bench_result *out);
int native_read(const bench_ctx *ctx, bench_result *out);
int native_txn(const bench_ctx *ctx, bench_result *out);

int zdb_read(const bench_ctx *ctx, bench_result *out);
int zdb_txn(const bench_ctx *ctx, bench_result *out);
int zdb_txn_held(const bench_ctx *ctx, bench_result *out);
int zdb_pool_ops(const bench_ctx *ctx, bench_result *out);

#endif
