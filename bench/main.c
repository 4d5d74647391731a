/*
 * main.c - the benchmark runner: every measurement in its own forked child (peak RSS
 * from wait4), one line per measurement, then the ratios against the targets of
 * issue 4.
 *
 * usage: ztoq_bench [options] [workload...]
 *   workloads: insert load read txn pool mixed connect (default: all); mixed (PostgreSQL:
 *   8 threads, 90 % read-only transactions, on the primary alone and with a streaming
 *   replica made by pg.sh, ZTOQ_TEST_BENCH_PG_SH: both servers on this machine, so it shows
 *   what routing costs, not what a replica's own machine would add)
 *   --backend sqlite|postgresql|both   (default both)
 *   --insert-rows N   (100000; a multiple of 1000)   --read-rows N (1000000)
 *   --load-rows N     (1000000: the streamed load, bounded memory)
 *   --txns N          (5000 per thread)              --threads N   (8)
 *   --pool-ops N      (1000000: by 1 thread, then shared by the threads)
 *   --connect-txns N  (200)                          --quick (a smaller everything)
 *   --repeat N        (1) run each measurement N times, report the median time
 *   --python PATH     (/usr/bin/python3; "none" to skip the SQLAlchemy peers)
 * Runs inside tests/fixture/with-env.sh, which provides the hermetic ODBC
 * configuration, a temporary folder and a throwaway PostgreSQL on 127.0.0.1.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* ---- helpers the implementations share ------------------------------------------- */

static void set_or_die(ztoq_config *cfg, const char *key, const char *value)
{
	if (ztoq_config_set(cfg, key, value) < 0)
		bench_die("config %s: %s", key, ztoq_error_last()->message);
}

ztoq_config *bench_config(const bench_ctx *ctx, int max_conns)
{
	ztoq_config *cfg;
	char n[16];

	if (ztoq_config_new(&cfg) < 0)
		bench_die("out of memory");
	snprintf(n, sizeof(n), "%d", max_conns);
	set_or_die(cfg, "max_connections", n);
	set_or_die(cfg, "min_connections", n); /* warm, like the others' open connections */
	if (ctx->backend == ZTOQ_DB_SQLITE) {
		set_or_die(cfg, "db_type", "sqlite");
		set_or_die(cfg, "db_path", ctx->sqlite_path);
		return cfg;
	}
	set_or_die(cfg, "db_type", "postgresql");
	set_or_die(cfg, "host", ctx->pg_host);
	set_or_die(cfg, "port", ctx->pg_port);
	set_or_die(cfg, "database", ctx->pg_database);
	set_or_die(cfg, "username", ctx->pg_user);
	set_or_die(cfg, "password", ctx->pg_password);
	return cfg;
}

char *bench_connstr(const bench_ctx *ctx)
{
	ztoq_config *cfg = bench_config(ctx, 1);
	char *s, *copy;

	if (ztoq_connstr_build(&s, cfg) < 0)
		bench_die("connection string: %s", ztoq_error_last()->message);
	copy = strdup(s);
	ztoq_free(s);
	ztoq_config_free(cfg);
	return copy;
}

void bench_threads(int n, void *(*fn)(void *), void *args, size_t arg_size)
{
	pthread_t t[64];

	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * arg_size) != 0)
			bench_die("pthread_create failed");
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

int bench_name(char *buf, size_t size, long i)
{
	return snprintf(buf, size, "name-%ld", i);
}

/* ---- what is measured ---------------------------------------------------------------- */

enum { SQLITE = 1, PG = 2, BOTH = 3 };

typedef struct {
	const char *workload; /* as printed: insert, read, txn, pool1, pool8, connect */
	const char *impl;
	int backends;
	bench_fn fn;          /* NULL: the Python peer runs it */
} measurement;

/* A measurement of libzdb 3.1, when it was found at configure time. */
#ifdef HAVE_BENCH_ZDB
#define ZDB(workload, impl, backends, fn) {workload, impl, backends, fn},
#else
#define ZDB(workload, impl, backends, fn)
#endif

/* A measurement of the native C APIs, when they were found at configure time. */
#ifdef HAVE_BENCH_NATIVE
#define NATIVE(workload, impl, backends, fn) {workload, impl, backends, fn},
#else
#define NATIVE(workload, impl, backends, fn)
#endif

static const measurement plan[] = {
	{"insert", "ztoq-row", BOTH, ztoq_insert_row},
	{"insert", "ztoq-bulk", BOTH, ztoq_insert_bulk},
	{"insert", "ztoq-bulk-stream", BOTH, ztoq_insert_bulk_stream},
	{"insert", "odbc-row", BOTH, odbc_insert_row},
	{"insert", "odbc-array1000", BOTH, odbc_insert_array},
	{"insert", "odbc-values", BOTH, odbc_insert_values},
	NATIVE("insert", "native-row", BOTH, native_insert_row)
	NATIVE("insert", "libpq-copy", PG, native_insert_copy)
	{"insert", "sqlalchemy-core", BOTH, NULL},
	{"insert", "sqlalchemy-orm", BOTH, NULL},
	{"load", "ztoq-bulk-stream", BOTH, ztoq_insert_bulk_stream},
	{"load", "odbc-values", SQLITE, odbc_insert_values},
	NATIVE("load", "libpq-copy", PG, native_insert_copy)
	{"read", "ztoq-stream", BOTH, ztoq_read_stream},
	{"read", "ztoq-keyset", BOTH, ztoq_read_keyset},
	{"read", "odbc-block", BOTH, odbc_read_block},
	{"read", "odbc-block-buffered", PG, odbc_read_buffered},
	{"read", "odbc-cursor", PG, odbc_read_cursor},
	{"read", "odbc-rowwise", SQLITE, odbc_read_rowwise},
	NATIVE("read", "native", BOTH, native_read)
	ZDB("read", "libzdb", BOTH, zdb_read)
	{"read", "sqlalchemy-core", BOTH, NULL},
	{"txn", "ztoq", BOTH, ztoq_txn},
	{"txn", "odbc", BOTH, odbc_txn},
	NATIVE("txn", "native", BOTH, native_txn)
	/* PostgreSQL only: libzdb runs SQLite in shared-cache mode, where concurrent
	 * writers fail at random with "database table is locked" instead of waiting */
	ZDB("txn", "libzdb", PG, zdb_txn)
	ZDB("txn", "libzdb-held", PG, zdb_txn_held)
	{"txn", "sqlalchemy-core", BOTH, NULL},
	{"pool1", "ztoq", BOTH, ztoq_pool_ops},
	{"pool1", "sqlalchemy", BOTH, NULL},
	ZDB("pool1", "libzdb", BOTH, zdb_pool_ops)
	{"pool8", "ztoq", BOTH, ztoq_pool_ops},
	{"pool8", "sqlalchemy", BOTH, NULL},
	ZDB("pool8", "libzdb", BOTH, zdb_pool_ops)
	{"mixed", "ztoq-primary-alone", PG, ztoq_mixed_primary},
	{"mixed", "ztoq-with-replica", PG, ztoq_mixed_replica},
	{"connect", "ztoq-pool", PG, ztoq_connect_pooled},
	{"connect", "ztoq-new-connection", PG, ztoq_connect_new},
	{"connect", "odbc-new-connection", PG, odbc_connect_new},
	{"connect", "sqlalchemy-queuepool", PG, NULL},
	{"connect", "sqlalchemy-nullpool", PG, NULL},
};
#define NPLAN (sizeof(plan) / sizeof(plan[0]))

typedef struct {
	const measurement *m;
	ztoq_db_type backend;
	double rows, seconds;
	long rss_kb;
	int ok;
} outcome;

static outcome results[2 * NPLAN];
static size_t nresults;
static const char *python = "/usr/bin/python3";
static int repeat = 1;
static char peers_path[1024];

static const char *backend_name(ztoq_db_type b)
{
	return b == ZTOQ_DB_SQLITE ? "sqlite" : "postgresql";
}

/* How many rows or operations (per thread where there are threads) `m` does. */
static long workload_count(const bench_ctx *ctx, const measurement *m)
{
	if (strcmp(m->workload, "insert") == 0 || strcmp(m->workload, "load") == 0)
		return ctx->insert_rows; /* run_backend() sets it to load_rows for a load */
	if (strcmp(m->workload, "read") == 0)
		return ctx->read_rows;
	if (strcmp(m->workload, "txn") == 0 || strcmp(m->workload, "mixed") == 0)
		return ctx->txns_per_thread;
	if (strncmp(m->workload, "pool", 4) == 0) /* Python: a tenth, or it takes minutes */
		return m->fn ? ctx->pool_ops : ctx->pool_ops / 10;
	return strstr(m->impl, "new") || strstr(m->impl, "null") ? ctx->connect_txns
								  : ctx->pooled_txns;
}

/* The child's side: runs the measurement and writes "rows seconds" to `fd`. */
static void run_child(const bench_ctx *ctx, const measurement *m, int fd)
{
	bench_result r = {0, 0};
	char line[128];
	int n;

	if (!m->fn) {
		char count[32], threads[32];

		snprintf(count, sizeof(count), "%ld", workload_count(ctx, m));
		snprintf(threads, sizeof(threads), "%d", ctx->threads);
		dup2(fd, STDOUT_FILENO);
		execl(python, python, peers_path, m->workload, backend_name(ctx->backend), m->impl,
		      count, threads, ctx->sqlite_path, (char *)NULL);
		bench_die("cannot run %s: %s", python, strerror(errno));
	}
	if (m->fn(ctx, &r) != 0)
		bench_die("%s failed", m->impl);
	n = snprintf(line, sizeof(line), "%.0f %.9f\n", r.rows, r.seconds);
	if (write(fd, line, (size_t)n) != n)
		bench_die("cannot report");
	_exit(0);
}

/* Forks a child for one measurement; fills `o` from its report and its rusage. */
static void measure(const bench_ctx *ctx, const measurement *m, outcome *o)
{
	int fds[2], status = 0;
	struct rusage ru;
	char buf[256] = "";
	ssize_t got, len = 0;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	o->m = m;
	o->backend = ctx->backend;
	fflush(stdout);
	if (pipe(fds) != 0 || (pid = fork()) < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		run_child(ctx, m, fds[1]);
	}
	close(fds[1]);
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (got = read(fds[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += got;
	close(fds[0]);
	if (wait4(pid, &status, 0, &ru) < 0)
		bench_die("wait4: %s", strerror(errno));
	o->rss_kb = ru.ru_maxrss;
	o->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		sscanf(buf, "%lf %lf", &o->rows, &o->seconds) == 2 && o->seconds > 0;
}

static int by_seconds(const void *a, const void *b)
{
	const outcome *x = a, *y = b;
	return (x->seconds > y->seconds) - (x->seconds < y->seconds);
}

/* Measures `repeat` times: the median time, the highest peak RSS, failed if any failed. */
static void measure_median(const bench_ctx *ctx, const measurement *m, outcome *o)
{
	outcome runs[15];
	int n = repeat < 1 ? 1 : repeat > 15 ? 15 : repeat;
	long rss = 0;

	for (int i = 0; i < n; i++) {
		measure(ctx, m, &runs[i]);
		rss = runs[i].rss_kb > rss ? runs[i].rss_kb : rss;
		if (!runs[i].ok) {
			*o = runs[i];
			return;
		}
	}
	qsort(runs, (size_t)n, sizeof(runs[0]), by_seconds);
	*o = runs[n / 2];
	o->rss_kb = rss;
}

static void print_outcome(const outcome *o)
{
	if (!o->ok) {
		printf("%-8s %-10s %-22s FAILED\n", o->m->workload, backend_name(o->backend),
		       o->m->impl);
		return;
	}
	printf("%-8s %-10s %-22s %9.0f %10.4f %12.0f %11ld\n", o->m->workload,
	       backend_name(o->backend), o->m->impl, o->rows, o->seconds, o->rows / o->seconds,
	       o->rss_kb);
}

/* Runs a setup step (not reported) in a child; exits on failure. */
static void setup(const bench_ctx *ctx, const char *what, bench_fn fn)
{
	measurement m = {what, what, BOTH, fn};
	outcome o;

	measure(ctx, &m, &o);
	if (!o.ok)
		bench_die("setup %s on %s failed", what, backend_name(ctx->backend));
}

/* ---- ratios against the targets ---------------------------------------------------------- */

static const outcome *find(const char *workload, ztoq_db_type b, const char *impl)
{
	for (size_t i = 0; i < nresults; i++)
		if (results[i].ok && results[i].backend == b &&
		    strcmp(results[i].m->workload, workload) == 0 &&
		    strcmp(results[i].m->impl, impl) == 0)
			return &results[i];
	return NULL;
}

static double rate(const outcome *o)
{
	return o->rows / o->seconds;
}

/* Prints "ours / theirs" as a rate ratio, with the target and whether it is met. */
static void ratio(const char *what, ztoq_db_type b, const outcome *ours, const outcome *theirs,
		  double target, int at_most)
{
	double r;

	if (!ours || !theirs)
		return;
	r = rate(ours) / rate(theirs);
	printf("  %-10s %-52s %7.2f   %s %-5.2f %s\n", backend_name(b), what, r,
	       at_most ? "<=" : ">=", target,
	       (at_most ? r <= target : r >= target) ? "met" : "NOT MET");
}

/* The best rate among the raw ODBC insert methods. */
static const outcome *best_odbc_insert(ztoq_db_type b)
{
	static const char *const methods[] = {"odbc-row", "odbc-array1000", "odbc-values"};
	const outcome *best = NULL;

	for (size_t i = 0; i < 3; i++) {
		const outcome *o = find("insert", b, methods[i]);
		if (o && (!best || rate(o) > rate(best)))
			best = o;
	}
	return best;
}

static void print_ratios(void)
{
	static const ztoq_db_type backends[] = {ZTOQ_DB_SQLITE, ZTOQ_DB_POSTGRESQL};
	static const char *const workloads[][2] = {
		{"insert", "ztoq-bulk"}, {"read", "ztoq-stream"}, {"txn", "ztoq"},
		{"pool1", "ztoq"},       {"pool8", "ztoq"}};

	printf("\nratios (rate of this library / rate of the other; time ratio = 1 / rate ratio)\n");
	for (size_t k = 0; k < 2; k++) {
		ztoq_db_type b = backends[k];
		const outcome *rd = find("read", b, "ztoq-stream"), *p1 = find("pool1", b, "ztoq"), *ld;

		/* at most 5 % slower than raw ODBC doing the same thing: rate ratio >= 1/1.05 */
		ratio("insert row at a time: ztoq / raw ODBC", b, find("insert", b, "ztoq-row"),
		      find("insert", b, "odbc-row"), 1 / 1.05, 0);
		ratio("read 1M in batches: ztoq stream / raw ODBC block", b, rd,
		      find("read", b, "odbc-block"), 1 / 1.05, 0);
		ratio("short txns, 8 threads: ztoq pool / raw ODBC", b, find("txn", b, "ztoq"),
		      find("txn", b, "odbc"), 1 / 1.05, 0);
		if (b == ZTOQ_DB_POSTGRESQL)
			ratio("bulk insert: ztoq bulk / libpq COPY", b, find("insert", b, "ztoq-bulk"),
			      find("insert", b, "libpq-copy"), 0.3, 0);
		else
			ratio("bulk insert: ztoq bulk / best raw ODBC method", b,
			      find("insert", b, "ztoq-bulk"), best_odbc_insert(b), 1.0, 0);
		ratio("bulk insert: ztoq streamed / ztoq in memory", b,
		      find("insert", b, "ztoq-bulk-stream"), find("insert", b, "ztoq-bulk"), 0.95, 0);
		ratio(b == ZTOQ_DB_POSTGRESQL ? "bulk load: ztoq streamed / libpq COPY"
					      : "bulk load: ztoq streamed / raw ODBC VALUES",
		      b, find("load", b, "ztoq-bulk-stream"),
		      find("load", b, b == ZTOQ_DB_POSTGRESQL ? "libpq-copy" : "odbc-values"), 0, 0);
		if ((ld = find("load", b, "ztoq-bulk-stream")))
			printf("  %-10s %-52s %7.1f   <= 64.0  %s\n", backend_name(b),
			       "bulk load, streamed: peak RSS (MiB)", ld->rss_kb / 1024.0,
			       ld->rss_kb < 64 * 1024 ? "met" : "NOT MET");
		ratio("bulk insert: ztoq bulk / native prepared rows", b,
		      find("insert", b, "ztoq-bulk"), find("insert", b, "native-row"), 0, 0);
		for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
			char what[96];
			snprintf(what, sizeof(what), "%s: ztoq / SQLAlchemy Core", workloads[w][0]);
			ratio(what, b, find(workloads[w][0], b, workloads[w][1]),
			      find(workloads[w][0], b, strncmp(workloads[w][0], "pool", 4) == 0
							       ? "sqlalchemy"
							       : "sqlalchemy-core"),
			      1.0, 0);
		}
		/* PostgreSQL: libzdb reads as libpq with a cursor, 1,000 a FETCH (the issue's
		 * peer); SQLite: libzdb steps libsqlite3 itself, no ODBC: shown, no target */
		ratio(b == ZTOQ_DB_POSTGRESQL ? "read 1M in batches: ztoq stream / libzdb (libpq cursor)"
					      : "read 1M: ztoq stream / libzdb (native sqlite3)",
		      b, rd, find("read", b, "libzdb"), b == ZTOQ_DB_POSTGRESQL ? 0.95 : 0, 0);
		ratio("read 1M: raw ODBC, ztoq's cursor form / libzdb", b,
		      find("read", b, "odbc-cursor"), find("read", b, "libzdb"), 0, 0);
		if (b == ZTOQ_DB_POSTGRESQL)
			ratio("read 1M: ztoq stream / raw ODBC, the same cursor form", b, rd,
			      find("read", b, "odbc-cursor"), 1 / 1.05, 0);
		else
			ratio("read 1M: ztoq stream / raw ODBC, a fetch per row", b, rd,
			      find("read", b, "odbc-rowwise"), 1 / 1.05, 0);
		ratio("short txns, 8 threads: ztoq / libzdb, conn per txn", b, find("txn", b, "ztoq"),
		      find("txn", b, "libzdb"), 0.95, 0);
		ratio("short txns, 8 threads: ztoq / libzdb, conn per thread", b,
		      find("txn", b, "ztoq"), find("txn", b, "libzdb-held"), 0.95, 0);
		ratio("pool acquire+release, 1 thread: ztoq / libzdb", b, p1,
		      find("pool1", b, "libzdb"), 0.95, 0);
		ratio("pool acquire+release, 8 threads: ztoq / libzdb", b, find("pool8", b, "ztoq"),
		      find("pool8", b, "libzdb"), 0.95, 0);
		ratio("bulk insert: ztoq bulk / SQLAlchemy ORM add_all", b,
		      find("insert", b, "ztoq-bulk"), find("insert", b, "sqlalchemy-orm"), 10, 0);
		if (rd)
			printf("  %-10s %-52s %7.1f   <= 64.0  %s\n", backend_name(b),
			       "read 1M: ztoq stream peak RSS (MiB)", rd->rss_kb / 1024.0,
			       rd->rss_kb < 64 * 1024 ? "met" : "NOT MET");
		if (p1)
			printf("  %-10s %-52s %7.3f   <  1.00  %s\n", backend_name(b),
			       "pool acquire+release, 1 thread (us)", 1e6 / rate(p1),
			       1e6 / rate(p1) < 1 ? "met" : "NOT MET");
		if (b == ZTOQ_DB_POSTGRESQL)
			ratio("90 % read-only, 8 threads: with a replica / primary alone", b,
			      find("mixed", b, "ztoq-with-replica"),
			      find("mixed", b, "ztoq-primary-alone"), 0, 0);
		if (b == ZTOQ_DB_POSTGRESQL)
			ratio("short txns: pooled / new connection each", b,
			      find("connect", b, "ztoq-pool"), find("connect", b, "ztoq-new-connection"),
			      100, 0);
	}
}

/* ---- the read replica of the mixed workload ------------------------------------------ */

static char replica_dir[1100], replica_port[16];

/*
 * Makes a streaming replica of the fixture's server with pg.sh (ZTOQ_TEST_BENCH_PG_SH) in
 * the temporary folder; ctx->pg_replica_port stays NULL when it cannot.
 */
static void start_replica(bench_ctx *ctx, const char *tmp)
{
	const char *pg_sh = getenv("ZTOQ_TEST_BENCH_PG_SH"), *primary = getenv("ZTOQ_TEST_PG_SOCKET_DIR");
	char cmd[3000], out[4096] = "", *p;
	size_t len = 0;
	FILE *f;

	if (!pg_sh || !primary)
		return;
	snprintf(replica_dir, sizeof(replica_dir), "%s/bench-replica", tmp);
	snprintf(cmd, sizeof(cmd), "bash '%s' replica '%s' '%s' 2>&1", pg_sh, replica_dir, primary);
	fflush(stdout);
	if (!(f = popen(cmd, "r")))
		return;
	while (len < sizeof(out) - 1 && fgets(out + len, (int)(sizeof(out) - len), f))
		len = strlen(out);
	if (pclose(f) == 0 && (p = strstr(out, "ZTOQ_TEST_PG_REPLICA_PORT=")) != NULL) {
		snprintf(replica_port, sizeof(replica_port), "%.*s",
			 (int)strspn(p + 26, "0123456789"), p + 26);
		ctx->pg_replica_port = replica_port;
	} else {
		fprintf(stderr, "bench: %s failed:\n%s", cmd, out);
	}
}

static void stop_replica(void)
{
	char cmd[3000];

	if (!*replica_port)
		return;
	snprintf(cmd, sizeof(cmd), "bash '%s' stop '%s'", getenv("ZTOQ_TEST_BENCH_PG_SH"), replica_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not stop the replica in %s\n", replica_dir);
}

/* ---- command line ----------------------------------------------------------------------- */

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

static int wanted(const char *workload, char **only, int nonly)
{
	for (int i = 0; i < nonly; i++)
		if (strcmp(only[i], workload) == 0 ||
		    (strcmp(only[i], "pool") == 0 && strncmp(workload, "pool", 4) == 0))
			return 1;
	return nonly == 0;
}

static void run_backend(const bench_ctx *ctx, char **only, int nonly, int have_python)
{
	int loaded = 0;

	for (size_t i = 0; i < NPLAN; i++) {
		const measurement *m = &plan[i];
		bench_ctx c = *ctx;

		if (!(m->backends & (ctx->backend == ZTOQ_DB_SQLITE ? SQLITE : PG)) ||
		    !wanted(m->workload, only, nonly) || (!m->fn && !have_python))
			continue;
		if (strcmp(m->workload, "read") == 0 && !loaded++)
			setup(ctx, "load bench_read", ztoq_setup_read);
		if (strcmp(m->workload, "txn") == 0 || strcmp(m->workload, "connect") == 0 ||
		    strcmp(m->workload, "mixed") == 0)
			setup(ctx, "reset bench_txn", ztoq_setup_txn);
		if (strcmp(m->workload, "load") == 0)
			c.insert_rows = ctx->load_rows;
		if (strcmp(m->workload, "pool1") == 0)
			c.threads = 1;
		else if (strcmp(m->workload, "pool8") == 0) /* the same operations, spread */
			c.pool_ops = ctx->pool_ops / ctx->threads;
		measure_median(&c, m, &results[nresults]);
		print_outcome(&results[nresults++]);
	}
}

int main(int argc, char **argv)
{
	bench_ctx ctx = {
		.insert_rows = 100000, .load_rows = 1000000, .read_rows = 1000000, .read_batch = 1000, .threads = 8,
		.txns_per_thread = 5000, .pool_ops = 1000000, .connect_txns = 200, .pooled_txns = 5000,
	};
	char *only[16], sqlite_path[1024];
	int nonly = 0, sqlite = 1, pg = 1, have_python;
	const char *tmp = env_or("ZTOQ_TEST_TMPDIR", "/tmp");

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quick") == 0) {
			ctx.insert_rows = 10000, ctx.load_rows = 1000000, ctx.read_rows = 100000, ctx.txns_per_thread = 500;
			ctx.pool_ops = 100000, ctx.connect_txns = 50, ctx.pooled_txns = 1000;
		} else if (strcmp(a, "--backend") == 0 && v) {
			sqlite = strcmp(v, "postgresql") != 0, pg = strcmp(v, "sqlite") != 0, i++;
		} else if (strcmp(a, "--insert-rows") == 0 && v) {
			ctx.insert_rows = atol(v), i++;
		} else if (strcmp(a, "--load-rows") == 0 && v) {
			ctx.load_rows = atol(v), i++;
		} else if (strcmp(a, "--read-rows") == 0 && v) {
			ctx.read_rows = atol(v), i++;
		} else if (strcmp(a, "--txns") == 0 && v) {
			ctx.txns_per_thread = atol(v), i++;
		} else if (strcmp(a, "--threads") == 0 && v) {
			ctx.threads = atoi(v) < 1 ? 1 : atoi(v) > 64 ? 64 : atoi(v), i++;
		} else if (strcmp(a, "--pool-ops") == 0 && v) {
			ctx.pool_ops = atol(v), i++;
		} else if (strcmp(a, "--connect-txns") == 0 && v) {
			ctx.connect_txns = atol(v), i++;
		} else if (strcmp(a, "--repeat") == 0 && v) {
			repeat = atoi(v), i++;
		} else if (strcmp(a, "--python") == 0 && v) {
			python = v, i++;
		} else if (a[0] != '-' && nonly < 16) {
			only[nonly++] = argv[i];
		} else {
			fprintf(stderr, "usage: %s [--quick] [--backend sqlite|postgresql|both] "
					"[--insert-rows N] [--read-rows N] [--txns N] [--threads N] "
					"[--pool-ops N] [--connect-txns N] [--repeat N] [--python PATH|none] "
					"[insert|read|txn|pool|mixed|connect ...]\n",
				argv[0]);
			return 2;
		}
	}
	if (ctx.insert_rows % 1000 != 0 || ctx.insert_rows <= 0) {
		fprintf(stderr, "--insert-rows must be a positive multiple of 1000\n");
		return 2;
	}
	snprintf(peers_path, sizeof(peers_path), "%s", env_or("ZTOQ_BENCH_PEERS", "bench/peers.py"));
	have_python = strcmp(python, "none") != 0 && access(python, X_OK) == 0 &&
		      access(peers_path, R_OK) == 0;
	if (!have_python)
		fprintf(stderr, "bench: %s or %s missing: the SQLAlchemy peers are skipped\n", python,
			peers_path);
	snprintf(sqlite_path, sizeof(sqlite_path), "%s/bench.db", tmp);
	ctx.sqlite_path = sqlite_path;
	ctx.pg_host = env_or("ZTOQ_TEST_PG_HOST", "127.0.0.1");
	ctx.pg_port = env_or("ZTOQ_TEST_PG_PORT", "5432");
	ctx.pg_database = env_or("ZTOQ_TEST_PG_DATABASE", "ztoq_test");
	ctx.pg_user = env_or("ZTOQ_TEST_PG_USER", "ztoq_test");
	ctx.pg_password = env_or("ZTOQ_TEST_PG_PASSWORD", "");
	if (getenv("ZTOQ_TEST_PG_UNAVAILABLE"))
		pg = 0;
	printf("%-8s %-10s %-22s %9s %10s %12s %11s\n", "workload", "backend", "implementation",
	       "rows", "seconds", "rows_per_s", "peak_rss_kb");
	if (sqlite) {
		ctx.backend = ZTOQ_DB_SQLITE;
		run_backend(&ctx, only, nonly, have_python);
	}
	if (pg) {
		ctx.backend = ZTOQ_DB_POSTGRESQL;
		if (wanted("mixed", only, nonly))
			start_replica(&ctx, tmp);
		run_backend(&ctx, only, nonly, have_python);
		stop_replica();
	}
	print_ratios();
	for (size_t i = 0; i < nresults; i++)
		if (!results[i].ok)
			return 1;
	return 0;
}
