/*
 * test_replica.c - issue 10: read-only transactions go to a read replica, everything
 * else to the primary, against the fixture's server as primary and a real streaming
 * replica of it (tests/fixture/pg.sh replica, asynchronous) made in each test's own
 * temporary folder and stopped after it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stall_proxy.h"
#include "support.h"

#ifndef ZTOQ_CLI
#error "ZTOQ_CLI must name the ztoq program (set by Makefile.am)"
#endif

/* The replicas' folders ("" when the test made none) and ports: most tests make one,
 * a second shows the turns they take. */
static char replica_dir[512], replica_port[16];
static char second_dir[512], second_port[16];

/* Makes an asynchronous replica of the fixture's server in the test's folder `name`
 * (skips the test outside the options form: replicas are named by host and port). */
static void make_replica(char *dir, size_t dir_size, char *port, size_t port_size,
			 const char *name)
{
	const char *tmp = getenv("ZTOQ_TEST_TMPDIR"), *primary = getenv("ZTOQ_TEST_PG_SOCKET_DIR");

	test_require_options_form("a replica is named by host and port options");
	ztoq_config_free(test_config(ZTOQ_DB_POSTGRESQL)); /* skips without PostgreSQL */
	cr_assert(tmp && primary, "run under tests/fixture/with-env.sh");
	snprintf(dir, dir_size, "%s/%s-%d", tmp, name, (int)getpid());
	test_fixture("replica %s %s", dir, primary);
	snprintf(port, port_size, "%s", getenv("ZTOQ_TEST_PG_REPLICA_PORT"));
}

static void start_replica(void)
{
	make_replica(replica_dir, sizeof(replica_dir), replica_port, sizeof(replica_port),
		     "replica");
}

/* Stops the replicas a test made (immediate stop; again is harmless). */
static void stop_replica(void)
{
	if (*replica_dir)
		test_fixture("stop %s", replica_dir);
	if (*second_dir)
		test_fixture("stop %s", second_dir);
}

TestSuite(replica, .timeout = 120, .fini = stop_replica);

/* A manager on the fixture's primary with the test's replica and `settings` (key,
 * value pairs, NULL ended). */
static ztoq_db *open_routed(const char *const *settings)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	char hosts[64];
	ztoq_db *db;

	snprintf(hosts, sizeof(hosts), "127.0.0.1:%s%s%s", replica_port,
		 *second_port ? ",127.0.0.1:" : "", second_port);
	test_ok(ztoq_config_set(cfg, "replica_hosts", hosts));
	for (; settings && *settings; settings += 2)
		test_ok(ztoq_config_set(cfg, settings[0], settings[1]));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

static const ztoq_tx_options read_only = {ZTOQ_TX_OPTIONS_VERSION, ZTOQ_ISOLATION_DEFAULT, 1,
					  0, 10, NULL};

/* 1 when the session's statements run on a server in recovery (the replica). */
static int64_t in_recovery(ztoq_session *s)
{
	return test_scalar(s, "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END");
}

/* Where a read-only transaction of `s` runs: 1 on the replica, 0 on the primary. */
static int64_t read_lands(ztoq_session *s)
{
	int64_t where;

	test_ok(ztoq_tx_begin(s, &read_only));
	where = in_recovery(s);
	cr_assert_eq(ztoq_session_on_replica(s), (int)where);
	test_ok(ztoq_tx_commit(s));
	return where;
}

static int record_recovery(ztoq_session *s, void *payload)
{
	*(int64_t *)payload = in_recovery(s);
	return 0;
}

/* Starts the test's replica and opens a session of a manager routed to it, with
 * `settings` (NULL-terminated key, value pairs, or NULL) on top. */
static ztoq_session *routed_session(ztoq_db **db, const char *const *settings)
{
	ztoq_session *s;

	start_replica();
	*db = open_routed(settings);
	test_ok(ztoq_session_open(&s, *db));
	return s;
}

Test(replica, reads_go_to_the_replica_and_writes_to_the_primary)
{
	ztoq_tx_options write = ZTOQ_TX_OPTIONS_INIT;
	ztoq_route_stats rs;
	ztoq_pool_stats ps;
	ztoq_session *s;
	ztoq_db *db;
	int64_t where = -1;

	s = routed_session(&db, NULL);
	cr_assert_eq(ztoq_db_replica_count(db), 1);
	cr_assert_eq(in_recovery(s), 0, "outside a transaction: the primary");
	cr_assert_eq(read_lands(s), 1, "a read-only transaction runs on the replica");
	cr_assert_eq(in_recovery(s), 0, "and the session is back on the primary after it");
	test_ok(ztoq_tx_begin(s, &write));
	cr_assert_eq(in_recovery(s), 0, "a read-write transaction runs on the primary");
	test_exec(s, "CREATE TABLE IF NOT EXISTS route_probe (id INTEGER)");
	test_ok(ztoq_tx_commit(s));
	test_close(NULL, s);
	/* read-only ztoq_db_transaction opens straight on the replica */
	test_ok(ztoq_db_transaction(db, &read_only, record_recovery, &where));
	cr_assert_eq(where, 1);
	test_ok(ztoq_db_transaction(db, NULL, record_recovery, &where));
	cr_assert_eq(where, 0);
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 2);
	cr_assert_eq(rs.fallbacks, 0);
	test_ok(ztoq_pool_stats_get_replica(db, 0, &ps));
	cr_assert_eq(ps.acquires, 2);
	cr_assert_eq(ps.in_use, 0, "every replica connection was given back");
	cr_assert_eq(ztoq_pool_stats_get_replica(db, 1, &ps), ZTOQ_EINVALID);
	ztoq_db_close(db);
	stop_replica();
}

Test(replica, read_your_writes_keeps_reads_on_the_primary)
{
	const char *const on[] = {"read_your_writes", "1", NULL};
	ztoq_session *s;
	ztoq_db *db;
	int64_t where = -1;

	s = routed_session(&db, on);
	cr_assert_eq(read_lands(s), 0, "the option is the sessions' default");
	test_ok(ztoq_session_set_read_your_writes(s, 0));
	cr_assert_eq(read_lands(s), 1);
	test_ok(ztoq_session_close(s));
	test_ok(ztoq_db_transaction(db, &read_only, record_recovery, &where));
	cr_assert_eq(where, 0, "ztoq_db_transaction follows the option too");
	ztoq_db_close(db);

	db = open_routed(NULL);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_session_set_read_your_writes(s, 1));
	cr_assert_eq(read_lands(s), 0, "the session's setting");
	test_close(db, s);
	stop_replica();
}

/* Asserts that `code` is ZTOQ_ESTATE with a message containing `what`. */
static void expect_estate(int code, const char *what)
{
	cr_assert_eq(code, ZTOQ_ESTATE, "%s", ztoq_error_name(code));
	cr_assert(strstr(ztoq_error_last()->message, what), "%s", ztoq_error_last()->message);
}


/* Replica pool 0's connections in use. */
static size_t replica_in_use(ztoq_db *db)
{
	ztoq_pool_stats ps;

	test_ok(ztoq_pool_stats_get_replica(db, 0, &ps));
	return ps.in_use;
}

Test(replica, a_session_with_a_live_statement_is_not_routed)
{
	ztoq_db *db;
	ztoq_session *s = routed_session(&db, NULL);
	ztoq_stmt *st;

	test_ok(ztoq_stmt_prepare(&st, s, "SELECT 1"));
	cr_assert_eq(read_lands(s), 0, "a statement is bound to the primary's connection");
	ztoq_stmt_finalize(st);
	cr_assert_eq(read_lands(s), 1);

	/* one prepared in a routed transaction keeps the replica's connection lent until it
	 * is finalized, but does not run there once that transaction has ended */
	test_ok(ztoq_tx_begin(s, &read_only));
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END"));
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(in_recovery(s), 0, "the session is back on the primary");
	expect_estate(ztoq_stmt_execute(st), "prepare it again");
	cr_assert_eq(replica_in_use(db), 1);
	ztoq_stmt_finalize(st);
	cr_assert_eq(read_lands(s), 1);
	cr_assert_eq(replica_in_use(db), 0);
	test_close(db, s);
	stop_replica();
}

/* A statement prepared in a routed read-only transaction must not run in the session's
 * next, read-write, transaction: it would run on the replica, outside it. */
Test(replica, a_statement_of_an_ended_routed_transaction_is_refused)
{
	ztoq_tx_options write = ZTOQ_TX_OPTIONS_INIT;
	ztoq_db *db;
	ztoq_session *s = routed_session(&db, NULL);
	ztoq_stmt *st;

	test_ok(ztoq_tx_begin(s, &read_only));
	cr_assert_eq(ztoq_session_on_replica(s), 1);
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT 1"));
	test_ok(ztoq_stmt_execute(st));
	test_ok(ztoq_tx_commit(s));
	test_ok(ztoq_tx_begin(s, &write));
	cr_assert_eq(in_recovery(s), 0);
	expect_estate(ztoq_stmt_fetch(st), "prepared in a read-only transaction");
	expect_estate(ztoq_stmt_execute(st), "prepared in a read-only transaction");
	cr_assert_eq(in_recovery(s), 0, "the read-write transaction is unharmed");
	ztoq_stmt_finalize(st);
	cr_assert_eq(replica_in_use(db), 0, "finalize gave the replica's connection back");
	test_ok(ztoq_tx_commit(s));
	test_close(db, s);
	stop_replica();
}

/* The replica pool `i`'s acquires so far. */
static uint64_t acquires(ztoq_db *db, size_t i)
{
	ztoq_pool_stats ps;

	test_ok(ztoq_pool_stats_get_replica(db, i, &ps));
	return ps.acquires;
}

Test(replica, reads_take_turns_and_skip_a_stopped_replica)
{
	const char *const settings[] = {"validate_after_ms", "50", NULL};
	ztoq_route_stats rs;
	ztoq_session *s;
	ztoq_db *db;

	start_replica();
	make_replica(second_dir, sizeof(second_dir), second_port, sizeof(second_port), "second");
	db = open_routed(settings);
	cr_assert_eq(ztoq_db_replica_count(db), 2);
	test_ok(ztoq_session_open(&s, db));
	for (int i = 0; i < 10; i++)
		cr_assert_eq(read_lands(s), 1);
	cr_assert_eq(acquires(db, 0), 5, "round robin");
	cr_assert_eq(acquires(db, 1), 5, "round robin");
	test_fixture("stop %s", second_dir);
	test_sleep_ms(100); /* its pooled connection is then checked before use */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(read_lands(s), 1, "the other replica, not the primary");
	cr_assert_eq(acquires(db, 0), 15);
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 20);
	cr_assert_eq(rs.fallbacks, 0, "a replica skipped for another is no fallback");
	test_close(db, s);
}

/* A stopped replica: every read-only transaction runs on the primary, no error. With
 * validate_after_ms 0 its pooled connection is not checked: the begin finds it dead. */
static void reads_survive_a_stopped_replica(const char *validate_after_ms)
{
	const char *const settings[] = {"validate_after_ms", validate_after_ms, NULL};
	ztoq_route_stats rs;
	ztoq_session *s;
	ztoq_db *db;
	int64_t where = -1;

	s = routed_session(&db, settings);
	cr_assert_eq(read_lands(s), 1);
	stop_replica();
	test_sleep_ms(100);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(read_lands(s), 0, "run %d", i);
	test_ok(ztoq_db_transaction(db, &read_only, record_recovery, &where));
	cr_assert_eq(where, 0);
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 1);
	cr_assert_eq(rs.fallbacks, 6);
	test_close(db, s);
}

Test(replica, a_stopped_replica_sends_reads_to_the_primary)
{
	reads_survive_a_stopped_replica("50");
}

Test(replica, a_dead_pooled_replica_connection_falls_back_at_begin)
{
	reads_survive_a_stopped_replica("0");
}

/* A read-only ztoq_db_transaction on another thread, where it ran. */
struct read_arg {
	ztoq_db *db;
	int64_t where;
};

static void *read_once(void *p)
{
	struct read_arg *a = p;

	test_ok(ztoq_db_transaction(a->db, &read_only, record_recovery, &a->where));
	return NULL;
}

/* A read-only transaction whose begin fails on a dead replica connection gives that
 * connection back before it waits for the primary's (here: held by another session). */
Test(replica, a_fallback_gives_the_replica_connection_back_before_waiting)
{
	const char *const settings[] = {"validate_after_ms", "0", "max_connections", "1", NULL};
	struct read_arg a = {NULL, -1};
	ztoq_session *s;
	pthread_t t;

	s = routed_session(&a.db, settings); /* the primary's only connection */
	cr_assert_eq(read_lands(s), 1);       /* a replica connection, pooled */
	stop_replica();
	cr_assert_eq(pthread_create(&t, NULL, read_once, &a), 0);
	test_sleep_ms(500); /* its begin failed on the replica; it waits for the primary */
	cr_assert_eq(replica_in_use(a.db), 0, "the replica connection is back in its pool");
	test_ok(ztoq_session_close(s));
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(a.where, 0, "it ran on the primary");
	ztoq_db_close(a.db);
}

/* One of eight threads: 100 transactions, 90 read-only (each checks where it ran). */
struct mixed_arg {
	ztoq_db *db;
	int expect_replica;
	int wrong; /* read-only transactions that ran elsewhere */
};

static int mixed_write(ztoq_session *s, void *payload)
{
	(void)payload;
	return ztoq_session_exec(s, "UPDATE route_count SET n = n + 1", NULL, 0, NULL);
}

static void *mixed_thread(void *p)
{
	struct mixed_arg *a = p;
	ztoq_tx_options write = ZTOQ_TX_OPTIONS_INIT;

	for (int i = 0; i < 100; i++) {
		int64_t where = -1;

		if (i % 10 == 0) {
			test_ok(ztoq_db_transaction(a->db, &write, mixed_write, NULL));
			continue;
		}
		test_ok(ztoq_db_transaction(a->db, &read_only, record_recovery, &where));
		a->wrong += where != a->expect_replica;
	}
	return NULL;
}

/* Runs mixed_thread on eight threads; the read-only transactions that ran elsewhere. */
static int eight_threads(ztoq_db *db, int expect_replica)
{
	struct mixed_arg args[8];
	pthread_t t[8];
	int wrong = 0;

	for (int i = 0; i < 8; i++) {
		args[i] = (struct mixed_arg){db, expect_replica, 0};
		cr_assert_eq(pthread_create(&t[i], NULL, mixed_thread, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		wrong += args[i].wrong;
	}
	return wrong;
}

Test(replica, eight_threads_route_then_fall_back_with_no_error)
{
	ztoq_route_stats rs;
	ztoq_pool_stats ps;
	ztoq_session *s, *warm[8];
	ztoq_db *db;

	s = routed_session(&db, NULL);
	test_exec(s, "DROP TABLE IF EXISTS route_count");
	test_exec(s, "CREATE TABLE route_count (n INTEGER)");
	test_exec(s, "INSERT INTO route_count VALUES (0)");
	/* eight replica connections made one after the other first: while one thread
	 * connects to a replica the others fall back (a_silent_replica_...) */
	for (int i = 0; i < 8; i++) {
		test_ok(ztoq_session_open(&warm[i], db));
		test_ok(ztoq_tx_begin(warm[i], &read_only));
		cr_assert_eq(ztoq_session_on_replica(warm[i]), 1);
	}
	for (int i = 0; i < 8; i++) {
		test_ok(ztoq_tx_commit(warm[i]));
		test_close(NULL, warm[i]);
	}
	cr_assert_eq(eight_threads(db, 1), 0, "every read-only transaction on the replica");
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 728);
	cr_assert_eq(rs.fallbacks, 0);
	test_ok(ztoq_pool_stats_get_replica(db, 0, &ps));
	cr_assert_eq(ps.in_use, 0);
	cr_assert_leq(ps.total, 8);
	stop_replica();
	cr_assert_eq(eight_threads(db, 0), 0, "every read-only transaction on the primary");
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 728);
	cr_assert_eq(rs.fallbacks, 720);
	cr_assert_eq(test_scalar(s, "SELECT n FROM route_count"), 160, "every write committed");
	test_close(db, s);
}

/* Runs `sql` as the superuser on the replica (pg_wal_replay_pause/resume). */
static void on_replica_as_superuser(const char *sql)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	ztoq_session *s;
	ztoq_db *db;

	test_ok(ztoq_config_set(cfg, "port", replica_port));
	test_ok(ztoq_config_set(cfg, "username", getenv("ZTOQ_TEST_PG_SUPERUSER")));
	test_ok(ztoq_config_set(cfg, "password", getenv("ZTOQ_TEST_PG_SUPERPASSWORD")));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, sql);
	test_close(db, s);
}

Test(replica, a_lagging_replica_is_skipped_until_it_catches_up)
{
	const char *const settings[] = {"max_replica_lag_ms", "300", NULL};
	ztoq_host_status *hosts;
	ztoq_route_stats rs;
	ztoq_session *s;
	ztoq_db *db;
	size_t n;
	int i;

	s = routed_session(&db, settings);
	/* a transaction replayed first: the lag counts from its commit. Until the replica
	 * has replayed it, its WAL received but not replayed may read as a lag over the
	 * limit (the primary's idle time): poll until it runs there and sees the table */
	test_exec(s, "CREATE TABLE lag_probe (id INTEGER)");
	for (i = 0; i < 100; i++) {
		int on;

		test_ok(ztoq_tx_begin(s, &read_only));
		n = (size_t)test_scalar(s, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'lag_probe'");
		on = ztoq_session_on_replica(s);
		test_ok(ztoq_tx_commit(s));
		if (n && on)
			break;
		test_sleep_ms(50);
	}
	cr_assert_lt(i, 100, "caught up within 5 s: used");
	on_replica_as_superuser("SELECT pg_wal_replay_pause()");
	test_exec(s, "INSERT INTO lag_probe VALUES (1)");
	/* the primary flushes its WAL (synchronous_commit off in the fixture) and the
	 * replica receives it without replaying it: its lag grows past the limit */
	for (i = 0; i < 100; i++) {
		long lag;

		test_ok(ztoq_db_hosts(db, &hosts, &n));
		cr_assert_eq(n, 2);
		cr_assert_eq(hosts[1].role, ZTOQ_HOST_REPLICA);
		lag = hosts[1].lag_ms;
		ztoq_free(hosts);
		if (lag > 300)
			break;
		test_sleep_ms(50);
	}
	cr_assert_lt(i, 100, "the lag passed 300 ms within 5 s");
	test_sleep_ms(100); /* past the 100 ms a measurement is trusted */
	cr_assert_eq(read_lands(s), 0, "lagging: skipped");
	on_replica_as_superuser("SELECT pg_wal_replay_resume()");
	for (i = 0; i < 100 && read_lands(s) == 0; i++)
		test_sleep_ms(50);
	cr_assert_lt(i, 100, "used again within 5 s of the resume");
	test_ok(ztoq_tx_begin(s, &read_only));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM lag_probe"), 1, "and up to date");
	test_ok(ztoq_tx_commit(s));
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_geq(rs.fallbacks, 1);
	test_close(db, s);
	stop_replica();
}

Test(replica, hosts_show_roles_lag_and_pools)
{
	ztoq_host_status *hosts;
	ztoq_db *db;
	size_t n;

	start_replica();
	db = open_routed(NULL);
	test_ok(ztoq_db_hosts(db, &hosts, &n));
	cr_assert_eq(n, 2);
	cr_assert_str_eq(hosts[0].host, getenv("ZTOQ_TEST_PG_HOST"));
	cr_assert_eq(hosts[0].port, atoi(getenv("ZTOQ_TEST_PG_PORT")));
	cr_assert_eq(hosts[0].role, ZTOQ_HOST_PRIMARY);
	cr_assert_eq(hosts[0].pool, -1);
	cr_assert_str_eq(hosts[1].host, "127.0.0.1");
	cr_assert_eq(hosts[1].port, atoi(replica_port));
	cr_assert_eq(hosts[1].role, ZTOQ_HOST_REPLICA);
	cr_assert_geq(hosts[1].lag_ms, 0);
	cr_assert_eq(hosts[1].pool, 0);
	ztoq_free(hosts);
	stop_replica();
	test_ok(ztoq_db_hosts(db, &hosts, &n));
	cr_assert_eq(hosts[1].role, ZTOQ_HOST_DOWN);
	cr_assert_eq(hosts[1].lag_ms, -1);
	ztoq_free(hosts);
	ztoq_db_close(db);
}

/* Runs the ztoq command on the fixture's primary with the test's replica, or with the
 * replica_hosts `replicas` when not NULL: its output. */
static void run_cli(const char *command, const char *replicas, char *out, size_t size)
{
	char args[1024], mine[64];

	snprintf(mine, sizeof(mine), "127.0.0.1:%s", replica_port);
	setenv("ZTOQ_PG_PASSWORD", getenv("ZTOQ_TEST_PG_PASSWORD"), 1);
	snprintf(args, sizeof(args),
		 "%s --db-type postgresql --host %s --port %s --database %s --username %s "
		 "--replica-hosts '%s'",
		 command, getenv("ZTOQ_TEST_PG_HOST"), getenv("ZTOQ_TEST_PG_PORT"),
		 getenv("ZTOQ_TEST_PG_DATABASE"), getenv("ZTOQ_TEST_PG_USER"),
		 replicas ? replicas : mine);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, size), 0, "db %s:\n%s", args, out);
}

Test(replica, db_check_lists_both_hosts_and_migrate_runs_on_the_primary)
{
	char out[8192], line[128];
	ztoq_session *s;
	ztoq_db *db;

	start_replica();
	test_pg_reset();
	run_cli("migrate", NULL, out, sizeof(out));
	run_cli("check", NULL, out, sizeof(out));
	snprintf(line, sizeof(line), "host:       %s:%s primary, feeds the primary pool\n",
		 getenv("ZTOQ_TEST_PG_HOST"), getenv("ZTOQ_TEST_PG_PORT"));
	cr_assert(strstr(out, line), "no \"%s\" in:\n%s", line, out);
	snprintf(line, sizeof(line), "host:       127.0.0.1:%s replica, lag ", replica_port);
	cr_assert(strstr(out, line), "no \"%s\" in:\n%s", line, out);
	cr_assert(strstr(out, "ms, feeds replica pool 0\n"), "%s", out);
	cr_assert(strstr(out, "replica 0:"), "%s", out);
	cr_assert(strstr(out, "(head)"), "migrated: %s", out);
	/* the schema is on the primary (and replayed from it) */
	db = test_open(ZTOQ_DB_POSTGRESQL);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_gt(test_scalar(s, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 0);
	test_close(db, s);
	stop_replica();
}

/* A single host given with its port is reported with that port, not the port option;
 * an IPv6 replica prints in brackets. */
Test(replica, hosts_name_a_host_with_its_own_port_and_ipv6_in_brackets)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	ztoq_host_status *hosts;
	char host[128], replicas[64], out[8192], line[300];
	ztoq_db *db;
	size_t n;
	int closed = test_closed_port();

	test_require_options_form("the host is named by options");
	snprintf(host, sizeof(host), "%s:%s", getenv("ZTOQ_TEST_PG_HOST"),
		 getenv("ZTOQ_TEST_PG_PORT"));
	snprintf(replicas, sizeof(replicas), "[::1]:%d", closed);
	test_ok(ztoq_config_set(cfg, "host", host));
	test_ok(ztoq_config_set(cfg, "port", "5999"));
	test_ok(ztoq_config_set(cfg, "replica_hosts", replicas));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_db_hosts(db, &hosts, &n));
	cr_assert_eq(n, 2);
	cr_assert_str_eq(hosts[0].host, getenv("ZTOQ_TEST_PG_HOST"));
	cr_assert_eq(hosts[0].port, atoi(getenv("ZTOQ_TEST_PG_PORT")));
	cr_assert_eq(hosts[0].role, ZTOQ_HOST_PRIMARY);
	cr_assert_str_eq(hosts[1].host, "::1");
	cr_assert_eq(hosts[1].port, closed);
	cr_assert_eq(hosts[1].role, ZTOQ_HOST_DOWN);
	ztoq_free(hosts);
	ztoq_db_close(db);
	run_cli("check", replicas, out, sizeof(out));
	snprintf(line, sizeof(line), "host:       [::1]:%d down, feeds replica pool 0\n", closed);
	cr_assert(strstr(out, line), "no \"%s\" in:\n%s", line, out);
}

/* replica_hosts needs a PostgreSQL server named by options; a bad list is refused. */
TEST_BOTH(replica, replica_hosts_is_refused_where_it_cannot_apply)
{
	ztoq_config *cfg = test_config(backend);
	ztoq_db *db = NULL;
	int rc;

	if (backend == ZTOQ_DB_POSTGRESQL && strcmp(test_pg_form(), "options") == 0) {
		test_ok(ztoq_config_set(cfg, "replica_hosts", "127.0.0.1:70000"));
		rc = ztoq_db_open(&db, cfg);
		cr_assert_eq(rc, ZTOQ_EINVALID);
		cr_assert(strstr(ztoq_error_last()->message, "replica_hosts"), "%s",
			  ztoq_error_last()->message);
	} else {
		test_ok(ztoq_config_set(cfg, "replica_hosts", "127.0.0.1"));
		cr_assert_eq(ztoq_config_validate(cfg), ZTOQ_EINVALID);
		cr_assert(strstr(ztoq_error_last()->message, "replica_hosts is set"), "%s",
			  ztoq_error_last()->message);
	}
	cr_assert_null(db);
	ztoq_config_free(cfg);
}

/* The callback that stops the replica on its first run, then says where it runs. */
struct stop_inside {
	int runs;
	int64_t where;
};

static int stop_then_read(ztoq_session *s, void *payload)
{
	struct stop_inside *p = payload;

	if (p->runs++ == 0)
		test_fixture("stop %s", replica_dir);
	return ztoq_session_scalar(s, "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END",
				   NULL, 0, &p->where, NULL);
}

/* A replica stopped after the begin fails that attempt with ZTOQ_EDISCONNECTED, which
 * ztoq_db_transaction runs again, on the primary (docs/scaling.md "Which replica"). */
Test(replica, a_replica_stopped_inside_the_callback_is_retried_on_the_primary)
{
	ztoq_tx_options ro = read_only;
	struct stop_inside p = {0, -1};
	unsigned attempts = 0;
	ztoq_route_stats rs;
	ztoq_db *db;

	ro.max_retries = 3;
	ro.attempts = &attempts;
	start_replica();
	db = open_routed(NULL);
	test_ok(ztoq_db_transaction(db, &ro, stop_then_read, &p));
	cr_assert_eq(p.runs, 2);
	cr_assert_eq(attempts, 2);
	cr_assert_eq(p.where, 0, "the second run was on the primary");
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 1);
	cr_assert_eq(replica_in_use(db), 0);
	ztoq_db_close(db);
}

/* Reads where the attempt runs into the struct stop_inside `payload`, counting runs. */
static int count_then_read(ztoq_session *s, void *payload)
{
	struct stop_inside *p = payload;

	p->runs++;
	return ztoq_session_scalar(s, "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END",
				   NULL, 0, &p->where, NULL);
}

/* A replica connection that breaks during the COMMIT (a proxy on 127.0.0.1 in front of
 * the replica closes every connection as a COMMIT goes through): a read-only
 * transaction wrote nothing, so the attempt is a plain ZTOQ_EDISCONNECTED, never an
 * unknown outcome, and ztoq_db_transaction runs it again, on the primary (the broken
 * connection marked its replica down; docs/scaling.md "Which replica"). */
Test(replica, a_replica_broken_during_the_commit_is_retried_on_the_primary)
{
	ztoq_tx_options ro = read_only;
	struct stop_inside p = {0, -1};
	unsigned attempts = 0;
	ztoq_route_stats rs;
	stall_proxy *proxy;
	ztoq_db *db;

	ro.max_retries = 3;
	ro.attempts = &attempts;
	start_replica();
	proxy = stall_proxy_start(atoi(replica_port));
	snprintf(replica_port, sizeof(replica_port), "%s", stall_proxy_port(proxy));
	db = open_routed(NULL);
	stall_proxy_drop_on(proxy, "COMMIT");
	test_ok(ztoq_db_transaction(db, &ro, count_then_read, &p));
	cr_assert_eq(p.runs, 2);
	cr_assert_eq(attempts, 2);
	cr_assert_eq(p.where, 0, "the second run was on the primary");
	test_ok(ztoq_route_stats_get(db, &rs));
	cr_assert_eq(rs.routed, 1, "the first attempt ran on the replica");
	ztoq_db_close(db);
	stall_proxy_stop(proxy);
}

/* Names a listener on 127.0.0.1 that accepts TCP and never answers as the replica;
 * returns its socket. */
static int silent_replica(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	test_require_options_form("a replica is named by host and port options");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  listen(fd, 128) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	snprintf(replica_port, sizeof(replica_port), "%d", ntohs(a.sin_port));
	return fd;
}

/* One thread's read-only transactions for 3 s: the longest one, how many took over
 * 1 s and how long those took in all. */
struct silent_reader {
	ztoq_db *db;
	long longest_ms, slow, slow_ms;
	int failed;
};

static void *read_for_3s(void *p)
{
	struct silent_reader *r = p;
	long until = test_now_ms() + 3000;

	while (test_now_ms() < until) {
		long t0 = test_now_ms(), took;
		int64_t where;

		r->failed |= ztoq_db_transaction(r->db, &read_only, record_recovery, &where) != 0;
		took = test_now_ms() - t0;
		if (took > 1000) {
			r->slow++;
			r->slow_ms += took;
		}
		if (took > r->longest_ms)
			r->longest_ms = took;
	}
	return NULL;
}

Test(replica, a_silent_replica_stalls_neither_reads_nor_primary_connects, .timeout = 60)
{
	const char *const settings[] = {"connect_timeout_s", "5", NULL};
	struct silent_reader readers[8];
	pthread_t threads[8];
	ztoq_config *cfg;
	ztoq_db *db, *other;
	long slow = 0, slow_ms = 0, t0, open_ms;
	int fd = silent_replica();

	db = open_routed(settings);
	for (int i = 0; i < 8; i++) {
		readers[i] = (struct silent_reader){.db = db};
		cr_assert_eq(pthread_create(&threads[i], NULL, read_for_3s, &readers[i]), 0);
	}
	test_sleep_ms(200); /* a replica connect is under way */
	cfg = test_config(ZTOQ_DB_POSTGRESQL);
	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "5"));
	t0 = test_now_ms();
	test_ok(ztoq_db_open(&other, cfg)); /* a primary connect */
	open_ms = test_now_ms() - t0;
	ztoq_config_free(cfg);
	ztoq_db_close(other);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(pthread_join(threads[i], NULL), 0);
		cr_assert_eq(readers[i].failed, 0);
		cr_assert_leq(readers[i].longest_ms, 3500, "thread %d waited %ld ms", i,
			      readers[i].longest_ms);
		slow += readers[i].slow;
		slow_ms += readers[i].slow_ms;
	}
	/* one replica connect (its timeout: 2 s) and the connects queued behind it */
	cr_assert_leq(slow, 8, "%ld transactions over 1 s (%ld ms in all)", slow, slow_ms);
	cr_assert_leq(open_ms, 3500, "a primary connect waited %ld ms", open_ms);
	ztoq_db_close(db);
	close(fd);
}

/* ztoq_pool_maintain closes a replica pool's connections past their idle timeout. */
Test(replica, maintain_closes_idle_replica_connections)
{
	const char *const settings[] = {"min_connections", "0", "idle_timeout_ms", "200", NULL};
	ztoq_pool_stats ps;
	ztoq_session *s;
	ztoq_db *db;

	s = routed_session(&db, settings);
	cr_assert_eq(read_lands(s), 1);
	test_close(NULL, s);
	test_ok(ztoq_pool_stats_get_replica(db, 0, &ps));
	cr_assert_eq(ps.idle, 1, "the replica connection went back to its pool");
	test_sleep_ms(400);
	test_ok(ztoq_pool_maintain(db));
	test_ok(ztoq_pool_stats_get_replica(db, 0, &ps));
	cr_assert_eq(ps.total, 0, "idle past its timeout: closed (total %zu)", ps.total);
	cr_assert_eq(ps.closed, 1);
	ztoq_db_close(db);
	stop_replica();
}
