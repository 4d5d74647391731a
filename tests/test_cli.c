/*
 * test_cli.c - the ztoq command, run as a process (the build tree's program, ZTOQ_CLI:
 * libtool's wrapper for the freshly linked binary): exit codes, output, errors as one
 * line on stderr, and never the password.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate_support.h"
#include "support.h"

#ifndef ZTOQ_CLI
#error "ZTOQ_CLI must name the ztoq program (set by Makefile.am)"
#endif

TestSuite(cli, .timeout = 240);

/* One run of the command. */
struct cmd {
	pid_t pid;
	int status; /* exit status */
	char out_path[512], err_path[512];
	char out[32768], err[8192];
};

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_ENV ((const char *const[]){NULL})

/* Starts `ztoq args...` in `dir` (NULL: the test's folder) with `env` added. */
static void start(struct cmd *c, const char *dir, const char *const env[],
		  const char *const args[])
{
	const char *argv[32] = {ZTOQ_CLI};
	size_t n = 1;

	memset(c, 0, sizeof(*c));
	snprintf(c->out_path, sizeof(c->out_path), "%s", test_path("stdout"));
	snprintf(c->err_path, sizeof(c->err_path), "%s", test_path("stderr"));
	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if ((c->pid = fork()) == 0) {
		int out = open(c->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
		    (dir && chdir(dir) < 0))
			_exit(127);
		for (size_t i = 0; env[i]; i++) {
			char name[128];

			snprintf(name, sizeof(name), "%.*s", (int)strcspn(env[i], "="), env[i]);
			setenv(name, env[i] + strlen(name) + 1, 1);
		}
		execv(ZTOQ_CLI, (char *const *)argv);
		_exit(127);
	}
	cr_assert_gt(c->pid, 0);
}

static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void finish(struct cmd *c)
{
	int status;

	cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
	cr_assert(WIFEXITED(status), "ztoq died");
	c->status = WEXITSTATUS(status);
	cr_assert_neq(c->status, 127, "could not run %s", ZTOQ_CLI);
	slurp(c->out_path, c->out, sizeof(c->out));
	slurp(c->err_path, c->err, sizeof(c->err));
}

static void run(struct cmd *c, const char *dir, const char *const env[],
		const char *const args[])
{
	start(c, dir, env, args);
	finish(c);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void expect_success(const struct cmd *c)
{
	cr_assert_eq(c->status, 0, "exit %d, stderr: %s", c->status, c->err);
	cr_assert_str_eq(c->err, "");
}

/* Failed with `status`: nothing on stdout, one line on stderr containing `needle`. */
static void expect_one_line_error(const struct cmd *c, int status, const char *needle)
{
	cr_assert_eq(c->status, status, "exit %d, stderr: %s", c->status, c->err);
	cr_assert_eq(count(c->err, "\n"), 1, "one line: %s", c->err);
	cr_assert_eq(strncmp(c->err, "ztoq", 4), 0, "%s", c->err);
	cr_assert(strstr(c->err, needle), "\"%s\" not in: %s", needle, c->err);
}

static void expect_no_secret(const struct cmd *c, const char *secret)
{
	cr_assert_null(strstr(c->out, secret), "password on stdout: %s", c->out);
	cr_assert_null(strstr(c->err, secret), "password on stderr: %s", c->err);
}

/* The environment that points ztoq at `cfg`'s database (every explicit value). */
struct env {
	char text[24][512];
	const char *list[25];
};

static const char *const *env_for(struct env *e, const ztoq_config *cfg)
{
	size_t n, k = 0;
	const ztoq_config_option *opt = ztoq_config_options(&n);

	for (size_t i = 0; i < n; i++) {
		if (ztoq_config_source_of(cfg, opt[i].key) != ZTOQ_SOURCE_EXPLICIT)
			continue;
		snprintf(e->text[k], sizeof(e->text[k]), "%s=%s", opt[i].env,
			 ztoq_config_get(cfg, opt[i].key));
		e->list[k] = e->text[k];
		k++;
	}
	e->list[k] = NULL;
	return e->list;
}

/* A fresh database of `backend` and the environment that names it. */
static const char *const *fresh_env(struct env *e, ztoq_db_type backend, ztoq_config **cfg)
{
	*cfg = test_config(backend);
	if (backend == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	return env_for(e, *cfg);
}

/* ---- help, version, usage ---------------------------------------------------------------- */

Test(cli, version_and_help)
{
	size_t n;
	const ztoq_config_option *opt = ztoq_config_options(&n);
	static const char *const commands[] = {"init", "migrate", "downgrade", "status",
					       "history", "check", "stats"};
	struct cmd c;

	run(&c, NULL, NO_ENV, ARGS("--version"));
	expect_success(&c);
	cr_assert_str_eq(c.out, "ztoq " ZTOQ_VERSION " (libztoq " ZTOQ_VERSION ")\n");
	run(&c, NULL, NO_ENV, ARGS("--help"));
	expect_success(&c);
	for (size_t i = 0; i < 7; i++)
		cr_assert(strstr(c.out, commands[i]), "%s", commands[i]);
	for (size_t i = 0; i < 7; i++) {
		run(&c, NULL, NO_ENV, ARGS("db", commands[i], "--help"));
		expect_success(&c);
		cr_assert(strstr(c.out, "usage: ztoq db "), "%s", c.out);
		cr_assert(strstr(c.out, "visible to other users"), "%s", c.out);
		for (size_t k = 0; k < n; k++) {
			char flag[64];

			snprintf(flag, sizeof(flag), "--%s VALUE", opt[k].cli_flag);
			cr_assert(strstr(c.out, flag), "%s lacks %s", commands[i], flag);
			cr_assert(strstr(c.out, opt[k].env), "%s lacks %s", commands[i], opt[k].env);
		}
	}
	run(&c, NULL, NO_ENV, ARGS("db", "init", "--help"));
	cr_assert(strstr(c.out, "--drop-existing"));
	cr_assert(strstr(c.out, "--password-file VALUE"));
	run(&c, NULL, NO_ENV, ARGS("db", "downgrade", "-h"));
	cr_assert(strstr(c.out, "--steps N") && strstr(c.out, "--to V"), "%s", c.out);
}

Test(cli, usage_errors_exit_2_with_one_line)
{
	const struct {
		const char *const *args;
		const char *needle;
	} cases[] = {
		{ARGS("frob"), "unknown command \"frob\""},
		{ARGS("db"), "missing command"},
		{ARGS("db", "frobnicate"), "unknown command \"frobnicate\""},
		{ARGS("db", "init", "--bogus"), "unknown option --bogus"},
		{ARGS("db", "status", "--to", "3"), "unknown option --to"},
		{ARGS("db", "migrate", "--to"), "option --to needs a value"},
		{ARGS("db", "status", "extra"), "unexpected argument \"extra\""},
		{ARGS("db", "stats"), "--project-key KEY is required"},
		{ARGS("db", "downgrade", "--to", "1", "--steps", "2"), "not both"},
		{ARGS("db", "downgrade", "--steps", "x"), "--steps: \"x\" is not a whole number"},
		{ARGS("db", "init", "--port", "99999"), "option --port: 99999 is out of range"},
		{ARGS("db", "init", "--port=abc"), "option --port: \"abc\" is not a whole number"},
		{ARGS("db", "init", "--db-type", "mysql"), "unsupported database type \"mysql\""},
		{ARGS("db", "check", "--db-type", "postgresql", "--host", ""), "host is empty"},
		{ARGS("db", "status", "--json=1"), "option --json takes no value"},
		{ARGS("db", "status", "--help=x"), "option --help takes no value"},
		{ARGS("db", "status", "--bogus=x"), "unknown option --bogus (see"},
		{ARGS("db", "status", "-x"), "unknown option -x (see"},
		{ARGS("db", "init", "--sqlite-driver", ""), "option --sqlite-driver: the value is empty"},
		{ARGS("db", "init", "--pg-driver="), "option --pg-driver: the value is empty"},
		{ARGS("db", "init", "--db-path", "/tmp/a;Timeout=1"), "cannot quote a ';'"},
		{ARGS("db", "init", "--db-type", "postgresql", "--database", "semi;colon"),
		 "database \"semi;colon\" cannot be passed"},
	};
	struct cmd c;

	run(&c, NULL, NO_ENV, (const char *const[]){NULL});
	expect_one_line_error(&c, 2, "missing command");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run(&c, NULL, NO_ENV, cases[i].args);
		expect_one_line_error(&c, 2, cases[i].needle);
		cr_assert_str_eq(c.out, "");
	}
	run(&c, NULL, ARGS("ZTOQ_PG_PORT=abc"), ARGS("db", "status"));
	expect_one_line_error(&c, 2, "environment variable ZTOQ_PG_PORT: \"abc\"");
	run(&c, NULL, ARGS("ZTOQ_SQLITE_DRIVER="), ARGS("db", "status"));
	expect_one_line_error(&c, 2, "environment variable ZTOQ_SQLITE_DRIVER: the value is empty");
}

/* A --to target that does not exist is a bad value: exit 2, nothing applied. */
TEST_BOTH(cli, bad_migration_target_is_bad_usage)
{
	struct env e;
	ztoq_config *cfg;
	const char *const *env = fresh_env(&e, backend, &cfg);
	struct cmd c;

	run(&c, NULL, env, ARGS("db", "migrate", "--to", "99"));
	expect_one_line_error(&c, 2, "unknown upgrade target \"99\"");
	run(&c, NULL, env, ARGS("db", "migrate", "--to", "nonsense"));
	expect_one_line_error(&c, 2, "unknown upgrade target \"nonsense\"");
	run(&c, NULL, env, ARGS("db", "downgrade", "--to", "nonsense"));
	expect_one_line_error(&c, 2, "unknown downgrade target \"nonsense\"");
	run(&c, NULL, env, ARGS("db", "status"));
	expect_success(&c);
	cr_assert(strstr(c.out, "current:        0 (empty)"), "%s", c.out);
	ztoq_config_free(cfg);
}

/* Commands that only read (and downgrade) never create the database they are given. */
Test(cli, reading_commands_do_not_create_a_database)
{
	static const char *const commands[] = {"status", "history", "check", "downgrade"};
	char path[512];
	struct stat st;
	struct cmd c;

	snprintf(path, sizeof(path), "%s", test_path("typo.db"));
	for (size_t i = 0; i < 4; i++) {
		run(&c, NULL, NO_ENV, ARGS("db", commands[i], "--db-path", path));
		expect_one_line_error(&c, 1, "no such file");
		cr_assert_neq(stat(path, &st), 0, "ztoq db %s created %s", commands[i], path);
	}
	run(&c, NULL, NO_ENV, ARGS("db", "stats", "--project-key", "P", "--db-path", path));
	expect_one_line_error(&c, 1, "no such file");
	cr_assert_neq(stat(path, &st), 0, "ztoq db stats created %s", path);
	run(&c, NULL, NO_ENV, ARGS("db", "migrate", "--to", "1", "--db-path", path));
	expect_success(&c);
	run(&c, NULL, NO_ENV, ARGS("db", "status", "--db-path", path));
	expect_success(&c);
	cr_assert(strstr(c.out, "current:        1 initial_schema"), "%s", c.out);
}

/* ---- the commands ---------------------------------------------------------------------- */

/* No options at all: the SQLite file ztoq_data.db in the working directory. */
Test(cli, sqlite_default_file_in_the_working_directory)
{
	char dir[512], file[600];
	struct stat st;
	struct cmd c;

	snprintf(dir, sizeof(dir), "%s", test_path("wd"));
	cr_assert_eq(mkdir(dir, 0700), 0);
	run(&c, dir, NO_ENV, ARGS("db", "init"));
	expect_success(&c);
	cr_assert_eq(count(c.out, "applied "), 5, "%s", c.out);
	cr_assert(strstr(c.out, "applied 0001 initial_schema [a16c4721be8a] ("), "%s", c.out);
	cr_assert(strstr(c.out, "schema at version 5 entity_mappings (head)\n"), "%s", c.out);
	snprintf(file, sizeof(file), "%s/ztoq_data.db", dir);
	cr_assert_eq(stat(file, &st), 0, "init created %s", file);
	run(&c, dir, NO_ENV, ARGS("db", "init"));
	expect_success(&c);
	cr_assert_str_eq(c.out, "schema at version 5 entity_mappings (head)\n");
	run(&c, dir, NO_ENV, ARGS("db", "status"));
	expect_success(&c);
	cr_assert(strstr(c.out, "current:        5 entity_mappings (head)\n"), "%s", c.out);
	cr_assert(strstr(c.out, "alembic_version:3da7f9236c51\n"), "%s", c.out);
	cr_assert(strstr(c.out, "pending:        none\n"), "%s", c.out);
	run(&c, dir, NO_ENV, ARGS("db", "status", "--json"));
	expect_success(&c);
	cr_assert_str_eq(c.out, "{\"current\":5,\"current_name\":\"entity_mappings\",\"head\":5,"
				"\"at_head\":true,\"tracked\":true,\"alembic_version\":"
				"\"3da7f9236c51\",\"applied\":5,\"pending\":[],\"drift\":[],"
				"\"unknown\":[],\"copy_incomplete\":false}\n");
	run(&c, dir, NO_ENV, ARGS("db", "history"));
	expect_success(&c);
	cr_assert_eq(count(c.out, "\n"), 6, "%s", c.out);
	cr_assert(strstr(c.out, "0003     0002    3da7f9236c51  enhanced_schema"), "%s", c.out);
	run(&c, dir, NO_ENV, ARGS("db", "check"));
	expect_success(&c);
	cr_assert(strstr(c.out, "target:     Driver={SQLite3};Database=ztoq_data.db;"), "%s", c.out);
	cr_assert(strstr(c.out, "server:     SQLite 3."), "%s", c.out);
	cr_assert(strstr(c.out, "pool:       1 open (1 idle, 0 in use), min 1, max 8"), "%s", c.out);
	cr_assert(strstr(c.out, "schema:     version 5 of 5 (head)\nok\n"), "%s", c.out);
}

TEST_BOTH(cli, migrate_downgrade_and_drop_existing)
{
	struct env e;
	ztoq_config *cfg;
	const char *const *env = fresh_env(&e, backend, &cfg);
	struct cmd c;

	run(&c, NULL, env, ARGS("db", "migrate", "--to", "3da7f9236c51"));
	expect_success(&c);
	cr_assert_eq(count(c.out, "applied "), 3, "%s", c.out);
	run(&c, NULL, env, ARGS("db", "status", "--json"));
	expect_success(&c);
	cr_assert(strstr(c.out, "\"current\":3,") && strstr(c.out, "\"pending\":[4,5]"), "%s",
		  c.out);
	run(&c, NULL, env, ARGS("db", "downgrade", "--steps", "2"));
	expect_success(&c);
	cr_assert(strstr(c.out, "reverted 0003 enhanced_schema [3da7f9236c51] ("), "%s", c.out);
	cr_assert(strstr(c.out, "reverted 0002 recommendation_history"), "%s", c.out);
	cr_assert(strstr(c.out, "schema at version 1 initial_schema\n"), "%s", c.out);
	run(&c, NULL, env, ARGS("db", "downgrade"));
	expect_success(&c);
	cr_assert(strstr(c.out, "schema at version 0 (empty)\n"), "%s", c.out);
	run(&c, NULL, env, ARGS("db", "downgrade"));
	expect_one_line_error(&c, 1, "cannot downgrade 1 step from version 0");
	run(&c, NULL, env, ARGS("db", "migrate", "--to", "2"));
	expect_success(&c);
	run(&c, NULL, env, ARGS("db", "migrate", "--to", "1"));
	expect_one_line_error(&c, 1, "past the upgrade target 1: use downgrade");
	run(&c, NULL, env, ARGS("db", "migrate"));
	expect_success(&c);
	cr_assert(strstr(c.out, "applied 0005 entity_mappings ("), "%s", c.out);
	run(&c, NULL, env, ARGS("db", "init", "--drop-existing"));
	expect_success(&c);
	cr_assert(strstr(c.out, "dropped 27 tables ("), "%s", c.out);
	cr_assert_eq(count(c.out, "applied "), 5, "%s", c.out);
	ztoq_config_free(cfg);
}

/*
 * stats counts a project's rows in every entity table; the key goes through bound
 * parameters (a key full of SQL changes nothing).
 */
TEST_BOTH(cli, stats_counts_rows_per_entity)
{
	static const char *const key = "P'1; DROP TABLE projects; --";
	struct env e;
	ztoq_config *cfg;
	const char *const *env = fresh_env(&e, backend, &cfg);
	ztoq_session *s;
	ztoq_db *db;
	struct cmd c;

	run(&c, NULL, env, ARGS("db", "migrate", "--to", "4"));
	run(&c, NULL, env, ARGS("db", "stats", "--project-key", key));
	expect_one_line_error(&c, 1, "the schema is at version 4, not at head (5)");
	run(&c, NULL, env, ARGS("db", "migrate"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	ztoq_value k = ZTOQ_TEXT(key);
	test_ok(ztoq_session_exec(s, "INSERT INTO projects (id, key, name) VALUES ('p1', ?, 'x')",
				  &k, 1, NULL));
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('p2', 'OTHER', 'y')");
	test_ok(ztoq_session_exec(s, "INSERT INTO test_cases (id, key, name, project_key) VALUES "
				     "('c1', 'K1', 'a', ?), ('c2', 'K2', 'b', ?)",
				  (ztoq_value[]){k, k}, 2, NULL));
	test_exec(s, "INSERT INTO test_cases (id, key, name, project_key) "
		     "VALUES ('c3', 'K3', 'c', 'OTHER')");
	test_exec(s, "INSERT INTO test_steps (id, \"index\", description, test_case_id) VALUES "
		     "('s1', 1, 'x', 'c1'), ('s2', 2, 'x', 'c1'), ('s3', 1, 'x', 'c2'), "
		     "('s4', 1, 'x', 'c3')");
	test_exec(s, "INSERT INTO attachments (id, filename, content_type, entity_type, "
		     "entity_id) VALUES ('a1', 'f', 't', 'TEST_CASE', 'c2'), "
		     "('a2', 'f', 't', 'TEST_CASE', 'c3')");
	ztoq_session_close(s);
	ztoq_db_close(db);
	run(&c, NULL, env, ARGS("db", "stats", "--project-key", key));
	expect_success(&c);
	cr_assert(strstr(c.out, "  projects                   1\n"), "%s", c.out);
	cr_assert(strstr(c.out, "  test_cases                 2\n"), "%s", c.out);
	cr_assert(strstr(c.out, "  test_steps                 3\n"), "%s", c.out);
	cr_assert(strstr(c.out, "  attachments                1\n"), "%s", c.out);
	cr_assert(strstr(c.out, "  entity_mappings            0\n"), "%s", c.out);
	cr_assert_eq(count(c.out, "\n"), 19, "a line per entity: %s", c.out);
	run(&c, NULL, env, ARGS("db", "stats", "--project-key", "OTHER"));
	cr_assert(strstr(c.out, "  test_cases                 1\n"), "%s", c.out);
	ztoq_config_free(cfg);
}

TEST_BOTH(cli, four_concurrent_migrate_commands_apply_each_once)
{
	struct env e;
	ztoq_config *cfg;
	const char *const *env = fresh_env(&e, backend, &cfg);
	struct cmd c[4];
	int applied = 0;

	for (int i = 0; i < 4; i++)
		start(&c[i], NULL, env, ARGS("db", "migrate"));
	for (int i = 0; i < 4; i++) {
		finish(&c[i]);
		expect_success(&c[i]);
		applied += count(c[i].out, "applied ");
		cr_assert(strstr(c[i].out, "schema at version 5 entity_mappings (head)"), "%s",
			  c[i].out);
	}
	cr_assert_eq(applied, 5, "each migration applied by exactly one process");
	ztoq_config_free(cfg);
}

TEST_BOTH(cli, drift_fails_status_and_migrate)
{
	struct env e;
	ztoq_config *cfg;
	const char *const *env = fresh_env(&e, backend, &cfg);
	ztoq_db *db;
	ztoq_session *s;
	struct cmd c;

	run(&c, NULL, env, ARGS("db", "migrate", "--to", "4"));
	expect_success(&c);
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "UPDATE ztoq_schema_migrations SET checksum = 'ffffffffffffffff' "
		     "WHERE version = 1");
	ztoq_session_close(s);
	ztoq_db_close(db);
	run(&c, NULL, env, ARGS("db", "status"));
	expect_one_line_error(&c, 1, "drifted");
	cr_assert(strstr(c.out, "drift:          0001\n"), "%s", c.out);
	run(&c, NULL, env, ARGS("db", "migrate"));
	expect_one_line_error(&c, 1, "applied with checksum ffffffffffffffff");
	run(&c, NULL, env, ARGS("db", "history"));
	expect_success(&c);
	cr_assert(strstr(c.out, "DRIFT: applied with checksum ffffffffffffffff"), "%s", c.out);
	ztoq_config_free(cfg);
}

/* ---- PostgreSQL connections, and the password ---------------------------------------- */

Test(cli, postgresql_through_options_and_password_file)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	const char *pw = ztoq_config_get(cfg, "password");
	char pwfile[512];
	FILE *f;
	struct cmd c;

	test_pg_reset();
	snprintf(pwfile, sizeof(pwfile), "%s", test_path("pw"));
	cr_assert_not_null(f = fopen(pwfile, "w"));
	fprintf(f, "%s\n", pw);
	fclose(f);
	run(&c, NULL, NO_ENV,
	    ARGS("db", "init", "--db-type", "postgresql", "--host", ztoq_config_get(cfg, "host"),
		 "--port", ztoq_config_get(cfg, "port"), "--username",
		 ztoq_config_get(cfg, "username"), "--database", ztoq_config_get(cfg, "database"),
		 "--password-file", pwfile));
	expect_success(&c);
	cr_assert_eq(count(c.out, "applied "), 5, "%s", c.out);
	run(&c, NULL, NO_ENV,
	    ARGS("db", "check", "--db-type=postgresql", "--host", ztoq_config_get(cfg, "host"),
		 "--port", ztoq_config_get(cfg, "port"), "--username",
		 ztoq_config_get(cfg, "username"), "--database", ztoq_config_get(cfg, "database"),
		 "--password", pw));
	expect_success(&c);
	expect_no_secret(&c, pw);
	cr_assert(strstr(c.out, "server:     PostgreSQL "), "%s", c.out);
	cr_assert(strstr(c.out, ";Pwd=***\n"), "%s", c.out);
	cr_assert(strstr(c.out, "schema:     version 5 of 5 (head)"), "%s", c.out);
	ztoq_config_free(cfg);
}

/* Unreachable server, missing driver, wrong password: one line, exit 1, no password. */
Test(cli, connection_failures_are_one_line_without_the_password)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	const char *pw = ztoq_config_get(cfg, "password");
	char port[16], env_pw[512];
	struct cmd c;

	snprintf(port, sizeof(port), "%d", test_closed_port());
	run(&c, NULL, NO_ENV,
	    ARGS("db", "migrate", "--db-type", "postgresql", "--host", "127.0.0.1", "--port", port,
		 "--username", "ztoq_test", "--database", "ztoq_test", "--password", pw));
	expect_one_line_error(&c, 1, "Connection refused");
	cr_assert(strstr(c.err, "Pwd=***"), "%s", c.err);
	expect_no_secret(&c, pw);
	run(&c, NULL, NO_ENV,
	    ARGS("db", "migrate", "--db-type", "postgresql", "--pg-driver", "No Such Driver",
		 "--password", pw));
	expect_one_line_error(&c, 1, "ODBC driver not registered in odbcinst.ini");
	cr_assert(strstr(c.err, "No Such Driver"), "%s", c.err);
	expect_no_secret(&c, pw);
	run(&c, NULL, NO_ENV,
	    ARGS("db", "status", "--db-type", "sqlite", "--sqlite-driver", "Gone",
		 "--db-path", test_path("x.db")));
	expect_one_line_error(&c, 1, "ODBC driver not registered in odbcinst.ini");
	snprintf(env_pw, sizeof(env_pw), "ZTOQ_PG_PASSWORD=%s-wrong", pw);
	run(&c, NULL, ARGS(env_pw),
	    ARGS("db", "status", "--db-type", "postgresql", "--host", ztoq_config_get(cfg, "host"),
		 "--port", ztoq_config_get(cfg, "port"), "--username", "ztoq_test", "--database",
		 "ztoq_test"));
	expect_one_line_error(&c, 1, "password authentication failed");
	expect_no_secret(&c, pw);
	ztoq_config_free(cfg);
}

/*
 * A connection string of the caller's own (db_type odbc): the password given through
 * pqopt authenticates and is not printed; a Pwd after a tab or a line break is masked.
 */
Test(cli, own_connection_string_never_shows_its_password)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_POSTGRESQL);
	const char *pw = ztoq_config_get(cfg, "password");
	char connstr[1024], dsn[1100], quoted[256], *q = quoted;
	struct cmd c;

	/* libpq quoting inside pqopt's braces: '\'' and '\\' escaped, '}' doubled */
	for (const char *p = pw; *p && q < quoted + sizeof(quoted) - 4; p++) {
		if (*p == '\'' || *p == '\\')
			*q++ = '\\';
		if (*p == '}')
			*q++ = '}';
		*q++ = *p;
	}
	*q = '\0';
	snprintf(connstr, sizeof(connstr),
		 "Driver={PostgreSQL Unicode};Server=%s;Port=%s;Database=%s;Uid=%s;"
		 "Protocol=7.4-0;pqopt={password='%s'}",
		 ztoq_config_get(cfg, "host"), ztoq_config_get(cfg, "port"),
		 ztoq_config_get(cfg, "database"), ztoq_config_get(cfg, "username"), quoted);
	snprintf(dsn, sizeof(dsn), "ZTOQ_DSN=%s", connstr);
	run(&c, NULL, ARGS("ZTOQ_DB_TYPE=odbc", dsn), ARGS("db", "check"));
	expect_success(&c);
	cr_assert(strstr(c.out, "pqopt=***"), "%s", c.out);
	expect_no_secret(&c, pw);
	expect_no_secret(&c, quoted);
	snprintf(dsn, sizeof(dsn),
		 "ZTOQ_DSN=Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%d;Uid=u;"
		 "\tPwd={tab-secret};\nPassword=newline-secret;Protocol=7.4-0",
		 test_closed_port());
	run(&c, NULL, ARGS("ZTOQ_DB_TYPE=odbc", dsn), ARGS("db", "check"));
	expect_one_line_error(&c, 1, "Connection refused");
	expect_no_secret(&c, "tab-secret");
	expect_no_secret(&c, "newline-secret");
	ztoq_config_free(cfg);
}

/* The tables of the test PostgreSQL database, "name name ..." (explicit options). */
static void pg_tables(char *out, size_t size)
{
	ztoq_db *db = test_open(ZTOQ_DB_POSTGRESQL);
	ztoq_table_list *list;
	size_t used = 0;

	test_ok(ztoq_health_tables(&list, db, 0));
	out[0] = '\0';
	for (size_t i = 0; i < list->count; i++)
		used += (size_t)snprintf(out + used, size - used, "%s ", list->tables[i].name);
	ztoq_table_list_free(list);
	ztoq_db_close(db);
}

/*
 * `ztoq db init --dsn NAME` with no db_type: PostgreSQL's schema, the same tables as
 * with explicit options, and `db check` names the backend the driver reported.
 */
Test(cli, init_through_a_dsn_without_db_type_is_postgresqls_schema)
{
	char with_dsn[4096], with_options[4096], password[256];
	ztoq_config *cfg = test_config_form(ZTOQ_DB_POSTGRESQL, "options");
	struct env e;
	struct cmd c;

	snprintf(password, sizeof(password), "ZTOQ_PG_PASSWORD=%s", ztoq_config_get(cfg, "password"));
	test_pg_reset();
	run(&c, NULL, ARGS(password), ARGS("db", "init", "--dsn", "ztoq_pg", "--username",
					   ztoq_config_get(cfg, "username")));
	expect_success(&c);
	run(&c, NULL, ARGS(password), ARGS("db", "check", "--dsn", "ztoq_pg", "--username",
					   ztoq_config_get(cfg, "username")));
	expect_success(&c);
	cr_assert(strstr(c.out, "backend:    postgresql\n"), "%s", c.out);
	cr_assert(strstr(c.out, "(head)"), "%s", c.out);
	pg_tables(with_dsn, sizeof(with_dsn));

	test_pg_reset();
	run(&c, NULL, env_for(&e, cfg), ARGS("db", "init"));
	expect_success(&c);
	pg_tables(with_options, sizeof(with_options));
	cr_assert_str_eq(with_dsn, with_options);
	cr_assert(strstr(with_dsn, "test_cases "), "%s", with_dsn);
	ztoq_config_free(cfg);
}
