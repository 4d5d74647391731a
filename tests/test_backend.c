/*
 * test_backend.c - the backend is what the driver says it is (issue 9): a DSN or a
 * caller's whole connection string gets its backend's rules and the attributes the
 * library relies on, and a db_type that disagrees with the driver is an error.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dialect.h"
#include "support.h"

TestSuite(backend, .timeout = 120);

/* The test PostgreSQL server's DSN (the fixture's odbc.ini), without db_type. */
static ztoq_config *pg_dsn_config(void)
{
	return test_config_form(ZTOQ_DB_POSTGRESQL, "dsn");
}

/* 1 when the session's server applies statement_timeout `value` (pqopt reached it). */
static int64_t statement_timeout_is(ztoq_session *s, const char *value)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "SELECT CASE WHEN current_setting('statement_timeout') = '%s' "
		 "THEN 1 ELSE 0 END", value);
	return test_scalar(s, sql);
}

/* Opens `cfg` (freed), which must fail with `code` and a message naming `a` and `b`. */
static void open_fails_naming(ztoq_config *cfg, int code, const char *a, const char *b)
{
	ztoq_db *db = NULL;
	const char *message;

	cr_assert_eq(ztoq_db_open(&db, cfg), code, "%s", ztoq_error_last()->message);
	cr_assert_null(db);
	message = ztoq_error_last()->message;
	cr_assert(strstr(message, a) && strstr(message, b), "%s and %s not in: %s", a, b,
		  message);
	ztoq_config_free(cfg);
}

/*
 * A PostgreSQL DSN with no db_type runs with PostgreSQL's rules (its dialect: server
 * cursor, bulk arrays, BEGIN by autocommit) and the attributes the library relies on:
 * Protocol=7.4-0, and pqopt, whose statement_timeout reaches the server.
 */
Test(backend, postgresql_dsn_without_db_type_gets_postgresqls_rules)
{
	ztoq_config *cfg = pg_dsn_config();
	ztoq_session *s;
	ztoq_db *db;

	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "4321"));
	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(ztoq_db_backend(db), ZTOQ_DB_POSTGRESQL);
	cr_assert(strstr(ztoq_db_target(db), "DSN=ztoq_pg;Protocol=7.4-0;pqopt=***"), "%s",
		  ztoq_db_target(db));
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(statement_timeout_is(s, "4321ms"), 1);
	test_close(db, s);
	ztoq_config_free(cfg);
}

/* The same through db_type odbc and the caller's whole connection string. */
TEST_BOTH(backend, callers_string_gets_the_drivers_rules)
{
	ztoq_config *cfg = test_config_form(backend, "connstr");
	ztoq_session *s;
	ztoq_db *db;
	char connstr[600];

	if (backend == ZTOQ_DB_SQLITE) {
		snprintf(connstr, sizeof(connstr), "Driver={SQLite3};Database=%s",
			 test_path("own.db"));
		test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
		test_ok(ztoq_config_set(cfg, "dsn", connstr));
	} else {
		test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "4321"));
	}
	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(ztoq_db_backend(db), backend);
	test_ok(ztoq_session_open(&s, db));
	if (backend == ZTOQ_DB_POSTGRESQL) {
		cr_assert(strstr(ztoq_db_target(db), ";Protocol=7.4-0;pqopt=***"), "%s",
			  ztoq_db_target(db));
		cr_assert_eq(statement_timeout_is(s, "4321ms"), 1);
	} else {
		/* FKSupport=1: foreign keys are enforced */
		cr_assert(strstr(ztoq_db_target(db), ";FKSupport=1;StepAPI=1"), "%s",
			  ztoq_db_target(db));
		test_exec(s, "CREATE TABLE parent (id INTEGER PRIMARY KEY)");
		test_exec(s, "CREATE TABLE child (id INTEGER PRIMARY KEY, "
			     "parent_id INTEGER REFERENCES parent(id))");
		cr_assert_eq(ztoq_session_exec(s, "INSERT INTO child VALUES (1, 42)", NULL, 0, NULL),
			     ZTOQ_ECONSTRAINT, "%s", ztoq_error_last()->message);
	}
	test_close(db, s);
	ztoq_config_free(cfg);
}

/*
 * A db_type given with a DSN must be the driver's backend: db_type postgresql with the
 * SQLite DSN, and db_type sqlite with the PostgreSQL one, are refused naming both.
 */
TEST_BOTH(backend, db_type_that_disagrees_with_the_driver_is_einvalid)
{
	ztoq_config *cfg = test_config(backend); /* skips without a server */

	ztoq_config_free(cfg);
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	if (backend == ZTOQ_DB_SQLITE) {
		test_ok(ztoq_config_set(cfg, "db_type", "postgresql"));
		test_ok(ztoq_config_set(cfg, "dsn", "ztoq_sqlite"));
		open_fails_naming(cfg, ZTOQ_EINVALID, "db_type is postgresql", "reports SQLite");
	} else {
		cfg = pg_dsn_config();
		test_ok(ztoq_config_set(cfg, "db_type", "sqlite"));
		open_fails_naming(cfg, ZTOQ_EINVALID, "db_type is sqlite", "reports PostgreSQL");
	}
}

/* Explicit options with a driver of another backend: every connect checks. */
Test(backend, driver_of_another_backend_is_einvalid)
{
	ztoq_config *cfg = test_config_form(ZTOQ_DB_SQLITE, "options");

	test_ok(ztoq_config_set(cfg, "db_type", "postgresql"));
	test_ok(ztoq_config_set(cfg, "database", test_path("x.db")));
	test_ok(ztoq_config_set(cfg, "driver", "SQLite3"));
	open_fails_naming(cfg, ZTOQ_EINVALID, "reports SQLite", "expects PostgreSQL");
}

/*
 * What the library relies on wins: a caller's string that sets it otherwise is refused
 * naming the attribute; the same value (any case, spaces) is accepted as it is.
 */
Test(backend, callers_string_setting_a_required_attribute_otherwise_is_refused)
{
	ztoq_config *cfg;
	ztoq_db *db;
	char connstr[600];

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	snprintf(connstr, sizeof(connstr), "Driver={SQLite3};Database=%s;StepAPI=0",
		 test_path("own.db"));
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", connstr));
	open_fails_naming(cfg, ZTOQ_EINVALID, "StepAPI=0", "StepAPI=1");

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	snprintf(connstr, sizeof(connstr), "Driver={SQLite3};Database=%s; stepapi = 1;Timeout=7",
		 test_path("own.db"));
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", connstr));
	test_ok(ztoq_db_open(&db, cfg));
	/* nothing added twice, the caller's tunable Timeout kept */
	cr_assert(strstr(ztoq_db_target(db), "Timeout=7;FKSupport=1"), "%s", ztoq_db_target(db));
	cr_assert_null(strstr(ztoq_db_target(db), "StepAPI"), "%s", ztoq_db_target(db));
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

/* A DSN's tunables stay (the fixture's SQLite DSN sets Timeout); the rest is added. */
Test(backend, sqlite_dsn_keeps_its_tunables_and_gets_the_required_attributes)
{
	ztoq_config *cfg;
	ztoq_session *s;
	ztoq_db *db;

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "dsn", "ztoq_sqlite"));
	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(ztoq_db_backend(db), ZTOQ_DB_SQLITE);
	cr_assert_str_eq(ztoq_db_target(db), "DSN=ztoq_sqlite;FKSupport=1;StepAPI=1");
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "PRAGMA foreign_keys"), 1);
	test_close(db, s);
	ztoq_config_free(cfg);
}

/*
 * A DSN whose driver's library the library knows (psqlODBC) has its backend at open,
 * without a first connect to ask: even with lazy_open, the string carries PostgreSQL's
 * attributes and the pool PostgreSQL's sizes before any connection exists.
 */
Test(backend, dsn_of_a_known_driver_has_its_backend_at_open)
{
	ztoq_config *cfg = pg_dsn_config();
	ztoq_pool_stats st;
	ztoq_session *s;
	ztoq_db *db;

	test_ok(ztoq_config_set(cfg, "lazy_open", "1"));
	test_ok(ztoq_config_set(cfg, "min_connections", NULL));
	test_ok(ztoq_db_open(&db, cfg));
	cr_assert_eq(ztoq_db_backend(db), ZTOQ_DB_POSTGRESQL);
	cr_assert(strstr(ztoq_db_target(db), "Protocol=7.4-0"), "%s", ztoq_db_target(db));
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert(st.total == 0 && st.max == 20, "%zu open, max %zu", st.total, st.max);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT 1"), 1);
	test_close(db, s);
	ztoq_config_free(cfg);
}

/*
 * A whole string through a driver the library does not know (the fault driver, which
 * forwards to psqlODBC) learns its backend from the driver; with lazy_open, at the
 * first connect, not at open.
 */
Test(backend, unknown_driver_learns_its_backend_at_the_first_connect)
{
	ztoq_config *cfg;
	const char *before;
	char connstr[512];
	ztoq_session *s;
	ztoq_db *db;

	test_config_form(ZTOQ_DB_POSTGRESQL, "options"); /* skips without a server */
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	snprintf(connstr, sizeof(connstr), "Driver={ZTOQ Fault PostgreSQL};Server=%s;Port=%s;"
		 "Database=%s", getenv("ZTOQ_TEST_PG_HOST"), getenv("ZTOQ_TEST_PG_PORT"),
		 getenv("ZTOQ_TEST_PG_DATABASE"));
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", connstr));
	test_ok(ztoq_config_set(cfg, "username", getenv("ZTOQ_TEST_PG_USER")));
	test_ok(ztoq_config_set(cfg, "password", getenv("ZTOQ_TEST_PG_PASSWORD")));
	test_ok(ztoq_config_set(cfg, "lazy_open", "1"));
	test_ok(ztoq_db_open(&db, cfg));
	before = ztoq_db_target(db);
	/* nothing of any backend's before the driver has spoken */
	cr_assert_null(strstr(before, "Protocol"), "%s", before);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(ztoq_db_backend(db), ZTOQ_DB_POSTGRESQL);
	cr_assert(strstr(ztoq_db_target(db), "Protocol=7.4-0"), "%s", ztoq_db_target(db));
	cr_assert_null(strstr(before, "Protocol"), "%s", before); /* still readable */
	test_close(db, s);
	ztoq_config_free(cfg);
}

/* The backend a first connect takes the locks of, for `cfg` (freed). */
static const ztoq__dialect *guess_of(ztoq_config *cfg)
{
	ztoq__settings set;
	const ztoq__dialect *d;

	test_ok(ztoq__settings_resolve(&set, cfg));
	d = ztoq__connstr_guess(&set);
	ztoq_config_free(cfg);
	return d;
}

/* A whole string naming `driver` under db_type odbc. */
static ztoq_config *driver_string_config(const char *driver)
{
	ztoq_config *cfg;
	char connstr[160];

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	snprintf(connstr, sizeof(connstr), "Driver={%s};Database=x", driver);
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", connstr));
	return cfg;
}

/*
 * The backend a DSN's or a whole string's driver library names (odbc.ini's Driver, or
 * Driver=, through odbcinst.ini); an unknown driver names none (a first connect asks
 * it). That such a connect waits outside the ODBC lock is
 * timeouts/stalled_connect_of_a_string_blocks_no_other_manager.
 */
Test(backend, driver_file_names_the_backend)
{
	ztoq_config *sqlite_dsn;

	cr_assert_eq(guess_of(pg_dsn_config()), &ztoq__dialect_postgresql);
	cr_assert_eq(ztoq_config_new(&sqlite_dsn), 0);
	test_ok(ztoq_config_set(sqlite_dsn, "dsn", "ztoq_sqlite"));
	cr_assert_eq(guess_of(sqlite_dsn), &ztoq__dialect_sqlite);
	cr_assert_eq(guess_of(driver_string_config("PostgreSQL Unicode")),
		     &ztoq__dialect_postgresql);
	cr_assert_eq(guess_of(driver_string_config("SQLite3")), &ztoq__dialect_sqlite);
	cr_assert_null(guess_of(driver_string_config("ZTOQ Fault PostgreSQL")));
	cr_assert_null(guess_of(test_config_form(ZTOQ_DB_SQLITE, "options")), "no DSN");
}

/* A DSN's pool takes the detected backend's default sizes, or what the user set. */
Test(backend, dsn_pool_takes_the_drivers_default_sizes)
{
	ztoq_config *cfg = pg_dsn_config();
	ztoq_pool_stats st;
	ztoq_db *db;

	test_ok(ztoq_config_set(cfg, "min_connections", NULL));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert(st.min == 5 && st.max == 20, "PostgreSQL's 5/20, not SQLite's: %zu/%zu",
		  st.min, st.max);
	ztoq_db_close(db);
	test_ok(ztoq_config_set(cfg, "max_connections", "3"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_pool_stats_get(db, &st));
	cr_assert(st.min == 3 && st.max == 3, "the given maximum bounds the default minimum: "
		  "%zu/%zu", st.min, st.max);
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

/*
 * A caller's whole string that carries the password keeps it as it is: the library
 * adds no second one (psqlODBC decodes '+' in a bare password, so a braced copy would
 * differ) and every connection logs in.
 */
Test(backend, callers_string_password_is_not_added_again)
{
	/* the server's whole string, the (awkward) test password escaped in it */
	ztoq_config *cfg = test_whole_string(test_config_form(ZTOQ_DB_POSTGRESQL, "options"));
	ztoq_session *s;
	ztoq_db *db;
	const char *target, *p;
	int passwords = 0;

	test_ok(ztoq_config_set(cfg, "min_connections", "2"));
	test_ok(ztoq_db_open(&db, cfg));
	target = ztoq_db_target(db);
	for (p = target; (p = strcasestr(p, "pwd=")); p++)
		passwords++;
	cr_assert_eq(passwords, 1, "%s", target);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT 1"), 1);
	test_close(db, s);
	ztoq_config_free(cfg);
}
