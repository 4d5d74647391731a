/*
 * test_threads.c - thread-local sessions and many threads on one pool.
 */
#include <pthread.h>
#include <unistd.h>

#include "support.h"

static ztoq_db *db;
static ztoq_config *cfg; /* kept, to reopen the same database */

static void setup_db(ztoq_db_type backend, const char *max)
{
	ztoq_session *s;

	cfg = test_config(backend);
	test_ok(ztoq_config_set(cfg, "max_connections", max));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP TABLE IF EXISTS t");
	test_exec(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, owner INTEGER)");
	ztoq_session_close(s);
}

static int64_t count_rows(void)
{
	ztoq_session *s;
	int64_t n;

	test_ok(ztoq_session_open(&s, db));
	n = test_scalar(s, "SELECT COUNT(*) FROM t");
	ztoq_session_close(s);
	return n;
}

struct worker {
	int id;
	ztoq_session *first, *second;
	int leave_open; /* exit without closing, with a transaction open */
};

static void *use_thread_session(void *arg)
{
	struct worker *w = arg;
	ztoq_value row[] = {ZTOQ_INT64(w->id), ZTOQ_INT64(w->id)};

	test_ok(ztoq_db_thread_session(&w->first, db));
	test_ok(ztoq_db_thread_session(&w->second, db));
	test_ok(ztoq_tx_begin(w->first, NULL));
	test_ok(ztoq_session_exec(w->first, "INSERT INTO t VALUES (?, ?)", row, 2, NULL));
	if (w->leave_open)
		return NULL; /* the thread's exit must give the connection back, rolled back */
	test_ok(ztoq_tx_commit(w->first));
	test_ok(ztoq_db_close_thread_session(db));
	return NULL;
}

TEST_BOTH(threads, thread_sessions_are_per_thread_and_reused)
{
	struct worker w[3] = {{1, NULL, NULL, 0}, {2, NULL, NULL, 0}, {3, NULL, NULL, 0}};
	pthread_t t[3];
	ztoq_session *mine, *again;

	setup_db(backend, "4");
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, use_thread_session, &w[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(w[i].first, w[i].second, "the same session on later calls in a thread");
	test_ok(ztoq_db_thread_session(&mine, db));
	test_ok(ztoq_db_thread_session(&again, db));
	cr_assert_eq(mine, again);
	cr_assert_eq(ztoq_session_close(mine), ZTOQ_ESTATE, "a thread session is not closed directly");
	test_ok(ztoq_db_close_thread_session(db));
	test_ok(ztoq_db_close_thread_session(db)); /* twice is harmless */
	cr_assert_eq(count_rows(), 3, "each thread committed on its own");
	ztoq_db_close(db);
}

TEST_BOTH(threads, exiting_thread_returns_its_session_rolled_back)
{
	struct worker w = {7, NULL, NULL, 1};
	ztoq_pool_stats st;
	pthread_t t;

	setup_db(backend, "2");
	pthread_create(&t, NULL, use_thread_session, &w);
	pthread_join(t, NULL);
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_eq(st.in_use, 0, "the exited thread's connection is back in the pool");
	cr_assert_eq(count_rows(), 0, "its open transaction was rolled back");
	ztoq_db_close(db);
}

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int parked, released;
static ztoq_db_type park_backend;

static void *hold_and_park(void *arg)
{
	/* SQLite has one writer at a time: the second thread holds a reading transaction */
	int writer = park_backend == ZTOQ_DB_POSTGRESQL || (intptr_t)arg == 1;
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	ztoq_session *s;

	opts.read_only = !writer;
	test_ok(ztoq_db_thread_session(&s, db));
	test_ok(ztoq_tx_begin(s, &opts));
	if (writer)
		test_ok(ztoq_session_exec(s, "INSERT INTO t (id) VALUES (?)",
					  (ztoq_value[]){ZTOQ_INT64((intptr_t)arg)}, 1, NULL));
	else
		cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), 0);
	pthread_mutex_lock(&park_lock);
	parked++;
	pthread_cond_broadcast(&park_cond);
	while (!released)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	return NULL; /* exits after the manager is gone: nothing left to give back */
}

TEST_BOTH(threads, closing_the_manager_while_threads_hold_sessions_is_safe)
{
	pthread_t t[2];

	setup_db(backend, "3");
	park_backend = backend;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hold_and_park, (void *)(intptr_t)(i + 1));
	pthread_mutex_lock(&park_lock);
	while (parked < 2)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	ztoq_db_close(db); /* reclaims both sessions, rolled back */
	pthread_mutex_lock(&park_lock);
	released = 1;
	pthread_cond_broadcast(&park_cond);
	pthread_mutex_unlock(&park_lock);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(count_rows(), 0, "the reclaimed transactions were rolled back");
	ztoq_db_close(db);
}

#define CHURN_THREADS 8
#define CHURN_ROUNDS 40

static void *churn(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < CHURN_ROUNDS; i++) {
		ztoq_session *s;
		ztoq_value row[] = {ZTOQ_INT64(id * 1000 + i), ZTOQ_INT64(id)};

		test_ok(ztoq_session_open_timeout(&s, db, 30000));
		test_ok(ztoq_session_exec(s, "INSERT INTO t VALUES (?, ?)", row, 2, NULL));
		test_sleep_ms(2); /* outlive max_lifetime, so the release disconnects */
		ztoq_session_close(s);
	}
	return NULL;
}

/*
 * Eight threads opening and closing connections in a loop: the pool keeps none idle
 * (max_lifetime 1 ms), so every round connects and disconnects through the driver.
 * On SQLite that corrupts memory unless connect/disconnect are serialised.
 */
TEST_BOTH(threads, eight_threads_connecting_and_disconnecting)
{
	ztoq_session *s;
	pthread_t t[CHURN_THREADS];
	ztoq_pool_stats st;

	cfg = test_config(backend);
	test_ok(ztoq_config_set(cfg, "min_connections", "0"));
	test_ok(ztoq_config_set(cfg, "max_connections", "8"));
	test_ok(ztoq_config_set(cfg, "max_lifetime_ms", "1"));
	test_ok(ztoq_config_set(cfg, "busy_timeout_ms", "10000"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP TABLE IF EXISTS t");
	test_exec(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, owner INTEGER)");
	ztoq_session_close(s);
	for (int i = 0; i < CHURN_THREADS; i++)
		pthread_create(&t[i], NULL, churn, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < CHURN_THREADS; i++)
		pthread_join(t[i], NULL);
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert_geq(st.created, CHURN_THREADS * CHURN_ROUNDS * 9 / 10, "connections really churned (%llu)",
		      (unsigned long long)st.created);
	cr_assert_eq(st.in_use, 0);
	cr_assert_eq(count_rows(), CHURN_THREADS * CHURN_ROUNDS);
	ztoq_db_close(db);
}
