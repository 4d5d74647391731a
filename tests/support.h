/*
 * support.h - what every test file shares: configurations for the two real backends.
 *
 * The fixture (tests/fixture/with-env.sh) starts a throwaway PostgreSQL server and
 * writes hermetic ODBC ini files; these helpers turn its environment into configs.
 */
#ifndef ZTOQ_TEST_SUPPORT_H
#define ZTOQ_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <ztoq/ztoq.h>

/* A new config for `type`: a fresh SQLite file, or the test PostgreSQL server
 * (skipping the test, loudly, when there is none) in the form ZTOQ_TEST_PG_FORM names
 * (test_pg_form()). Caller frees. */
ztoq_config *test_config(ztoq_db_type type);

/*
 * The form in which test_config() names the PostgreSQL server, from ZTOQ_TEST_PG_FORM:
 * "options" (db_type postgresql, host, port, database: the default), "dsn" (the
 * fixture's DSN ztoq_pg, no db_type) or "connstr" (db_type odbc and a whole
 * connection string). make check runs the PostgreSQL cases in all three.
 */
const char *test_pg_form(void);

/* test_config() in the given form. Caller frees. */
ztoq_config *test_config_form(ztoq_db_type type, const char *form);

/* Skips a test that only makes sense with explicit options (a closed port, a wrong
 * password...) when test_config() gives another form; `why` says so. */
void test_require_options_form(const char *why);

/* A db_type odbc configuration whose dsn is the whole connection string that
 * `options` (freed) composes: the caller's-own-string form. Caller frees. */
ztoq_config *test_whole_string(ztoq_config *options);

/* Opens a manager on `type`, failing the test with the error message if it cannot. */
ztoq_db *test_open(ztoq_db_type type);

/* A fresh file path in the test's temporary folder. Static buffer. */
const char *test_path(const char *name);

/* Drops and recreates the public schema of the test PostgreSQL database. */
void test_pg_reset(void);

/* A manager on `type` and a session on its empty database (PostgreSQL: schema reset). */
ztoq_session *test_empty_session(ztoq_db **db, ztoq_db_type type);

/* Closes `s`, which must close cleanly, then `db`. */
void test_close(ztoq_db *db, ztoq_session *s);

/* Runs SQL that must succeed on a session (fails the test with the message otherwise). */
void test_exec(ztoq_session *s, const char *sql);

/* The single int64 that `sql` returns (ztoq_session_scalar; fails the test otherwise). */
int64_t test_scalar(ztoq_session *s, const char *sql);

/* A port on 127.0.0.1 that nobody listens on (bound, then closed). */
int test_closed_port(void);

/*
 * Runs `tests/fixture/pg.sh` with the arguments `fmt` makes (words split on spaces:
 * paths under ZTOQ_TEST_TMPDIR have none) and sets each `export NAME=VALUE` line it
 * prints in this process's environment (VALUE bare or single-quoted as pg.sh writes
 * it), e.g. test_fixture("replica %s %s sync", dir, getenv("ZTOQ_TEST_PG_SOCKET_DIR"))
 * sets ZTOQ_TEST_PG_REPLICA_PORT. Fails the test when pg.sh fails; pg.sh bounds its
 * own waits (60 s at most). A test that starts a server stops it (test_fixture("stop
 * %s", dir)) in its .fini, so that a failed assertion stops it too.
 */
void test_fixture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sleeps `ms` milliseconds. */
void test_sleep_ms(int ms);

/* Runs `CLI db ARGS` (stderr into stdout) into `out` (its first size - 1 bytes);
 * returns the exit status (-1: no normal exit). */
int test_run_cli(const char *cli, const char *args, char *out, size_t size);

/* Milliseconds on the monotonic clock, for a test's timings. */
long test_now_ms(void);

/* Asserts success, printing the last error when not. */
#define test_ok(expr) \
	do { \
		int rc_ = (expr); \
		cr_assert_eq(rc_, 0, "%s -> %s: %s", #expr, ztoq_error_name(rc_), \
			     ztoq_error_last()->message); \
	} while (0)

/* Defines one test body run on both backends: Test(suite, name_sqlite/_postgresql). */
#define TEST_BOTH(suite, name) \
	static void name##_body(ztoq_db_type backend); \
	Test(suite, name##_sqlite) { name##_body(ZTOQ_DB_SQLITE); } \
	Test(suite, name##_postgresql) { name##_body(ZTOQ_DB_POSTGRESQL); } \
	static void name##_body(ztoq_db_type backend)

#endif
