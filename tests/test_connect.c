/*
 * test_connect.c - first connections through the real drivers, and every way a
 * connection can fail, each with its own clear error and never the password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "support.h"

TestSuite(connect, .timeout = 120);

static void assert_no_secret(const char *secret)
{
	const ztoq_error *e = ztoq_error_last();

	cr_assert_null(strstr(e->message, secret), "password leaked: %s", e->message);
	for (size_t i = 0; i < e->diag_count; i++)
		cr_assert_null(strstr(e->diags[i].message, secret), "password leaked: %s",
			       e->diags[i].message);
}

static int open_fails(ztoq_config *cfg)
{
	ztoq_db *db = NULL;
	int rc = ztoq_db_open(&db, cfg);

	cr_assert_null(db);
	cr_assert_lt(rc, 0);
	ztoq_config_free(cfg);
	return rc;
}

TEST_BOTH(connect, opens_and_reports_server)
{
	ztoq_db *db = test_open(backend);
	ztoq_server_info info;

	test_ok(ztoq_db_server_info(db, &info));
	cr_assert_str_eq(info.dbms_name, backend == ZTOQ_DB_SQLITE ? "SQLite" : "PostgreSQL");
	cr_assert_neq(info.dbms_version[0], '\0');
	test_ok(ztoq_db_check(db));
	cr_assert_eq(ztoq_db_backend(db), backend);
	if (backend == ZTOQ_DB_POSTGRESQL) {
		cr_assert_null(strstr(ztoq_db_target(db), getenv("ZTOQ_TEST_PG_PASSWORD")));
		cr_assert(strstr(ztoq_db_target(db), "Pwd=***"));
	}
	ztoq_db_close(db);
}

Test(connect, hostile_password_reaches_postgresql_intact)
{
	const char *pw = getenv("ZTOQ_TEST_PG_PASSWORD");
	ztoq_db *db = test_open(ZTOQ_DB_POSTGRESQL); /* authenticates with it */

	cr_assert(strpbrk(pw, ";{}=") && strchr(pw, ' '), "the fixture's password is hostile");
	test_ok(ztoq_db_check(db));
	ztoq_db_close(db);
}

Test(connect, memory_database_is_shared_by_the_pool_and_private)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	ztoq_db *a, *b;
	ztoq_session *s1, *s2;

	test_ok(ztoq_config_set(cfg, "db_path", ":memory:"));
	test_ok(ztoq_db_open(&a, cfg));
	test_ok(ztoq_db_open(&b, cfg));
	test_ok(ztoq_session_open(&s1, a));
	test_ok(ztoq_session_open(&s2, a)); /* a second connection of the same pool */
	test_exec(s1, "CREATE TABLE t (x INTEGER)");
	test_exec(s1, "INSERT INTO t VALUES (42)");
	cr_assert_eq(test_scalar(s2, "SELECT x FROM t"), 42);
	ztoq_session_close(s1);
	ztoq_session_close(s2);
	test_ok(ztoq_session_open(&s1, b));
	cr_assert_neq(ztoq_session_exec(s1, "SELECT x FROM t", NULL, 0, NULL), 0,
		      "another manager's memory database is separate");
	ztoq_session_close(s1);
	ztoq_db_close(a);
	ztoq_db_close(b);
	ztoq_config_free(cfg);
}

Test(connect, server_down_is_econnect)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	char port[16];

	snprintf(port, sizeof(port), "%d", test_closed_port());
	test_ok(ztoq_config_set(cfg, "port", port));
	cr_assert_eq(open_fails(cfg), ZTOQ_ECONNECT, "%s", ztoq_error_last()->message);
	cr_assert_str_eq(ztoq_error_last()->sqlstate, "08001");
	assert_no_secret(getenv("ZTOQ_TEST_PG_PASSWORD"));
}

Test(connect, wrong_password_is_eauth_and_not_shown)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);

	test_ok(ztoq_config_set(cfg, "password", "Wr0ng;P4ss{word}"));
	cr_assert_eq(open_fails(cfg), ZTOQ_EAUTH, "%s", ztoq_error_last()->message);
	cr_assert_str_eq(ztoq_error_last()->sqlstate, "08001");
	cr_assert(strstr(ztoq_error_last()->message, "password authentication failed"), "%s",
		  ztoq_error_last()->message);
	assert_no_secret("Wr0ng;P4ss{word}");
}

/* The server's reason is the message: a missing database is not a missing driver. */
Test(connect, unknown_database_is_enotfound)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	const char *m;

	test_ok(ztoq_config_set(cfg, "database", "no_such_db"));
	cr_assert_eq(open_fails(cfg), ZTOQ_ENOTFOUND, "%s", ztoq_error_last()->message);
	m = ztoq_error_last()->message;
	cr_assert(strstr(m, "database \"no_such_db\" does not exist"), "%s", m);
	cr_assert_null(strstr(m, "odbcinst.ini"), "not a driver problem: %s", m);
	cr_assert_null(strstr(m, "DSN"), "not a DSN problem: %s", m);
}

/*
 * An empty driver name is refused with EINVALID naming the option (it crashed the
 * composer with strlen(NULL) before).
 */
TEST_BOTH(connect, empty_driver_name_is_einvalid)
{
	static const char *const keys[] = {"driver", "sqlite_driver", "pg_driver"};

	for (size_t i = 0; i < 3; i++) {
		ztoq_config *cfg = test_config(backend);
		int rc = ztoq_config_set(cfg, keys[i], "");

		if (rc == 0)
			rc = open_fails(cfg);
		else
			ztoq_config_free(cfg);
		cr_assert_eq(rc, ZTOQ_EINVALID, "%s: %s", keys[i], ztoq_error_name(rc));
		cr_assert(strstr(ztoq_error_last()->message, keys[i]), "%s",
			  ztoq_error_last()->message);
		cr_assert(strstr(ztoq_error_last()->message, "empty"), "%s",
			  ztoq_error_last()->message);
	}
}

/*
 * A 10 KiB value in the connection string fills the context: the message still ends
 * with the SQLSTATE and the whole driver text, and the context is cut with "...".
 */
TEST_BOTH(connect, long_value_keeps_the_drivers_reason)
{
	ztoq_config *cfg = test_config(backend);
	char value[10240 + 32];
	const ztoq_error *e;
	char state[16];
	int found = 0;
	size_t len;

	if (backend == ZTOQ_DB_POSTGRESQL)
		test_require_options_form("it sets the database option");
	strcpy(value, backend == ZTOQ_DB_SQLITE ? "/nonexistent-folder/" : "");
	len = strlen(value);
	memset(value + len, 'v', 10240);
	value[len + 10240] = '\0';
	test_ok(ztoq_config_set(cfg, backend == ZTOQ_DB_SQLITE ? "db_path" : "database", value));
	open_fails(cfg);
	e = ztoq_error_last();
	cr_assert_neq(e->sqlstate[0], '\0', "%s", e->message);
	snprintf(state, sizeof(state), ": [%s] ", e->sqlstate);
	cr_assert(strstr(e->message, state), "no SQLSTATE in: %s", e->message);
	cr_assert(strstr(e->message, "...: ["), "the context is cut: %.200s", e->message);
	for (size_t i = 0; i < e->diag_count; i++)
		if (strcmp(e->diags[i].sqlstate, e->sqlstate) == 0 &&
		    strstr(e->message, e->diags[i].message))
			found = 1;
	cr_assert(found, "the driver's text is cut: %s", e->message);
}

/*
 * psqlODBC keeps the braces of Server, Database and Uid (measured: Database={x} reaches
 * the server as "{x}"): braces inside a name go unquoted, and what cannot be expressed
 * (';', a leading '{') is refused with the option's name.
 */
Test(connect, postgresql_names_with_braces_reach_the_server)
{
	ztoq_db *db = test_open(ZTOQ_DB_POSTGRESQL);
	ztoq_config *cfg;
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	ztoq_session_exec(s, "DROP DATABASE IF EXISTS \"br{ace}s\"", NULL, 0, NULL);
	test_exec(s, "CREATE DATABASE \"br{ace}s\"");
	ztoq_session_close(s);
	ztoq_db_close(db);
	cfg = test_config(ZTOQ_DB_POSTGRESQL);
	test_ok(ztoq_config_set(cfg, "database", "br{ace}s"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT CASE WHEN current_database() = 'br{ace}s' "
				    "THEN 1 ELSE 0 END"), 1);
	ztoq_session_close(s);
	ztoq_db_close(db);
	test_ok(ztoq_config_set(cfg, "database", "semi;colon"));
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "database \"semi;colon\" cannot be passed"),
		  "%s", ztoq_error_last()->message);
	test_ok(ztoq_config_set(cfg, "database", NULL));
	test_ok(ztoq_config_set(cfg, "username", "{u}"));
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "username \"{u}\""), "%s",
		  ztoq_error_last()->message);
	ztoq_config_free(cfg);
}

/*
 * busy_timeout_ms is how long a statement waits for another connection's write lock
 * (the SQLite driver waits twice its Timeout: 1000 waited 2.08 s before the fix).
 */
Test(connect, busy_timeout_means_milliseconds)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	ztoq_db *holder, *waiter;
	ztoq_session *h, *w;
	uint64_t start;
	double waited;
	int rc;

	test_ok(ztoq_config_set(cfg, "busy_timeout_ms", "1000"));
	test_ok(ztoq_db_open(&holder, cfg));
	test_ok(ztoq_db_open(&waiter, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_session_open(&h, holder));
	test_exec(h, "CREATE TABLE t (x INTEGER)");
	test_ok(ztoq_tx_begin(h, NULL));
	test_exec(h, "INSERT INTO t VALUES (1)");
	test_ok(ztoq_session_open(&w, waiter));
	start = ztoq__now_ns();
	rc = ztoq_session_exec(w, "INSERT INTO t VALUES (2)", NULL, 0, NULL);
	waited = (double)(ztoq__now_ns() - start) / 1e9;
	cr_assert_eq(rc, ZTOQ_EBUSY, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(waited >= 0.8 && waited < 1.6, "busy_timeout_ms 1000 waited %.3f s", waited);
	ztoq_session_close(w);
	ztoq_tx_rollback(h);
	ztoq_session_close(h);
	ztoq_db_close(waiter);
	ztoq_db_close(holder);
}

/* create_if_missing 0: a missing SQLite file is an error, and is not created. */
Test(connect, create_if_missing_0_opens_only_an_existing_file)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	char path[512];
	struct stat st;
	ztoq_db *db;

	snprintf(path, sizeof(path), "%s", ztoq_config_get(cfg, "db_path"));
	test_ok(ztoq_config_set(cfg, "create_if_missing", "0"));
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_ENOTFOUND, "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "no such file"), "%s",
		  ztoq_error_last()->message);
	cr_assert_neq(stat(path, &st), 0, "%s was created", path);
	test_ok(ztoq_config_set(cfg, "create_if_missing", "1"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_db_close(db);
	test_ok(ztoq_config_set(cfg, "create_if_missing", "0"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

TEST_BOTH(connect, unknown_driver_is_enotfound)
{
	ztoq_config *cfg;

	if (backend == ZTOQ_DB_POSTGRESQL)
		test_require_options_form("it sets the driver option");
	cfg = test_config(backend);

	test_ok(ztoq_config_set(cfg, "driver", "No Such Driver"));
	cr_assert_eq(open_fails(cfg), ZTOQ_ENOTFOUND, "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "not registered in odbcinst.ini"), "%s",
		  ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "No Such Driver"), "%s",
		  ztoq_error_last()->message);
}

/*
 * A file: URI of something that exists but cannot be opened is not "no such file": stat() of the
 * URI itself always failed, so create_if_missing 0 turned any failure into ENOTFOUND.
 * One that names a missing file is.
 */
/* Opens SQLite `uri` with create_if_missing 0, which must fail with `code`; returns
 * the message. */
static const char *uri_open_fails(const char *uri, int code)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	int rc;

	test_ok(ztoq_config_set(cfg, "db_path", uri));
	test_ok(ztoq_config_set(cfg, "create_if_missing", "0"));
	rc = open_fails(cfg);
	cr_assert_eq(rc, code, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	return ztoq_error_last()->message;
}

Test(connect, uri_that_fails_is_not_reported_missing)
{
	char uri[600];
	const char *message;

	/* a folder: it exists, and the driver cannot open it */
	snprintf(uri, sizeof(uri), "file:%s", getenv("ZTOQ_TEST_TMPDIR"));
	message = uri_open_fails(uri, ZTOQ_ECONNECT);
	cr_assert_null(strstr(message, "no such file"), "%s", message);
	/* a URI that names a missing file is still told so */
	snprintf(uri, sizeof(uri), "file:%s?cache=private", test_path("missing.db"));
	message = uri_open_fails(uri, ZTOQ_ENOTFOUND);
	cr_assert(strstr(message, "no such file /"), "%s", message);
}

Test(connect, unknown_dsn_is_enotfound)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);

	test_ok(ztoq_config_set(cfg, "dsn", "no_such_dsn"));
	cr_assert_eq(open_fails(cfg), ZTOQ_ENOTFOUND, "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "no such DSN"), "%s", ztoq_error_last()->message);
}

Test(connect, sqlite_path_in_missing_folder)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	int rc;

	test_ok(ztoq_config_set(cfg, "db_path", "/nonexistent-folder/ztoq.db"));
	rc = open_fails(cfg);
	cr_assert_eq(rc, ZTOQ_ECONNECT, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "the folder /nonexistent-folder does not exist"),
		  "%s", ztoq_error_last()->message);
	cr_assert_neq(ztoq_error_last()->sqlstate[0], '\0');
}

/*
 * A password in the caller's own connection string (db_type odbc) is masked in driver
 * texts too, not only in the connection string shown: here the driver echoes it as
 * the user name (PostgreSQL) or a folder of the path (SQLite) it could not open.
 */
TEST_BOTH(connect, password_of_a_callers_string_is_not_shown)
{
	static const char pw[] = "Zq7Secret";
	ztoq_config *cfg = test_config(backend);
	char connstr[512];

	if (backend == ZTOQ_DB_POSTGRESQL)
		snprintf(connstr, sizeof(connstr),
			 "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;"
			 "Uid=%s;Password={%s}",
			 getenv("ZTOQ_TEST_PG_PORT"), getenv("ZTOQ_TEST_PG_DATABASE"), pw, pw);
	else
		snprintf(connstr, sizeof(connstr),
			 "Driver={SQLite3};Database=/nonexistent-folder/%s/x.db;PWD=%s", pw, pw);
	ztoq_config_free(cfg);
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", connstr));
	test_ok(ztoq_config_set(cfg, "connect_timeout_s", "5"));
	open_fails(cfg);
	cr_assert(strstr(ztoq_error_last()->message, "***"), "%s", ztoq_error_last()->message);
	assert_no_secret(pw);
}

TEST_BOTH(connect, dsn_from_odbc_ini)
{
	ztoq_config *cfg;
	ztoq_db *db;
	ztoq_server_info info;

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	if (backend == ZTOQ_DB_POSTGRESQL) {
		ztoq_config_free(cfg);
		cfg = test_config(backend); /* skips without a server */
		test_ok(ztoq_config_set(cfg, "dsn", "ztoq_pg"));
	} else {
		test_ok(ztoq_config_set(cfg, "dsn", "ztoq_sqlite"));
	}
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_db_server_info(db, &info));
	cr_assert_str_eq(info.dbms_name, backend == ZTOQ_DB_SQLITE ? "SQLite" : "PostgreSQL");
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

Test(connect, open_from_environment)
{
	ztoq_db *db;

	setenv("ZTOQ_DB_TYPE", "sqlite", 1);
	setenv("ZTOQ_DB_PATH", test_path("env.db"), 1);
	test_ok(ztoq_db_open_env(&db));
	cr_assert_eq(ztoq_db_backend(db), ZTOQ_DB_SQLITE);
	cr_assert(strstr(ztoq_db_target(db), "env.db"));
	ztoq_db_close(db);
	setenv("ZTOQ_PG_PORT", "not-a-port", 1);
	cr_assert_eq(ztoq_db_open_env(&db), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "ZTOQ_PG_PORT"));
}
