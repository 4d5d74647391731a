/*
 * test_migrate.c - the migration engine on both backends: scenarios 66-75 of the
 * original (docs/original.md), idempotence, downgrade and upgrade keeping data, atomic failure, drift,
 * four concurrent migrator processes, init --drop-existing, Alembic compatibility.
 *
 * Failing and changed migrations are injected with ztoq__migrate_use(), which makes
 * the engine run a given list instead of the embedded one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "migrate.h"
#include "migrate_support.h"
#include "support.h"

TestSuite(migrate, .timeout = 120);

/* ---- helpers ---------------------------------------------------------------------- */

/* Progress events as a migrate call reported them. */
struct events {
	int n;
	ztoq_migrate_event_kind kind[32];
	int version[32];
	size_t tables;
};

static void record(const ztoq_migrate_event *ev, void *payload)
{
	struct events *e = payload;

	cr_assert_lt(e->n, 32);
	cr_assert_geq(ev->duration_ms, 0);
	e->kind[e->n] = ev->kind;
	e->version[e->n++] = ev->version;
	if (ev->kind == ZTOQ_MIGRATE_DROPPED)
		e->tables = ev->tables;
}

static ztoq_migrate_options recording(struct events *e)
{
	ztoq_migrate_options opts = ZTOQ_MIGRATE_OPTIONS_INIT;

	memset(e, 0, sizeof(*e));
	opts.progress = record;
	opts.payload = e;
	return opts;
}

static ztoq_migration_status *status_of(ztoq_db *db)
{
	ztoq_migration_status *s;

	test_ok(ztoq_migrate_status(&s, db));
	return s;
}

static int current_of(ztoq_db *db)
{
	ztoq_migration_status *s = status_of(db);
	int v = s->current;

	ztoq_migrate_status_free(s);
	return v;
}

static void expect_alembic(ztoq_db *db, const char *revision)
{
	ztoq_migration_status *s = status_of(db);

	cr_assert_str_eq(s->alembic_version, revision);
	ztoq_migrate_status_free(s);
}

/* Runs one statement on a session of its own. */
static void exec_on(ztoq_db *db, const char *sql)
{
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, sql);
	ztoq_session_close(s);
}

static int64_t scalar_on(ztoq_db *db, const char *sql)
{
	ztoq_session *s;
	int64_t v;

	test_ok(ztoq_session_open(&s, db));
	v = test_scalar(s, sql);
	ztoq_session_close(s);
	return v;
}

static char *tables_of(ztoq_db *db)
{
	ztoq_session *s;
	char *t;

	test_ok(ztoq_session_open(&s, db));
	t = catalog_tables(s);
	ztoq_session_close(s);
	return t;
}

static char *columns_of(ztoq_db *db, const char *table)
{
	ztoq_session *s;
	char *c;

	test_ok(ztoq_session_open(&s, db));
	c = catalog_columns(s, table);
	ztoq_session_close(s);
	return c;
}

static int has_table(ztoq_db *db, const char *table)
{
	ztoq_session *s;
	int found;

	test_ok(ztoq_session_open(&s, db));
	found = catalog_has_table(s, table);
	ztoq_session_close(s);
	return found;
}

/* Some projects, each with three test cases. */
static void insert_projects(ztoq_db *db, int projects)
{
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	for (int p = 0; p < projects; p++) {
		char key[16], id[16], name[16];

		snprintf(id, sizeof(id), "p%d", p);
		snprintf(key, sizeof(key), "P%d", p);
		snprintf(name, sizeof(name), "project %d", p);
		ztoq_value project[] = {ZTOQ_TEXT(id), ZTOQ_TEXT(key), ZTOQ_TEXT(name)};
		test_ok(ztoq_session_exec(s, "INSERT INTO projects (id, key, name) VALUES (?, ?, ?)",
					  project, 3, NULL));
		for (int c = 0; c < 3; c++) {
			char cid[16], ckey[16];

			snprintf(cid, sizeof(cid), "c%d-%d", p, c);
			snprintf(ckey, sizeof(ckey), "P%d-%d", p, c);
			ztoq_value tc[] = {ZTOQ_TEXT(cid), ZTOQ_TEXT(ckey), ZTOQ_TEXT(key)};
			test_ok(ztoq_session_exec(s,
						  "INSERT INTO test_cases (id, key, name, project_key) "
						  "VALUES (?, ?, 'a case', ?)",
						  tc, 3, NULL));
		}
	}
	ztoq_session_close(s);
}

/* The embedded migrations followed by `extra`, as the engine's list. */
static ztoq__migration plan[16];

static void use_with(const ztoq__migration *extra, size_t n)
{
	cr_assert_leq(ztoq__migration_count + n, 16);
	memcpy(plan, ztoq__migrations, ztoq__migration_count * sizeof(plan[0]));
	memcpy(plan + ztoq__migration_count, extra, n * sizeof(plan[0]));
	ztoq__migrate_use(plan, ztoq__migration_count + n);
}

/* A migration 6 with the same SQL on both backends. */
static ztoq__migration migration_6(const char *name, const char *up, const char *down)
{
	return (ztoq__migration){6, name, NULL, up, down, up, down};
}

#define RISK_DOWN "-- ztoq-migration: 6 risk -\nALTER TABLE test_cases DROP COLUMN risk;\n"

/* ---- the chain, init, status -------------------------------------------------------- */

/* Scenario 66: one linear chain; the first three are the Alembic revisions. */
TEST_BOTH(migrate, history_is_a_single_linear_chain)
{
	static const char *const revisions[] = {"a16c4721be8a", "2af75c826b91", "3da7f9236c51",
						"", ""};
	ztoq_db *db = fresh_db(backend);
	ztoq_migration_history *h;

	test_ok(ztoq_migrate_history(&h, db));
	cr_assert_eq(h->count, 5);
	cr_assert_eq(ztoq_migrate_head(), 5);
	for (size_t i = 0; i < h->count; i++) {
		const ztoq_migration *m = &h->items[i];

		cr_assert_eq(m->version, (int)i + 1);
		cr_assert_eq(m->parent, (int)i, "each parent is the previous revision");
		cr_assert_str_eq(m->revision, revisions[i]);
		cr_assert_str_eq(m->parent_revision, i ? revisions[i - 1] : "");
		cr_assert_eq(strlen(m->checksum), 16);
		cr_assert_eq(strspn(m->checksum, "0123456789abcdef"), 16);
		cr_assert(m->shipped && !m->applied && !m->drift);
		cr_assert_eq(m->duration_ms, -1);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(m->checksum, h->items[j].checksum);
	}
	cr_assert_str_eq(h->items[0].name, "initial_schema");
	cr_assert_str_eq(h->items[4].name, "entity_mappings");
	ztoq_migrate_history_free(h);
	ztoq_db_close(db);
}

/*
 * A released migration never changes: databases record the checksum of its up SQL and
 * a changed one is drift. These are the checksums of versions 1-5 as released; they
 * pin the text that src/migrations/embed.sh makes of the one-file-per-migration
 * sources (written once, differing per dialect only where marked).
 */
TEST_BOTH(migrate, released_migrations_keep_their_checksums)
{
	static const char *const released[][5] = {
		{"8e4924199628cec7", "00b4b756460f3fc8", "e93ee1a5484148bf", "352eca4a7abe4bf4",
		 "e9c8904289af8c1a"},
		{"12aa302564b04933", "cece265b04189402", "21789991985e9f39", "4b98dcd93ee1caa7",
		 "0e3c09fd211cb96a"},
	};
	const char *const *want = released[backend == ZTOQ_DB_POSTGRESQL];
	ztoq_db *db = fresh_db(backend);
	ztoq_migration_history *h;

	test_ok(ztoq_migrate_history(&h, db));
	cr_assert_geq(h->count, 5);
	for (size_t i = 0; i < 5; i++)
		cr_expect_str_eq(h->items[i].checksum, want[i], "migration %zu", i + 1);
	ztoq_migrate_history_free(h);
	ztoq_db_close(db);
}

TEST_BOTH(migrate, untracked_database_has_everything_pending)
{
	ztoq_db *db = fresh_db(backend);
	ztoq_migration_status *s = status_of(db);

	cr_assert_eq(s->tracked, 0);
	cr_assert_eq(s->current, 0);
	cr_assert_eq(s->head, 5);
	cr_assert_eq(s->npending, 5);
	cr_assert_eq(s->pending[0], 1);
	cr_assert_eq(s->pending[4], 5);
	cr_assert_eq(s->ndrift + s->nunknown + s->applied, 0);
	cr_assert_str_eq(s->alembic_version, "");
	ztoq_migrate_status_free(s);
	ztoq_db_close(db);
}

/*
 * Scenarios 67 and 71: init creates the schema (cases, cycles and executions refer to
 * projects), the current version is head, alembic_version holds the original head,
 * and every migration is tracked with its checksum, time and duration.
 */
TEST_BOTH(migrate, init_creates_head_and_tracks_every_migration)
{
	static const char *const tables[] = {"projects",    "test_cases",      "test_cycles",
					     "test_executions", "folders", "attachments",
					     "migration_state", "entity_batch_state"};
	ztoq_db *db = fresh_db(backend);
	ztoq_migration_history *h;
	ztoq_migration_status *s;
	ztoq_session *session;
	struct events e;
	ztoq_migrate_options opts = recording(&e);
	uint64_t start = ztoq__now_ns();

	test_ok(ztoq_migrate_init(db, &opts));
	fprintf(stderr, "init to head on %s: %.1f ms\n",
		backend == ZTOQ_DB_SQLITE ? "SQLite" : "PostgreSQL",
		(double)(ztoq__now_ns() - start) / 1e6);
	cr_assert_eq(e.n, 5);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(e.kind[i], ZTOQ_MIGRATE_APPLIED);
		cr_assert_eq(e.version[i], i + 1);
	}
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		cr_assert(has_table(db, tables[i]), "%s", tables[i]);
	test_ok(ztoq_session_open(&session, db));
	for (size_t i = 1; i <= 3; i++) {
		char *fks = catalog_foreign_keys(session, tables[i]);
		cr_assert(strstr(fks, "project_key>projects.key CASCADE"), "%s: %s", tables[i], fks);
		free(fks);
	}
	cr_assert_eq(test_scalar(session, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 5);
	cr_assert_eq(test_scalar(session, "SELECT COUNT(*) FROM alembic_version"), 1);
	ztoq_session_close(session);
	s = status_of(db);
	cr_assert_eq(s->current, s->head);
	cr_assert_eq(s->current, 5);
	cr_assert_str_eq(s->current_name, "entity_mappings");
	cr_assert(s->tracked);
	cr_assert_eq(s->applied, 5);
	cr_assert_eq(s->npending + s->ndrift + s->nunknown, 0);
	cr_assert_str_eq(s->alembic_version, "3da7f9236c51");
	ztoq_migrate_status_free(s);
	test_ok(ztoq_migrate_history(&h, db));
	for (size_t i = 0; i < h->count; i++) {
		cr_assert(h->items[i].applied);
		cr_assert_str_eq(h->items[i].applied_checksum, h->items[i].checksum);
		cr_assert_eq(strlen(h->items[i].applied_at), 19, "%s", h->items[i].applied_at);
		cr_assert_geq(h->items[i].duration_ms, 0);
	}
	ztoq_migrate_history_free(h);
	ztoq_db_close(db);
}

/* Scenario 72: upgrade three more times: same tables, same version, same records. */
TEST_BOTH(migrate, upgrade_is_idempotent)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_migration_history *before, *after;
	char *tables = tables_of(db), *again;
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	test_ok(ztoq_migrate_history(&before, db));
	sleep(1); /* a re-applied migration would show a later applied_at */
	test_ok(ztoq_migrate_upgrade(db, NULL, &opts));
	test_ok(ztoq_migrate_upgrade(db, "head", &opts));
	test_ok(ztoq_migrate_init(db, &opts));
	cr_assert_eq(e.n, 0, "nothing to do");
	again = tables_of(db);
	cr_assert_str_eq(again, tables);
	test_ok(ztoq_migrate_history(&after, db));
	cr_assert_eq(after->count, before->count);
	for (size_t i = 0; i < after->count; i++)
		cr_assert_str_eq(after->items[i].applied_at, before->items[i].applied_at);
	cr_assert_eq(current_of(db), 5);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 5);
	ztoq_migrate_history_free(before);
	ztoq_migrate_history_free(after);
	free(tables);
	free(again);
	ztoq_db_close(db);
}

/* Scenario 73: rows written with raw SQL are read through the typed API. */
TEST_BOTH(migrate, raw_sql_rows_read_through_the_typed_api)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;
	ztoq_stmt *st;
	ztoq_timestamp ts;
	const char *text;
	int64_t minutes;
	double numeric;
	int flag, is_null;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('p1', 'P1', 'one')");
	test_exec(s, "INSERT INTO test_cases (id, key, name, created_on, estimated_time, "
		     "project_key) VALUES ('c1', 'P1-1', 'Login works', '2025-04-13 09:30:05', 90, "
		     "'P1')");
	test_exec(s, "INSERT INTO custom_field_definitions (id, name, type, project_key) "
		     "VALUES ('d1', 'risk', 'number', 'P1')");
	test_exec(s, "INSERT INTO custom_field_values (id, field_id, entity_type, entity_id, "
		     "value_numeric, value_boolean) VALUES ('v1', 'd1', 'TEST_CASE', 'c1', 2.5, TRUE)");
	test_ok(ztoq_stmt_prepare(&st, s,
				  "SELECT c.name, c.created_on, c.estimated_time, v.value_numeric, "
				  "v.value_boolean, c.description FROM test_cases c JOIN "
				  "custom_field_values v ON v.entity_id = c.id"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	test_ok(ztoq_stmt_get_text(st, 0, &text, NULL, NULL));
	cr_assert_str_eq(text, "Login works");
	test_ok(ztoq_stmt_get_timestamp(st, 1, &ts, NULL));
	cr_assert(ts.year == 2025 && ts.month == 4 && ts.day == 13 && ts.hour == 9 &&
		  ts.minute == 30 && ts.second == 5);
	test_ok(ztoq_stmt_get_int64(st, 2, &minutes, NULL));
	cr_assert_eq(minutes, 90);
	test_ok(ztoq_stmt_get_double(st, 3, &numeric, NULL));
	cr_assert_float_eq(numeric, 2.5, 1e-9);
	test_ok(ztoq_stmt_get_bool(st, 4, &flag, NULL));
	cr_assert_eq(flag, 1);
	test_ok(ztoq_stmt_get_text(st, 5, &text, NULL, &is_null));
	cr_assert_eq(is_null, 1);
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_DONE);
	ztoq_stmt_finalize(st);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* ---- downgrade ---------------------------------------------------------------------- */

/*
 * Scenario 69: at revision 2af75c826b91, a downgrade by one removes
 * recommendation_history and keeps the other tables' data (5 projects, 15 cases);
 * upgrading again restores the same set of tables.
 */
TEST_BOTH(migrate, downgrade_by_one_and_back_keeps_the_data)
{
	ztoq_db *db = fresh_db(backend);
	char *tables, *again;

	test_ok(ztoq_migrate_upgrade(db, "2af75c826b91", NULL));
	cr_assert_eq(current_of(db), 2);
	insert_projects(db, 5);
	tables = tables_of(db);
	test_ok(ztoq_migrate_downgrade(db, "-1", NULL));
	cr_assert_eq(current_of(db), 1);
	cr_assert_not(has_table(db, "recommendation_history"));
	expect_alembic(db, "a16c4721be8a");
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM projects"), 5);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases"), 15);
	test_ok(ztoq_migrate_upgrade(db, "2af75c826b91", NULL));
	again = tables_of(db);
	cr_assert_str_eq(again, tables);
	expect_alembic(db, "2af75c826b91");
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases"), 15);
	free(tables);
	free(again);
	ztoq_db_close(db);
}

/*
 * From head down to the original schema and back: migration 4 rebuilds the
 * association tables both ways and keeps their rows; entity_mappings is dropped
 * and comes back empty.
 */
TEST_BOTH(migrate, downgrade_to_the_original_and_back_keeps_surviving_data)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;
	char *pk;
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	insert_projects(db, 2);
	exec_on(db, "INSERT INTO labels (id, name) VALUES ('l1', 'smoke')");
	exec_on(db, "INSERT INTO labels (id, name) VALUES ('l2', 'slow')");
	exec_on(db, "INSERT INTO case_label_association VALUES ('c0-0', 'l1')");
	exec_on(db, "INSERT INTO case_label_association VALUES ('c0-0', 'l2')");
	exec_on(db, "INSERT INTO case_label_association VALUES ('c1-2', 'l1')");
	exec_on(db, "INSERT INTO entity_mappings (project_key, mapping_type, source_id, "
		    "target_id) VALUES ('P0', 'case', '1', 'c0-0')");
	test_ok(ztoq_migrate_downgrade(db, "3da7f9236c51", &opts));
	cr_assert_eq(e.n, 2);
	cr_assert(e.kind[0] == ZTOQ_MIGRATE_REVERTED && e.version[0] == 5 && e.version[1] == 4);
	cr_assert_not(has_table(db, "entity_mappings"));
	expect_alembic(db, "3da7f9236c51");
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM case_label_association"), 3);
	test_ok(ztoq_session_open(&s, db));
	pk = catalog_primary_key(s, "case_label_association");
	cr_assert_str_eq(pk, "", "the original has no primary key there");
	free(pk);
	ztoq_session_close(s);
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM case_label_association"), 3);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases"), 6);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM entity_mappings"), 0);
	test_ok(ztoq_session_open(&s, db));
	pk = catalog_primary_key(s, "case_label_association");
	cr_assert_str_eq(pk, "test_case_id,label_id");
	free(pk);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* Down to nothing and up again: on PostgreSQL the entitytype type goes too. */
TEST_BOTH(migrate, downgrade_to_base_and_up_again)
{
	ztoq_db *db = db_at_head(backend);
	char *tables;

	test_ok(ztoq_migrate_downgrade(db, "base", NULL));
	tables = tables_of(db);
	cr_assert_str_eq(tables, "alembic_version; ztoq_schema_migrations");
	free(tables);
	expect_alembic(db, "");
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 0);
	if (backend == ZTOQ_DB_POSTGRESQL)
		cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM pg_type WHERE typname = "
					   "'entitytype'"),
			     0);
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	cr_assert_eq(current_of(db), 5);
	ztoq_db_close(db);
}

/* Scenario 74: a migration adds a column and keeps the rows; its downgrade removes it. */
TEST_BOTH(migrate, added_column_keeps_rows_both_ways)
{
	ztoq__migration add = migration_6(
		"risk", "-- ztoq-migration: 6 risk -\nALTER TABLE test_cases ADD COLUMN risk VARCHAR(20);\n",
		RISK_DOWN);
	ztoq_db *db = db_at_head(backend);
	char *cols;

	insert_projects(db, 2);
	use_with(&add, 1);
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	cr_assert_eq(current_of(db), 6);
	cols = columns_of(db, "test_cases");
	cr_assert(strstr(cols, "; risk VARCHAR(20)"), "%s", cols);
	free(cols);
	exec_on(db, "UPDATE test_cases SET risk = 'high'");
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases WHERE risk = 'high'"), 6);
	test_ok(ztoq_migrate_downgrade(db, "-1", NULL));
	cols = columns_of(db, "test_cases");
	cr_assert_null(strstr(cols, "risk"), "%s", cols);
	free(cols);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases"), 6);
	ztoq_db_close(db);
}

/*
 * A migration may hold any statement: one that starts with WITH (or a PRAGMA
 * assignment, on SQLite) runs like the others. The SQLite driver (StepAPI=1) left them
 * for a fetch that never came: no error, nothing done.
 */
TEST_BOTH(migrate, cte_and_pragma_statements_run)
{
#define BACKFILL_UP                                                                        \
	"-- ztoq-migration: 6 backfill -\n"                                                 \
	"CREATE TABLE backfill (x INTEGER);\n"                                              \
	"WITH c(x) AS (SELECT 1 UNION ALL SELECT 2) INSERT INTO backfill SELECT x FROM c;\n"
#define BACKFILL_DOWN "-- ztoq-migration: 6 backfill -\nDROP TABLE backfill;\n"
	ztoq__migration backfill = {6, "backfill", NULL, BACKFILL_UP "PRAGMA user_version = 7;\n",
				    BACKFILL_DOWN, BACKFILL_UP, BACKFILL_DOWN};
	ztoq_db *db = db_at_head(backend);

	use_with(&backfill, 1);
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	cr_assert_eq(current_of(db), 6);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM backfill"), 2);
	if (backend == ZTOQ_DB_SQLITE)
		cr_assert_eq(scalar_on(db, "PRAGMA user_version"), 7);
	ztoq_db_close(db);
}

/* ---- failure, drift, state ------------------------------------------------------------ */

/*
 * Scenario 75: a migration whose third statement fails (ALTER of a missing table) is
 * rolled back entirely - including its first ALTER and the backfill - the tracking
 * tables are unchanged and the error names the migration and the statement. The
 * corrected migration then applies and backfills.
 */
TEST_BOTH(migrate, failed_migration_rolls_back_entirely)
{
	ztoq__migration broken = migration_6(
		"risk",
		"-- ztoq-migration: 6 risk -\n"
		"ALTER TABLE test_cases ADD COLUMN risk VARCHAR(20);\n"
		"UPDATE test_cases SET risk = 'low';\n"
		"-- a typo in the table name\n"
		"ALTER TABLE no_such_table\n"
		"    ADD COLUMN x INTEGER;\n",
		RISK_DOWN);
	ztoq__migration fixed = migration_6(
		"risk",
		"-- ztoq-migration: 6 risk -\n"
		"ALTER TABLE test_cases ADD COLUMN risk VARCHAR(20);\n"
		"UPDATE test_cases SET risk = 'low';\n",
		RISK_DOWN);
	ztoq_db *db = db_at_head(backend);
	const char *msg;
	char *cols;
	int rc;

	insert_projects(db, 3);
	use_with(&broken, 1);
	rc = ztoq_migrate_upgrade(db, NULL, NULL);
	msg = ztoq_error_last()->message;
	cr_assert_lt(rc, 0);
	cr_assert_eq(ztoq_error_last()->code, rc);
	cr_assert(strstr(msg, "migration 6 risk (up) failed at statement 3, line 5 "
			      "\"ALTER TABLE no_such_table ...\""),
		  "%s", msg);
	cr_assert(strstr(msg, "no_such_table"), "%s", msg);
	cr_assert(strstr(msg, "rolled back, the schema stays at version 5"), "%s", msg);
	cr_assert_eq(current_of(db), 5);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 5);
	cols = columns_of(db, "test_cases");
	cr_assert_null(strstr(cols, "risk"), "the first ALTER was rolled back too: %s", cols);
	free(cols);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases"), 9);
	use_with(&fixed, 1);
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	cr_assert_eq(current_of(db), 6);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM test_cases WHERE risk = 'low'"), 9);
	ztoq_db_close(db);
}

/* A failure in the middle of a run keeps the migrations committed before it. */
TEST_BOTH(migrate, failure_mid_run_keeps_earlier_migrations)
{
	ztoq__migration broken = migration_6(
		"broken", "-- ztoq-migration: 6 broken -\nCREATE TABLE projects (x INTEGER);\n",
		"-- ztoq-migration: 6 broken -\nDROP TABLE projects;\n");
	ztoq_db *db = fresh_db(backend);
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	use_with(&broken, 1);
	cr_assert_lt(ztoq_migrate_init(db, &opts), 0);
	cr_assert(strstr(ztoq_error_last()->message, "migration 6 broken (up) failed at "
						      "statement 1, line 2"),
		  "%s", ztoq_error_last()->message);
	cr_assert_eq(e.n, 5);
	cr_assert_eq(current_of(db), 5);
	ztoq_db_close(db);
}

/* A recorded checksum that no longer matches: status reports it, changes stop. */
TEST_BOTH(migrate, drift_is_reported_and_stops_upgrade)
{
	ztoq_db *db = fresh_db(backend);
	ztoq_migration_history *h;
	ztoq_migration_status *s;
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	test_ok(ztoq_migrate_upgrade(db, "4", NULL));
	exec_on(db, "UPDATE ztoq_schema_migrations SET checksum = '0123456789abcdef' "
		    "WHERE version = 2");
	s = status_of(db);
	cr_assert_eq(s->ndrift, 1);
	cr_assert_eq(s->drift[0], 2);
	cr_assert_eq(s->npending, 1);
	ztoq_migrate_status_free(s);
	test_ok(ztoq_migrate_history(&h, db));
	cr_assert(h->items[1].drift && !h->items[0].drift && !h->items[2].drift);
	cr_assert_str_eq(h->items[1].applied_checksum, "0123456789abcdef");
	ztoq_migrate_history_free(h);
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, &opts), ZTOQ_EDRIFT);
	cr_assert(strstr(ztoq_error_last()->message, "migration 2 recommendation_history was "
						      "applied with checksum 0123456789abcdef"),
		  "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_migrate_init(db, &opts), ZTOQ_EDRIFT);
	cr_assert_eq(ztoq_migrate_downgrade(db, "-1", &opts), ZTOQ_EDRIFT);
	cr_assert_eq(e.n, 0, "nothing applied or reverted");
	cr_assert_eq(current_of(db), 4);
	ztoq_db_close(db);
}

/* Changing the SQL of an applied migration is drift too. */
TEST_BOTH(migrate, changed_migration_sql_is_drift)
{
	ztoq__migration v1 = migration_6(
		"risk", "-- ztoq-migration: 6 risk -\nALTER TABLE test_cases ADD COLUMN risk VARCHAR(20);\n",
		RISK_DOWN);
	ztoq__migration v2 = migration_6(
		"risk", "-- ztoq-migration: 6 risk -\nALTER TABLE test_cases ADD COLUMN risk VARCHAR(30);\n",
		RISK_DOWN);
	ztoq_db *db = db_at_head(backend);
	ztoq_migration_status *s;

	use_with(&v1, 1);
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	use_with(&v2, 1);
	s = status_of(db);
	cr_assert_eq(s->ndrift, 1);
	cr_assert_eq(s->drift[0], 6);
	ztoq_migrate_status_free(s);
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, NULL), ZTOQ_EDRIFT);
	ztoq_db_close(db);
}

/* Records that are not a prefix of the chain (a newer ztoq, a hand edit) stop changes. */
TEST_BOTH(migrate, unknown_or_missing_records_are_refused)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_migration_history *h;
	ztoq_migration_status *s;

	exec_on(db, "INSERT INTO ztoq_schema_migrations VALUES (6, 'from_the_future', "
		    "'0000000000000000', '2030-01-01 00:00:00', 1)");
	s = status_of(db);
	cr_assert_eq(s->current, 6);
	cr_assert_eq(s->nunknown, 1);
	cr_assert_eq(s->unknown[0], 6);
	ztoq_migrate_status_free(s);
	test_ok(ztoq_migrate_history(&h, db));
	cr_assert_eq(h->count, 6);
	cr_assert(!h->items[5].shipped && h->items[5].applied);
	cr_assert_str_eq(h->items[5].name, "from_the_future");
	ztoq_migrate_history_free(h);
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, NULL), ZTOQ_ESTATE);
	cr_assert(strstr(ztoq_error_last()->message, "newer ztoq"), "%s",
		  ztoq_error_last()->message);
	exec_on(db, "DELETE FROM ztoq_schema_migrations WHERE version IN (3, 6)");
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, NULL), ZTOQ_ESTATE);
	cr_assert(strstr(ztoq_error_last()->message, "migration 3 enhanced_schema is not "
						      "recorded"),
		  "%s", ztoq_error_last()->message);
	ztoq_db_close(db);
}

/* ---- targets and Alembic -------------------------------------------------------------- */

TEST_BOTH(migrate, targets_resolve_or_are_refused)
{
	ztoq_db *db = fresh_db(backend);
	ztoq_migrate_options old = ZTOQ_MIGRATE_OPTIONS_INIT;

	test_ok(ztoq_migrate_upgrade(db, "0002", NULL));
	cr_assert_eq(current_of(db), 2);
	test_ok(ztoq_migrate_upgrade(db, "+1", NULL));
	cr_assert_eq(current_of(db), 3);
	test_ok(ztoq_migrate_downgrade(db, "-2", NULL));
	cr_assert_eq(current_of(db), 1);
	test_ok(ztoq_migrate_upgrade(db, "3da7f9236c51", NULL));
	cr_assert_eq(current_of(db), 3);
	cr_assert_eq(ztoq_migrate_upgrade(db, "zzz", NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_upgrade(db, "9", NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_upgrade(db, "+", NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_upgrade(db, "-1", NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_upgrade(db, "+3", NULL), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "cannot upgrade 3 steps from version 3"),
		  "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_migrate_upgrade(db, "1", NULL), ZTOQ_ESTATE);
	cr_assert_eq(ztoq_migrate_downgrade(db, "4", NULL), ZTOQ_ESTATE);
	cr_assert_eq(ztoq_migrate_downgrade(db, "head", NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_downgrade(db, "-4", NULL), ZTOQ_EINVALID);
	old.version = 0;
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, &old), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_upgrade(NULL, NULL, NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_migrate_status(NULL, db), ZTOQ_EINVALID);
	cr_assert_eq(current_of(db), 3, "refused targets changed nothing");
	test_ok(ztoq_migrate_downgrade(db, "0", NULL));
	cr_assert_eq(current_of(db), 0);
	ztoq_db_close(db);
}

/* The typed step count: the same moves as "-N", and the same refusals, with no string. */
TEST_BOTH(migrate, downgrade_steps_is_the_typed_minus_n)
{
	ztoq_db *db = fresh_db(backend);
	struct events e = {0};
	ztoq_migrate_options opts = recording(&e);

	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	test_ok(ztoq_migrate_downgrade_steps(db, 0, NULL));
	cr_assert_eq(current_of(db), 5, "0 steps revert nothing");
	test_ok(ztoq_migrate_downgrade_steps(db, 2, &opts));
	cr_assert_eq(current_of(db), 3);
	cr_assert_eq(e.n, 2, "one event per reverted migration");
	cr_assert(e.kind[0] == ZTOQ_MIGRATE_REVERTED && e.version[0] == 5 && e.version[1] == 4);
	cr_assert_eq(ztoq_migrate_downgrade_steps(db, 4, NULL), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "cannot downgrade 4 steps from version 3"),
		  "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_migrate_downgrade_steps(db, 4000000000u, NULL), ZTOQ_EINVALID,
		     "a count past any version is refused, not wrapped");
	cr_assert(strstr(ztoq_error_last()->message, "cannot downgrade 4000000000 steps from"),
		  "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_migrate_downgrade(db, "-4000000000", NULL), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "cannot downgrade 4000000000 steps from"),
		  "the string form says the same: %s", ztoq_error_last()->message);
	cr_assert_eq(current_of(db), 3, "refused counts changed nothing");
	cr_assert_eq(ztoq_migrate_downgrade_steps(NULL, 1, NULL), ZTOQ_EINVALID);
	test_ok(ztoq_migrate_downgrade_steps(db, 3, NULL));
	cr_assert_eq(current_of(db), 0);
	ztoq_db_close(db);
}

/*
 * A database the Python ZTOQ made (alembic_version, no ztoq tracking table) is
 * adopted at its revision and upgraded from there; an unknown revision is refused.
 */
TEST_BOTH(migrate, alembic_only_database_is_adopted)
{
	ztoq_db *db = fresh_db(backend);
	ztoq_migration_status *s;
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	test_ok(ztoq_migrate_upgrade(db, "2af75c826b91", NULL));
	exec_on(db, "DROP TABLE ztoq_schema_migrations");
	s = status_of(db);
	cr_assert(!s->tracked && s->current == 0);
	cr_assert_str_eq(s->alembic_version, "2af75c826b91");
	ztoq_migrate_status_free(s);
	test_ok(ztoq_migrate_upgrade(db, NULL, &opts));
	cr_assert_eq(e.n, 3, "only 3, 4 and 5 run");
	cr_assert_eq(e.version[0], 3);
	cr_assert_eq(current_of(db), 5);
	expect_alembic(db, "3da7f9236c51");
	exec_on(db, "DROP TABLE ztoq_schema_migrations");
	exec_on(db, "UPDATE alembic_version SET version_num = 'deadbeef0000'");
	cr_assert_eq(ztoq_migrate_upgrade(db, NULL, NULL), ZTOQ_ESTATE);
	cr_assert(strstr(ztoq_error_last()->message, "deadbeef0000"), "%s",
		  ztoq_error_last()->message);
	ztoq_db_close(db);
}

/* db_type odbc with a DSN: the engine asks the driver which backend it talks to. */
TEST_BOTH(migrate, dsn_of_either_backend_is_recognised)
{
	ztoq_config *cfg = test_config(backend);
	ztoq_db *db;

	if (backend == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	test_ok(ztoq_config_set(cfg, "db_type", "odbc"));
	test_ok(ztoq_config_set(cfg, "dsn", backend == ZTOQ_DB_SQLITE ? "ztoq_sqlite" : "ztoq_pg"));
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_migrate_init(db, NULL));
	cr_assert_eq(current_of(db), 5);
	if (backend == ZTOQ_DB_POSTGRESQL)
		cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM pg_type WHERE typname = "
					   "'entitytype'"),
			     1, "the PostgreSQL migrations ran");
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

/* ---- init --drop-existing -------------------------------------------------------------- */

/*
 * Drops every table - ZTOQ's, the tracking tables, and others (even one with a foreign
 * key into ZTOQ's and rows in it) - then recreates the schema: the Python version left
 * no tables at all.
 */
TEST_BOTH(migrate, drop_existing_drops_everything_and_recreates)
{
	ztoq_db *db = db_at_head(backend);
	char *tables = tables_of(db), *again;
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	insert_projects(db, 2);
	exec_on(db, "CREATE TABLE scratch (k VARCHAR(50) REFERENCES projects (key))");
	exec_on(db, "INSERT INTO scratch VALUES ('P1')");
	opts.drop_existing = 1;
	test_ok(ztoq_migrate_init(db, &opts));
	cr_assert_eq(e.n, 6);
	cr_assert_eq(e.kind[0], ZTOQ_MIGRATE_DROPPED);
	cr_assert_eq(e.tables, 28, "27 of ZTOQ's and scratch");
	cr_assert(e.kind[1] == ZTOQ_MIGRATE_APPLIED && e.version[1] == 1 && e.version[5] == 5);
	again = tables_of(db);
	cr_assert_str_eq(again, tables, "scratch is gone, ZTOQ's tables are back");
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM projects"), 0);
	cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 5);
	expect_alembic(db, "3da7f9236c51");
	free(tables);
	free(again);
	ztoq_db_close(db);
}

TEST_BOTH(migrate, drop_existing_on_an_empty_database)
{
	ztoq_db *db = fresh_db(backend);
	struct events e;
	ztoq_migrate_options opts = recording(&e);

	opts.drop_existing = 1;
	test_ok(ztoq_migrate_init(db, &opts));
	cr_assert_eq(e.kind[0], ZTOQ_MIGRATE_DROPPED);
	cr_assert_eq(e.tables, 0);
	cr_assert_eq(current_of(db), 5);
	ztoq_db_close(db);
}

/* ---- concurrency ------------------------------------------------------------------------ */

#define MIGRATORS 4

/* In a child: opens its own manager, waits for the start signal, upgrades; exits with
 * the set of versions it applied (bit v-1), or 100 + n on failure. */
static void migrator(const ztoq_config *cfg, int start_fd)
{
	struct events e;
	ztoq_migrate_options opts = recording(&e);
	ztoq_db *db;
	char go;
	int mask = 0;

	if (ztoq_db_open(&db, cfg) < 0) {
		fprintf(stderr, "migrator: %s\n", ztoq_error_last()->message);
		_exit(101);
	}
	if (read(start_fd, &go, 1) < 0)
		_exit(102);
	if (ztoq_migrate_upgrade(db, NULL, &opts) < 0) {
		fprintf(stderr, "migrator: %s\n", ztoq_error_last()->message);
		_exit(103);
	}
	for (int i = 0; i < e.n; i++)
		mask |= e.kind[i] == ZTOQ_MIGRATE_APPLIED ? 1 << (e.version[i] - 1) : 0;
	ztoq_db_close(db);
	_exit(mask);
}

/* Four processes migrate the same database at once; returns the union of their sets,
 * failing the test if two applied the same migration. */
static int race(const ztoq_config *cfg)
{
	pid_t pids[MIGRATORS];
	int fds[2], all = 0;

	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < MIGRATORS; i++) {
		if ((pids[i] = fork()) == 0) {
			close(fds[1]);
			migrator(cfg, fds[0]);
		}
		cr_assert_gt(pids[i], 0);
	}
	close(fds[0]);
	nanosleep(&(struct timespec){0, 200000000}, NULL); /* every child connected, waiting */
	close(fds[1]);  /* start them all at once */
	for (int i = 0; i < MIGRATORS; i++) {
		int status;

		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) < 100,
			  "migrator %d failed (exit %d)", i, WEXITSTATUS(status));
		cr_assert_eq(all & WEXITSTATUS(status), 0, "a migration was applied twice");
		all |= WEXITSTATUS(status);
	}
	return all;
}

TEST_BOTH(migrate, four_concurrent_migrators_apply_each_migration_once)
{
	ztoq_config *cfg = test_config(backend);
	ztoq_db *db;

	if (backend == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(race(cfg), 0x1f, "together they applied 1-5");
		test_ok(ztoq_db_open(&db, cfg));
		cr_assert_eq(current_of(db), 5);
		cr_assert_eq(scalar_on(db, "SELECT COUNT(*) FROM ztoq_schema_migrations"), 5);
		cr_assert_eq(scalar_on(db, "SELECT COUNT(DISTINCT version) FROM "
					   "ztoq_schema_migrations"),
			     5);
		test_ok(ztoq_migrate_downgrade(db, "base", NULL));
		ztoq_db_close(db);
	}
	ztoq_config_free(cfg);
}

/* ---- what the engine relies on in the core ------------------------------------------ */

/*
 * With StepAPI=1 the SQLite driver keeps a statement that was not read to the end
 * active, with its read transaction: a cached one would give its pooled connection a
 * stale snapshot, and DROP TABLE (migration 4) would fail with "database table is
 * locked". The statement layer resets such statements.
 */
Test(migrate, sqlite_abandoned_cursor_keeps_no_read_transaction)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	ztoq_db *a, *b;
	ztoq_session *s;
	ztoq_stmt *st;

	test_ok(ztoq_db_open(&a, cfg));
	test_ok(ztoq_db_open(&b, cfg));
	test_ok(ztoq_session_open(&s, a));
	test_exec(s, "CREATE TABLE t (x INTEGER)");
	test_exec(s, "INSERT INTO t VALUES (1), (2), (3)");
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT x FROM t"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	ztoq_stmt_finalize(st); /* two rows left unread */
	exec_on(b, "INSERT INTO t VALUES (4)");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), 4, "no stale snapshot");
	test_exec(s, "DROP TABLE t");
	ztoq_session_close(s);
	ztoq_db_close(a);
	ztoq_db_close(b);
	ztoq_config_free(cfg);
}

/* ---- failures that leave nothing behind (issue 8) --------------------------------- */

/*
 * init on a database with a foreign `projects` table fails at the first migration; it
 * used to leave the tracking tables behind (created and committed first).
 */
TEST_BOTH(migrate, failed_init_leaves_the_database_as_it_was)
{
	ztoq_db *db = fresh_db(backend);
	ztoq_session *s;
	int rc;

	exec_on(db, "CREATE TABLE projects (name TEXT)");
	rc = ztoq_migrate_init(db, NULL);
	cr_assert_lt(rc, 0);
	cr_assert(strstr(ztoq_error_last()->message, "migration 1"), "%s",
		  ztoq_error_last()->message);
	test_ok(ztoq_session_open(&s, db));
	cr_assert(catalog_has_table(s, "projects"));
	cr_assert(!catalog_has_table(s, "alembic_version"), "alembic_version was left behind");
	cr_assert(!catalog_has_table(s, "ztoq_schema_migrations"), "the tracking table was left");
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* A file that is not a database is named as such, not as a wait for the schema lock. */
Test(migrate, a_file_that_is_not_a_database_says_so)
{
	const char *path = test_path("not-a-database.db");
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	FILE *f = fopen(path, "w");
	ztoq_db *db;
	int rc;

	cr_assert_not_null(f);
	for (int i = 0; i < 200; i++)
		fputs("these are notes, not a database\n", f);
	fclose(f);
	test_ok(ztoq_config_set(cfg, "db_path", path));
	rc = ztoq_db_open(&db, cfg);
	ztoq_config_free(cfg);
	if (rc == ZTOQ_OK) {
		rc = ztoq_migrate_init(db, NULL);
		ztoq_db_close(db);
	}
	cr_assert_eq(rc, ZTOQ_ECONNECT, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "file is not a database"), "%s",
		  ztoq_error_last()->message);
	cr_assert(!strstr(ztoq_error_last()->message, "lock"), "%s", ztoq_error_last()->message);
}

/*
 * SQLite: a migration whose write fails with an I/O error (SQLite then rolls back by
 * itself) reports that error; the ROLLBACK after it, which fails with "no
 * transaction is active", used to come first in the message. A file size limit of
 * one byte stands in for a full disk; 16 MiB overflow the page cache.
 */
Test(migrate, io_error_in_a_migration_is_what_is_reported)
{
	ztoq__migration big = migration_6(
		"big", "-- ztoq-migration: 6 big -\nCREATE TABLE big (b BLOB);\n"
		       "INSERT INTO big VALUES (zeroblob(16777216));\n",
		"-- ztoq-migration: 6 big -\nDROP TABLE big;\n");
	ztoq_db *db = db_at_head(ZTOQ_DB_SQLITE);
	struct rlimit old, tight;
	const char *msg;
	int rc;

	use_with(&big, 1);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	tight = old;
	tight.rlim_cur = 1;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);
	rc = ztoq_migrate_upgrade(db, NULL, NULL);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	msg = ztoq_error_last()->message;
	cr_assert_lt(rc, 0);
	cr_assert(strncmp(msg, "migration 6 big (up) failed at statement 2", 42) == 0, "%s", msg);
	cr_assert(strstr(msg, "disk I/O error"), "%s", msg);
	cr_assert_eq(current_of(db), 5);
	ztoq_db_close(db);
}
