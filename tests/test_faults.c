/*
 * test_faults.c - the fault loop of issue 8 (tests/faultdrv/loop.c) on both backends:
 * a unit of work through the fault-injecting driver, failed at each call site in turn.
 * The short loop runs in make check; make check-faults-long sets ZTOQ_TEST_FAULTS_LONG
 * and runs every call site with every SQLSTATE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sql.h>
#include <sqlext.h>

#include "faultdrv/loop.h"
#include "clock.h"
#include "support.h"

/* Every test has a deadline: the suite's, or its own below. */
TestSuite(faults, .timeout = 30);
TestSuite(faults_long, .timeout = 7200);

static void run_loop(ztoq_db_type backend, loop_size size)
{
	loop_result r;
	int rc;

	if (backend == ZTOQ_DB_POSTGRESQL)
		ztoq_config_free(test_config(backend)); /* skips loudly without a server */
	rc = loop_run(backend, size, &r);
	cr_log_info("calls in a clean unit: %s", r.calls);
	cr_log_info("%u units with a fault, %u absorbed, %u not fired, %u failed checks", r.units,
		    r.survived, r.unfired, r.failed);
	cr_log_info("absorbed: %s", r.absorbed);
	cr_assert_eq(rc, 0, "%u of %u units failed a check; first: %s", r.failed, r.units, r.first);
	cr_assert_gt(r.units, 0);
}

static void run_long(ztoq_db_type backend)
{
	if (!getenv("ZTOQ_TEST_FAULTS_LONG"))
		cr_skip_test("the long fault loop runs in make check-faults-long");
	run_loop(backend, LOOP_LONG);
}

Test(faults, short_loop_sqlite, .timeout = 60) { run_loop(ZTOQ_DB_SQLITE, LOOP_SHORT); }
Test(faults, short_loop_postgresql, .timeout = 90) { run_loop(ZTOQ_DB_POSTGRESQL, LOOP_SHORT); }
Test(faults_long, loop_sqlite) { run_long(ZTOQ_DB_SQLITE); }
Test(faults_long, loop_postgresql) { run_long(ZTOQ_DB_POSTGRESQL); }

/* A stalled call slows the unit down and changes nothing else. */
TEST_BOTH(faults, stall_is_only_slow)
{
	uint64_t t0;
	char why[1024];
	int rc;

	if (backend == ZTOQ_DB_POSTGRESQL)
		ztoq_config_free(test_config(backend));
	t0 = ztoq__now_ns();
	rc = loop_one(backend, "SQLExecute:2:stall=300", why, sizeof(why));
	cr_assert_eq(rc, 0, "%s", why);
	cr_assert_geq((ztoq__now_ns() - t0) / 1000000u, 300);
}

/* A manager through the fault driver on a prepared database (PostgreSQL: skips loudly
 * without a server). */
static ztoq_db *fault_open(ztoq_db_type backend, const char *option, const char *value)
{
	ztoq_config *cfg;
	ztoq_db *db;
	char why[1024];

	if (backend == ZTOQ_DB_POSTGRESQL)
		ztoq_config_free(test_config(backend));
	cr_assert_eq(loop_setup(backend, why, sizeof(why)), 0, "%s", why);
	cfg = loop_config(backend, 1);
	if (option)
		test_ok(ztoq_config_set(cfg, option, value));
	loop_rule("");
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

/* A COMMIT that fails leaves nothing behind: the transaction is rolled back, not
 * committed by the return to autocommit (PostgreSQL ends transactions with SQLEndTran,
 * SQLite with COMMIT, the second statement run directly after BEGIN). */
TEST_BOTH(faults, failed_commit_rolls_back)
{
	ztoq_db *db = fault_open(backend, NULL, NULL);
	ztoq_value row[] = {ZTOQ_INT64(1), ZTOQ_INT64(1)};
	ztoq_session *s;
	char why[1024];

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	test_ok(ztoq_session_exec(s, "INSERT INTO fault_t (id, tag, kind) VALUES (?, ?, 'c')", row,
				  2, NULL));
	loop_rule(backend == ZTOQ_DB_POSTGRESQL ? "SQLEndTran:1:40001" : "SQLExecDirect:1:40001");
	cr_assert_eq(ztoq_tx_commit(s), ZTOQ_ERETRY, "%s", ztoq_error_last()->message);
	cr_assert_eq(loop_fired(backend), 1);
	cr_assert_str_eq(ztoq_error_last()->sqlstate, "40001");
	cr_assert(strstr(ztoq_error_last()->message, "injected fault"), "%s",
		  ztoq_error_last()->message);
	test_ok(ztoq_session_close(s));
	ztoq_db_close(db);
	cr_assert_eq(loop_count(backend, "SELECT count(*) FROM fault_t", why, sizeof(why)), 0,
		     "the failed commit's row is there: %s", why);
}

/* ztoq_health_tables whose count breaks the connection returns the count's error: the
 * rollback after it fails too (the link is dead) but does not replace it. */
TEST_BOTH(faults, health_count_error_survives_the_rollback)
{
	ztoq_db *db = fault_open(backend, NULL, NULL);
	ztoq_table_list *list = NULL;

	loop_rule("SQLExecute:2:08S01"); /* 1: the table list, 2: the first count */
	cr_assert_eq(ztoq_health_tables(&list, db, 1), ZTOQ_EDISCONNECTED, "%s",
		     ztoq_error_last()->message);
	cr_assert_null(list);
	cr_assert(strstr(ztoq_error_last()->message, "SELECT COUNT(*)") &&
			  strstr(ztoq_error_last()->message, "injected fault"),
		  "the count's error was replaced: %s", ztoq_error_last()->message);
	ztoq_db_close(db);
}

/*
 * Upgrades `db` (at head, or one below it after `down_first`) with a fault on call
 * max + 1 of `site`, and asserts that no such call came: the run made at most `max`.
 */
static void upgrade_calls_at_most(ztoq_db_type backend, ztoq_db *db, int down_first,
				  const char *site, unsigned max)
{
	char rule[64];

	if (down_first)
		test_ok(ztoq_migrate_downgrade(db, "-1", NULL));
	snprintf(rule, sizeof(rule), "%s:%u:HY000", site, max + 1);
	loop_rule(rule);
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, NULL), ZTOQ_OK, "%s: %s", rule,
		     ztoq_error_last()->message);
	cr_assert_eq(loop_fired(backend), 0, "the upgrade made more than %u %s calls", max, site);
	loop_rule("");
}

/*
 * The round trips of an upgrade (src/migrate.c): a no-op one is one transaction that
 * reads each tracking table once (2 existence checks, 2 reads; no CREATE, no second
 * transaction to find nothing to do); a migration adds one transaction that re-reads
 * only the tracking rows before it runs, and none after it.
 */
TEST_BOTH(faults, migrate_round_trips_are_counted)
{
	ztoq_db *db = fault_open(backend, NULL, NULL);
	/* SQLite: BEGIN EXCLUSIVE, COMMIT; PostgreSQL: the run lock's 5 statements */
	unsigned direct = backend == ZTOQ_DB_POSTGRESQL ? 5 : 2;

	upgrade_calls_at_most(backend, db, 0, "SQLExecute", 4);
	upgrade_calls_at_most(backend, db, 0, "SQLExecDirect", direct);
	upgrade_calls_at_most(backend, db, 1, "SQLExecute", 4 + 2);
	ztoq_db_close(db);
}

/* A connection that breaks while a probe reads its result is not handed out: the
 * acquire's validation (after 1 ms idle here) evicts it and opens a new one. */
TEST_BOTH(faults, probe_finds_a_dead_link)
{
	ztoq_db *db = fault_open(backend, "validate_after_ms", "1");
	ztoq_pool_stats st;
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_session_close(s));
	loop_rule("SQLFetch:1:08S01");
	test_sleep_ms(20);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(loop_fired(backend), 1, "the probe read no row");
	test_ok(ztoq_session_exec(s, "SELECT 1", NULL, 0, NULL));
	test_ok(ztoq_session_close(s));
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_eq(st.evicted, 1);
	cr_assert_eq(st.total, st.idle + st.in_use);
	ztoq_db_close(db);
}

/* A session on SQLite through the fault driver where a statement closed before its last
 * row (so prepared again by the library) had that prepare fail. */
static ztoq_session *reprepare_fails(ztoq_db **db)
{
	ztoq_session *s;
	ztoq_stmt *st;

	*db = fault_open(ZTOQ_DB_SQLITE, NULL, NULL);
	test_ok(ztoq_session_open(&s, *db));
	test_exec(s, "INSERT INTO fault_t (id, tag, kind) VALUES (1, 1, 'a'), (2, 1, 'b')");
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id FROM fault_t ORDER BY id"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	loop_rule("SQLPrepare:1:HYT00");
	ztoq_stmt_finalize(st);
	cr_assert_eq(loop_fired(ZTOQ_DB_SQLITE), 1);
	return s;
}

/* A SQLite statement closed before its last row is prepared again; when that prepare
 * fails, the next use prepares it once more instead of failing with HY010 for good. */
Test(faults, failed_reprepare_is_retried)
{
	ztoq_db *db;
	ztoq_session *s = reprepare_fails(&db);
	ztoq_stmt *st;
	int64_t id = 0;

	/* the same text, so the same cached statement (two rows: not a scalar) */
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id FROM fault_t ORDER BY id"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	test_ok(ztoq_stmt_get_int64(st, 0, &id, NULL));
	cr_assert_eq(id, 1);
	ztoq_stmt_finalize(st);
	test_ok(ztoq_session_close(s));
	ztoq_db_close(db);
}

/* ... and it does not keep its read lock meanwhile: DDL on the same connection works
 * (the SQLite driver leaves an unreset statement holding the table). */
Test(faults, failed_reprepare_releases_the_table)
{
	ztoq_db *db;
	ztoq_session *s = reprepare_fails(&db);

	test_exec(s, "CREATE INDEX fault_t_kind ON fault_t (kind)");
	test_exec(s, "DROP INDEX fault_t_kind");
	test_ok(ztoq_session_close(s));
	ztoq_db_close(db);
}

/*
 * The count of a SQLite CTE write comes from a second query, SELECT changes(). When that
 * query fails at the driver inside a transaction, the write stands: reported done with
 * its count unknown, the transaction not failed, the commit keeping the row.
 */
Test(faults, failed_count_in_a_transaction_keeps_the_write)
{
	ztoq_db *db = fault_open(ZTOQ_DB_SQLITE, NULL, NULL);
	ztoq_session *s;
	ztoq_stmt *st;

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	test_ok(ztoq_stmt_prepare(&st, s, "WITH c(x) AS (SELECT 7) "
					  "INSERT INTO fault_t (id, tag, kind) SELECT x, 1, 'a' FROM c"));
	loop_rule("SQLExecute:2:HY000"); /* the write's execute, then the count's */
	cr_assert_eq(ztoq_stmt_execute(st), ZTOQ_OK, "%s", ztoq_error_last()->message);
	cr_assert_eq(loop_fired(ZTOQ_DB_SQLITE), 1, "the count's execute did not fail");
	loop_rule("");
	cr_assert_eq(ztoq_stmt_rows_affected(st), -1);
	ztoq_stmt_finalize(st);
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM fault_t WHERE id = 7"), 1);
	test_ok(ztoq_session_close(s));
	ztoq_db_close(db);
}

/* The SQLSTATE and message of the first diagnostic record of `h`. */
static void diag(SQLSMALLINT type, SQLHANDLE h, char state[6], char *msg, SQLSMALLINT size)
{
	SQLINTEGER native;

	cr_assert(SQL_SUCCEEDED(SQLGetDiagRec(type, h, 1, (SQLCHAR *)state, &native,
					      (SQLCHAR *)msg, size, NULL)));
}

/* The driver itself, through plain ODBC: an injected 08S01 is reported on its handle,
 * and then the link behaves as broken (every call fails with 08S01, the connection
 * says it is dead) until it is disconnected and freed. */
TEST_BOTH(faults, driver_breaks_the_link)
{
	char state[6], msg[256], why[1024], *connstr;
	ztoq_config *cfg;
	SQLHENV env;
	SQLHDBC dbc;
	SQLHSTMT st;
	SQLUINTEGER dead = SQL_CD_FALSE;

	if (backend == ZTOQ_DB_POSTGRESQL)
		ztoq_config_free(test_config(backend));
	cfg = loop_config(backend, 1);
	test_ok(ztoq_connstr_build(&connstr, cfg));
	ztoq_config_free(cfg);
	cr_assert_eq(loop_setup(backend, why, sizeof(why)), 0, "%s", why);
	cr_assert(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env)));
	SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
	cr_assert(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc)));
	loop_rule("SQLExecDirect:2:08S01");
	if (!SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL, (SQLCHAR *)connstr, SQL_NTS, NULL, 0, NULL,
					   SQL_DRIVER_NOPROMPT))) {
		diag(SQL_HANDLE_DBC, dbc, state, msg, sizeof(msg));
		cr_assert_fail("connect: %s %s", state, msg);
	}
	cr_assert(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st)));
	cr_assert(SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *)"SELECT 1", SQL_NTS)));
	SQLFreeStmt(st, SQL_CLOSE);
	cr_assert_eq(SQLExecDirect(st, (SQLCHAR *)"SELECT 2", SQL_NTS), SQL_ERROR);
	diag(SQL_HANDLE_STMT, st, state, msg, sizeof(msg));
	cr_assert_str_eq(state, "08S01");
	cr_assert(strstr(msg, "injected fault: 08S01 in SQLExecDirect"), "%s", msg);
	cr_assert_eq(SQLExecDirect(st, (SQLCHAR *)"SELECT 3", SQL_NTS), SQL_ERROR);
	diag(SQL_HANDLE_STMT, st, state, msg, sizeof(msg));
	cr_assert_str_eq(state, "08S01", "a dead link stays dead");
	cr_assert(SQL_SUCCEEDED(SQLGetConnectAttr(dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)));
	cr_assert_eq(dead, SQL_CD_TRUE);
	cr_assert_eq(loop_fired(backend), 1);
	SQLFreeHandle(SQL_HANDLE_STMT, st);
	SQLDisconnect(dbc);
	SQLFreeHandle(SQL_HANDLE_DBC, dbc);
	SQLFreeHandle(SQL_HANDLE_ENV, env);
	ztoq_free(connstr);
}

/* ---- issue 10: a disconnect before COMMIT is retried, one during it is unknown ---- */

/* ztoq_db_transaction's work: one row (id 1), then `commit_rule` (if any) set for the
 * COMMIT to come, or the attempt's own rule set before the INSERT. */
struct commit_work {
	ztoq_db_type backend;
	const char *insert_rule; /* set before the first attempt's INSERT, or NULL */
	int commit_rule;         /* fail the COMMIT with a disconnect */
	unsigned runs;
};

/* Breaks the COMMIT to come with a disconnect: PostgreSQL ends a transaction with
 * SQLEndTran, SQLite with a direct COMMIT. */
static void break_next_commit(ztoq_db_type backend)
{
	loop_rule(backend == ZTOQ_DB_POSTGRESQL ? "SQLEndTran:1:08S01" : "SQLExecDirect:1:08S01");
}

static int commit_work(ztoq_session *s, void *payload)
{
	struct commit_work *w = payload;
	ztoq_value row[] = {ZTOQ_INT64(1), ZTOQ_INT64(1)};
	int rc;

	loop_rule(++w->runs == 1 && w->insert_rule ? w->insert_rule : "");
	if ((rc = ztoq_session_exec(s, "INSERT INTO fault_t (id, tag, kind) VALUES (?, ?, 'c')",
				    row, 2, NULL)) < 0)
		return rc;
	if (w->commit_rule)
		break_next_commit(w->backend);
	return 0;
}

/* The connection breaks at the INSERT, before COMMIT: nothing was committed, so
 * ztoq_db_transaction runs the work again, on a new connection, and it commits once. */
TEST_BOTH(faults, disconnect_before_commit_is_retried)
{
	ztoq_db *db = fault_open(backend, NULL, NULL);
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	struct commit_work w = {backend, "SQLExecute:1:08S01", 0, 0};
	unsigned attempts = 0;
	ztoq_pool_stats st;
	char why[1024];

	opts.max_retries = 3;
	opts.attempts = &attempts;
	test_ok(ztoq_db_transaction(db, &opts, commit_work, &w));
	cr_assert_eq(attempts, 2);
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_eq(st.evicted, 1, "the broken connection was not evicted");
	ztoq_db_close(db);
	cr_assert_eq(loop_count(backend, "SELECT count(*) FROM fault_t", why, sizeof(why)), 1,
		     "%s", why);
}

/* The connection breaks during COMMIT: whether it committed is not known, so the
 * error says so (ZTOQ_ECOMMITUNKNOWN) and ztoq_db_transaction does not run it again. */
TEST_BOTH(faults, disconnect_during_commit_is_unknown)
{
	ztoq_db *db = fault_open(backend, NULL, NULL);
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	struct commit_work w = {backend, NULL, 1, 0};
	unsigned attempts = 0;
	ztoq_pool_stats st;
	char why[1024];

	opts.max_retries = 3;
	opts.attempts = &attempts;
	cr_assert_eq(ztoq_db_transaction(db, &opts, commit_work, &w), ZTOQ_ECOMMITUNKNOWN, "%s",
		     ztoq_error_last()->message);
	cr_assert_eq(attempts, 1);
	cr_assert_eq(loop_fired(backend), 1);
	cr_assert_str_eq(ztoq_error_name(ZTOQ_ECOMMITUNKNOWN), "ZTOQ_ECOMMITUNKNOWN");
	cr_assert(strstr(ztoq_error_last()->message, "injected fault") &&
			  strstr(ztoq_error_last()->message,
				 "the connection broke during COMMIT: the transaction may or "
				 "may not have committed"),
		  "%s", ztoq_error_last()->message);
	cr_assert_str_eq(ztoq_error_last()->sqlstate, "08S01");
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_eq(st.evicted, 1, "the broken connection was not evicted");
	loop_rule("");
	ztoq_db_close(db);
	/* the fault driver failed the call in place of making it: here, not committed */
	cr_assert_eq(loop_count(backend, "SELECT count(*) FROM fault_t", why, sizeof(why)), 0,
		     "%s", why);
}

/* ztoq_db_transaction's read-only work: a read, then (first run only) a disconnect set
 * for the COMMIT to come. */
static int read_then_break_commit(ztoq_session *s, void *payload)
{
	struct commit_work *w = payload;
	int64_t rows;
	int rc;

	loop_rule("");
	if ((rc = ztoq_session_scalar(s, "SELECT count(*) FROM fault_t", NULL, 0, &rows, NULL)) < 0)
		return rc;
	if (++w->runs == 1)
		break_next_commit(w->backend);
	return 0;
}

/* A read-only transaction wrote nothing: the connection breaking during its COMMIT is a
 * plain disconnect (nothing can be lost), so ztoq_db_transaction runs it again; with
 * read replicas, that next run goes to another server (docs/scaling.md). */
TEST_BOTH(faults, disconnect_during_a_read_only_commit_is_retried)
{
	ztoq_db *db = fault_open(backend, NULL, NULL);
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	struct commit_work w = {backend, NULL, 0, 0};
	unsigned attempts = 0;

	opts.read_only = 1;
	opts.max_retries = 3;
	opts.attempts = &attempts;
	test_ok(ztoq_db_transaction(db, &opts, read_then_break_commit, &w));
	cr_assert_eq(attempts, 2);
	cr_assert_eq(w.runs, 2);
	/* not run again: the disconnect says what it is, and only that */
	w.runs = 0;
	opts.max_retries = 0;
	cr_assert_eq(ztoq_db_transaction(db, &opts, read_then_break_commit, &w),
		     ZTOQ_EDISCONNECTED, "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "nothing was written") &&
		  !strstr(ztoq_error_last()->message, "may not have committed"),
		  "%s", ztoq_error_last()->message);
	ztoq_db_close(db);
}
