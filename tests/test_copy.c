/*
 * test_copy.c - ztoq_copy() in both directions (SQLite -> PostgreSQL, PostgreSQL ->
 * SQLite) with the real drivers: a generated ZTOQ database arrives value by value,
 * doubles to the bit, blobs with NUL bytes byte for byte; sequences usable after it;
 * alembic_version right; a non-empty target refused; a dry run creates nothing; a
 * corrupted target row is found by verification; an interrupted copy is started over;
 * a large table keeps its indexes and foreign keys, even when the copy is killed.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy_support.h"

/* One test body run in both directions: Test(copy, name_from_sqlite / _from_postgresql),
 * `from` the source's backend, the target on the other. */
#define COPY_BOTH(name) \
	static void name##_body(ztoq_db_type from); \
	Test(copy, name##_from_sqlite, .timeout = 120) { name##_body(ZTOQ_DB_SQLITE); } \
	Test(copy, name##_from_postgresql, .timeout = 120) { name##_body(ZTOQ_DB_POSTGRESQL); } \
	static void name##_body(ztoq_db_type from)

/* Doubles read back from the target are the very bits written to the source. */
static void assert_hard_doubles(ztoq_db *dst)
{
	ztoq_session *s;
	const char *sql = ztoq_db_backend(dst) == ZTOQ_DB_SQLITE
				  ? "SELECT printf('%!.18e', value_numeric) FROM custom_field_values "
				    "WHERE id = ?"
				  : "SELECT CAST(value_numeric AS text) FROM custom_field_values WHERE id = ?";

	test_ok(ztoq_session_open(&s, dst));
	for (size_t v = 0; v < nhard; v++) {
		char id[32];
		ztoq_stmt *st;
		const char *text;
		double got;

		snprintf(id, sizeof(id), "CV0.%zu", v);
		test_ok(ztoq_stmt_prepare(&st, s, sql));
		test_ok(ztoq_stmt_bind_text(st, 1, id, strlen(id)));
		test_ok(ztoq_stmt_execute(st));
		cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
		test_ok(ztoq_stmt_get_text(st, 0, &text, NULL, NULL));
		got = strtod(text, NULL);
		cr_assert(memcmp(&got, &hard_doubles[v], sizeof(got)) == 0,
			  "double %zu: %a written, %a (\"%s\") read", v, hard_doubles[v], got, text);
		ztoq_stmt_finalize(st);
	}
	test_ok(ztoq_session_close(s));
}

/* Every table with a serial id (PostgreSQL: every column that owns a sequence, the
 * catalog says, is one of them), and a row inserted without its id. */
static const struct {
	const char *table, *insert;
} serial_tables[] = {
	{"entity_mappings", "INSERT INTO entity_mappings (project_key, mapping_type, source_id, "
			    "target_id) VALUES ('PK0', 'case', 'new', 'new')"},
	{"migration_state", "INSERT INTO migration_state (project_key) VALUES ('PKnew')"},
	{"recommendation_history", "INSERT INTO recommendation_history (project_key, \"timestamp\", "
				   "recommendation_id, priority, category, issue, action) VALUES "
				   "('PK0', '2024-05-06 07:08:09', 'R2', 'low', 'c', 'i', 'a')"},
	{"entity_batch_state", "INSERT INTO entity_batch_state (project_key, entity_type, "
			       "batch_number) VALUES ('PK0', 'case', 2)"},
	{"migration_performance_stats", "INSERT INTO migration_performance_stats (project_key, "
					"\"timestamp\", phase, operation, duration_ms) VALUES "
					"('PK0', '2024-05-06 07:08:09', 'load', 'steps', 6)"},
	{"migration_checkpoints", "INSERT INTO migration_checkpoints (project_key, checkpoint_id, "
				  "\"timestamp\", phase, status) VALUES ('PK0', 'c2', "
				  "'2024-05-06 07:08:09', 'load', 'done')"},
};

/* In every table with a serial id of the copied `dst`, a row inserted without its id
 * gets the next one after the copied ids. */
static void assert_serials_continue(ztoq_db *dst)
{
	size_t n = sizeof(serial_tables) / sizeof(serial_tables[0]);
	ztoq_session *s;
	char sql[128];

	test_ok(ztoq_session_open(&s, dst));
	if (ztoq_db_backend(dst) == ZTOQ_DB_POSTGRESQL)
		cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM information_schema.columns WHERE "
					    "table_schema = current_schema() AND "
					    "column_default LIKE 'nextval(%'"),
			     (int64_t)n, "a serial column the test does not insert into");
	for (size_t i = 0; i < n; i++) {
		int64_t max;

		snprintf(sql, sizeof(sql), "SELECT MAX(id) FROM %s", serial_tables[i].table);
		max = test_scalar(s, sql);
		cr_assert(max > 0, "%s: no copied row", serial_tables[i].table);
		test_exec(s, serial_tables[i].insert);
		cr_assert_eq(test_scalar(s, sql), max + 1, "%s: the new id after %lld",
			     serial_tables[i].table, (long long)max);
	}
	test_ok(ztoq_session_close(s));
}

COPY_BOTH(every_value)
{
	ztoq_db *src, *dst;
	ztoq_copy_result res;
	ztoq_session *s;
	ztoq_migration_status *st;
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	int incomplete = 1;

	pair(from, &src, &dst, 3);
	o.batch_size = 4; /* many batches a table: a child folder and its parent apart */
	test_ok(ztoq_copy(&res, src, dst, &o));
	cr_assert_eq(res.verified, 1);
	cr_assert_eq(res.schema_version, ztoq_migrate_head());
	cr_assert(res.rows > 100, "%llu rows", (unsigned long long)res.rows);
	assert_same(src, dst);
	assert_hard_doubles(dst);
	test_ok(ztoq_copy_incomplete(dst, &incomplete));
	cr_assert_eq(incomplete, 0);
	/* the target's checksums are its own dialect's: no drift */
	test_ok(ztoq_migrate_status(&st, dst));
	cr_assert_eq(st->ndrift, 0, "drift on the target from version %d", st->drift[0]);
	cr_assert_eq(st->current, ztoq_migrate_head());
	ztoq_migrate_status_free(st);
	assert_serials_continue(dst);
	if (ztoq_db_backend(dst) == ZTOQ_DB_SQLITE) {
		/* the connection the copy wrote on has SQLite's defaults back */
		test_ok(ztoq_session_open(&s, dst));
		cr_assert_eq(test_scalar(s, "PRAGMA temp_store"), 0);
		cr_assert_eq(test_scalar(s, "PRAGMA cache_size"), -2000);
		test_ok(ztoq_session_close(s));
	}
	close_pair(src, dst);
}

/* A target with rows is refused naming the table; with replace it is copied over. */
COPY_BOTH(non_empty_target_refused)
{
	ztoq_db *src, *dst;
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	ztoq_session *s;

	pair(from, &src, &dst, 1);
	test_ok(ztoq_migrate_init(dst, NULL));
	test_ok(ztoq_session_open(&s, dst));
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('X', 'X', 'x')");
	test_ok(ztoq_session_close(s));
	cr_assert_eq(ztoq_copy(NULL, src, dst, NULL), ZTOQ_ESTATE);
	cr_assert(strstr(ztoq_error_last()->message, "1 rows in table projects"), "%s",
		  ztoq_error_last()->message);
	o.replace = 1;
	test_ok(ztoq_copy(NULL, src, dst, &o));
	assert_same(src, dst);
	close_pair(src, dst);
}

/* A target at another schema version is refused naming both versions. */
Test(copy, target_at_other_version_refused, .timeout = 120)
{
	ztoq_db *src, *dst;

	pair(ZTOQ_DB_SQLITE, &src, &dst, 1);
	test_ok(ztoq_migrate_upgrade(dst, "2", NULL));
	expect_error(ztoq_copy(NULL, src, dst, NULL), ZTOQ_ESTATE, "version 2 (the source is at 5)");
	close_pair(src, dst);
}

/* A source whose applied migrations no longer match their checksums is refused. */
Test(copy, drifted_source_refused, .timeout = 120)
{
	ztoq_db *src, *dst;

	pair(ZTOQ_DB_POSTGRESQL, &src, &dst, 1);
	exec_on(src, "UPDATE ztoq_schema_migrations SET checksum = '0000000000000000' "
		     "WHERE version = 2");
	expect_error(ztoq_copy(NULL, src, dst, NULL), ZTOQ_EDRIFT,
		     "the source's schema has drifted (version 2)");
	close_pair(src, dst);
}

/* A dry run plans (tables, rows, target state) and creates nothing. */
COPY_BOTH(dry_run_creates_nothing)
{
	ztoq_db *src, *dst;
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	ztoq_copy_result res;
	ztoq_session *s;

	pair(from, &src, &dst, 2);
	o.dry_run = 1;
	test_ok(ztoq_copy(&res, src, dst, &o));
	cr_assert_str_eq(res.target_state, "empty");
	cr_assert(res.tables >= 20 && res.rows > 50, "%zu tables, %llu rows", res.tables,
		  (unsigned long long)res.rows);
	test_ok(ztoq_session_open(&s, dst));
	cr_assert_eq(test_scalar(s, ztoq_db_backend(dst) == ZTOQ_DB_SQLITE
					    ? "SELECT COUNT(*) FROM sqlite_master"
					    : "SELECT COUNT(*) FROM pg_tables WHERE schemaname = "
					      "current_schema()"),
		     0);
	test_ok(ztoq_session_close(s));
	close_pair(src, dst);
}

/* A target row changed after the copy: verification names its table. */
COPY_BOTH(checksum_mismatch_found)
{
	ztoq_db *src, *dst;

	pair(from, &src, &dst, 1);
	test_ok(ztoq_copy(NULL, src, dst, NULL));
	test_ok(ztoq_copy_verify(NULL, src, dst, NULL));
	exec_on(dst, "UPDATE test_steps SET description = 'do It' WHERE id = 'S0.1.1'");
	expect_error(ztoq_copy_verify(NULL, src, dst, NULL), ZTOQ_ESTATE, "table test_steps differs");
	close_pair(src, dst);
}

/* `dst` holds the mark of an interrupted copy: the next copy starts it over, ends
 * verified, unmarked and equal to `src`. Closes both. */
static void copy_over_the_mark(ztoq_db *src, ztoq_db *dst)
{
	int incomplete = 0;

	test_ok(ztoq_copy_incomplete(dst, &incomplete));
	cr_assert_eq(incomplete, 1);
	test_ok(ztoq_copy(NULL, src, dst, NULL));
	test_ok(ztoq_copy_incomplete(dst, &incomplete));
	cr_assert_eq(incomplete, 0);
	assert_same(src, dst);
	close_pair(src, dst);
}

/* A target left with the copy mark (an interrupted copy) is reported incomplete and
 * started over by the next copy, without --replace. */
Test(copy, interrupted_copy_started_over, .timeout = 120)
{
	ztoq_db *src, *dst;
	ztoq_session *s;

	pair(ZTOQ_DB_SQLITE, &src, &dst, 1);
	test_ok(ztoq_migrate_init(dst, NULL));
	test_ok(ztoq_session_open(&s, dst));
	test_exec(s, "CREATE TABLE ztoq_copy_state (note VARCHAR(64))");
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('half', 'half', 'x')");
	test_ok(ztoq_session_close(s));
	copy_over_the_mark(src, dst);
}

/* ---- the ztoq db copy command -------------------------------------------------------- */


/* SQLite file -> PostgreSQL (target from ZTOQ_TO_ variables), progress and summary;
 * run again, refused naming the table; `ztoq db status` reports a copy mark. */
Test(copy, cli_sqlite_to_postgresql, .timeout = 120)
{
	ztoq_config *pg = test_config(ZTOQ_DB_POSTGRESQL);
	ztoq_db *src = test_open(ZTOQ_DB_SQLITE);
	const char *path = ztoq_config_get(ztoq_db_config(src), "db_path");
	char args[1024], out[32768];
	ztoq_session *s;

	generate(src, 2);
	test_pg_reset();
	export_config(pg, "ZTOQ_TO_");
	snprintf(args, sizeof(args), "copy --db-type sqlite --db-path %s", path);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "test_steps "), "%s", out);
	cr_assert(strstr(out, "18/18 rows"), "%s", out);
	cr_assert(strstr(out, "verification: passed"), "%s", out);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "ztoq db copy: the target is not empty: it holds 2 rows in table "
			      "projects (replace it with --replace)"), "%s", out);
	snprintf(args, sizeof(args), "copy --json --replace --tables projects,folders "
		 "--db-type sqlite --db-path %s", path);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "{\"event\":\"table\",\"table\":\"folders\",\"rows_done\":12,"),
		  "%s", out);
	cr_assert(!strstr(out, "test_cases"), "%s", out);
	cr_assert(strstr(out, "{\"event\":\"summary\",\"ok\":true,"), "%s", out);
	/* a copy mark left behind: status says so */
	export_config(pg, "ZTOQ_");
	{
		ztoq_db *dst = test_open(ZTOQ_DB_POSTGRESQL);

		test_ok(ztoq_session_open(&s, dst));
		test_exec(s, "CREATE TABLE ztoq_copy_state (note VARCHAR(64))");
		test_ok(ztoq_session_close(s));
		ztoq_db_close(dst);
	}
	cr_assert_eq(test_run_cli(ZTOQ_CLI, "status", out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "copy incomplete"), "%s", out);
	ztoq_db_close(src);
	ztoq_config_free(pg);
}

/* A dry run into a SQLite file not there: the plan, and no file afterwards. */
Test(copy, cli_dry_run_creates_no_file, .timeout = 120)
{
	ztoq_db *src = test_open(ZTOQ_DB_SQLITE);
	const char *path = ztoq_config_get(ztoq_db_config(src), "db_path");
	const char *target = test_path("never.db");
	char args[1024], out[32768];

	generate(src, 1);
	snprintf(args, sizeof(args), "copy --dry-run --db-path %s --to-db-type sqlite "
		 "--to-db-path %s", path, target);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "plan projects"), "%s", out);
	cr_assert(strstr(out, "target: not there (the copy creates it)"), "%s", out);
	cr_assert_eq(access(target, F_OK), -1, "%s was created", target);
	snprintf(args, sizeof(args), "copy --db-path %s --to-db-type sqlite --to-port x "
		 "--to-db-path %s", path, target);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 2, "%s", out);
	cr_assert(strstr(out, "ztoq db copy: the target's option --port: \"x\" is not a whole number"),
		  "%s", out);
	snprintf(args, sizeof(args), "copy --dry-run --tables projects,nosuch --db-path %s "
		 "--to-db-path %s", path, target);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 2, "%s", out);
	cr_assert(strstr(out, "ztoq db copy: no table \"nosuch\" in ZTOQ's schema"), "%s", out);
	snprintf(args, sizeof(args), "copy --db-path %s --to-db-path %s", path, path);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 2, "%s", out);
	cr_assert(strstr(out, "the target is the source itself"), "%s", out);
	/* --json: a failed run still ends with its summary event */
	snprintf(args, sizeof(args), "copy --json --db-path %s --to-db-path %s", path, path);
	cr_assert_eq(test_run_cli(ZTOQ_CLI, args, out, sizeof(out)), 2, "%s", out);
	cr_assert(strstr(out, "{\"event\":\"summary\",\"ok\":false"), "%s", out);
	ztoq_db_close(src);
}

/* ---- killed mid-table ---------------------------------------------------------------- */

static void kill_on_progress(const ztoq_copy_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == ZTOQ_COPY_PROGRESS && !strcmp(ev->table, "test_steps") && ev->rows_done >= 10)
		kill(getpid(), SIGKILL);
}

/*
 * Closes the open pair *src, *dst, runs a copy of them (`replace` as given, 5-row
 * batches) in a child killed with SIGKILL mid-table by kill_on_progress, and opens
 * the pair again from the same configurations.
 */
static void copy_killed_midway(ztoq_db **src, ztoq_db **dst, int replace)
{
	ztoq_config *src_cfg, *dst_cfg;
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	int status;
	pid_t pid;

	test_ok(ztoq_config_dup(&src_cfg, ztoq_db_config(*src)));
	test_ok(ztoq_config_dup(&dst_cfg, ztoq_db_config(*dst)));
	close_pair(*src, *dst);
	if ((pid = fork()) == 0) {
		o.batch_size = 5;
		o.replace = replace;
		o.progress = kill_on_progress;
		if (ztoq_db_open(src, src_cfg) == 0 && ztoq_db_open(dst, dst_cfg) == 0)
			ztoq_copy(NULL, *src, *dst, &o);
		_exit(3); /* not killed: the test fails */
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
	test_ok(ztoq_db_open(src, src_cfg));
	test_ok(ztoq_db_open(dst, dst_cfg));
	ztoq_config_free(src_cfg);
	ztoq_config_free(dst_cfg);
}

/* A copy killed (SIGKILL) in the middle of a table leaves the target marked
 * incomplete; the next copy starts it over and ends verified, every value equal. */
COPY_BOTH(killed_mid_table)
{
	ztoq_db *src, *dst;

	pair(from, &src, &dst, 2);
	copy_killed_midway(&src, &dst, 0);
	copy_over_the_mark(src, dst);
}


/* A target that is the source itself is refused (a copy with replace would drop it);
 * the source keeps every row. */
Test(copy, target_is_the_source_refused, .timeout = 120)
{
	ztoq_db *src = test_open(ZTOQ_DB_SQLITE), *same;
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	ztoq_session *s;

	generate(src, 1);
	test_ok(ztoq_db_open(&same, ztoq_db_config(src)));
	o.dry_run = 1;
	expect_error(ztoq_copy_verify(NULL, src, NULL, &o), ZTOQ_EINVALID, "another target");
	o.tables = (const char *const[]){"projects", NULL};
	o.ntables = 2;
	expect_error(ztoq_copy(NULL, src, NULL, &o), ZTOQ_EINVALID, "tables[1] is NULL");
	o.tables = NULL;
	o.ntables = 0;
	o.dry_run = 0;
	o.replace = 1;
	expect_error(ztoq_copy(NULL, src, same, &o), ZTOQ_EINVALID, "the target is the source itself");
	test_ok(ztoq_session_open(&s, src));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM projects"), 1);
	test_ok(ztoq_session_close(s));
	close_pair(src, same);
}

/* A source at an older version (3, the Python original's head): the target is brought
 * to 3, not to head, both when empty and when replaced from head. */
COPY_BOTH(source_at_older_version)
{
	ztoq_db *src, *dst;
	ztoq_copy_options o = ZTOQ_COPY_OPTIONS_INIT;
	ztoq_copy_result res;
	ztoq_migration_status *st;
	ztoq_session *s;

	pair(from, &src, &dst, 1);
	test_ok(ztoq_migrate_downgrade(src, "3", NULL));
	for (int replace = 0; replace < 2; replace++) {
		o.replace = replace;
		test_ok(ztoq_copy(&res, src, dst, &o));
		cr_assert_eq(res.schema_version, 3);
		cr_assert_eq(res.verified, 1);
		test_ok(ztoq_migrate_status(&st, dst));
		cr_assert_eq(st->current, 3);
		cr_assert_str_eq(st->alembic_version, "3da7f9236c51");
		cr_assert_eq(st->ndrift, 0);
		ztoq_migrate_status_free(st);
		test_ok(ztoq_session_open(&s, dst));
		cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM test_steps"), 9);
		test_ok(ztoq_session_close(s));
		if (!replace)
			test_ok(ztoq_migrate_upgrade(dst, NULL, NULL)); /* head, with rows */
	}
	close_pair(src, dst);
}

/* The target's variables: ZTOQ_TO_ in place of ZTOQ_, aliases too; a bad value names
 * the prefixed variable; the plain ones are not read; a bad prefix is refused. */
Test(copy, config_load_env_prefixed, .timeout = 30)
{
	ztoq_config *cfg;

	test_ok(ztoq_config_new(&cfg));
	setenv("ZTOQ_PG_PORT", "1111", 1);
	setenv("ZTOQ_TO_PG_PORT", "2222", 1);
	setenv("ZTOQ_TO_SQLITE_PATH", "/tmp/alias.db", 1);
	test_ok(ztoq_config_load_env_prefixed(cfg, "ZTOQ_TO_"));
	cr_assert_str_eq(ztoq_config_get(cfg, "port"), "2222");
	cr_assert_str_eq(ztoq_config_get(cfg, "db_path"), "/tmp/alias.db");
	cr_assert_eq(ztoq_config_source_of(cfg, "port"), ZTOQ_SOURCE_ENV);
	setenv("ZTOQ_TO_PG_PORT", "x", 1);
	expect_error(ztoq_config_load_env_prefixed(cfg, "ZTOQ_TO_"), ZTOQ_EINVALID,
		     "environment variable ZTOQ_TO_PG_PORT");
	expect_error(ztoq_config_load_env_prefixed(cfg, "TO_"), ZTOQ_EINVALID, "must start with ZTOQ_");
	ztoq_config_free(cfg);
}

/* ---- large tables: loaded without their secondary indexes and foreign keys ------------ */

/* Source rows of test_steps past the copy's threshold for rebuilding (copy.c's
 * REBUILD_ROWS, 10,000) on top of generate()'s. */
#define LARGE_STEPS 10000

/* ztoq_row_fn: a copy of the row's first column (text) into *(char **)payload. */
static int keep_text(ztoq_stmt *row, void *payload)
{
	const char *text;

	test_ok(ztoq_stmt_get_text(row, 0, &text, NULL, NULL));
	*(char **)payload = strdup(text ? text : "");
	return 0;
}

/* Every constraint and index of the schema of `db`, each definition from the catalog,
 * sorted, one a line (SQLite: the tables' and indexes' SQL); caller frees. With `ids`,
 * test_steps' indexes' own ids (SQLite: root pages), which change when an index is
 * re-created. */
static char *catalog_of(ztoq_db *db, int ids)
{
	static const char *const pg[] = {
		"SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT CAST(CAST(conrelid AS "
		"regclass) AS text) || ' ' || conname || ' ' || pg_get_constraintdef(oid) || "
		"CAST(convalidated AS text) AS x FROM pg_constraint WHERE connamespace = "
		"CAST(current_schema() AS regnamespace) UNION ALL SELECT "
		"pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = "
		"i.indrelid WHERE c.relnamespace = CAST(current_schema() AS regnamespace)) t",
		"SELECT string_agg(CAST(indexrelid AS text), ',' ORDER BY indexrelid) "
		"FROM pg_index WHERE indrelid = CAST('test_steps' AS regclass)",
	};
	static const char *const lite[] = {
		"SELECT group_concat(x, char(10)) FROM (SELECT type || ' ' || name || ' ' || "
		"COALESCE(sql, '') AS x FROM sqlite_master WHERE type IN ('table', 'index') "
		"AND name <> 'ztoq_copy_state' ORDER BY x)", /* the mark of a copy */
		"SELECT group_concat(rootpage, ',') FROM (SELECT rootpage FROM sqlite_master "
		"WHERE type = 'index' AND tbl_name = 'test_steps' ORDER BY name)",
	};
	ztoq_session *s;
	char *out = NULL;

	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_session_query(s, (ztoq_db_backend(db) == ZTOQ_DB_POSTGRESQL ? pg : lite)[ids],
				   NULL, 0, keep_text, &out));
	test_ok(ztoq_session_close(s));
	cr_assert(out && *out);
	return out;
}

/* The catalog of target `dst` has the constraints and indexes `fresh` of a freshly
 * migrated schema. */
static void assert_catalog(ztoq_db *dst, const char *fresh, const char *when)
{
	char *now = catalog_of(dst, 0);

	cr_assert_str_eq(now, fresh, "%s:\n%s\nfresh:\n%s", when, now, fresh);
	free(now);
}

/* Makes test_steps and test_cases of `src` past the threshold (LARGE_STEPS rows more
 * each). test_cases is there for its unique key, a foreign key's parent key, which a
 * SQLite target must keep while the rows go in ("foreign key mismatch" otherwise). */
static void add_large_tables(ztoq_db *src)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
		 "INSERT INTO test_steps (id, \"index\", description, test_case_id) SELECT "
		 "'L' || i, i %% 10, 'step', (SELECT MIN(id) FROM test_cases) FROM n",
		 LARGE_STEPS - 1);
	exec_on(src, sql);
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
		 "INSERT INTO test_cases (id, key, name, project_key) SELECT 'LC' || i, "
		 "'LK-' || i, 'case', (SELECT MIN(key) FROM projects) FROM n", LARGE_STEPS - 1);
	exec_on(src, sql);
}

/* A copy of a source whose test_steps is past the threshold: the target's catalog
 * has exactly the constraints and indexes of a freshly migrated schema (test_steps'
 * re-created: their ids changed), and on PostgreSQL (where it was dropped) the foreign
 * key still refuses a step of no test case. Then the same copy with replace, killed (SIGKILL)
 * after that table's indexes and foreign key were dropped and rows written: they
 * are all still there; the next copy starts over and ends equal. */
COPY_BOTH(large_table_keeps_its_constraints)
{
	ztoq_db *src, *dst;
	ztoq_session *s;
	char *fresh, *fresh_ids, *ids;

	pair(from, &src, &dst, 1);
	add_large_tables(src);
	test_ok(ztoq_migrate_upgrade(dst, NULL, NULL)); /* an empty target at head */
	fresh = catalog_of(dst, 0);
	fresh_ids = catalog_of(dst, 1);
	test_ok(ztoq_copy(NULL, src, dst, NULL));
	assert_same(src, dst);
	assert_catalog(dst, fresh, "after the copy");
	ids = catalog_of(dst, 1);
	cr_assert_str_neq(ids, fresh_ids, "test_steps' indexes were not re-created: %s", ids);
	if (from == ZTOQ_DB_SQLITE) {
		test_ok(ztoq_session_open(&s, dst));
		cr_assert_lt(ztoq_session_exec(s, "INSERT INTO test_steps (id, \"index\", "
						  "description, test_case_id) VALUES ('bad', 0, "
						  "'x', 'no such case')", NULL, 0, NULL),
			     0, "the foreign key let a bad row in");
		test_ok(ztoq_session_close(s));
	}
	copy_killed_midway(&src, &dst, 1);
	assert_catalog(dst, fresh, "after the killed copy");
	copy_over_the_mark(src, dst);
	free(fresh);
	free(fresh_ids);
	free(ids);
}

/* With a statement timeout on the target, which bounds each statement, a large table
 * is loaded with its indexes in place (an index build over the whole table is one
 * statement): they are the migrations' own afterwards, not re-created. */
COPY_BOTH(large_table_under_a_statement_timeout_keeps_its_indexes)
{
	ztoq_db *src, *dst;
	ztoq_config *cfg;
	char *ids, *fresh_ids;

	pair(from, &src, &dst, 1);
	add_large_tables(src);
	test_ok(ztoq_config_dup(&cfg, ztoq_db_config(dst)));
	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "60000"));
	ztoq_db_close(dst);
	test_ok(ztoq_db_open(&dst, cfg));
	ztoq_config_free(cfg);
	test_ok(ztoq_migrate_upgrade(dst, NULL, NULL));
	fresh_ids = catalog_of(dst, 1);
	test_ok(ztoq_copy(NULL, src, dst, NULL));
	assert_same(src, dst);
	ids = catalog_of(dst, 1);
	cr_assert_str_eq(ids, fresh_ids, "indexes were re-created under a statement timeout");
	free(ids);
	free(fresh_ids);
	close_pair(src, dst);
}

/* A SQLite source whose large test_steps has a step of no test case (written with the
 * foreign keys off): the copy to PostgreSQL fails when the foreign key is re-added,
 * naming the table, and the rollback leaves every constraint and index in place. */
Test(copy, large_table_bad_row_rolls_back, .timeout = 120)
{
	ztoq_db *src, *dst;
	ztoq_session *s;
	char *fresh, sql[512];
	int rc, incomplete = 0;

	pair(ZTOQ_DB_SQLITE, &src, &dst, 1);
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
		 "INSERT INTO test_steps (id, \"index\", description, test_case_id) SELECT "
		 "'L' || i, i %% 10, 'step', CASE WHEN i = 5000 THEN 'no such case' ELSE "
		 "(SELECT MIN(id) FROM test_cases) END FROM n", LARGE_STEPS - 1);
	test_ok(ztoq_session_open(&s, src));
	test_exec(s, "PRAGMA foreign_keys = OFF");
	test_exec(s, sql);
	test_exec(s, "PRAGMA foreign_keys = ON");
	test_ok(ztoq_session_close(s));
	test_ok(ztoq_migrate_upgrade(dst, NULL, NULL));
	fresh = catalog_of(dst, 0);
	rc = ztoq_copy(NULL, src, dst, NULL);
	cr_assert_lt(rc, 0, "a step of no test case was copied");
	cr_assert(strstr(ztoq_error_last()->message, "table test_steps"), "%s",
		  ztoq_error_last()->message);
	cr_log_info("%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	assert_catalog(dst, fresh, "after the failed copy");
	test_ok(ztoq_copy_incomplete(dst, &incomplete));
	cr_assert_eq(incomplete, 1);
	free(fresh);
	close_pair(src, dst);
}
