/*
 * test_pool.c - the connection pool: deadline, FIFO hand-off, validation of idle
 * connections, eviction of broken ones, idle timeout and lifetime, statistics.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "support.h"

static ztoq_db *open_pool(ztoq_db_type backend, const char *const *settings)
{
	ztoq_config *cfg = test_config(backend);
	ztoq_db *db;

	for (int i = 0; settings && settings[i]; i += 2)
		test_ok(ztoq_config_set(cfg, settings[i], settings[i + 1]));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

static ztoq_pool_stats stats_of(ztoq_db *db)
{
	ztoq_pool_stats st;
	test_ok(ztoq_pool_stats_get(db, &st));
	return st;
}

TEST_BOTH(pool, exhausted_pool_times_out_at_the_deadline_with_figures)
{
	static const char *const set[] = {"min_connections", "1", "max_connections", "1", NULL};
	ztoq_db *db = open_pool(backend, set);
	ztoq_session *held, *s = NULL;
	uint64_t start, waited_ms;

	test_ok(ztoq_session_open(&held, db));
	start = ztoq__now_ns();
	cr_assert_eq(ztoq_session_open_timeout(&s, db, 200), ZTOQ_ETIMEOUT);
	waited_ms = (ztoq__now_ns() - start) / 1000000u;
	cr_assert_null(s);
	cr_assert_geq(waited_ms, 200, "waited the whole deadline (%llu ms)", (unsigned long long)waited_ms);
	cr_assert_lt(waited_ms, 1000, "and not much longer (%llu ms)", (unsigned long long)waited_ms);
	cr_assert(strstr(ztoq_error_last()->message, "total 1, idle 0, in use 1, waiting 0"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(stats_of(db).timeouts, 1);
	ztoq_session_close(held);
	test_ok(ztoq_session_open_timeout(&s, db, 200));
	ztoq_session_close(s);
	ztoq_db_close(db);
}

struct queue_probe {
	ztoq_db *db;
	int id;
	pthread_mutex_t *lock;
	int *order, *served;
};

static void *wait_in_line(void *arg)
{
	struct queue_probe *p = arg;
	ztoq_session *s;

	test_ok(ztoq_session_open_timeout(&s, p->db, 10000));
	pthread_mutex_lock(p->lock);
	p->order[(*p->served)++] = p->id;
	pthread_mutex_unlock(p->lock);
	ztoq_session_close(s);
	return NULL;
}

static void wait_for_waiters(ztoq_db *db, size_t n)
{
	for (int i = 0; i < 2000 && stats_of(db).waiting < n; i++)
		test_sleep_ms(1);
	cr_assert_eq(stats_of(db).waiting, n);
}

TEST_BOTH(pool, waiters_are_served_first_come_first_served)
{
	static const char *const set[] = {"min_connections", "1", "max_connections", "1", NULL};
	ztoq_db *db = open_pool(backend, set);
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int order[4] = {0}, served = 0;
	struct queue_probe probes[4];
	pthread_t threads[4];
	ztoq_session *held;

	test_ok(ztoq_session_open(&held, db));
	for (int i = 0; i < 4; i++) {
		probes[i] = (struct queue_probe){db, i + 1, &lock, order, &served};
		pthread_create(&threads[i], NULL, wait_in_line, &probes[i]);
		wait_for_waiters(db, (size_t)i + 1); /* queue them in a known order */
	}
	ztoq_session_close(held);
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(order[i], i + 1, "waiter %d was served %dth", order[i], i + 1);
	cr_assert_eq(stats_of(db).total, 1, "one connection served everyone");
	ztoq_db_close(db);
}

/* Kills the server backend behind a session, from another connection. */
static void kill_backend_of(ztoq_db *db, ztoq_session *victim)
{
	int64_t pid = test_scalar(victim, "SELECT pg_backend_pid()");
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	ztoq_db *admin;
	ztoq_session *s;

	(void)db;
	test_ok(ztoq_db_open(&admin, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_session_open(&s, admin));
	test_ok(ztoq_session_exec(s, "SELECT pg_terminate_backend(CAST(? AS INTEGER))",
				  (ztoq_value[]){ZTOQ_INT64(pid)}, 1, NULL));
	ztoq_session_close(s);
	ztoq_db_close(admin);
	test_sleep_ms(50);
}

Test(pool, idle_connection_killed_by_the_server_is_replaced_before_use)
{
	static const char *const set[] = {"min_connections", "1", "max_connections", "1",
					  "validate_after_ms", "1", NULL};
	ztoq_db *db = open_pool(ZTOQ_DB_POSTGRESQL, set);
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	kill_backend_of(db, s);
	ztoq_session_close(s); /* back in the pool, dead, and the pool does not know yet */
	test_sleep_ms(5);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT 1"), 1, "the session got a live connection");
	ztoq_session_close(s);
	cr_assert_eq(stats_of(db).evicted, 1);
	cr_assert_eq(stats_of(db).created, 2);
	ztoq_db_close(db);
}

Test(pool, connection_that_saw_a_disconnect_is_evicted_not_reused)
{
	static const char *const set[] = {"min_connections", "0", "max_connections", "2",
					  "validate_after_ms", "0", NULL};
	ztoq_db *db = open_pool(ZTOQ_DB_POSTGRESQL, set);
	ztoq_session *s;
	int rc;

	test_ok(ztoq_session_open(&s, db));
	kill_backend_of(db, s);
	rc = ztoq_session_exec(s, "SELECT 1", NULL, 0, NULL);
	cr_assert_eq(rc, ZTOQ_EDISCONNECTED, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	ztoq_session_close(s);
	cr_assert_eq(stats_of(db).evicted, 1);
	cr_assert_eq(stats_of(db).total, 0, "the broken connection was closed, not pooled");
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT 1"), 1);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

TEST_BOTH(pool, idle_timeout_and_lifetime_never_go_below_min)
{
	static const char *const set[] = {"min_connections", "1", "max_connections", "3",
					  "idle_timeout_ms", "30", NULL};
	ztoq_db *db = open_pool(backend, set);
	ztoq_session *s[3];
	ztoq_pool_stats st;

	for (int i = 0; i < 3; i++)
		test_ok(ztoq_session_open(&s[i], db));
	for (int i = 0; i < 3; i++)
		ztoq_session_close(s[i]);
	cr_assert_eq(stats_of(db).total, 3);
	test_sleep_ms(80);
	test_ok(ztoq_pool_maintain(db));
	st = stats_of(db);
	cr_assert_eq(st.total, 1, "idle ones closed down to the minimum");
	cr_assert_eq(st.closed, 2);
	ztoq_db_close(db);
}

TEST_BOTH(pool, max_lifetime_retires_old_idle_connections)
{
	static const char *const set[] = {"min_connections", "0", "max_connections", "2",
					  "max_lifetime_ms", "20", NULL};
	ztoq_db *db = open_pool(backend, set);
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_sleep_ms(40);
	ztoq_session_close(s); /* too old: closed as it comes back */
	cr_assert_eq(stats_of(db).total, 0);
	cr_assert_eq(stats_of(db).closed, 1);
	ztoq_db_close(db);
}

TEST_BOTH(pool, statistics_add_up)
{
	static const char *const set[] = {"min_connections", "2", "max_connections", "4", NULL};
	ztoq_db *db = open_pool(backend, set);
	ztoq_session *a, *b, *c;
	ztoq_pool_stats st = stats_of(db);

	cr_assert_eq(st.total, 2, "min opened at start");
	cr_assert_eq(st.idle, 2);
	cr_assert_eq(st.min, 2);
	cr_assert_eq(st.max, 4);
	test_ok(ztoq_session_open(&a, db));
	test_ok(ztoq_session_open(&b, db));
	test_ok(ztoq_session_open(&c, db));
	st = stats_of(db);
	cr_assert_eq(st.total, 3);
	cr_assert_eq(st.in_use, 3);
	cr_assert_eq(st.idle, 0);
	cr_assert_eq(st.created, 3);
	cr_assert_eq(st.acquires, 3);
	ztoq_session_close(a);
	ztoq_session_close(b);
	ztoq_session_close(c);
	st = stats_of(db);
	cr_assert_eq(st.in_use, 0);
	cr_assert_eq(st.idle, 3);
	cr_assert_eq(st.waiting, 0);
	ztoq_db_close(db);
}

TEST_BOTH(pool, lazy_open_connects_on_first_use)
{
	static const char *const set[] = {"min_connections", "2", "max_connections", "4",
					  "lazy_open", "1", NULL};
	ztoq_db *db = open_pool(backend, set);
	ztoq_session *s;

	cr_assert_eq(stats_of(db).total, 0, "nothing opened at start");
	test_ok(ztoq_session_open(&s, db));
	ztoq_session_close(s);
	cr_assert_eq(stats_of(db).total, 1);
	cr_assert_eq(stats_of(db).idle, 1, "kept: below the minimum");
	ztoq_db_close(db);
}
