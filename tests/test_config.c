/*
 * test_config.c - the option table, its four sources, precedence and validation.
 */
#include <stdlib.h>
#include <string.h>

#include "support.h"

static ztoq_config *cfg;

static void setup(void)
{
	cr_assert_eq(ztoq_config_new(&cfg), 0);
}

static void teardown(void)
{
	ztoq_config_free(cfg);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 30);

static void assert_invalid(int rc, const char *needle)
{
	cr_assert_eq(rc, ZTOQ_EINVALID, "expected ZTOQ_EINVALID, got %s", ztoq_error_name(rc));
	cr_assert(strstr(ztoq_error_last()->message, needle), "message \"%s\" lacks \"%s\"",
		  ztoq_error_last()->message, needle);
}

Test(config, defaults_match_the_table)
{
	cr_assert_str_eq(ztoq_config_get(cfg, "db_type"), "sqlite");
	cr_assert_str_eq(ztoq_config_get(cfg, "db_path"), "ztoq_data.db");
	cr_assert_str_eq(ztoq_config_get(cfg, "host"), "localhost");
	cr_assert_str_eq(ztoq_config_get(cfg, "port"), "5432");
	cr_assert_str_eq(ztoq_config_get(cfg, "database"), "ztoq");
	cr_assert_null(ztoq_config_get(cfg, "username"));
	cr_assert_null(ztoq_config_get(cfg, "password"));
	cr_assert_str_eq(ztoq_config_get(cfg, "sqlite_driver"), "SQLite3");
	cr_assert_str_eq(ztoq_config_get(cfg, "pg_driver"), "PostgreSQL Unicode");
	cr_assert_eq(ztoq_config_source_of(cfg, "host"), ZTOQ_SOURCE_DEFAULT);
}

Test(config, pool_defaults_depend_on_backend)
{
	cr_assert_str_eq(ztoq_config_get(cfg, "min_connections"), "1");
	cr_assert_str_eq(ztoq_config_get(cfg, "max_connections"), "8");
	cr_assert_eq(ztoq_config_set(cfg, "db_type", "postgresql"), 0);
	cr_assert_str_eq(ztoq_config_get(cfg, "min_connections"), "5");
	cr_assert_str_eq(ztoq_config_get(cfg, "max_connections"), "20");
}

Test(config, every_option_has_key_flag_and_env)
{
	size_t n = 0;
	const ztoq_config_option *opts = ztoq_config_options(&n);

	cr_assert_geq(n, 15);
	for (size_t i = 0; i < n; i++) {
		cr_assert(opts[i].key && opts[i].cli_flag && opts[i].env && opts[i].help,
			  "option %zu is incomplete", i);
		cr_assert_eq(strncmp(opts[i].env, "ZTOQ_", 5), 0);
	}
}

Test(config, precedence_is_field_by_field_whatever_the_load_order)
{
	char arg0[] = "prog", a1[] = "--host", a2[] = "cli-host", a3[] = "--port=6000";
	char *argv[] = {arg0, a1, a2, a3, NULL};
	int argc = 4;

	/* explicit first, then CLI, then environment: order must not matter */
	cr_assert_eq(ztoq_config_set(cfg, "database", "explicit-db"), 0);
	cr_assert_eq(ztoq_config_parse_args(cfg, &argc, argv), 0);
	setenv("ZTOQ_PG_HOST", "env-host", 1);
	setenv("ZTOQ_PG_DATABASE", "env-db", 1);
	setenv("ZTOQ_PG_USER", "env-user", 1);
	cr_assert_eq(ztoq_config_load_env(cfg), 0);

	cr_assert_str_eq(ztoq_config_get(cfg, "database"), "explicit-db");
	cr_assert_str_eq(ztoq_config_get(cfg, "host"), "cli-host");
	cr_assert_str_eq(ztoq_config_get(cfg, "port"), "6000");
	cr_assert_str_eq(ztoq_config_get(cfg, "username"), "env-user");
	cr_assert_eq(ztoq_config_source_of(cfg, "database"), ZTOQ_SOURCE_EXPLICIT);
	cr_assert_eq(ztoq_config_source_of(cfg, "host"), ZTOQ_SOURCE_CLI);
	cr_assert_eq(ztoq_config_source_of(cfg, "username"), ZTOQ_SOURCE_ENV);
	cr_assert_eq(argc, 1, "the options were taken out of argv");
}

Test(config, environment_is_read_at_call_time_with_alias)
{
	setenv("ZTOQ_SQLITE_PATH", "/tmp/alias.db", 1);
	unsetenv("ZTOQ_DB_PATH");
	cr_assert_eq(ztoq_config_load_env(cfg), 0);
	cr_assert_str_eq(ztoq_config_get(cfg, "db_path"), "/tmp/alias.db");
	setenv("ZTOQ_DB_PATH", "/tmp/main.db", 1);
	cr_assert_eq(ztoq_config_load_env(cfg), 0);
	cr_assert_str_eq(ztoq_config_get(cfg, "db_path"), "/tmp/main.db");
}

Test(config, parse_args_keeps_other_arguments_in_order)
{
	char a0[] = "ztoq", a1[] = "db", a2[] = "--db-type", a3[] = "postgresql", a4[] = "init",
	     a5[] = "--drop-existing", a6[] = "--", a7[] = "--host";
	char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, NULL};
	int argc = 8;

	cr_assert_eq(ztoq_config_parse_args(cfg, &argc, argv), 0);
	cr_assert_eq(argc, 6);
	cr_assert_str_eq(argv[1], "db");
	cr_assert_str_eq(argv[2], "init");
	cr_assert_str_eq(argv[3], "--drop-existing");
	cr_assert_str_eq(argv[4], "--");
	cr_assert_str_eq(argv[5], "--host", "nothing after -- is taken");
	cr_assert_str_eq(ztoq_config_get(cfg, "db_type"), "postgresql");
}

Test(config, option_without_value_is_an_error)
{
	char a0[] = "p", a1[] = "--port";
	char *argv[] = {a0, a1, NULL};
	int argc = 2;

	assert_invalid(ztoq_config_parse_args(cfg, &argc, argv), "--port needs a value");
}

Test(config, dictionary_loads_all_or_nothing)
{
	ztoq_config_entry good[] = {{"db_type", "postgresql", 0}, {"host", "h", 0},
				    {"port", "5433", 0},          {"username", "u", 0},
				    {"password", "p", 0},         {"database", "d", 0},
				    {"min_connections", "2", 0},  {"max_connections", "4", 0}};
	ztoq_config_entry bad[] = {{"host", "other", 0}, {"hots", "typo", 0}};

	cr_assert_eq(ztoq_config_load_dict(cfg, good, 8), 0);
	cr_assert_str_eq(ztoq_config_get(cfg, "port"), "5433");
	cr_assert_str_eq(ztoq_config_get(cfg, "max_connections"), "4");
	assert_invalid(ztoq_config_load_dict(cfg, bad, 2), "unknown configuration key \"hots\"");
	cr_assert_str_eq(ztoq_config_get(cfg, "host"), "h", "a failed load changes nothing");
}

Test(config, bad_values_name_the_problem)
{
	assert_invalid(ztoq_config_set(cfg, "db_type", "oracle"), "unsupported database type \"oracle\"");
	assert_invalid(ztoq_config_set(cfg, "port", "abc"), "\"abc\" is not a whole number");
	assert_invalid(ztoq_config_set(cfg, "port", "70000"), "out of range");
	assert_invalid(ztoq_config_set(cfg, "port", "0"), "out of range");
	assert_invalid(ztoq_config_set(cfg, "acquire_timeout_ms", "-5"), "out of range");
	assert_invalid(ztoq_config_set(cfg, "nosuchkey", "1"), "unknown configuration key");
	assert_invalid(ztoq_config_set_from(cfg, ZTOQ_SOURCE_EXPLICIT, "host", "a\0b", 3),
		       "NUL byte");
	setenv("ZTOQ_PG_PORT", "54x", 1);
	assert_invalid(ztoq_config_load_env(cfg), "environment variable ZTOQ_PG_PORT");
	unsetenv("ZTOQ_PG_PORT");
}

/* An empty driver name is refused where it is given, naming its source. */
Test(config, empty_driver_names_are_refused_naming_the_source)
{
	char a0[] = "p", a1[] = "--pg-driver", a2[] = "";
	char *argv[] = {a0, a1, a2, NULL};
	int argc = 3;

	assert_invalid(ztoq_config_set(cfg, "sqlite_driver", ""), "value \"sqlite_driver\": the value is empty");
	assert_invalid(ztoq_config_set(cfg, "driver", ""), "\"driver\"");
	assert_invalid(ztoq_config_parse_args(cfg, &argc, argv), "option --pg-driver: the value is empty");
	setenv("ZTOQ_SQLITE_DRIVER", "", 1);
	assert_invalid(ztoq_config_load_env(cfg), "environment variable ZTOQ_SQLITE_DRIVER");
	unsetenv("ZTOQ_SQLITE_DRIVER");
	cr_assert_str_eq(ztoq_config_get(cfg, "sqlite_driver"), "SQLite3");
	test_ok(ztoq_config_set(cfg, "sqlite_driver", "Mine"));
	cr_assert_str_eq(ztoq_config_get(cfg, "sqlite_driver"), "Mine");
}

/* A 10 KiB bad value is quoted cut short: the reason after it survives. */
Test(config, long_bad_value_keeps_the_reason)
{
	static char value[10240 + 1];

	memset(value, '9', 10240);
	value[0] = 'x';
	assert_invalid(ztoq_config_set(cfg, "port", value), "...\" is not a whole number");
	assert_invalid(ztoq_config_set(cfg, "db_type", value), "...\" (expected sqlite");
}

/* A long value of multi-byte characters is cut between two of them (é is 2 bytes). */
Test(config, long_bad_value_is_cut_between_characters)
{
	static char value[2 * 150 + 1];
	const char *msg, *q;

	value[0] = 'x'; /* é from byte 1: the characters cross byte 200 (199-200) */
	for (int i = 0; i < 149; i++)
		memcpy(value + 1 + 2 * i, "\xC3\xA9", 2);
	assert_invalid(ztoq_config_set(cfg, "port", value), "...\" is not a whole number");
	msg = ztoq_error_last()->message;
	q = strstr(msg, "...\" is not");
	cr_assert_eq((unsigned char)q[-1], 0xA9, "cut inside a character: %s", msg);
	cr_assert_eq((unsigned char)q[-2], 0xC3, "%s", msg);
}

Test(config, create_if_missing_is_a_switch)
{
	cr_assert_str_eq(ztoq_config_get(cfg, "create_if_missing"), "1");
	test_ok(ztoq_config_set(cfg, "create_if_missing", "0"));
	assert_invalid(ztoq_config_set(cfg, "create_if_missing", "2"), "out of range");
}

Test(config, whole_configuration_is_validated)
{
	cr_assert_eq(ztoq_config_validate(cfg), 0, "the defaults are valid");
	cr_assert_eq(ztoq_config_set(cfg, "db_path", ""), 0);
	assert_invalid(ztoq_config_validate(cfg), "db_path is empty");
	cr_assert_eq(ztoq_config_set(cfg, "db_path", NULL), 0);
	cr_assert_eq(ztoq_config_set(cfg, "min_connections", "9"), 0);
	cr_assert_eq(ztoq_config_set(cfg, "max_connections", "3"), 0);
	assert_invalid(ztoq_config_validate(cfg), "min_connections (9) is greater than max_connections (3)");
	cr_assert_eq(ztoq_config_set(cfg, "min_connections", NULL), 0);
	cr_assert_eq(ztoq_config_set(cfg, "max_connections", NULL), 0);
	cr_assert_eq(ztoq_config_set(cfg, "db_type", "postgresql"), 0);
	cr_assert_eq(ztoq_config_set(cfg, "host", ""), 0);
	assert_invalid(ztoq_config_validate(cfg), "host is empty");
	cr_assert_eq(ztoq_config_set(cfg, "host", "h"), 0);
	cr_assert_eq(ztoq_config_set(cfg, "database", ""), 0);
	assert_invalid(ztoq_config_validate(cfg), "database is empty");
	cr_assert_eq(ztoq_config_set(cfg, "db_type", "odbc"), 0);
	assert_invalid(ztoq_config_validate(cfg), "dsn is empty");
}

Test(config, dup_is_deep_and_independent)
{
	ztoq_config *copy;

	cr_assert_eq(ztoq_config_set(cfg, "password", "secret"), 0);
	cr_assert_eq(ztoq_config_dup(&copy, cfg), 0);
	cr_assert_eq(ztoq_config_set(cfg, "password", "changed"), 0);
	cr_assert_str_eq(ztoq_config_get(copy, "password"), "secret");
	ztoq_config_free(copy);
}
