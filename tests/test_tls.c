/*
 * test_tls.c - issue 10: sslmode and sslrootcert reach psqlODBC, odbc_options reaches
 * either driver, against the fixture's TLS-enabled PostgreSQL and real SQLite files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

TestSuite(tls, .timeout = 60);

/* The fixture's CA certificate named by `var` (skips loudly without the fixture). */
static const char *ca_file(const char *var)
{
	const char *path = getenv(var);

	if (!path)
		cr_skip_test("%s is not set: run under tests/fixture/with-env.sh", var);
	return path;
}

/* A manager on `cfg` (freed) with `key`=`value` set, or NULL with the open's code in *rc. */
static ztoq_db *open_with(ztoq_config *cfg, const char *const *settings, int *rc)
{
	ztoq_db *db = NULL;

	for (; *settings; settings += 2)
		test_ok(ztoq_config_set(cfg, settings[0], settings[1]));
	*rc = ztoq_db_open(&db, cfg);
	ztoq_config_free(cfg);
	return db;
}

/* 1 when the session's own PostgreSQL connection runs over TLS, 0 when not. */
static int64_t session_ssl(ztoq_db *db)
{
	ztoq_session *s;
	int64_t ssl;

	test_ok(ztoq_session_open(&s, db));
	ssl = test_scalar(s, "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl "
			     "WHERE pid = pg_backend_pid()");
	test_ok(ztoq_session_close(s));
	return ssl;
}

/* Opens the test PostgreSQL with `settings` and returns whether TLS is on. */
static int64_t ssl_with(const char *const *settings)
{
	int rc;
	ztoq_db *db = open_with(test_config(ZTOQ_DB_POSTGRESQL), settings, &rc);
	int64_t ssl;

	cr_assert_eq(rc, 0, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	ssl = session_ssl(db);
	ztoq_db_close(db);
	return ssl;
}

Test(tls, require_connects_over_tls)
{
	cr_assert_eq(ssl_with((const char *const[]){"sslmode", "require", NULL}), 1);
}

Test(tls, disable_connects_in_the_clear)
{
	cr_assert_eq(ssl_with((const char *const[]){"sslmode", "disable", NULL}), 0);
}

/* Without sslmode the driver's default holds: measured, psqlODBC's is disable. */
Test(tls, no_sslmode_is_the_drivers_default)
{
	cr_assert_eq(ssl_with((const char *const[]){NULL}), 0);
}

/* sslrootcert reaches libpq through pqopt: without it verify-full finds no root
 * certificate (~/.postgresql/root.crt) and fails. */
Test(tls, verify_full_with_the_right_ca_connects)
{
	const char *ca = ca_file("ZTOQ_TEST_PG_CA");

	cr_assert_eq(ssl_with((const char *const[]){"sslmode", "verify-full", "sslrootcert", ca,
						    NULL}),
		     1);
}

Test(tls, verify_full_with_a_wrong_ca_fails_naming_the_certificate)
{
	const char *ca = ca_file("ZTOQ_TEST_PG_WRONG_CA");
	int rc;
	ztoq_db *db = open_with(test_config(ZTOQ_DB_POSTGRESQL),
				(const char *const[]){"sslmode", "verify-full", "sslrootcert", ca,
						      NULL},
				&rc);

	cr_assert_null(db);
	cr_assert_eq(rc, ZTOQ_ECONNECT, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "certificate verify failed"), "%s",
		  ztoq_error_last()->message);
	cr_assert_null(strstr(ztoq_error_last()->message, getenv("ZTOQ_TEST_PG_PASSWORD")));
}

/* The flag wins over the environment variable, field by field, for each new option;
 * the variables alone reach the driver too (odbc_options: ConnSettings). */
Test(tls, flags_and_environment_reach_the_driver)
{
	const char *ca = ca_file("ZTOQ_TEST_PG_CA");
	char flag[1100];
	char *argv[] = {"ztoq", "--sslmode", "verify-full", flag, NULL};
	int argc = 4, rc;
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	ztoq_db *db;
	ztoq_session *s;

	snprintf(flag, sizeof(flag), "--sslrootcert=%s", ca);
	setenv("ZTOQ_PG_SSLMODE", "disable", 1);
	setenv("ZTOQ_PG_SSLROOTCERT", ca_file("ZTOQ_TEST_PG_WRONG_CA"), 1);
	setenv("ZTOQ_DB_ODBC_OPTIONS", "ConnSettings=SET application_name TO ztoq_env", 1);
	test_ok(ztoq_config_load_env(cfg));
	test_ok(ztoq_config_parse_args(cfg, &argc, argv));
	cr_assert_eq(ztoq_config_source_of(cfg, "sslmode"), ZTOQ_SOURCE_CLI);
	db = open_with(cfg, (const char *const[]){NULL}, &rc);
	cr_assert_eq(rc, 0, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert_eq(session_ssl(db), 1);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT CASE WHEN current_setting('application_name') "
				    "= 'ztoq_env' THEN 1 ELSE 0 END"),
		     1);
	test_close(db, s);
}

/* odbc_options reaches the driver: PostgreSQL runs ConnSettings at connect, SQLite
 * takes SyncPragma (measured: FULL, 2, without it; OFF is 0). */
TEST_BOTH(tls, odbc_options_reach_the_driver)
{
	const char *const pg[] = {"odbc_options", "ConnSettings=SET application_name TO ztoq_opts",
				  NULL};
	const char *const sqlite[] = {"odbc_options", " SyncPragma = OFF ;", NULL};
	int rc;
	ztoq_db *db = open_with(test_config(backend), backend == ZTOQ_DB_SQLITE ? sqlite : pg, &rc);
	ztoq_session *s;

	cr_assert_eq(rc, 0, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	test_ok(ztoq_session_open(&s, db));
	if (backend == ZTOQ_DB_SQLITE)
		cr_assert_eq(test_scalar(s, "PRAGMA synchronous"), 0);
	else
		cr_assert_eq(test_scalar(s, "SELECT CASE WHEN current_setting('application_name') "
					    "= 'ztoq_opts' THEN 1 ELSE 0 END"),
			     1);
	test_close(db, s);
}

/* A required attribute set otherwise through odbc_options is refused, naming it, before
 * any connect; so is a password there, without its value. */
TEST_BOTH(tls, odbc_options_cannot_override_what_the_library_relies_on)
{
	const char *const pg[] = {"odbc_options", "Protocol=7.4-1", NULL};
	const char *const sqlite[] = {"odbc_options", "FKSupport=0", NULL};
	const char *const pw[] = {"odbc_options", "Server=127.0.0.1;PWD={hunter2}", NULL};
	int rc;

	cr_assert_null(open_with(test_config(backend), backend == ZTOQ_DB_SQLITE ? sqlite : pg,
				 &rc));
	cr_assert_eq(rc, ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message,
			 backend == ZTOQ_DB_SQLITE ? "odbc_options sets FKSupport=0, but libztoq "
						     "relies on FKSupport=1"
						   : "odbc_options sets Protocol=7.4-1, but libztoq "
						     "relies on Protocol=7.4-0"),
		  "%s", ztoq_error_last()->message);
	cr_assert_null(open_with(test_config(backend), pw, &rc));
	cr_assert_eq(rc, ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "password attribute PWD"), "%s",
		  ztoq_error_last()->message);
	cr_assert_null(strstr(ztoq_error_last()->message, "hunter2"));
}
