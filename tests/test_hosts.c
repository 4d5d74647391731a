/*
 * test_hosts.c - issue 10's host list: parsing "host[:port],..." (src/hosts.c), the
 * connection string of one server, and (with real servers) the primary pool's walk
 * of the list and failover.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "config.h"
#include "hosts.h"
#include "stall_proxy.h"
#include "support.h"

TestSuite(hosts, .timeout = 30);

struct parse_case {
	const char *list;
	size_t count;
	const char *shown[3]; /* ztoq__hosts_format() of each, or the refusal's words */
};

static const struct parse_case good[] = {
	{"db", 1, {"db:5432"}},
	{"db1:6001,db2", 2, {"db1:6001", "db2:5432"}},
	{" db1 , 127.0.0.1:7000 ", 2, {"db1:5432", "127.0.0.1:7000"}},
	{"[::1]:5433", 1, {"[::1]:5433"}},
	{"[::1],::1,[fe80::1%lo]:1", 3, {"[::1]:5432", "[::1]:5432", "[fe80::1%lo]:1"}},
	{"h:65535,h:1", 2, {"h:65535", "h:1"}},
	{"a b,{c}", 2, {"a b:5432", "{c}:5432"}}, /* refused when composed (test_connstr.c) */
};

/* Refused: the message names the option and the item (or says what is wrong). */
static const struct parse_case bad[] = {
	{"", 0, {"replica_hosts: item 1 of \"\" is empty"}},
	{"a,,b", 0, {"replica_hosts: item 2 of \"a,,b\" is empty"}},
	{"a,", 0, {"item 2 of \"a,\" is empty"}},
	{"a:0", 0, {"item 1 \"a:0\" has a bad port \"0\" (expected 1-65535)"}},
	{"a,b:65536", 0, {"item 2 \"b:65536\" has a bad port \"65536\""}},
	{"a:x1", 0, {"item 1 \"a:x1\" has a bad port \"x1\""}},
	{"a:", 0, {"item 1 \"a:\" has a bad port \"\""}},
	{"a:-1", 0, {"bad port \"-1\""}},
	{"[::1", 0, {"item 1 \"[::1\" is not [address] or [address]:port"}},
	{"[]:5", 0, {"is not [address]"}},
	{"[::1]x", 0, {"is not [address]"}},
	{"[::1]:", 0, {"has a bad port \"\""}},
	{":5432", 0, {"item 1 \":5432\" is not a host name or address"}},
};

Test(hosts, parse_names_ports_and_ipv6)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ztoq__host_list l;
		char text[ZTOQ__HOST_TEXT_SIZE];

		test_ok(ztoq__hosts_parse(&l, good[i].list, "host", 5432));
		cr_assert_eq(l.count, good[i].count, "\"%s\": %zu hosts", good[i].list, l.count);
		for (size_t h = 0; h < l.count; h++) {
			ztoq__hosts_format(text, sizeof(text), &l.hosts[h]);
			cr_expect_str_eq(text, good[i].shown[h], "\"%s\" host %zu", good[i].list, h);
		}
	}
}

Test(hosts, parse_errors_name_the_option_and_the_item)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ztoq__host_list l;

		cr_expect_eq(ztoq__hosts_parse(&l, bad[i].list, "replica_hosts", 5432),
			     ZTOQ_EINVALID, "\"%s\" must be refused", bad[i].list);
		cr_expect(strstr(ztoq_error_last()->message, bad[i].shown[0]), "\"%s\": %s",
			  bad[i].list, ztoq_error_last()->message);
		cr_expect(strncmp(ztoq_error_last()->message, "replica_hosts: ", 15) == 0,
			  "%s", ztoq_error_last()->message);
	}
}

Test(hosts, parse_limits)
{
	char list[ZTOQ__MAX_HOSTS * 4 + 16] = "", name[ZTOQ__HOST_NAME_MAX + 2];
	ztoq__host_list l;

	for (int i = 0; i < ZTOQ__MAX_HOSTS; i++)
		sprintf(list + strlen(list), "%sh%d", i ? "," : "", i);
	test_ok(ztoq__hosts_parse(&l, list, "host", 1));
	cr_assert_eq(l.count, ZTOQ__MAX_HOSTS);
	strcat(list, ",one");
	cr_assert_eq(ztoq__hosts_parse(&l, list, "host", 1), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "host: more than 16 hosts"), "%s",
		  ztoq_error_last()->message);

	memset(name, 'n', ZTOQ__HOST_NAME_MAX);
	name[ZTOQ__HOST_NAME_MAX] = '\0';
	test_ok(ztoq__hosts_parse(&l, name, "host", 1));
	strcat(name, "n");
	cr_assert_eq(ztoq__hosts_parse(&l, name, "host", 1), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "(too long)"), "%s",
		  ztoq_error_last()->message);
}

/* A PostgreSQL configuration of `host` with a password, resolved into `set`. */
static ztoq_config *pg_config(const char *host)
{
	ztoq_config *cfg;

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "db_type", "postgresql"));
	test_ok(ztoq_config_set(cfg, "host", host));
	test_ok(ztoq_config_set(cfg, "port", "6000"));
	test_ok(ztoq_config_set(cfg, "username", "u"));
	test_ok(ztoq_config_set(cfg, "password", "s3cret-pw"));
	return cfg;
}

#define PG_HEAD(host, port) \
	"Driver={PostgreSQL Unicode};Server=" host ";Port=" port ";Database=ztoq;Protocol=7.4-0;"
#define PG_TAIL(host, port) \
	PG_HEAD(host, port) \
	"pqopt={keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 " \
	"tcp_user_timeout=60000};Uid=u"

/* One server's string is the configuration's with its host and port; the public
 * ztoq_connstr_build() gives the first server's. */
Test(hosts, compose_one_server_of_the_list)
{
	ztoq_config *cfg = pg_config("db1:6001, [::1]:6002,db3");
	ztoq__settings set;
	ztoq__host_list l;
	char *connstr, *redacted;

	test_ok(ztoq__settings_resolve(&set, cfg));
	test_ok(ztoq__hosts_parse(&l, set.host, "host", set.port));
	cr_assert_eq(l.count, 3);
	test_ok(ztoq_connstr_build(&connstr, cfg));
	cr_expect_str_eq(connstr, PG_TAIL("db1", "6001") ";Pwd={s3cret-pw}");
	ztoq_free(connstr);
	test_ok(ztoq__hosts_compose(&connstr, &redacted, &set, set.db_type, "s3cret-pw",
				    &l.hosts[1]));
	cr_expect_str_eq(connstr, PG_TAIL("::1", "6002") ";Pwd={s3cret-pw}");
	cr_expect_str_eq(redacted, PG_HEAD("::1", "6002") "pqopt=***;Uid=u;Pwd=***");
	ztoq__free_secret(connstr);
	ztoq__free(redacted);
	test_ok(ztoq__hosts_compose(&connstr, &redacted, &set, set.db_type, NULL, &l.hosts[2]));
	cr_expect_str_eq(connstr, PG_TAIL("db3", "6000"));
	ztoq__free_secret(connstr);
	ztoq__free(redacted);
	ztoq_config_free(cfg);
}

/* A bad list is refused when the configuration is validated, and by ztoq_db_open. */
Test(hosts, bad_list_refused_by_validate_and_open)
{
	ztoq_config *cfg = pg_config("db1,,db2");
	ztoq_db *db = NULL;

	cr_assert_eq(ztoq_config_validate(cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "host: item 2 of \"db1,,db2\" is empty"),
		  "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_EINVALID);
	cr_assert_null(db);
	cr_assert(strstr(ztoq_error_last()->message, "host: item 2"), "%s",
		  ztoq_error_last()->message);
	cr_assert_null(strstr(ztoq_error_last()->message, "s3cret"));
	ztoq_config_free(cfg);
}

/* A host list with a DSN is refused: the DSN names its one server. */
Test(hosts, list_with_a_dsn_is_refused)
{
	ztoq_config *cfg;

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "dsn", "ztoq_pg"));
	test_ok(ztoq_config_set(cfg, "host", "db1,db2"));
	cr_assert_eq(ztoq_config_validate(cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "host names several servers (\"db1,db2\"), "
						    "which a DSN cannot take"),
		  "%s", ztoq_error_last()->message);
	test_ok(ztoq_config_set(cfg, "host", "db1"));
	test_ok(ztoq_config_validate(cfg));
	ztoq_config_free(cfg);
}

/* failover_timeout_ms has its four sources, the explicit value winning; a bad value is
 * refused naming where it came from. */
Test(hosts, failover_timeout_from_every_source)
{
	char *argv[] = {"ztoq", "--failover-timeout=2000", NULL};
	int argc = 2;
	ztoq_config *cfg;

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	cr_assert_str_eq(ztoq_config_get(cfg, "failover_timeout_ms"), "0");
	setenv("ZTOQ_PG_FAILOVER_TIMEOUT_MS", "1000", 1);
	test_ok(ztoq_config_load_env(cfg));
	cr_assert_str_eq(ztoq_config_get(cfg, "failover_timeout_ms"), "1000");
	test_ok(ztoq_config_parse_args(cfg, &argc, argv));
	cr_assert_str_eq(ztoq_config_get(cfg, "failover_timeout_ms"), "2000");
	test_ok(ztoq_config_set(cfg, "failover_timeout_ms", "3000"));
	cr_assert_str_eq(ztoq_config_get(cfg, "failover_timeout_ms"), "3000");
	setenv("ZTOQ_PG_FAILOVER_TIMEOUT_MS", "-5", 1);
	cr_assert_eq(ztoq_config_load_env(cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message,
			 "environment variable ZTOQ_PG_FAILOVER_TIMEOUT_MS: -5 is out of range"),
		  "%s", ztoq_error_last()->message);
	unsetenv("ZTOQ_PG_FAILOVER_TIMEOUT_MS");
	ztoq_config_free(cfg);
}

/* ---- with real servers: the fixture's primary, and a replica a test starts ------- */

static char replica_dir[512]; /* a server this test started, stopped by its fini */

static void stop_replica(void)
{
	if (replica_dir[0])
		test_fixture("stop %s", replica_dir);
}

TestSuite(hosts_pg, .timeout = 120, .fini = stop_replica);

/* Starts an asynchronous replica of the fixture's primary; returns its port. */
static int start_replica(void)
{
	snprintf(replica_dir, sizeof(replica_dir), "%s", test_path("replica"));
	test_fixture("replica %s %s", replica_dir, getenv("ZTOQ_TEST_PG_SOCKET_DIR"));
	return atoi(getenv("ZTOQ_TEST_PG_REPLICA_PORT"));
}

/* The fixture's PostgreSQL configuration with host set to `list` (printf-style). */
static ztoq_config *list_config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static ztoq_config *list_config(const char *fmt, ...)
{
	ztoq_config *cfg;
	char list[512];
	va_list ap;

	test_require_options_form("a host list is given in options");
	cfg = test_config(ZTOQ_DB_POSTGRESQL);
	va_start(ap, fmt);
	vsnprintf(list, sizeof(list), fmt, ap);
	va_end(ap);
	test_ok(ztoq_config_set(cfg, "host", list));
	return cfg;
}

static int primary_port(void)
{
	return atoi(getenv("ZTOQ_TEST_PG_PORT"));
}

/* In one read-write transaction of a new session: the server's port, and that it is
 * not in recovery. */
static int64_t written_port(ztoq_db *db)
{
	ztoq_session *s;
	int64_t port;

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	cr_assert_eq(test_scalar(s, "SELECT pg_is_in_recovery()::int"), 0);
	port = test_scalar(s, "SELECT inet_server_port()");
	test_ok(ztoq_tx_commit(s));
	test_ok(ztoq_session_close(s));
	return port;
}

Test(hosts_pg, closed_port_then_primary_connects_to_the_primary)
{
	ztoq_config *cfg = list_config("127.0.0.1:%d,127.0.0.1:%d", test_closed_port(),
				       primary_port());
	ztoq_db *db;

	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(written_port(db), primary_port());
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

/* A replica first in the list is passed over (pg_is_in_recovery()). With the replica
 * alone, the open fails naming it as in recovery, and the other server with its own
 * reason. */
Test(hosts_pg, replica_is_passed_over_and_named)
{
	int replica = start_replica(), closed = test_closed_port();
	ztoq_config *cfg = list_config("127.0.0.1:%d,[::1]:%d,127.0.0.1:%d", replica, closed,
				       primary_port());
	const char *msg;
	ztoq_db *db;

	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(written_port(db), primary_port());
	ztoq_db_close(db);
	ztoq_config_free(cfg);

	cfg = list_config("127.0.0.1:%d,127.0.0.1:%d", replica, closed);
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_ECONNECT);
	msg = ztoq_error_last()->message;
	cr_log_info("%s", msg);
	cr_assert(strstr(msg, "no writable primary among the 2 servers of host"), "%s", msg);
	cr_assert(strstr(msg, "in recovery (a standby: read-only)"), "%s", msg);
	cr_assert(strstr(msg, "Connection refused"), "%s", msg);
	cr_assert_null(strstr(msg, getenv("ZTOQ_TEST_PG_PASSWORD")), "%s", msg);
	cr_assert_null(strstr(msg, "Pwd"), "%s", msg);
	ztoq_config_free(cfg);
}

/* Milliseconds since `t0_ns` (CLOCK_MONOTONIC). */
static uint64_t ms_since(uint64_t t0_ns)
{
	return (ztoq__now_ns() - t0_ns) / 1000000u;
}

/* With no primary, the walk goes on for failover_timeout_ms, and not much longer. */
Test(hosts_pg, failover_timeout_bounds_the_walk)
{
	ztoq_config *cfg = list_config("127.0.0.1:%d,127.0.0.1:%d", test_closed_port(),
				       test_closed_port());
	uint64_t t0 = ztoq__now_ns(), ms;
	ztoq_db *db = NULL;

	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_ECONNECT, "%s", ztoq_error_last()->message);
	ms = ms_since(t0);
	cr_assert_lt(ms, 200, "one pass over two closed ports took %llu ms", (unsigned long long)ms);
	test_ok(ztoq_config_set(cfg, "failover_timeout_ms", "700"));
	t0 = ztoq__now_ns();
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_ECONNECT);
	ms = ms_since(t0);
	cr_log_info("failover_timeout_ms 700: gave up after %llu ms", (unsigned long long)ms);
	cr_assert_geq(ms, 700);
	cr_assert_lt(ms, 1200);
	cr_assert(strstr(ztoq_error_last()->message, "(failover_timeout_ms 700)"), "%s",
		  ztoq_error_last()->message);
	cr_assert_null(db);
	ztoq_config_free(cfg);
}

/* The first run's backend is terminated by the server (as a stopping primary does)
 * after its INSERT, before COMMIT: ztoq_db_transaction runs it again on a new
 * connection and the row is committed once. */
static int insert_then_die_once(ztoq_session *s, void *payload)
{
	unsigned *runs = payload;
	int rc;

	if ((rc = ztoq_session_exec(s, "INSERT INTO hosts_t VALUES (1)", NULL, 0, NULL)) < 0 ||
	    ++*runs > 1)
		return rc;
	return ztoq_session_exec(s, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, 0,
				 NULL);
}

Test(hosts_pg, real_disconnect_before_commit_is_retried)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	unsigned runs = 0, attempts = 0;
	ztoq_session *s;
	ztoq_db *db;

	s = test_empty_session(&db, ZTOQ_DB_POSTGRESQL);
	test_exec(s, "CREATE TABLE hosts_t (id INT PRIMARY KEY)");
	test_ok(ztoq_session_close(s));
	opts.max_retries = 2;
	opts.attempts = &attempts;
	test_ok(ztoq_db_transaction(db, &opts, insert_then_die_once, &runs));
	cr_assert_eq(attempts, 2);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM hosts_t"), 1);
	test_close(db, s);
}

/* The open of a manager on `cfg`, which must fail with ZTOQ_ECONNECT: its time in ms. */
static uint64_t failed_open_ms(ztoq_config *cfg)
{
	uint64_t t0 = ztoq__now_ns();
	ztoq_db *db = NULL;

	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_ECONNECT, "%s", ztoq_error_last()->message);
	return ms_since(t0);
}

/*
 * Servers that hang (a silent network: the stall proxy) until connect_timeout_s: a
 * later pass of the walk stops at failover_timeout_ms before its next server, so the
 * walk overruns the bound by one connect at most, not by a whole pass.
 */
Test(hosts_pg, walk_stops_at_the_deadline_between_servers)
{
	stall_proxy *p = stall_proxy_start(primary_port());
	ztoq_config *cfg;
	uint64_t one, walk;
	char text[32];

	stall_proxy_stall(p);
	cfg = list_config("127.0.0.1:%s", stall_proxy_port(p));
	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "1"));
	one = failed_open_ms(cfg); /* one connect that hangs (libpq waits 2 s at least) */
	/* two of them, then 50 ms, then the deadline falls in the second pass's first */
	snprintf(text, sizeof(text), "%llu", (unsigned long long)(2 * one + 500));
	test_ok(ztoq_config_set(cfg, "failover_timeout_ms", text));
	snprintf(text, sizeof(text), "127.0.0.1:%s,127.0.0.1:%s", stall_proxy_port(p),
		 stall_proxy_port(p));
	test_ok(ztoq_config_set(cfg, "host", text));
	walk = failed_open_ms(cfg);
	cr_log_info("one hanging connect: %llu ms; the walk (bound %llu ms): %llu ms",
		    (unsigned long long)one, (unsigned long long)(2 * one + 500),
		    (unsigned long long)walk);
	cr_assert_lt(walk, 3 * one + one / 2 + 550, "the walk went on past the deadline");
	ztoq_config_free(cfg);
	stall_proxy_stop(p);
}

/* Logs how long `what` took since `t0_ns`; fails the test at `bound_ms` or more. */
static void took_under(uint64_t t0_ns, uint64_t bound_ms, const char *what)
{
	uint64_t ms = ms_since(t0_ns);

	cr_log_info("%s: %llu ms", what, (unsigned long long)ms);
	cr_assert_lt(ms, bound_ms, "%s took %llu ms", what, (unsigned long long)ms);
}

/* Host "proxy,primary": a stall proxy to the primary (*p, the caller stops it) first. */
static ztoq_config *proxy_then_primary(stall_proxy **p)
{
	*p = stall_proxy_start(primary_port());
	return list_config("127.0.0.1:%s,127.0.0.1:%d", stall_proxy_port(*p), primary_port());
}

/*
 * The walk remembers the writable server: a later connection starts there, and does
 * not wait again for a first server that hangs (a stalled proxy) until
 * connect_timeout_s.
 */
Test(hosts_pg, later_connections_start_at_the_remembered_primary, .timeout = 60)
{
	stall_proxy *p;
	ztoq_config *cfg = proxy_then_primary(&p);
	uint64_t t0 = ztoq__now_ns(), first, later;
	ztoq_session *a, *b;
	ztoq_db *db;

	stall_proxy_stall(p);
	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "1"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&a, db));
	first = ms_since(t0);
	t0 = ztoq__now_ns();
	test_ok(ztoq_session_open(&b, db)); /* a is held: b opens a connection of its own */
	later = ms_since(t0);
	cr_log_info("first connection %llu ms (the stalled server first), the next %llu ms",
		    (unsigned long long)first, (unsigned long long)later);
	cr_assert_eq(test_scalar(b, "SELECT inet_server_port()"), primary_port());
	cr_assert_geq(first, 1000, "the stalled server was not tried first");
	cr_assert_lt(later, 500, "the second walk started at the stalled server again");
	test_ok(ztoq_session_close(a));
	test_ok(ztoq_session_close(b));
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	stall_proxy_stop(p);
}

/* One server with its port in host and another in port: the statement timeout still
 * ends a statement the network swallowed (the watchdog finds the socket to that port). */
Test(hosts_pg, port_in_a_single_host_keeps_the_statement_timeout, .timeout = 30)
{
	stall_proxy *p = stall_proxy_start(primary_port());
	ztoq_config *cfg = list_config("127.0.0.1:%s", stall_proxy_port(p));
	char closed[16];
	ztoq_session *s;
	ztoq_db *db;
	uint64_t t0;

	snprintf(closed, sizeof(closed), "%d", test_closed_port());
	test_ok(ztoq_config_set(cfg, "port", closed));
	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "1000"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	stall_proxy_stall_on(p, "SELECT 2");
	t0 = ztoq__now_ns();
	cr_assert_eq(ztoq_session_exec(s, "SELECT 2", NULL, 0, NULL), ZTOQ_ETIMEOUT, "%s",
		     ztoq_error_last()->message);
	took_under(t0, 5000, "statement_timeout_ms 1000 behind a silent network");
	ztoq_session_close(s);
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	stall_proxy_stop(p);
}

/* A server that accepts the connect and then never answers the recovery check (no
 * statement timeout) is passed over after connect_timeout_s: the walk reaches the
 * primary. */
Test(hosts_pg, recovery_check_is_bounded_by_connect_timeout, .timeout = 30)
{
	stall_proxy *p;
	ztoq_config *cfg = proxy_then_primary(&p);
	uint64_t t0;
	ztoq_db *db;

	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "2"));
	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "0"));
	stall_proxy_stall_on(p, "pg_is_in_recovery");
	t0 = ztoq__now_ns();
	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(written_port(db), primary_port());
	took_under(t0, 5000, "the primary behind a silent recovery check (connect_timeout_s 2)");
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	stall_proxy_stop(p);
}

static char tx_message[2048]; /* run_on_new_table()'s transaction's error message */

/*
 * Runs `fn` (payload `runs`) through ztoq_db_transaction, max_retries 2, on an empty
 * database with a table `table` (id INT): returns its code, with its message in
 * tx_message, its attempts in *attempts, and the table's rows after in *rows.
 */
static int run_on_new_table(const char *table, ztoq_tx_fn fn, unsigned *runs,
			    unsigned *attempts, int64_t *rows)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	char sql[64];
	ztoq_session *s;
	ztoq_db *db;
	int rc;

	s = test_empty_session(&db, ZTOQ_DB_POSTGRESQL);
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (id INT)", table);
	test_exec(s, sql);
	test_ok(ztoq_session_close(s));
	opts.max_retries = 2;
	opts.attempts = attempts;
	rc = ztoq_db_transaction(db, &opts, fn, runs);
	snprintf(tx_message, sizeof(tx_message), "%s: %s", ztoq_error_name(rc),
		 ztoq_error_last()->message);
	test_ok(ztoq_session_open(&s, db));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	*rows = test_scalar(s, sql);
	test_close(db, s);
	return rc;
}

/* The function commits the outer transaction itself, then its connection breaks: its
 * work is committed, so it is not run again, and the caller is told (ZTOQ_ESTATE). */
static int commit_then_die(ztoq_session *s, void *payload)
{
	unsigned *runs = payload;
	int rc;

	++*runs;
	if ((rc = ztoq_session_exec(s, "INSERT INTO hosts_c VALUES (1)", NULL, 0, NULL)) < 0 ||
	    (rc = ztoq_tx_commit(s)) < 0)
		return rc;
	return ztoq_session_exec(s, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, 0,
				 NULL);
}

Test(hosts_pg, fn_that_ends_the_transaction_is_not_run_again)
{
	unsigned runs = 0, attempts = 0;
	int64_t rows;

	cr_assert_eq(run_on_new_table("hosts_c", commit_then_die, &runs, &attempts, &rows),
		     ZTOQ_ESTATE, "%s", tx_message);
	cr_assert(strstr(tx_message, "ended the transaction itself"), "%s", tx_message);
	cr_assert_eq(runs, 1);
	cr_assert_eq(attempts, 1);
	cr_assert_eq(rows, 1);
}

/* The server ends a transaction left idle (idle_in_transaction_session_timeout) before
 * its COMMIT: a certain rollback, so ztoq_db_transaction runs it again. */
static int insert_then_idle_once(ztoq_session *s, void *payload)
{
	unsigned *runs = payload;
	int rc;

	if ((rc = ztoq_session_exec(s, "SET idle_in_transaction_session_timeout = 200", NULL, 0,
				    NULL)) < 0 ||
	    (rc = ztoq_session_exec(s, "INSERT INTO hosts_i VALUES (1)", NULL, 0, NULL)) < 0)
		return rc;
	if (++*runs == 1)
		test_sleep_ms(700);
	return 0;
}

Test(hosts_pg, idle_transaction_ended_by_the_server_is_run_again)
{
	unsigned runs = 0, attempts = 0;
	int64_t rows;

	cr_assert_eq(run_on_new_table("hosts_i", insert_then_idle_once, &runs, &attempts, &rows),
		     ZTOQ_OK, "%s", tx_message);
	cr_assert_eq(attempts, 2);
	cr_assert_eq(rows, 1);
}

static int select_one(ztoq_session *s, void *payload)
{
	(void)payload;
	return ztoq_session_exec(s, "SELECT 1", NULL, 0, NULL);
}

/*
 * The first server goes away while 4 connections to it sit idle, released too
 * recently to be validated: the first that breaks has the others checked before they
 * are handed out, so 3 retries reach the second server.
 */
Test(hosts_pg, idle_connections_to_a_gone_primary_do_not_use_up_the_retries)
{
	stall_proxy *p;
	ztoq_config *cfg = proxy_then_primary(&p);
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	unsigned attempts = 0;
	ztoq_session *s[4];
	uint64_t t0, ms;
	ztoq_db *db;

	test_ok(ztoq_config_set(cfg, "max_connections", "4"));
	test_ok(ztoq_db_open(&db, cfg));
	for (int i = 0; i < 4; i++)
		test_ok(ztoq_session_open(&s[i], db));
	for (int i = 0; i < 4; i++)
		test_ok(ztoq_session_close(s[i]));
	stall_proxy_stop(p); /* the first server goes away: its connections are cut */
	opts.max_retries = 3;
	opts.attempts = &attempts;
	t0 = ztoq__now_ns();
	cr_assert_eq(ztoq_db_transaction(db, &opts, select_one, NULL), ZTOQ_OK, "%s",
		     ztoq_error_last()->message);
	ms = ms_since(t0);
	cr_log_info("4 dead idle connections: done after %u attempts, %llu ms", attempts,
		    (unsigned long long)ms);
	cr_assert_eq(attempts, 2);
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

/* Sixteen servers that refuse: each reason is cut short, so the error names them all. */
Test(hosts_pg, every_server_is_named_in_a_long_error)
{
	char list[ZTOQ__MAX_HOSTS * 24] = "", last[32];
	int port = test_closed_port(), named = 0;
	ztoq_config *cfg;
	const char *msg;

	for (int i = 0; i < ZTOQ__MAX_HOSTS - 1; i++)
		sprintf(list + strlen(list), "127.0.0.1:%d,", port);
	snprintf(last, sizeof(last), "[::1]:%d: ", port);
	strcat(list, last);
	list[strlen(list) - 2] = '\0'; /* the last without its ": " */
	cfg = list_config("%s", list);
	failed_open_ms(cfg);
	msg = ztoq_error_last()->message;
	snprintf(list, sizeof(list), "127.0.0.1:%d: ", port);
	for (const char *m = msg; (m = strstr(m, list)) != NULL; m++)
		named++;
	cr_assert_eq(named, ZTOQ__MAX_HOSTS - 1, "%s", msg);
	cr_assert(strstr(msg, last), "the last server is not named: %s", msg);
	ztoq_config_free(cfg);
}

/* ---- failover: the test ---------------------------------------------------- */

#define FO_THREADS 8
#define FO_CAPACITY (1u << 17)   /* acknowledged ids a thread can record */
#define FO_BOUND_MS 10000        /* failover_timeout_ms: writes resume within it */
#define FO_AFTER_MS 1500         /* ... and this soon after the standby accepts writes:
				    the walk's longest pause (500 ms) and the connects */

static char fo_dirs[2][512]; /* this test's own primary and standby */

static void fo_stop_servers(void)
{
	for (int i = 0; i < 2; i++)
		if (fo_dirs[i][0])
			test_fixture("stop %s", fo_dirs[i]);
}

TestSuite(failover, .timeout = 180, .fini = fo_stop_servers);

struct fo_thread {
	pthread_t tid;
	ztoq_db *db;
	int64_t next;              /* the id the next transaction writes */
	int64_t *acked;            /* ids of the commits reported OK */
	size_t nacked;
	size_t unknown;            /* ZTOQ_ECOMMITUNKNOWN: either way */
	size_t errors;             /* other failures (nothing committed) */
	char first_error[512];
	size_t on_standby;         /* transactions that found pg_is_in_recovery() true */
	int64_t port;              /* the server the last transaction ran on */
};

static atomic_int fo_done;
static _Atomic uint64_t fo_stopped_ns; /* when the primary was stopped */
static _Atomic uint64_t fo_resumed_ns; /* the first commit on the new primary */
static atomic_int fo_new_port;         /* the standby's, which is promoted */

/* One write: refused (and counted) if the connection is to a server in recovery. */
static int fo_write(ztoq_session *s, void *payload)
{
	struct fo_thread *t = payload;
	ztoq_value row[] = {ZTOQ_INT64(t->next)};
	int64_t server = 0;
	int rc;

	/* one round trip: the port, and 100000 more on a server in recovery */
	if ((rc = ztoq_session_scalar(s, "SELECT pg_is_in_recovery()::int * 100000 + "
				      "inet_server_port()", NULL, 0, &server, NULL)) < 0)
		return rc;
	t->port = server % 100000;
	if (server >= 100000) {
		t->on_standby++;
		return ZTOQ_ERROR;
	}
	return ztoq_session_exec(s, "INSERT INTO fo_t (id, port) VALUES (?, inet_server_port())",
				 row, 1, NULL);
}

static void *fo_writer(void *arg)
{
	struct fo_thread *t = arg;
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;

	opts.max_retries = 20;
	while (!atomic_load(&fo_done) && t->nacked < FO_CAPACITY) {
		int rc = ztoq_db_transaction(t->db, &opts, fo_write, t);
		uint64_t none = 0;

		if (rc == ZTOQ_OK) {
			t->acked[t->nacked++] = t->next;
			if (t->port == atomic_load(&fo_new_port))
				atomic_compare_exchange_strong(&fo_resumed_ns, &none, ztoq__now_ns());
		} else if (rc == ZTOQ_ECOMMITUNKNOWN) {
			t->unknown++;
		} else if (t->errors++ == 0) {
			snprintf(t->first_error, sizeof(t->first_error), "%s: %s",
				 ztoq_error_name(rc), ztoq_error_last()->message);
		}
		t->next++;
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Every id on the server `port` alone (a single host: no walk), sorted; *n of them. */
static int64_t *fo_server_ids(int port, size_t *n)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	size_t cap = FO_THREADS * FO_CAPACITY;
	int64_t *ids = malloc(cap * sizeof(*ids));
	char text[16];
	ztoq_session *s;
	ztoq_stmt *st;
	ztoq_db *db;

	snprintf(text, sizeof(text), "%d", port);
	test_ok(ztoq_config_set(cfg, "port", text));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id FROM fo_t ORDER BY id"));
	test_ok(ztoq_stmt_execute(st));
	for (*n = 0; *n < cap && ztoq_stmt_fetch(st) == ZTOQ_ROW; (*n)++)
		test_ok(ztoq_stmt_get_int64(st, 0, &ids[*n], NULL));
	ztoq_stmt_finalize(st);
	test_close(db, s);
	ztoq_config_free(cfg);
	return ids;
}

/*
 * Issue 10's failover: a primary with a synchronous standby (both this test's own), 8
 * threads writing through ztoq_db_transaction to host "primary,standby"; the primary
 * is stopped (immediate) and the standby promoted 300 ms later. Writes resume on the
 * new primary within failover_timeout_ms, every commit reported OK is there, and no
 * transaction ever ran on a server in recovery.
 */
Test(failover, primary_stopped_standby_promoted_no_acknowledged_commit_lost)
{
	struct fo_thread t[FO_THREADS];
	int primary, standby;
	size_t nids, acked = 0, unknown = 0, errors = 0, on_standby = 0;
	int64_t *ids;
	ztoq_config *cfg;
	ztoq_session *s;
	ztoq_db *db;
	uint64_t promoted_ns;
	char text[32];

	test_require_options_form("a host list is given in options");
	cfg = test_config(ZTOQ_DB_POSTGRESQL); /* skips loudly without a server */
	snprintf(fo_dirs[0], sizeof(fo_dirs[0]), "%s", test_path("fo-primary"));
	test_fixture("start %s", fo_dirs[0]);
	primary = atoi(getenv("ZTOQ_TEST_PG_PORT"));
	snprintf(fo_dirs[1], sizeof(fo_dirs[1]), "%s", test_path("fo-standby"));
	test_fixture("replica %s %s sync", fo_dirs[1], fo_dirs[0]);
	standby = atoi(getenv("ZTOQ_TEST_PG_REPLICA_PORT"));
	atomic_store(&fo_new_port, standby);

	snprintf(text, sizeof(text), "%d", FO_BOUND_MS);
	test_ok(ztoq_config_set(cfg, "failover_timeout_ms", text));
	test_ok(ztoq_config_set(cfg, "max_connections", "8"));
	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "2"));
	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "5000"));
	test_ok(ztoq_config_set(cfg, "acquire_timeout_ms", "20000"));
	snprintf(text, sizeof(text), "127.0.0.1:%d,127.0.0.1:%d", primary, standby);
	test_ok(ztoq_config_set(cfg, "host", text));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "CREATE TABLE fo_t (id BIGINT PRIMARY KEY, port INT NOT NULL)");
	test_ok(ztoq_session_close(s));

	for (int i = 0; i < FO_THREADS; i++) {
		t[i] = (struct fo_thread){.db = db, .next = (int64_t)i * 10000000};
		cr_assert(t[i].acked = malloc(FO_CAPACITY * sizeof(int64_t)));
		cr_assert_eq(pthread_create(&t[i].tid, NULL, fo_writer, &t[i]), 0);
	}
	test_sleep_ms(1000);
	atomic_store(&fo_stopped_ns, ztoq__now_ns());
	test_fixture("stop %s", fo_dirs[0]);
	test_sleep_ms(300);
	test_fixture("promote %s", fo_dirs[1]);
	promoted_ns = ztoq__now_ns();
	while (!atomic_load(&fo_resumed_ns) &&
	       ztoq__now_ns() - atomic_load(&fo_stopped_ns) < (FO_BOUND_MS + 5000) * 1000000ull)
		test_sleep_ms(10);
	test_sleep_ms(500); /* more writes on the new primary */
	atomic_store(&fo_done, 1);
	for (int i = 0; i < FO_THREADS; i++) {
		pthread_join(t[i].tid, NULL);
		acked += t[i].nacked;
		unknown += t[i].unknown;
		errors += t[i].errors;
		on_standby += t[i].on_standby;
		if (t[i].errors)
			cr_log_warn("thread %d: %zu failed, first: %s", i, t[i].errors, t[i].first_error);
	}
	ztoq_db_close(db);
	ztoq_config_free(cfg);

	cr_assert_neq(atomic_load(&fo_resumed_ns), 0, "no write resumed after the failover");
	cr_log_info("%zu commits acknowledged, %zu unknown, %zu failed; the primary stopped, "
		    "writes resumed %llu ms later (%llu ms after the promotion returned)",
		    acked, unknown, errors,
		    (unsigned long long)((fo_resumed_ns - fo_stopped_ns) / 1000000u),
		    (unsigned long long)(fo_resumed_ns > promoted_ns
						 ? (fo_resumed_ns - promoted_ns) / 1000000u : 0));
	cr_assert_lt((fo_resumed_ns - fo_stopped_ns) / 1000000u, FO_BOUND_MS,
		     "writes resumed only after failover_timeout_ms");
	cr_assert_lt(fo_resumed_ns > promoted_ns ? (fo_resumed_ns - promoted_ns) / 1000000u : 0,
		     FO_AFTER_MS, "writes resumed late after the promotion");
	/* with retries on, a transaction ends OK, or unknown if its COMMIT was in flight */
	cr_assert_eq(errors, 0, "%zu transactions failed", errors);
	cr_assert_eq(on_standby, 0, "%zu transactions ran on a server in recovery", on_standby);

	ids = fo_server_ids(standby, &nids);
	for (int i = 0; i < FO_THREADS; i++) {
		for (size_t k = 0; k < t[i].nacked; k++)
			cr_assert(bsearch(&t[i].acked[k], ids, nids, sizeof(*ids), cmp_id),
				  "acknowledged commit %lld (thread %d) is not on the new primary",
				  (long long)t[i].acked[k], i);
		free(t[i].acked);
	}
	cr_assert_geq(nids, acked);
	cr_assert_leq(nids, acked + unknown, "rows that no transaction reported");
	free(ids);
}
