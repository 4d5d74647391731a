/*
 * test_tx.c - transactions: commit/rollback, failure fails the whole transaction,
 * savepoints, isolation really in force, read-only enforced by the server, reset on
 * return to the pool, and retry of retryable failures only.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "support.h"

static ztoq_db *db;

TestSuite(tx, .timeout = 60);

static void setup_db(ztoq_db_type backend, const char *max_connections)
{
	ztoq_config *cfg = test_config(backend);
	ztoq_session *s;

	if (max_connections)
		test_ok(ztoq_config_set(cfg, "max_connections", max_connections));
	test_ok(ztoq_config_set(cfg, "busy_timeout_ms", "200"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP TABLE IF EXISTS t");
	test_exec(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
	test_exec(s, "INSERT INTO t VALUES (0, 'seed')");
	ztoq_session_close(s);
}

static void insert(ztoq_session *s, int id)
{
	test_ok(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (?)", (ztoq_value[]){ZTOQ_INT64(id)}, 1, NULL));
}

/* Rows with this id, as seen from a fresh session (committed state). */
static int64_t committed(int id)
{
	ztoq_value key = ZTOQ_INT64(id);
	ztoq_session *s;
	int64_t n = 0;

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_session_scalar(s, "SELECT COUNT(*) FROM t WHERE id = ?", &key, 1, &n, NULL));
	ztoq_session_close(s);
	return n;
}

TEST_BOTH(tx, commit_persists_and_rollback_discards)
{
	ztoq_session *s, *other;

	setup_db(backend, NULL);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 1);
	test_ok(ztoq_session_open(&other, db));
	cr_assert_eq(test_scalar(other, "SELECT COUNT(*) FROM t WHERE id = 1"), 0,
		     "uncommitted work is invisible to another session");
	ztoq_session_close(other);
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(committed(1), 1);
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 2);
	test_ok(ztoq_tx_rollback(s));
	cr_assert_eq(committed(2), 0);
	cr_assert_eq(ztoq_tx_commit(s), ZTOQ_ESTATE, "commit with nothing open is refused");
	ztoq_session_close(s);
	ztoq_db_close(db);
}

static int insert_then_fail(ztoq_session *s, void *payload)
{
	insert(s, *(int *)payload);
	return 7;
}

static int insert_only(ztoq_session *s, void *payload)
{
	insert(s, *(int *)payload);
	return 0;
}

TEST_BOTH(tx, callback_runner_commits_on_zero_and_returns_failures)
{
	int id = 10;

	setup_db(backend, NULL);
	cr_assert_eq(ztoq_db_transaction(db, NULL, insert_then_fail, &id), 7);
	cr_assert_eq(committed(10), 0);
	test_ok(ztoq_db_transaction(db, NULL, insert_only, &id));
	cr_assert_eq(committed(10), 1);
	ztoq_db_close(db);
}

TEST_BOTH(tx, a_failed_statement_fails_the_whole_transaction)
{
	ztoq_session *s;
	ztoq_pool_stats stats;

	setup_db(backend, NULL);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 1);
	cr_assert_eq(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (0)", NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT, "duplicate key");
	cr_assert_eq(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (2)", NULL, 0, NULL),
		     ZTOQ_ETXFAILED, "later statements are refused");
	cr_assert(strstr(ztoq_error_last()->message, "roll it back"));
	cr_assert_eq(ztoq_tx_commit(s), ZTOQ_ETXFAILED, "the end is a rollback");
	cr_assert_eq(ztoq_tx_depth(s), 0);
	cr_assert_eq(committed(1), 0, "the row written before the failure is gone");
	cr_assert_eq(committed(2), 0, "the refused row was never written");
	/* the session works again after the rollback */
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 3);
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(committed(3), 1);
	ztoq_session_close(s);
	ztoq_pool_stats_get(db, &stats);
	cr_assert_eq(stats.evicted, 0, "a constraint error does not break the connection");
	ztoq_db_close(db);
}

TEST_BOTH(tx, savepoints_undo_only_the_inner_work)
{
	ztoq_session *s;

	setup_db(backend, NULL);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 1);
	test_ok(ztoq_tx_begin(s, NULL));
	cr_assert_eq(ztoq_tx_depth(s), 2);
	insert(s, 2);
	test_ok(ztoq_tx_rollback(s));
	/* an inner failure is contained by rolling back the inner level (scenario 19) */
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 3);
	cr_assert_eq(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (1)", NULL, 0, NULL), ZTOQ_ECONSTRAINT);
	cr_assert_eq(ztoq_tx_commit(s), ZTOQ_ETXFAILED, "a failed inner level cannot commit");
	insert(s, 4); /* the outer level goes on */
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 5);
	test_ok(ztoq_tx_commit(s));
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(committed(1), 1);
	cr_assert_eq(committed(2), 0);
	cr_assert_eq(committed(3), 0);
	cr_assert_eq(committed(4), 1);
	cr_assert_eq(committed(5), 1);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* The server's own word on the isolation level in force. */
static int64_t pg_is_serializable(ztoq_session *s)
{
	return test_scalar(s, "SELECT CASE WHEN current_setting('transaction_isolation') = "
			      "'serializable' THEN 1 ELSE 0 END");
}

TEST_BOTH(tx, isolation_in_force_is_never_weaker_than_asked)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s;

	setup_db(backend, NULL);
	test_ok(ztoq_session_open(&s, db));
	opts.isolation = ZTOQ_ISOLATION_SERIALIZABLE;
	test_ok(ztoq_tx_begin(s, &opts));
	cr_assert_eq(ztoq_session_isolation(s), ZTOQ_ISOLATION_SERIALIZABLE);
	if (backend == ZTOQ_DB_POSTGRESQL)
		cr_assert_eq(pg_is_serializable(s), 1);
	test_ok(ztoq_tx_commit(s));
	opts.isolation = ZTOQ_ISOLATION_READ_COMMITTED;
	test_ok(ztoq_tx_begin(s, &opts));
	cr_assert_eq(ztoq_session_isolation(s), backend == ZTOQ_DB_SQLITE
							? ZTOQ_ISOLATION_SERIALIZABLE
							: ZTOQ_ISOLATION_READ_COMMITTED,
		     "SQLite gives serializable, and says so");
	if (backend == ZTOQ_DB_POSTGRESQL)
		cr_assert_eq(pg_is_serializable(s), 0);
	test_ok(ztoq_tx_commit(s));
	opts.isolation = (ztoq_isolation)42;
	cr_assert_eq(ztoq_tx_begin(s, &opts), ZTOQ_EINVALID);
	opts = (ztoq_tx_options)ZTOQ_TX_OPTIONS_INIT;
	opts.version = 99;
	cr_assert_eq(ztoq_tx_begin(s, &opts), ZTOQ_EINVALID);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

TEST_BOTH(tx, read_only_is_enforced_by_the_server)
{
	ztoq_tx_options ro = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s;
	int rc;

	setup_db(backend, NULL);
	ro.read_only = 1;
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, &ro));
	cr_assert(ztoq_session_read_only(s));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), 1, "reads work");
	rc = ztoq_session_exec(s, "INSERT INTO t (id) VALUES (1)", NULL, 0, NULL);
	cr_assert_eq(rc, ZTOQ_EREADONLY, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	ztoq_tx_rollback(s);
	/* after the read-only transaction the same session writes again */
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 2);
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(committed(2), 1);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

TEST_BOTH(tx, returned_connection_is_reset_to_pool_defaults)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s;

	setup_db(backend, "1"); /* one connection: the next session gets the same one */
	opts.isolation = ZTOQ_ISOLATION_SERIALIZABLE;
	opts.read_only = 1;
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, &opts));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), 1);
	cr_assert_eq(ztoq_session_close(s), ZTOQ_ESTATE, "closing with a transaction open says so");

	test_ok(ztoq_session_open(&s, db));
	if (backend == ZTOQ_DB_POSTGRESQL) {
		cr_assert_eq(test_scalar(s, "SELECT CASE WHEN current_setting('transaction_isolation') "
					    "= 'read committed' THEN 1 ELSE 0 END"), 1);
		cr_assert_eq(test_scalar(s, "SELECT CASE WHEN current_setting('transaction_read_only') "
					    "= 'off' THEN 1 ELSE 0 END"), 1);
	}
	cr_assert_eq(ztoq_session_isolation(s), backend == ZTOQ_DB_SQLITE ? ZTOQ_ISOLATION_SERIALIZABLE
									: ZTOQ_ISOLATION_READ_COMMITTED);
	insert(s, 5); /* autocommit, read-write */
	ztoq_session_close(s);
	cr_assert_eq(committed(5), 1);
	ztoq_db_close(db);
}

struct conflict {
	ztoq_session *rival;
	int runs;
};

/*
 * PostgreSQL: on the first run a rival commits a conflicting write after this
 * serializable transaction has read, so its own write fails with a real
 * serialization failure (40001).
 */
static int conflicting_update(ztoq_session *s, void *payload)
{
	struct conflict *c = payload;

	c->runs++;
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), 1);
	if (c->runs == 1)
		test_exec(c->rival, "UPDATE t SET v = 'rival' WHERE id = 0");
	return ztoq_session_exec(s, "UPDATE t SET v = 'mine' WHERE id = 0", NULL, 0, NULL);
}

Test(tx, retry_reruns_a_serialization_failure_postgresql)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	struct conflict c = {NULL, 0};
	unsigned attempts = 0;

	setup_db(ZTOQ_DB_POSTGRESQL, NULL);
	test_ok(ztoq_session_open(&c.rival, db));
	opts.isolation = ZTOQ_ISOLATION_SERIALIZABLE;
	opts.max_retries = 3;
	opts.retry_base_ms = 1;
	opts.attempts = &attempts;
	test_ok(ztoq_db_transaction(db, &opts, conflicting_update, &c));
	cr_assert_eq(attempts, 2, "one failure, one success");
	cr_assert_eq(c.runs, 2);
	cr_assert_eq(test_scalar(c.rival, "SELECT COUNT(*) FROM t WHERE v = 'mine'"), 1);
	ztoq_session_close(c.rival);
	ztoq_db_close(db);
}

static int count_run(ztoq_session *s, void *payload)
{
	(*(int *)payload)++;
	return ztoq_session_exec(s, "UPDATE t SET v = 'mine' WHERE id = 0", NULL, 0, NULL);
}

static void *release_later(void *rival)
{
	test_sleep_ms(300);
	test_ok(ztoq_tx_commit(rival));
	return NULL;
}

/*
 * SQLite: read-write transactions begin IMMEDIATE, so a rival holding the write lock
 * makes the begin itself fail busy (after the 10 ms busy timeout); the runner backs
 * off and tries again until the rival lets go.
 */
Test(tx, retry_waits_out_a_busy_sqlite_writer)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	ztoq_session *rival;
	unsigned attempts = 0;
	pthread_t releaser;
	int runs = 0;

	test_ok(ztoq_config_set(cfg, "busy_timeout_ms", "10"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_session_open(&rival, db));
	test_exec(rival, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
	test_exec(rival, "INSERT INTO t VALUES (0, 'seed')");
	test_ok(ztoq_tx_begin(rival, NULL));
	test_exec(rival, "UPDATE t SET v = 'rival' WHERE id = 0");
	pthread_create(&releaser, NULL, release_later, rival);
	opts.max_retries = 20;
	opts.retry_base_ms = 50;
	opts.attempts = &attempts;
	test_ok(ztoq_db_transaction(db, &opts, count_run, &runs));
	pthread_join(releaser, NULL);
	cr_assert_geq(attempts, 2, "the first begin found the writer busy (%u attempts)", attempts);
	cr_assert_eq(runs, 1, "the work itself ran once, after the lock was free");
	cr_assert_eq(test_scalar(rival, "SELECT COUNT(*) FROM t WHERE v = 'mine'"), 1);
	ztoq_session_close(rival);
	ztoq_db_close(db);
}

#define RMW_THREADS 4
#define RMW_ROUNDS 25

/* Read-modify-write of one counter row, with no retry: any failure is a failure. */
static void *read_then_write(void *arg)
{
	(void)arg;
	for (int i = 0; i < RMW_ROUNDS; i++) {
		ztoq_session *s;
		int64_t n;

		test_ok(ztoq_session_open(&s, db));
		test_ok(ztoq_tx_begin(s, NULL));
		n = test_scalar(s, "SELECT COUNT(*) FROM t WHERE id > 0");
		test_ok(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (?)",
					  (ztoq_value[]){ZTOQ_INT64(n + 1)}, 1, NULL));
		test_ok(ztoq_tx_commit(s));
		ztoq_session_close(s);
	}
	return NULL;
}

/*
 * SQLite: concurrent read-then-write transactions wait their turn instead of failing.
 * That needs BEGIN IMMEDIATE: with the driver's deferred BEGIN two readers deadlock on
 * the upgrade to the write lock and one fails at once, whatever the busy timeout. The
 * rows are numbered by what each transaction read, so a lost update would show as a
 * duplicate key.
 */
Test(tx, concurrent_read_then_write_transactions_wait_their_turn_sqlite)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	ztoq_session *s;
	pthread_t t[RMW_THREADS];

	test_ok(ztoq_config_set(cfg, "busy_timeout_ms", "10000"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
	ztoq_session_close(s);
	for (int i = 0; i < RMW_THREADS; i++)
		pthread_create(&t[i], NULL, read_then_write, NULL);
	for (int i = 0; i < RMW_THREADS; i++)
		pthread_join(t[i], NULL);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), RMW_THREADS * RMW_ROUNDS);
	cr_assert_eq(test_scalar(s, "SELECT MAX(id) FROM t"), RMW_THREADS * RMW_ROUNDS);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

static int duplicate_insert(ztoq_session *s, void *payload)
{
	(*(int *)payload)++;
	return ztoq_session_exec(s, "INSERT INTO t (id) VALUES (0)", NULL, 0, NULL);
}

TEST_BOTH(tx, constraint_violations_are_never_retried)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	unsigned attempts = 0;
	int runs = 0;

	setup_db(backend, NULL);
	opts.max_retries = 5;
	opts.attempts = &attempts;
	cr_assert_eq(ztoq_db_transaction(db, &opts, duplicate_insert, &runs), ZTOQ_ECONSTRAINT);
	cr_assert_eq(attempts, 1);
	cr_assert_eq(runs, 1);
	ztoq_db_close(db);
}

/* ---- a failed COMMIT keeps its own error (issue 8) ------------------------------- */

/* Asserts that `rc` is `code` with `needle` in the message, and not the cleanup's. */
static void assert_first_error(int rc, int code, const char *needle)
{
	const char *msg = ztoq_error_last()->message;

	cr_assert_eq(rc, code, "%s: %s", ztoq_error_name(rc), msg);
	cr_assert(strstr(msg, needle), "the commit's own error: %s", msg);
	cr_assert(!strstr(msg, "no transaction is active"), "the rollback's error won: %s", msg);
}

/* The session is usable after the failed commit, and nothing was committed. */
static void assert_usable_after(ztoq_session *s)
{
	cr_assert_eq(ztoq_tx_depth(s), 0);
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 7);
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(committed(7), 1);
}

/*
 * A deferred foreign key is checked at COMMIT on both backends: the commit fails with
 * the constraint's own error and the transaction is gone.
 */
TEST_BOTH(tx, failed_commit_reports_the_commit_error)
{
	ztoq_session *s;

	setup_db(backend, NULL);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP TABLE IF EXISTS child");
	test_exec(s, "CREATE TABLE child (id INTEGER PRIMARY KEY, tid INTEGER REFERENCES t (id) "
		     "DEFERRABLE INITIALLY DEFERRED)");
	test_ok(ztoq_tx_begin(s, NULL));
	test_exec(s, "INSERT INTO child VALUES (1, 99)");
	assert_first_error(ztoq_tx_commit(s), ZTOQ_ECONSTRAINT,
			   backend == ZTOQ_DB_SQLITE ? "FOREIGN KEY" : "23503");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM child"), 0);
	assert_usable_after(s);
	test_exec(s, "DROP TABLE child"); /* PostgreSQL: the next test drops t */
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/*
 * SQLite: a COMMIT that cannot write its WAL (a file size limit stands in for a full
 * disk: SQLite says "disk I/O error") is rolled back by SQLite itself; the ROLLBACK
 * the library sent after it failed with "cannot rollback - no transaction is
 * active", which replaced the real error.
 */
Test(tx, commit_that_cannot_write_reports_the_write_error)
{
	struct rlimit old, tight;
	ztoq_session *s;
	int rc;

	setup_db(ZTOQ_DB_SQLITE, "1");
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	insert(s, 1);
	signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	tight = old;
	tight.rlim_cur = 1;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);
	rc = ztoq_tx_commit(s);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_first_error(rc, ZTOQ_ERROR, "disk I/O error");
	cr_assert_eq(ztoq_tx_depth(s), 0);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/*
 * Inserts a value larger than SQLite's page cache with the file size limit at one
 * byte: the cache spills, the write fails ("disk I/O error") and SQLite rolls the
 * whole transaction back by itself. Returns the insert's result.
 */
static int insert_past_the_disk(ztoq_session *s, void *payload)
{
	size_t len = 8u << 20;
	char *big = malloc(len);
	ztoq_value v[2];
	struct rlimit old, tight;
	int rc;

	(void)payload;
	cr_assert_not_null(big);
	memset(big, 'x', len - 1);
	big[len - 1] = '\0';
	v[0] = (ztoq_value)ZTOQ_INT64(3);
	v[1] = (ztoq_value)ZTOQ_TEXT(big);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	tight = old;
	tight.rlim_cur = 1;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);
	rc = ztoq_session_exec(s, "INSERT INTO t VALUES (?, ?)", v, 2, NULL);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	free(big);
	return rc;
}

/* The rollback after a statement's I/O error fails too; the statement's error wins. */
Test(tx, failed_statement_keeps_its_error_past_a_failed_rollback)
{
	ztoq_session *s;

	setup_db(ZTOQ_DB_SQLITE, NULL);
	test_ok(ztoq_session_open(&s, db));
	assert_first_error(ztoq_session_transaction(s, NULL, insert_past_the_disk, NULL),
			   ZTOQ_ERROR, "disk I/O error");
	cr_assert_eq(ztoq_tx_depth(s), 0);
	test_ok(ztoq_tx_begin(s, NULL));
	assert_first_error(insert_past_the_disk(s, NULL), ZTOQ_ERROR, "disk I/O error");
	cr_assert_eq(ztoq_session_close(s), ZTOQ_OK, "a failed transaction is rolled back quietly");
	assert_first_error(ZTOQ_ERROR, ZTOQ_ERROR, "disk I/O error");
	test_ok(ztoq_session_open(&s, db));
	assert_usable_after(s);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* Closing a session whose transaction failed keeps the failure as the last error. */
TEST_BOTH(tx, close_after_a_failed_statement_keeps_its_error)
{
	ztoq_session *s;

	setup_db(backend, NULL);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	cr_assert_eq(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (0)", NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT);
	cr_assert_eq(ztoq_session_close(s), ZTOQ_OK, "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_error_last()->code, ZTOQ_ECONSTRAINT, "%s", ztoq_error_last()->message);
	ztoq_db_close(db);
}
