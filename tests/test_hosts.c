/*
 * test_hosts.c - issue 10's host list: parsing "host[:port],..." (src/hosts.c), the
 * connection string of one server, and (with real servers) the primary pool's walk
 * of the list and failover.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "hosts.h"
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
