/*
 * test_copy_fault.c - ztoq_copy() and `ztoq db copy` when the PostgreSQL side's
 * connection is lost (closed) or goes silent in the middle of a table (or under its
 * COMMIT, or before the copy starts), with the real drivers and the fixture's
 * PostgreSQL reached through tests/stall_proxy.c on 127.0.0.1: the copy ends within
 * its bound with an error naming the table and the side, no connection stays in use,
 * the managers close within their bound while the network is still down, the target
 * is marked incomplete, and a second copy once the network is back ends verified,
 * every value equal. docs/reliability.md has the timings measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "copy_support.h"
#include "stall_proxy.h"

/* Every test has a deadline, so that a regression fails instead of hanging. */
TestSuite(copy_fault, .timeout = 90);

/* The bound of one statement on the proxied side, and the most a failed copy may take
 * after the fault (the watchdog's grace, a rollback and the closes included). */
#define STATEMENT_MS "1000"
#define WITHIN_MS 8000

/* The table the fault hits, and after how many of its rows (batches of BATCH). */
#define FAULT_TABLE "test_steps"
#define FAULT_ROW 10
#define BATCH 5

/* A proxy to the fixture's PostgreSQL (skips, loudly, without a server). */
static stall_proxy *start_proxy(void)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);

	ztoq_config_free(cfg);
	test_require_options_form("the proxy replaces the port");
	return stall_proxy_start(atoi(getenv("ZTOQ_TEST_PG_PORT")));
}

/* The fixture's PostgreSQL through `proxy`, statements bounded by STATEMENT_MS, its
 * public schema reset first. Caller frees. */
static ztoq_config *proxied_config(stall_proxy *proxy)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);

	test_pg_reset();
	test_ok(ztoq_config_set(cfg, "port", stall_proxy_port(proxy)));
	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", STATEMENT_MS));
	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "2"));
	return cfg;
}

/* A manager on `cfg` (kept by the caller), failing the test if it cannot open. */
static ztoq_db *open_config(ztoq_config *cfg)
{
	ztoq_db *db = NULL;

	test_ok(ztoq_db_open(&db, cfg));
	return db;
}

/* What happens to the network at FAULT_ROW of FAULT_TABLE. */
enum fault_kind {
	LOST,            /* the connections are closed */
	SILENT,          /* the network goes silent */
	SILENT_AT_COMMIT /* the network goes silent under the next COMMIT (the table's) */
};

/* What the progress callback does to the network, once. */
struct fault {
	stall_proxy *proxy;
	enum fault_kind kind;
	int fired;
	uint64_t at_ms;
};

static void fault_on_progress(const ztoq_copy_event *ev, void *payload)
{
	struct fault *f = payload;

	if (f->fired || ev->kind != ZTOQ_COPY_PROGRESS || strcmp(ev->table, FAULT_TABLE) ||
	    ev->rows_done < FAULT_ROW)
		return;
	f->fired = 1;
	f->at_ms = test_now_ms();
	if (f->kind == LOST)
		stall_proxy_drop(f->proxy);
	else if (f->kind == SILENT)
		stall_proxy_stall(f->proxy);
	else
		stall_proxy_stall_on(f->proxy, "COMMIT");
}

/* No connection of `db` is in use, its figures agree (nothing leaked), and on
 * PostgreSQL (the side that met the fault) the broken connection was evicted. */
static void assert_pool_idle(ztoq_db *db)
{
	ztoq_pool_stats st;

	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_eq(st.in_use, 0, "%zu connections still in use", st.in_use);
	cr_assert(ztoq_db_backend(db) != ZTOQ_DB_POSTGRESQL || st.evicted >= 1,
		  "the broken connection was not evicted");
	cr_assert_eq((uint64_t)st.total, st.created - st.closed - st.evicted,
		     "total %zu, created %llu, closed %llu, evicted %llu", st.total,
		     (unsigned long long)st.created, (unsigned long long)st.closed,
		     (unsigned long long)st.evicted);
}

/* `dst` is marked incomplete; a second copy ends verified and unmarked, every value
 * of `src` in it. */
static void rerun_completes(ztoq_db *src, ztoq_db *dst)
{
	ztoq_copy_result res;
	int incomplete = 0;

	test_ok(ztoq_copy_incomplete(dst, &incomplete));
	cr_assert_eq(incomplete, 1, "a half-copied target is not marked incomplete");
	test_ok(ztoq_copy(&res, src, dst, NULL));
	cr_assert_eq(res.verified, 1);
	test_ok(ztoq_copy_incomplete(dst, &incomplete));
	cr_assert_eq(incomplete, 0);
	assert_same(src, dst);
}

/* Closes both managers while the network is still down (closed or silent), within
 * WITHIN_MS; *src_cfg and *dst_cfg get their configurations back (caller frees). */
static void close_within_bound(ztoq_db *src, ztoq_db *dst, ztoq_config **src_cfg,
			       ztoq_config **dst_cfg)
{
	uint64_t t0;

	test_ok(ztoq_config_dup(src_cfg, ztoq_db_config(src)));
	test_ok(ztoq_config_dup(dst_cfg, ztoq_db_config(dst)));
	t0 = test_now_ms();
	close_pair(src, dst);
	cr_assert(test_now_ms() - t0 < WITHIN_MS, "closing the managers took %llu ms",
		  (unsigned long long)(test_now_ms() - t0));
	cr_log_info("the managers closed in %llu ms", (unsigned long long)(test_now_ms() - t0));
}

/*
 * A copy from `from` to the other backend, the PostgreSQL side through a proxy that
 * closes its connections or goes silent (`kind`) at row FAULT_ROW of FAULT_TABLE:
 * the copy fails with `expected`, a message naming the table, within WITHIN_MS of the
 * fault; no connection stays in use; both managers close within WITHIN_MS while the
 * network is still down. Once it is back, the target is marked incomplete, and a
 * second copy (new managers, as a rerun of the command has) ends verified, every value
 * equal.
 */
static void fault_mid_table(ztoq_db_type from, enum fault_kind kind, int expected)
{
	stall_proxy *proxy = start_proxy();
	ztoq_config *pg = proxied_config(proxy), *src_cfg, *dst_cfg;
	struct fault f = {proxy, kind, 0, 0};
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	ztoq_db *src, *dst;
	int rc;

	if (from == ZTOQ_DB_SQLITE) {
		src = test_open(ZTOQ_DB_SQLITE);
		dst = open_config(pg);
	} else {
		src = open_config(pg);
		dst = test_open(ZTOQ_DB_SQLITE);
	}
	generate(src, 2); /* 18 rows in test_steps: the fault is mid-table */
	o.batch_size = BATCH;
	o.progress = fault_on_progress;
	o.payload = &f;
	rc = ztoq_copy(NULL, src, dst, &o);
	cr_assert(f.fired, "the copy never reached row %d of %s", FAULT_ROW, FAULT_TABLE);
	cr_assert_eq(rc, expected, "got %s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, from == ZTOQ_DB_SQLITE
			 ? "table " FAULT_TABLE " to the target" : "table " FAULT_TABLE " from the source"),
		  "%s", ztoq_error_last()->message);
	cr_assert(test_now_ms() - f.at_ms < WITHIN_MS, "the copy ended %llu ms after the fault",
		  (unsigned long long)(test_now_ms() - f.at_ms));
	cr_log_info("%s %llu ms after the fault", ztoq_error_name(rc),
		    (unsigned long long)(test_now_ms() - f.at_ms));
	assert_pool_idle(src);
	assert_pool_idle(dst);
	close_within_bound(src, dst, &src_cfg, &dst_cfg);
	stall_proxy_resume(proxy);
	src = open_config(src_cfg);
	dst = open_config(dst_cfg);
	rerun_completes(src, dst);
	close_pair(src, dst);
	ztoq_config_free(src_cfg);
	ztoq_config_free(dst_cfg);
	ztoq_config_free(pg);
	stall_proxy_stop(proxy);
}

/* SQLite -> PostgreSQL: the target's connection is closed mid-table. */
Test(copy_fault, target_connection_lost)
{
	fault_mid_table(ZTOQ_DB_SQLITE, LOST, ZTOQ_EDISCONNECTED);
}

/* PostgreSQL -> SQLite: the source's connection is closed mid-read. */
Test(copy_fault, source_connection_lost)
{
	fault_mid_table(ZTOQ_DB_POSTGRESQL, LOST, ZTOQ_EDISCONNECTED);
}

/* SQLite -> PostgreSQL: the target's network goes silent mid-table. */
Test(copy_fault, target_network_silent)
{
	fault_mid_table(ZTOQ_DB_SQLITE, SILENT, ZTOQ_ETIMEOUT);
}

/* PostgreSQL -> SQLite: the source's network goes silent mid-read. */
Test(copy_fault, source_network_silent)
{
	fault_mid_table(ZTOQ_DB_POSTGRESQL, SILENT, ZTOQ_ETIMEOUT);
}

/* SQLite -> PostgreSQL: the network goes silent under the table's COMMIT, which may
 * have been applied: ZTOQ_ECOMMITUNKNOWN, and the mark makes the rerun start over. */
Test(copy_fault, target_silent_under_commit)
{
	fault_mid_table(ZTOQ_DB_SQLITE, SILENT_AT_COMMIT, ZTOQ_ECOMMITUNKNOWN);
}

/*
 * `ztoq db copy` SQLite -> PostgreSQL whose target connection is lost (or goes silent:
 * `silent`) under the first write of FAULT_TABLE: exits 1 within its bound with a
 * message naming the table and no password; `ztoq db status` says "copy incomplete";
 * once the network is back, the same command exits 0 and the copy is equal.
 */
static void cli_fault(int silent)
{
	stall_proxy *proxy = start_proxy();
	ztoq_config *pg = proxied_config(proxy);
	ztoq_db *src = test_open(ZTOQ_DB_SQLITE), *dst;
	const char *path = ztoq_config_get(ztoq_db_config(src), "db_path");
	const char *password = ztoq_config_get(pg, "password");
	char args[1024], out[32768];
	uint64_t t0;

	generate(src, 2);
	export_config(pg, "ZTOQ_TO_");
	snprintf(args, sizeof(args), "copy --db-type sqlite --db-path %s", path);
	(silent ? stall_proxy_stall_on : stall_proxy_drop_on)(proxy,
							      "INSERT INTO \"" FAULT_TABLE "\"");
	t0 = test_now_ms();
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 1, "%s", out);
	/* the tables before the fault, the fault's bound, then the managers' close */
	cr_assert(test_now_ms() - t0 < 2 * WITHIN_MS, "took %llu ms", (unsigned long long)(test_now_ms() - t0));
	cr_log_info("ztoq db copy exited 1 after %llu ms", (unsigned long long)(test_now_ms() - t0));
	cr_assert(strstr(out, "ztoq db copy: "), "%s", out);
	cr_assert(strstr(out, "(writing table " FAULT_TABLE " to the target)"), "%s", out);
	cr_assert(strstr(out, silent ? "timed out" : "connection"), "%s", out);
	cr_assert(!password || !strstr(out, password), "the password is in: %s", out);
	stall_proxy_resume(proxy);
	export_config(pg, "ZTOQ_");
	cr_assert_eq(test_run_cli(ZTOQ_CLI, "status", out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "copy incomplete"), "%s", out);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "verification: passed"), "%s", out);
	dst = open_config(pg);
	assert_same(src, dst);
	close_pair(src, dst);
	ztoq_config_free(pg);
	stall_proxy_stop(proxy);
}

Test(copy_fault, cli_target_connection_lost)
{
	cli_fault(0);
}

Test(copy_fault, cli_target_network_silent)
{
	cli_fault(1);
}

/*
 * The network to the PostgreSQL side is silent before the copy starts: ztoq_copy
 * ends within its bound (a statement's: the pool's idle connection is handed out
 * unvalidated) with a timeout whose message says on which side; the managers close
 * within their bound (`from`: the source's backend).
 */
static void silent_from_the_start(ztoq_db_type from)
{
	stall_proxy *proxy = start_proxy();
	ztoq_config *pg = proxied_config(proxy);
	ztoq_db *sqlite = test_open(ZTOQ_DB_SQLITE), *postgres = open_config(pg);
	uint64_t t0;
	int rc;

	generate(from == ZTOQ_DB_SQLITE ? sqlite : postgres, 1);
	stall_proxy_stall(proxy);
	t0 = test_now_ms();
	rc = from == ZTOQ_DB_SQLITE ? ztoq_copy(NULL, sqlite, postgres, NULL)
				    : ztoq_copy(NULL, postgres, sqlite, NULL);
	cr_log_info("%s after %llu ms: %s", ztoq_error_name(rc),
		    (unsigned long long)(test_now_ms() - t0), ztoq_error_last()->message);
	cr_assert_eq(rc, ZTOQ_ETIMEOUT, "got %s: %s", ztoq_error_name(rc),
		     ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, from == ZTOQ_DB_SQLITE ? "(on the target)"
									 : "(on the source)"),
		  "%s", ztoq_error_last()->message);
	cr_assert(test_now_ms() - t0 < WITHIN_MS, "took %llu ms", (unsigned long long)(test_now_ms() - t0));
	assert_pool_idle(sqlite);
	t0 = test_now_ms();
	ztoq_db_close(postgres);
	cr_assert(test_now_ms() - t0 < WITHIN_MS, "closing took %llu ms",
		  (unsigned long long)(test_now_ms() - t0));
	ztoq_db_close(sqlite);
	ztoq_config_free(pg);
	stall_proxy_stop(proxy);
}

Test(copy_fault, target_silent_from_the_start)
{
	silent_from_the_start(ZTOQ_DB_SQLITE);
}

Test(copy_fault, source_silent_from_the_start)
{
	silent_from_the_start(ZTOQ_DB_POSTGRESQL);
}
