/*
 * test_timeouts.c - every call has a bounded time (issue 8, section 1), on the real
 * drivers: statement timeouts, a network that goes silent (tests/stall_proxy.c), the
 * validation ping within the acquire deadline, a PostgreSQL connect that stalls while
 * other managers work, a migrator waiting for another's lock, and the driver calls
 * made outside stmt.c (batch streams, bulk writes, migration scripts, commits).
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "stall_proxy.h"
#include "support.h"
#include "watchdog.h"

/* Every test has a deadline, so that a regression fails instead of hanging. */
TestSuite(timeouts, .timeout = 30);

/* Recursion that runs for minutes on either backend unless it is stopped. */
#define SLOW_SQL \
	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) " \
	"SELECT count(*) FROM c"

/* One row at once, then a count that runs for minutes: the wait is in a fetch. */
#define SLOW_SECOND_ROW_SQL \
	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) " \
	"SELECT 1 UNION ALL SELECT count(*) FROM c"

/* `rc` is ZTOQ_ETIMEOUT, returned less than `within_ms` after `t0`. */
static void expect_timeout(int rc, uint64_t t0, uint64_t within_ms)
{
	uint64_t took = test_now_ms() - t0;

	cr_assert_eq(rc, ZTOQ_ETIMEOUT, "got %s: %s", ztoq_error_name(rc),
		     ztoq_error_last()->message);
	cr_assert(took < within_ms, "took %llu ms", (unsigned long long)took);
}

/*
 * A COMMIT the watchdog ended by closing the connection, within `within_ms` of `t0`:
 * the server may have committed it before the silence, so it is ZTOQ_ECOMMITUNKNOWN
 * (issue 10), saying it timed out.
 */
static void expect_commit_unknown(int rc, uint64_t t0, uint64_t within_ms)
{
	uint64_t took = test_now_ms() - t0;

	cr_assert_eq(rc, ZTOQ_ECOMMITUNKNOWN, "got %s: %s", ztoq_error_name(rc),
		     ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "(timed out: "), "%s",
		  ztoq_error_last()->message);
	cr_assert(took < within_ms, "took %llu ms", (unsigned long long)took);
}

/* The pool's figures agree with each other: open = idle + in use = opened - dropped. */
static ztoq_pool_stats check_figures(ztoq_db *db)
{
	ztoq_pool_stats st;

	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_eq(st.total, st.idle + st.in_use, "total %zu, idle %zu, in use %zu", st.total,
		     st.idle, st.in_use);
	cr_assert_eq((uint64_t)st.total, st.created - st.closed - st.evicted,
		     "total %zu, created %llu, closed %llu, evicted %llu", st.total,
		     (unsigned long long)st.created, (unsigned long long)st.closed,
		     (unsigned long long)st.evicted);
	return st;
}

/* Runs `sql` and reads its first row; returns the first error (SQLite computes rows
 * as they are fetched, PostgreSQL when the statement executes). */
static int query(ztoq_session *s, const char *sql)
{
	ztoq_stmt *st;
	int rc;

	if ((rc = ztoq_stmt_prepare(&st, s, sql)) < 0)
		return rc;
	if ((rc = ztoq_stmt_execute(st)) == ZTOQ_OK)
		rc = ztoq_stmt_fetch(st);
	ztoq_stmt_finalize(st);
	return rc;
}

/* One connection was evicted, none is in use or open, `timeouts` acquires timed out. */
static void expect_evicted(ztoq_db *db, uint64_t timeouts)
{
	ztoq_pool_stats st = check_figures(db);

	cr_assert_eq(st.evicted, 1);
	cr_assert_eq(st.timeouts, timeouts);
	cr_assert_eq(st.in_use, 0);
	cr_assert_eq(st.total, 0);
}

/* A config for `backend` with the given statement timeout. */
static ztoq_config *config_with_timeout(ztoq_db_type backend, const char *statement_ms)
{
	ztoq_config *cfg = test_config(backend);

	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", statement_ms));
	return cfg;
}

static ztoq_db *open_cfg(ztoq_config *cfg)
{
	ztoq_db *db = NULL;

	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

/* A PostgreSQL config that goes through `proxy`. */
static ztoq_config *proxied_config(stall_proxy *proxy)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);

	test_ok(ztoq_config_set(cfg, "port", stall_proxy_port(proxy)));
	return cfg;
}

/*
 * Forwards again, and `db` works again (a new connection): `sql` gives `expected`.
 * Then closes it all.
 */
static void resume_and_check(stall_proxy *proxy, ztoq_db *db, const char *sql, int64_t expected)
{
	ztoq_session *s;

	stall_proxy_resume(proxy);
	test_ok(ztoq_session_open_timeout(&s, db, 5000));
	cr_assert_eq(test_scalar(s, sql), expected, "%s", sql);
	test_close(db, s);
	stall_proxy_stop(proxy);
}

static void resume_and_finish(stall_proxy *proxy, ztoq_db *db)
{
	resume_and_check(proxy, db, "SELECT 3", 3);
}

/* Stalls `proxy`; returns when, for the deadline checks. */
static uint64_t stall_now(stall_proxy *proxy)
{
	stall_proxy_stall(proxy);
	return test_now_ms();
}

/* A manager (one connection at most) through `proxy`, with `key` set to `value`. */
static ztoq_db *open_proxied(stall_proxy *proxy, const char *key, const char *value)
{
	ztoq_config *cfg = proxied_config(proxy);

	test_ok(ztoq_config_set(cfg, "max_connections", "1"));
	test_ok(ztoq_config_set(cfg, key, value));
	return open_cfg(cfg);
}

static stall_proxy *start_proxy(void)
{
	test_config(ZTOQ_DB_POSTGRESQL); /* skips, loudly, without a server */
	return stall_proxy_start(atoi(getenv("ZTOQ_TEST_PG_PORT")));
}

/*
 * In a transaction that wrote a row, `slow` (a call that runs for minutes unless it is
 * stopped) runs under statement_timeout_ms 1000: it returns ZTOQ_ETIMEOUT within 3 s;
 * the transaction is rolled back; the connection, which can be trusted, stays in the
 * pool.
 */
static void expect_cancelled(ztoq_db_type backend, int (*slow)(ztoq_session *s))
{
	ztoq_db *db = open_cfg(config_with_timeout(backend, "1000"));
	ztoq_session *s;
	uint64_t t0;
	int rc;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "CREATE TABLE IF NOT EXISTS t_timeout (id INTEGER)");
	test_exec(s, "DELETE FROM t_timeout");
	test_ok(ztoq_tx_begin(s, NULL));
	test_exec(s, "INSERT INTO t_timeout VALUES (1)");
	t0 = test_now_ms();
	rc = slow(s);
	expect_timeout(rc, t0, 3000);
	cr_assert_eq(ztoq_tx_commit(s), ZTOQ_ETXFAILED);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t_timeout"), 0);
	test_ok(ztoq_session_close(s));
	cr_assert_eq(check_figures(db).evicted, 0);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT 42"), 42);
	test_close(db, s);
}

static int slow_query(ztoq_session *s)
{
	return query(s, SLOW_SQL);
}

/* A statement running past statement_timeout_ms is cancelled (expect_cancelled). */
TEST_BOTH(timeouts, statement_timeout_cancels_a_long_statement)
{
	expect_cancelled(backend, slow_query);
}

/* A batch callback that counts the rows it is given. */
static int count_batch(const ztoq_batch *b, void *payload)
{
	*(size_t *)payload += ztoq_batch_rows(b);
	return 0;
}

static int slow_stream(ztoq_session *s)
{
	size_t rows = 0;
	int rc = ztoq_batch_stream(NULL, s, SLOW_SECOND_ROW_SQL, NULL, 0, count_batch, &rows,
				   NULL);

	cr_assert_eq(rows, 0, "a batch of %zu rows before the count", rows);
	return rc;
}

/*
 * A batch stream whose fetch runs past statement_timeout_ms is cancelled like a
 * statement (SQLite computes the rows in batch.c's own SQLFetch; PostgreSQL in the
 * FETCH from the stream's cursor, which the server bounds).
 */
TEST_BOTH(timeouts, statement_timeout_cancels_a_long_batch_stream)
{
	expect_cancelled(backend, slow_stream);
}

/*
 * A session of `db` in a transaction that has run one statement, whose network then
 * goes silent; *t0 is when it did. The caller closes the session.
 */
static ztoq_session *silent_transaction(stall_proxy *proxy, ztoq_db *db, uint64_t *t0)
{
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	cr_assert_eq(test_scalar(s, "SELECT 1"), 1);
	*t0 = stall_now(proxy);
	return s;
}

/*
 * The network goes silent under a statement: the server's own timeout never arrives,
 * the watchdog closes the socket, the call returns ZTOQ_ETIMEOUT and the connection,
 * which cannot be trusted, is evicted.
 */
Test(timeouts, silent_network_statement_returns, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();
	ztoq_db *db = open_proxied(proxy, "statement_timeout_ms", "1000");
	uint64_t t0;
	ztoq_session *s = silent_transaction(proxy, db, &t0);

	expect_timeout(query(s, "SELECT 2"), t0, 5000);
	cr_assert(strstr(ztoq_error_last()->message, "timed out"), "%s", ztoq_error_last()->message);
	ztoq_tx_rollback(s);
	ztoq_session_close(s);
	expect_evicted(db, 0);
	resume_and_finish(proxy, db);
}

/*
 * The idle connection picked for a session is due for its validation ping and the
 * network is silent: the ping ends with the acquire deadline, the connection is
 * evicted and the open fails with ZTOQ_ETIMEOUT, figures intact.
 */
Test(timeouts, validation_ping_within_acquire_deadline, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();
	ztoq_db *db = open_proxied(proxy, "validate_after_ms", "1");
	ztoq_session *s;
	uint64_t t0;

	test_sleep_ms(20);
	t0 = stall_now(proxy);
	expect_timeout(ztoq_session_open_timeout(&s, db, 1000), t0, 3000);
	expect_evicted(db, 1);
	resume_and_finish(proxy, db);
}

struct stalled_open {
	ztoq_config *cfg;
	int rc;
	volatile int done;
};

static void *open_through_stall(void *arg)
{
	struct stalled_open *o = arg;
	ztoq_db *db = NULL;

	o->rc = ztoq_db_open(&db, o->cfg);
	ztoq_db_close(db);
	o->done = 1;
	return NULL;
}

/*
 * While the PostgreSQL connect of `stalled` (freed) waits on `proxy`'s silent network,
 * a SQLite :memory: manager opens, runs statements and closes without waiting for it.
 */
static void stalled_connect_blocks_nothing(stall_proxy *proxy, ztoq_config *stalled)
{
	struct stalled_open o = {.cfg = stalled};
	ztoq_config *mem = test_config(ZTOQ_DB_SQLITE);
	ztoq_session *s;
	ztoq_db *db;
	pthread_t thread;
	uint64_t t0;

	test_ok(ztoq_config_set(o.cfg, "connect_timeout_s", "4"));
	test_ok(ztoq_config_set(mem, "db_path", ":memory:"));
	stall_proxy_stall(proxy);
	cr_assert_eq(pthread_create(&thread, NULL, open_through_stall, &o), 0);
	test_sleep_ms(300); /* the connect is under way */
	t0 = test_now_ms();
	db = open_cfg(mem);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "CREATE TABLE m (x INTEGER)");
	test_exec(s, "INSERT INTO m VALUES (1)");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM m"), 1);
	test_close(db, s);
	cr_assert(test_now_ms() - t0 < 1500, "SQLite waited %llu ms for the PostgreSQL connect",
		  (unsigned long long)(test_now_ms() - t0));
	cr_assert(!o.done, "the stalled connect ended too early");
	pthread_join(thread, NULL);
	cr_assert(o.rc < 0, "a connect through a silent network succeeded");
	ztoq_config_free(o.cfg);
	stall_proxy_stop(proxy);
}

Test(timeouts, stalled_connect_blocks_no_other_manager, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();

	stalled_connect_blocks_nothing(proxy, proxied_config(proxy));
}

/*
 * The same for a caller's whole string (db_type odbc): its driver's library (psqlODBC)
 * makes it PostgreSQL, whose connect waits outside the library's ODBC lock.
 */
Test(timeouts, stalled_connect_of_a_string_blocks_no_other_manager, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();

	stalled_connect_blocks_nothing(proxy, test_whole_string(proxied_config(proxy)));
}

/* ---- the watchdog's own defects (review of issue 8); batch/bulk/migrate tests follow ---- */

/* Rows that each take a little computing, so cancels land inside fetches. */
#define ROWS_SQL \
	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) " \
	"SELECT x, hex(zeroblob(20000 * (x % 7))), hex(zeroblob(30000)), printf('%0100d', x) FROM c"

/*
 * Many cancels on a SQLite connection fetching rows: the driver's SQLCancel frees the
 * rows of the handle it is given, so the watchdog must never give it the one in use.
 * Every run ends with its rows or ZTOQ_ETIMEOUT; nothing crashes; the connection stays.
 */
Test(timeouts, sqlite_cancels_while_fetching_do_not_crash, .timeout = 30)
{
	ztoq_db *db = open_cfg(config_with_timeout(ZTOQ_DB_SQLITE, "1"));
	ztoq_session *s;
	uint64_t t0 = test_now_ms();
	int timeouts = 0, runs = 0;

	test_ok(ztoq_session_open(&s, db));
	while (test_now_ms() - t0 < 4000) {
		ztoq_stmt *st;
		int rc;

		test_ok(ztoq_stmt_prepare(&st, s, ROWS_SQL));
		if ((rc = ztoq_stmt_execute(st)) == ZTOQ_OK)
			while ((rc = ztoq_stmt_fetch(st)) == ZTOQ_ROW)
				;
		ztoq_stmt_finalize(st);
		cr_assert(rc == ZTOQ_DONE || rc == ZTOQ_ETIMEOUT, "got %s: %s", ztoq_error_name(rc),
			  ztoq_error_last()->message);
		timeouts += rc == ZTOQ_ETIMEOUT;
		runs++;
	}
	cr_assert(timeouts > 0, "no cancel in %d runs", runs);
	test_close(db, s);
}

/*
 * The network goes silent right before a PostgreSQL COMMIT (SQLEndTran, not a
 * statement): it returns within the statement timeout and its grace, and the
 * connection is evicted. The watchdog closed it under the COMMIT, so whether the server
 * committed is not known: ZTOQ_ECOMMITUNKNOWN.
 */
Test(timeouts, silent_network_commit_returns, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();
	ztoq_db *db = open_proxied(proxy, "statement_timeout_ms", "1000");
	uint64_t t0;
	ztoq_session *s = silent_transaction(proxy, db, &t0);

	expect_commit_unknown(ztoq_tx_commit(s), t0, 5000);
	ztoq_session_close(s);
	expect_evicted(db, 0);
	resume_and_finish(proxy, db);
}

/*
 * A SQLite lock wait, which the cancel does not interrupt, is bounded by the statement
 * timeout when it is shorter than busy_timeout_ms, and stays ZTOQ_EBUSY (retryable).
 */
Test(timeouts, sqlite_lock_wait_within_statement_timeout_stays_busy, .timeout = 30)
{
	ztoq_config *cfg = config_with_timeout(ZTOQ_DB_SQLITE, "1000");
	ztoq_session *holder, *s;
	ztoq_db *db;
	uint64_t t0;
	int rc;

	test_ok(ztoq_config_set(cfg, "busy_timeout_ms", "10000"));
	db = open_cfg(cfg);
	test_ok(ztoq_session_open(&holder, db));
	test_exec(holder, "CREATE TABLE t_busy (x INTEGER)");
	test_ok(ztoq_tx_begin(holder, NULL));
	test_exec(holder, "INSERT INTO t_busy VALUES (1)");
	test_ok(ztoq_session_open(&s, db));
	t0 = test_now_ms();
	rc = ztoq_tx_begin(s, NULL);
	cr_assert_eq(rc, ZTOQ_EBUSY, "got %s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(test_now_ms() - t0 < 4000, "waited %llu ms", (unsigned long long)(test_now_ms() - t0));
	test_ok(ztoq_session_close(s));
	test_ok(ztoq_tx_rollback(holder));
	test_close(db, holder);
}

/*
 * An idle connection due for validation, and no acquire time to ping it in (a
 * try-acquire, timeout 0): it is handed out unvalidated, never evicted (on SQLite
 * :memory: that would destroy the database) and never refused (it would stay due, so
 * every later try would be refused too).
 */
TEST_BOTH(timeouts, no_time_to_validate_hands_the_connection_out)
{
	ztoq_config *cfg = test_config(backend);
	ztoq_pool_stats before, after;
	ztoq_session *s;
	ztoq_db *db;

	if (backend == ZTOQ_DB_SQLITE)
		test_ok(ztoq_config_set(cfg, "db_path", ":memory:"));
	test_ok(ztoq_config_set(cfg, "max_connections", "1"));
	test_ok(ztoq_config_set(cfg, "validate_after_ms", "1"));
	db = open_cfg(cfg);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "CREATE TABLE IF NOT EXISTS t_kept (x INTEGER)");
	test_ok(ztoq_session_close(s));
	before = check_figures(db);
	for (int i = 0; i < 20; i++) {
		test_sleep_ms(5);
		test_ok(ztoq_session_open_timeout(&s, db, 0));
		cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t_kept"), 0);
		test_ok(ztoq_session_close(s));
	}
	after = check_figures(db);
	cr_assert_eq(after.created, before.created);
	cr_assert_eq(after.evicted, before.evicted);
	cr_assert_eq(after.timeouts, before.timeouts);
	cr_assert_eq(after.idle, 1);
	ztoq_db_close(db);
}

/* A TCP socket connected to `listener` on 127.0.0.1 (its accepted end into *peer). */
static int connect_to(int listener, int *peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(getsockname(listener, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, len), 0);
	cr_assert((*peer = accept(listener, NULL, NULL)) >= 0);
	return fd;
}

/*
 * A connection (only what the watchdog uses) whose socket to a listener of 127.0.0.1
 * (*listener, *peer: the accepted end) is claimed, its descriptor into *fd.
 */
static ztoq__conn *claimed_conn(ztoq__watchdog *w, int *listener, int *fd, int *peer)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	ztoq__conn *c = calloc(1, sizeof(*c));
	ztoq__socket_snapshot before;

	*listener = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(*listener >= 0 && c);
	cr_assert_eq(bind(*listener, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(*listener, 4), 0);
	cr_assert_eq(getsockname(*listener, (struct sockaddr *)&a, &len), 0);
	c->watchdog = w;
	ztoq__watchdog_socket_snapshot(&before, ntohs(a.sin_port));
	*fd = connect_to(*listener, peer);
	ztoq__watchdog_claim_socket(c, ntohs(a.sin_port), &before);
	cr_assert(c->sock >= 0, "the new socket was not claimed");
	return c;
}

/*
 * psqlODBC closes its socket inside a failing call and the number is reused by another
 * connection: the watchdog, firing later, shuts down the socket it claimed (its own
 * duplicate), never the new owner of the number.
 */
Test(timeouts, watchdog_never_shuts_a_reused_socket_number, .timeout = 10)
{
	int listener, first, second, peer1, peer2;
	ztoq__watchdog *w;
	ztoq__conn *c;
	char byte;

	test_ok(ztoq__watchdog_new(&w));
	c = claimed_conn(w, &listener, &first, &peer1);
	close(first); /* the driver's PQfinish */
	second = connect_to(listener, &peer2);
	cr_assert_eq(second, first, "the number was not reused: the test proves nothing");
	ztoq__watchdog_arm(w, c, 1); /* overrun at once */
	test_sleep_ms(200);
	cr_assert_eq(ztoq__watchdog_disarm(w, c), ZTOQ__TIMED_OUT_CLOSED);
	cr_assert_eq(send(second, "x", 1, MSG_NOSIGNAL), 1, "the reused number was shut down");
	cr_assert_eq(recv(peer2, &byte, 1, 0), 1);
	cr_assert_eq(recv(peer1, &byte, 1, 0), 0, "the claimed socket was not shut down");
	ztoq__watchdog_release_socket(c);
	cr_assert_eq(c->sock, -1);
	ztoq__watchdog_free(w);
	free(c);
	close(second);
	close(peer1);
	close(peer2);
	close(listener);
}

/*
 * The watchdog shuts the socket as the call gets its answer (a late fire): the call
 * succeeded, but the connection is gone and must be marked broken, not forgotten.
 */
Test(timeouts, late_fire_marks_the_connection_broken, .timeout = 10)
{
	int listener, fd, peer;
	ztoq__watchdog *w;
	ztoq__conn *c;

	test_ok(ztoq__watchdog_new(&w));
	c = claimed_conn(w, &listener, &fd, &peer);
	ztoq__conn_watch(c, 1); /* overrun at once */
	test_sleep_ms(200);
	ztoq__conn_unwatch(c, SQL_SUCCESS);
	cr_assert(c->broken, "a connection whose socket was shut down is kept");
	cr_assert_eq(c->timed_out, ZTOQ__TIMED_OUT_CLOSED);
	ztoq__watchdog_release_socket(c);
	ztoq__watchdog_free(w);
	free(c);
	close(fd);
	close(peer);
	close(listener);
}

/* When > 0: the next SQLDriverConnect first opens a TCP socket to this port of
 * 127.0.0.1 (into foreign_fd), as another thread of the application could. */
static int foreign_port;
static int foreign_fd = -1;

/* The driver manager's SQLDriverConnect, after opening the foreign socket if asked. */
SQLRETURN SQL_API SQLDriverConnect(SQLHDBC dbc, SQLHWND window, SQLCHAR *in, SQLSMALLINT in_len,
				   SQLCHAR *out, SQLSMALLINT out_max, SQLSMALLINT *out_len,
				   SQLUSMALLINT completion)
{
	SQLRETURN (*real)(SQLHDBC, SQLHWND, SQLCHAR *, SQLSMALLINT, SQLCHAR *, SQLSMALLINT,
			  SQLSMALLINT *, SQLUSMALLINT);

	*(void **)&real = dlsym(RTLD_NEXT, "SQLDriverConnect");
	if (foreign_port > 0) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)foreign_port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		foreign_port = 0;
		foreign_fd = socket(AF_INET, SOCK_STREAM, 0);
		if (foreign_fd >= 0 && connect(foreign_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			close(foreign_fd);
			foreign_fd = -1;
		}
	}
	return real(dbc, window, in, in_len, out, out_max, out_len, completion);
}

/*
 * A PostgreSQL connection over a Unix-domain socket has no TCP socket of its own: a TCP
 * socket another thread opens to the same port during its connect is not taken for
 * its socket, and an overrun call (the server's own bound turned off) shuts nothing.
 */
Test(timeouts, unix_socket_connection_claims_no_foreign_socket, .timeout = 30)
{
	ztoq_config *cfg = config_with_timeout(ZTOQ_DB_POSTGRESQL, "500");
	const char *dir = getenv("ZTOQ_TEST_PG_SOCKET_DIR");
	ztoq_session *s;
	ztoq_db *db;

	cr_assert(dir, "no ZTOQ_TEST_PG_SOCKET_DIR");
	test_ok(ztoq_config_set(cfg, "host", dir));
	test_ok(ztoq_config_set(cfg, "max_connections", "1"));
	foreign_port = atoi(getenv("ZTOQ_TEST_PG_PORT"));
	db = open_cfg(cfg);
	test_ok(ztoq_session_open(&s, db));
	cr_assert(foreign_fd >= 0, "no foreign socket was opened during the connect");
	test_exec(s, "SET statement_timeout = 0");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM (SELECT pg_sleep(2.5)) z"), 1);
	cr_assert_eq(send(foreign_fd, "x", 1, MSG_NOSIGNAL), 1,
		     "the watchdog shut down another thread's socket");
	close(foreign_fd);
	test_close(db, s);
}

/* A migrator waits for another's lock at most lock_timeout_ms, then says why. */
Test(timeouts, migration_lock_wait_is_bounded, .timeout = 30)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	ztoq_session *holder;
	ztoq_db *db;
	uint64_t t0;
	int rc;

	test_pg_reset();
	test_ok(ztoq_config_set(cfg, "lock_timeout_ms", "1000"));
	db = open_cfg(cfg);
	test_ok(ztoq_session_open(&holder, db));
	cr_assert_eq(test_scalar(holder, "SELECT COUNT(*) FROM "
					 "(SELECT pg_advisory_lock(8823800102648637799)) l"), 1);
	t0 = test_now_ms();
	rc = ztoq_migrate_upgrade(db, "head", NULL);
	expect_timeout(rc, t0, 5000);
	cr_assert(strstr(ztoq_error_last()->message, "migration lock"), "%s",
		  ztoq_error_last()->message);
	test_exec(holder, "SELECT pg_advisory_unlock_all()");
	test_ok(ztoq_session_close(holder));
	test_ok(ztoq_migrate_upgrade(db, "head", NULL));
	check_figures(db);
	ztoq_db_close(db);
}

/* The new options come from every source, like every other option. */
Test(timeouts, options_from_every_source, .timeout = 10)
{
	static const char *const keys[] = {"statement_timeout_ms", "lock_timeout_ms"};
	static const char *const vars[] = {"ZTOQ_DB_STATEMENT_TIMEOUT_MS", "ZTOQ_DB_LOCK_TIMEOUT_MS"};
	static const char *const flags[] = {"--statement-timeout=250", "--lock-timeout=250"};

	for (int i = 0; i < 2; i++) {
		ztoq_config *cfg;
		char *argv[] = {"prog", (char *)flags[i], NULL};
		int argc = 2;

		test_ok(ztoq_config_new(&cfg));
		setenv(vars[i], "125", 1);
		test_ok(ztoq_config_load_env(cfg));
		cr_assert_str_eq(ztoq_config_get(cfg, keys[i]), "125");
		test_ok(ztoq_config_parse_args(cfg, &argc, argv));
		cr_assert_str_eq(ztoq_config_get(cfg, keys[i]), "250");
		test_ok(ztoq_config_set(cfg, keys[i], "500"));
		cr_assert_str_eq(ztoq_config_get(cfg, keys[i]), "500");
		cr_assert_eq(ztoq_config_set(cfg, keys[i], "-1"), ZTOQ_EINVALID);
		unsetenv(vars[i]);
		ztoq_config_free(cfg);
	}
}

struct stall_at_batch {
	stall_proxy *proxy;
	uint64_t t0;
	size_t batches;
};

/* Stalls the network once the first batch has arrived. */
static int stall_after_first_batch(const ztoq_batch *b, void *payload)
{
	struct stall_at_batch *at = payload;

	(void)b;
	if (at->batches++ == 0)
		at->t0 = stall_now(at->proxy);
	return 0;
}

/*
 * The network goes silent in the middle of a PostgreSQL batch stream: the next FETCH
 * from its cursor returns ZTOQ_ETIMEOUT, the stream's own transaction is rolled back
 * and the connection is evicted.
 */
Test(timeouts, silent_network_batch_stream_returns, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();
	ztoq_db *db = open_proxied(proxy, "statement_timeout_ms", "1000");
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	struct stall_at_batch at = {.proxy = proxy};
	ztoq_session *s;
	int rc;

	opts.batch_size = 10;
	test_ok(ztoq_session_open(&s, db));
	rc = ztoq_batch_stream(NULL, s, "SELECT generate_series(1, 1000)", NULL, 0,
			       stall_after_first_batch, &at, &opts);
	expect_timeout(rc, at.t0, 5000);
	cr_assert_eq(at.batches, 1);
	cr_assert_eq(ztoq_tx_depth(s), 0, "the stream's transaction is still open");
	ztoq_session_close(s);
	expect_evicted(db, 0);
	resume_and_finish(proxy, db);
}

/*
 * A PostgreSQL bulk insert (its own transaction) whose network goes silent when it
 * sends `statement` returns ZTOQ_ETIMEOUT; nothing is written, the connection is
 * evicted.
 */
/* A bulk write through a network that goes silent under `statement`; the write ends
 * within the bound, as ZTOQ_ETIMEOUT, or ZTOQ_ECOMMITUNKNOWN under a COMMIT (`commit`). */
static void bulk_through_stall(const char *statement, int commit)
{
	static const char *const columns[] = {"id"};
	static const ztoq_type types[] = {ZTOQ_TYPE_INT64};
	const ztoq_bulk_table table = {"t_bulk_stall", columns, types, NULL, 1};
	const ztoq_value rows[] = {ZTOQ_INT64(1), ZTOQ_INT64(2), ZTOQ_INT64(3)};
	stall_proxy *proxy = start_proxy();
	ztoq_db *db = open_proxied(proxy, "statement_timeout_ms", "1000");
	ztoq_session *s;
	uint64_t t0;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP TABLE IF EXISTS t_bulk_stall");
	test_exec(s, "CREATE TABLE t_bulk_stall (id BIGINT)");
	stall_proxy_stall_on(proxy, statement);
	t0 = test_now_ms();
	(commit ? expect_commit_unknown : expect_timeout)(
		ztoq_bulk_insert(NULL, s, &table, rows, 3, NULL), t0, 5000);
	cr_assert_eq(ztoq_tx_depth(s), 0, "the bulk write's transaction is still open");
	ztoq_session_close(s);
	expect_evicted(db, 0);
	resume_and_check(proxy, db, "SELECT COUNT(*) FROM t_bulk_stall", 0);
}

Test(timeouts, silent_network_bulk_insert_returns, .timeout = 30)
{
	bulk_through_stall("unnest(", 0);
}

/* Its COMMIT is psqlODBC's SQLEndTran, the one call of a commit that waits. */
Test(timeouts, silent_network_bulk_commit_returns, .timeout = 30)
{
	bulk_through_stall("COMMIT", 1);
}

/*
 * The network goes silent under the first statement of the first migration's script:
 * the upgrade returns ZTOQ_ETIMEOUT and the database stays without a table.
 */
Test(timeouts, silent_network_migration_returns, .timeout = 30)
{
	static const char tables[] = "SELECT COUNT(*) FROM pg_catalog.pg_tables "
				     "WHERE schemaname = current_schema()";
	stall_proxy *proxy = start_proxy();
	ztoq_db *db;
	uint64_t t0;

	test_pg_reset();
	db = open_proxied(proxy, "statement_timeout_ms", "1000");
	stall_proxy_stall_on(proxy, "CREATE TYPE entitytype");
	t0 = test_now_ms();
	expect_timeout(ztoq_migrate_upgrade(db, "head", NULL), t0, 5000);
	cr_assert(strstr(ztoq_error_last()->message, "migration 1"), "%s",
		  ztoq_error_last()->message);
	expect_evicted(db, 0);
	resume_and_check(proxy, db, tables, 0);
}

/*
 * ztoq_health_tables whose count meets a silent network returns the count's
 * ZTOQ_ETIMEOUT as the last error, and the connection is evicted. (psqlODBC's rollback
 * on the closed socket succeeds here; test_faults.c makes it fail.)
 */
Test(timeouts, silent_network_health_count_returns, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();
	ztoq_table_list *list = NULL;
	ztoq_session *s;
	ztoq_db *db;
	uint64_t t0;

	test_pg_reset();
	db = open_proxied(proxy, "statement_timeout_ms", "1000");
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "CREATE TABLE t_health_stall (id INTEGER)");
	test_ok(ztoq_session_close(s));
	stall_proxy_stall_on(proxy, "SELECT COUNT(*) FROM");
	t0 = test_now_ms();
	expect_timeout(ztoq_health_tables(&list, db, 1), t0, 5000);
	cr_assert_null(list);
	cr_assert_eq(ztoq_error_last()->code, ZTOQ_ETIMEOUT, "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "timed out"), "%s",
		  ztoq_error_last()->message);
	expect_evicted(db, 0);
	resume_and_finish(proxy, db);
}

/*
 * A transaction that asks for an isolation level: psqlODBC's SQLSetConnectAttr sends
 * SET SESSION CHARACTERISTICS and waits. Behind a silent network the begin returns
 * ZTOQ_ETIMEOUT and the connection is evicted.
 */
Test(timeouts, silent_network_isolation_returns, .timeout = 30)
{
	stall_proxy *proxy = start_proxy();
	ztoq_db *db = open_proxied(proxy, "statement_timeout_ms", "1000");
	ztoq_tx_options serializable = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s;
	uint64_t t0;

	serializable.isolation = ZTOQ_ISOLATION_SERIALIZABLE;
	test_ok(ztoq_session_open(&s, db));
	stall_proxy_stall_on(proxy, "ISOLATION");
	t0 = test_now_ms();
	expect_timeout(ztoq_tx_begin(s, &serializable), t0, 5000);
	cr_assert_eq(ztoq_tx_depth(s), 0);
	ztoq_session_close(s);
	expect_evicted(db, 0);
	resume_and_finish(proxy, db);
}

/* When set, pthread_create fails as it does when the process is out of threads. */
static volatile int fail_thread_starts;

/* libc's pthread_create, unless fail_thread_starts says it fails. */
int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
		   void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

	if (fail_thread_starts)
		return EAGAIN;
	*(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
	return real(thread, attr, start, arg);
}

/* The threads of this process. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Runs a query, a batch stream and a read-only transaction on `db` (SQLite), all of
 * which must succeed. */
static void query_and_stream(ztoq_db *db)
{
	ztoq_tx_options ro = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s;
	size_t rows = 0;

	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(query(s, "SELECT 1"), ZTOQ_ROW, "%s", ztoq_error_last()->message);
	test_ok(ztoq_batch_stream(NULL, s, "SELECT 'a' UNION ALL SELECT 'b'", NULL, 0,
				  count_batch, &rows, NULL));
	cr_assert_eq(rows, 2);
	ro.read_only = 1;
	test_ok(ztoq_tx_begin(s, &ro));
	test_ok(ztoq_tx_commit(s));
	ztoq_session_close(s);
}

/*
 * A manager starts its watchdog thread with the first call it bounds, not when it
 * opens: without a statement timeout a SQLite process stays single-threaded, where
 * glibc's mutexes (about 20 a fetched row in the driver manager and the driver) are
 * cheaper. With one, the thread runs from the first statement until the manager closes.
 */
Test(timeouts, watchdog_thread_starts_with_the_first_bounded_call, .timeout = 30)
{
	int before = thread_count();
	ztoq_db *db = open_cfg(config_with_timeout(ZTOQ_DB_SQLITE, "0"));

	query_and_stream(db);
	cr_assert_eq(thread_count(), before, "a thread started though no call is bounded");
	ztoq_db_close(db);
	db = open_cfg(config_with_timeout(ZTOQ_DB_SQLITE, "5000"));
	cr_assert_eq(thread_count(), before, "the watchdog started before it was needed");
	query_and_stream(db);
	cr_assert_eq(thread_count(), before + 1, "no watchdog bounds the statements");
	ztoq_db_close(db);
	cr_assert_eq(thread_count(), before, "the watchdog outlived its manager");
}

/*
 * A bounded call whose watchdog cannot start is not made unbounded: it fails with
 * ZTOQ_ENOMEM saying why, the connection stays usable, and the next call, once a
 * thread can start, runs under the watchdog.
 */
Test(timeouts, bounded_call_fails_when_the_watchdog_cannot_start, .timeout = 30)
{
	ztoq_db *db = open_cfg(config_with_timeout(ZTOQ_DB_SQLITE, "5000"));
	ztoq_session *s;
	int rc;

	test_ok(ztoq_session_open(&s, db));
	fail_thread_starts = 1;
	rc = query(s, "SELECT 1");
	fail_thread_starts = 0;
	cr_assert_eq(rc, ZTOQ_ENOMEM, "got %s", ztoq_error_name(rc));
	cr_assert(strstr(ztoq_error_last()->message, "watchdog"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(query(s, "SELECT 1"), ZTOQ_ROW, "%s", ztoq_error_last()->message);
	ztoq_session_close(s);
	ztoq_db_close(db);
}
