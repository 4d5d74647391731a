/*
 * support.c - test configurations for the real SQLite and PostgreSQL backends.
 */
#include "support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_or_fail(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set: run the tests through make check", name);
	return v;
}

const char *test_path(const char *name)
{
	static char path[512];
	static int seq;

	snprintf(path, sizeof(path), "%s/%ld-%d-%s", env_or_fail("ZTOQ_TEST_TMPDIR"),
		 (long)getpid(), ++seq, name);
	return path;
}

static void require_pg(void)
{
	const char *why = getenv("ZTOQ_TEST_PG_UNAVAILABLE");
	if (why) {
		fprintf(stderr, "*** SKIPPING PostgreSQL test: %s ***\n", why);
		cr_skip_test("PostgreSQL unavailable: %s", why);
	}
}

const char *test_pg_form(void)
{
	const char *form = getenv("ZTOQ_TEST_PG_FORM");

	return form && *form ? form : "options";
}

void test_require_options_form(const char *why)
{
	if (strcmp(test_pg_form(), "options") != 0)
		cr_skip_test("only with explicit options (ZTOQ_TEST_PG_FORM=%s): %s",
			     test_pg_form(), why);
}

ztoq_config *test_config_form(ztoq_db_type type, const char *form)
{
	ztoq_config *cfg;
	char connstr[512];

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	if (type == ZTOQ_DB_SQLITE) {
		test_ok(ztoq_config_set(cfg, "db_type", "sqlite"));
		test_ok(ztoq_config_set(cfg, "db_path", test_path("test.db")));
		return cfg;
	}
	require_pg();
	if (strcmp(form, "dsn") == 0) {
		/* the fixture's odbc.ini: no db_type, the backend is the driver's */
		test_ok(ztoq_config_set(cfg, "dsn", "ztoq_pg"));
	} else if (strcmp(form, "connstr") == 0) {
		snprintf(connstr, sizeof(connstr),
			 "Driver={PostgreSQL Unicode};Server=%s;Port=%s;Database=%s",
			 env_or_fail("ZTOQ_TEST_PG_HOST"), env_or_fail("ZTOQ_TEST_PG_PORT"),
			 env_or_fail("ZTOQ_TEST_PG_DATABASE"));
		test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
		test_ok(ztoq_config_set(cfg, "dsn", connstr));
	} else {
		cr_assert_str_eq(form, "options", "ZTOQ_TEST_PG_FORM: options, dsn or connstr");
		test_ok(ztoq_config_set(cfg, "db_type", "postgresql"));
		test_ok(ztoq_config_set(cfg, "host", env_or_fail("ZTOQ_TEST_PG_HOST")));
		test_ok(ztoq_config_set(cfg, "port", env_or_fail("ZTOQ_TEST_PG_PORT")));
		test_ok(ztoq_config_set(cfg, "database", env_or_fail("ZTOQ_TEST_PG_DATABASE")));
	}
	test_ok(ztoq_config_set(cfg, "username", env_or_fail("ZTOQ_TEST_PG_USER")));
	test_ok(ztoq_config_set(cfg, "password", env_or_fail("ZTOQ_TEST_PG_PASSWORD")));
	test_ok(ztoq_config_set(cfg, "min_connections", "1"));
	return cfg;
}

ztoq_config *test_whole_string(ztoq_config *options)
{
	ztoq_config *cfg;
	char *connstr;

	test_ok(ztoq_connstr_build(&connstr, options));
	ztoq_config_free(options);
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", connstr));
	ztoq_free(connstr);
	return cfg;
}

ztoq_config *test_config(ztoq_db_type type)
{
	return test_config_form(type, test_pg_form());
}

ztoq_db *test_open(ztoq_db_type type)
{
	ztoq_config *cfg = test_config(type);
	ztoq_db *db = NULL;

	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

void test_exec(ztoq_session *s, const char *sql)
{
	test_ok(ztoq_session_exec(s, sql, NULL, 0, NULL));
}

int64_t test_scalar(ztoq_session *s, const char *sql)
{
	int64_t v = 0;

	test_ok(ztoq_session_scalar(s, sql, NULL, 0, &v, NULL));
	return v;
}

void test_pg_reset(void)
{
	ztoq_db *db = test_open(ZTOQ_DB_POSTGRESQL);
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP SCHEMA IF EXISTS public CASCADE");
	test_exec(s, "CREATE SCHEMA public");
	ztoq_session_close(s);
	ztoq_db_close(db);
}

ztoq_session *test_empty_session(ztoq_db **db, ztoq_db_type type)
{
	ztoq_session *s;

	if (type == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	*db = test_open(type);
	test_ok(ztoq_session_open(&s, *db));
	return s;
}

void test_close(ztoq_db *db, ztoq_session *s)
{
	test_ok(ztoq_session_close(s));
	ztoq_db_close(db);
}

void test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int test_run_cli(const char *cli, const char *args, char *out, size_t size)
{
	char cmd[2048];
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "'%s' db %s 2>&1", cli, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p, "cannot run %s", cmd);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long test_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int test_closed_port(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	getsockname(fd, (struct sockaddr *)&addr, &len);
	close(fd);
	return ntohs(addr.sin_port);
}

/* Undoes pg.sh's shell quoting of one value ('...' with '\'' for a quote) in place. */
static void unquote(char *v)
{
	char *w = v;
	int quoted = 0;

	for (char *r = v; *r; r++) {
		if (*r == '\'')
			quoted = !quoted;
		else if (*r == '\\' && !quoted && r[1])
			*w++ = *++r;
		else
			*w++ = *r;
	}
	*w = '\0';
}

void test_fixture(const char *fmt, ...)
{
	char args[1024], cmd[1400], line[2048];
	va_list ap;
	FILE *out;
	int status;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "bash %s %s", ZTOQ_TEST_FIXTURE, args);
	out = popen(cmd, "r");
	cr_assert(out, "cannot run %s", cmd);
	while (fgets(line, sizeof(line), out)) {
		char *eq;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "export ", 7) != 0 || !(eq = strchr(line + 7, '=')))
			continue;
		*eq = '\0';
		unquote(eq + 1);
		setenv(line + 7, eq + 1, 1);
	}
	status = pclose(out);
	cr_assert_eq(status, 0, "pg.sh %s failed (status %d)", args, status);
}
