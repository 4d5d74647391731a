/*
 * test_schema.c - ZTOQ's schema, read back through the ODBC catalog functions, against
 * the original's (docs/original.md), table by table and column by column, on both
 * backends: exactly the original at revision 3da7f9236c51, and head with ZTOQ's own
 * fixes. Then what the catalog cannot show: the entitytype check, the foreign keys'
 * ON DELETE rules at work, the integrity fixes, recommendation_history's JSON
 * (scenario 68).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate_support.h"
#include "support.h"

/*
 * One table in catalog.h's canonical form. In indexes, "#name" is a UNIQUE constraint:
 * PostgreSQL shows its name, SQLite names its index itself ("?"). ENTITYTYPE is
 * VARCHAR(14) with a CHECK on SQLite.
 */
struct table_spec {
	const char *name, *columns, *pk, *indexes, *fks;
};

#define PROJECT_FK "project_key>projects.key CASCADE"

/* Section 6.2: the 24 tables of revisions a16c4721be8a, 2af75c826b91, 3da7f9236c51. */
static const struct table_spec original[] = {
	{"attachments",
	 "id VARCHAR(50) NN; filename VARCHAR(255) NN; content_type VARCHAR(100) NN; "
	 "size INTEGER; created_on DATETIME; created_by VARCHAR(100); content BLOB; "
	 "content_url VARCHAR(2000); entity_type ENTITYTYPE NN; entity_id VARCHAR(50) NN",
	 "id", "idx_attachment_entity(entity_type,entity_id)", ""},
	{"case_versions",
	 "id VARCHAR(50) NN; name VARCHAR(100) NN; description TEXT; status VARCHAR(50); "
	 "created_at DATETIME NN; created_by VARCHAR(100)",
	 "id", "", ""},
	{"entity_batch_state",
	 "id INTEGER NN AUTO; project_key VARCHAR(50) NN; entity_type VARCHAR(50) NN; "
	 "batch_number INTEGER NN; total_batches INTEGER; items_count INTEGER; "
	 "processed_count INTEGER; status VARCHAR(50); started_at DATETIME; "
	 "completed_at DATETIME; last_updated DATETIME; error_message TEXT",
	 "id",
	 "UNIQUE #uq_entity_batch(project_key,entity_type,batch_number); "
	 "idx_entity_batch_project(project_key); idx_entity_batch_status(status); "
	 "ix_entity_batch_state_project_key(project_key)",
	 ""},
	{"labels", "id VARCHAR(50) NN; name VARCHAR(100) NN", "id", "UNIQUE ix_labels_name(name)",
	 ""},
	{"links",
	 "id VARCHAR(50) NN; name VARCHAR(255) NN; url VARCHAR(2000) NN; description TEXT; "
	 "type VARCHAR(50) NN; entity_type ENTITYTYPE NN; entity_id VARCHAR(50) NN",
	 "id", "idx_link_entity(entity_type,entity_id)", ""},
	{"migration_state",
	 "id INTEGER NN AUTO; project_key VARCHAR(50); extraction_status VARCHAR(50); "
	 "transformation_status VARCHAR(50); loading_status VARCHAR(50); last_updated DATETIME; "
	 "error_message TEXT; meta_data TEXT",
	 "id", "UNIQUE ix_migration_state_project_key(project_key)", ""},
	{"projects",
	 "id VARCHAR(50) NN; key VARCHAR(50) NN; name VARCHAR(255) NN; description TEXT", "id",
	 "UNIQUE ix_projects_key(key)", ""},
	{"custom_field_definitions",
	 "id VARCHAR(50) NN; name VARCHAR(100) NN; type VARCHAR(50) NN; "
	 "project_key VARCHAR(50) NN",
	 "id", "idx_custom_field_project(project_key)", PROJECT_FK},
	{"environments",
	 "id VARCHAR(50) NN; name VARCHAR(100) NN; description TEXT; project_key VARCHAR(50) NN",
	 "id", "idx_environment_project(project_key)", PROJECT_FK},
	{"folders",
	 "id VARCHAR(50) NN; name VARCHAR(255) NN; folder_type VARCHAR(50) NN; "
	 "parent_id VARCHAR(50); project_key VARCHAR(50) NN",
	 "id", "idx_folder_parent(parent_id); idx_folder_project(project_key)",
	 "parent_id>folders.id SET NULL; " PROJECT_FK},
	{"priorities",
	 "id VARCHAR(50) NN; name VARCHAR(100) NN; description TEXT; color VARCHAR(20); "
	 "rank INTEGER NN; project_key VARCHAR(50) NN",
	 "id", "idx_priority_project(project_key); idx_priority_rank(rank)", PROJECT_FK},
	{"statuses",
	 "id VARCHAR(50) NN; name VARCHAR(100) NN; description TEXT; color VARCHAR(20); "
	 "type VARCHAR(50) NN; project_key VARCHAR(50) NN",
	 "id", "idx_status_project(project_key); idx_status_type(type)", PROJECT_FK},
	{"custom_field_values",
	 "id VARCHAR(50) NN; field_id VARCHAR(50) NN; entity_type ENTITYTYPE NN; "
	 "entity_id VARCHAR(50) NN; value_text TEXT; value_numeric FLOAT; value_boolean BOOLEAN; "
	 "value_date DATETIME; value_json TEXT",
	 "id",
	 "idx_custom_field_value_entity(entity_type,entity_id); "
	 "idx_custom_field_value_field(field_id)",
	 "field_id>custom_field_definitions.id CASCADE"},
	{"test_cases",
	 "id VARCHAR(50) NN; key VARCHAR(50) NN; name VARCHAR(255) NN; objective TEXT; "
	 "precondition TEXT; description TEXT; status VARCHAR(50); priority_id VARCHAR(50); "
	 "priority_name VARCHAR(100); folder_id VARCHAR(50); folder_name VARCHAR(255); "
	 "owner VARCHAR(100); owner_name VARCHAR(255); component VARCHAR(100); "
	 "component_name VARCHAR(255); created_on DATETIME; created_by VARCHAR(100); "
	 "updated_on DATETIME; updated_by VARCHAR(100); version VARCHAR(50); "
	 "estimated_time INTEGER; project_key VARCHAR(50) NN",
	 "id",
	 "idx_test_case_folder(folder_id); idx_test_case_priority(priority_id); "
	 "idx_test_case_project(project_key); idx_test_case_status(status); "
	 "UNIQUE ix_test_cases_key(key); idx_test_case_created_on(created_on); "
	 "idx_test_case_updated_on(updated_on)",
	 "priority_id>priorities.id SET NULL; folder_id>folders.id SET NULL; " PROJECT_FK},
	{"test_cycles",
	 "id VARCHAR(50) NN; key VARCHAR(50) NN; name VARCHAR(255) NN; description TEXT; "
	 "status VARCHAR(50); status_name VARCHAR(100); folder_id VARCHAR(50); "
	 "folder_name VARCHAR(255); owner VARCHAR(100); owner_name VARCHAR(255); "
	 "created_on DATETIME; created_by VARCHAR(100); updated_on DATETIME; "
	 "updated_by VARCHAR(100); planned_start_date DATETIME; planned_end_date DATETIME; "
	 "project_key VARCHAR(50) NN",
	 "id",
	 "idx_test_cycle_folder(folder_id); idx_test_cycle_project(project_key); "
	 "idx_test_cycle_status(status); UNIQUE ix_test_cycles_key(key)",
	 "folder_id>folders.id SET NULL; " PROJECT_FK},
	{"test_plans",
	 "id VARCHAR(50) NN; key VARCHAR(50) NN; name VARCHAR(255) NN; description TEXT; "
	 "status VARCHAR(50); status_name VARCHAR(100); folder_id VARCHAR(50); "
	 "folder_name VARCHAR(255); owner VARCHAR(100); owner_name VARCHAR(255); "
	 "created_on DATETIME; created_by VARCHAR(100); updated_on DATETIME; "
	 "updated_by VARCHAR(100); project_key VARCHAR(50) NN",
	 "id",
	 "idx_test_plan_folder(folder_id); idx_test_plan_project(project_key); "
	 "idx_test_plan_status(status); UNIQUE ix_test_plans_key(key)",
	 "folder_id>folders.id SET NULL; " PROJECT_FK},
	{"case_label_association", "test_case_id VARCHAR(50); label_id VARCHAR(50)", "",
	 "idx_case_label(test_case_id,label_id)",
	 "test_case_id>test_cases.id CASCADE; label_id>labels.id CASCADE"},
	{"case_version_association", "test_case_id VARCHAR(50); version_id VARCHAR(50)", "",
	 "idx_case_version(test_case_id,version_id)",
	 "test_case_id>test_cases.id CASCADE; version_id>case_versions.id CASCADE"},
	{"script_files",
	 "id VARCHAR(50) NN; filename VARCHAR(255) NN; type VARCHAR(50) NN; content TEXT; "
	 "test_case_id VARCHAR(50) NN",
	 "id", "idx_script_test_case(test_case_id)", "test_case_id>test_cases.id CASCADE"},
	{"test_executions",
	 "id VARCHAR(50) NN; test_case_key VARCHAR(50) NN; cycle_id VARCHAR(50) NN; "
	 "cycle_name VARCHAR(255); status VARCHAR(50) NN; status_name VARCHAR(100); "
	 "environment_id VARCHAR(50); environment_name VARCHAR(100); executed_by VARCHAR(100); "
	 "executed_by_name VARCHAR(255); executed_on DATETIME; created_on DATETIME; "
	 "created_by VARCHAR(100); updated_on DATETIME; updated_by VARCHAR(100); "
	 "actual_time INTEGER; comment TEXT; project_key VARCHAR(50) NN",
	 "id",
	 "idx_test_execution_case(test_case_key); idx_test_execution_cycle(cycle_id); "
	 "idx_test_execution_environment(environment_id); "
	 "idx_test_execution_project(project_key); idx_test_execution_status(status); "
	 "idx_test_execution_executed_on(executed_on)",
	 "test_case_key>test_cases.key CASCADE; cycle_id>test_cycles.id CASCADE; "
	 "environment_id>environments.id SET NULL; " PROJECT_FK},
	{"test_steps",
	 "id VARCHAR(50) NN; index INTEGER NN; description TEXT NN; expected_result TEXT; "
	 "data TEXT; actual_result TEXT; status VARCHAR(50); test_case_id VARCHAR(50); "
	 "test_execution_id VARCHAR(50)",
	 "id",
	 "idx_step_index(index); idx_step_test_case(test_case_id); "
	 "idx_step_test_execution(test_execution_id)",
	 "test_case_id>test_cases.id CASCADE; test_execution_id>test_executions.id CASCADE"},
	{"recommendation_history",
	 "id INTEGER NN AUTO; project_key VARCHAR(50) NN; timestamp DATETIME NN; "
	 "recommendation_id VARCHAR(50) NN; priority VARCHAR(10) NN; category VARCHAR(50) NN; "
	 "issue TEXT NN; action TEXT NN; status VARCHAR(20) NN DEFAULT=open; "
	 "implemented_at DATETIME; impact_score FLOAT; migration_phase VARCHAR(20); "
	 "entity_type VARCHAR(50); meta_data JSON",
	 "id",
	 "ix_recommendation_history_project_timestamp(project_key,timestamp); "
	 "ix_recommendation_history_priority(priority); ix_recommendation_history_status(status); "
	 "UNIQUE ix_recommendation_history_project_rec_id(project_key,recommendation_id); "
	 "ix_recommendation_history_project_key(project_key); "
	 "ix_recommendation_history_timestamp(timestamp); "
	 "ix_recommendation_history_recommendation_id(recommendation_id)",
	 ""},
	{"migration_performance_stats",
	 "id INTEGER NN AUTO; project_key VARCHAR(50) NN; timestamp DATETIME NN; "
	 "phase VARCHAR(20) NN; operation VARCHAR(50) NN; entity_type VARCHAR(50); "
	 "entity_count INTEGER; duration_ms INTEGER NN; success_count INTEGER; "
	 "error_count INTEGER; batch_size INTEGER; cpu_percent FLOAT; memory_mb FLOAT; "
	 "notes TEXT; meta_data JSON",
	 "id",
	 "idx_perf_stats_project_phase(project_key,phase); idx_perf_stats_operation(operation); "
	 "ix_migration_performance_stats_project_key(project_key); "
	 "ix_migration_performance_stats_timestamp(timestamp)",
	 ""},
	{"migration_checkpoints",
	 "id INTEGER NN AUTO; project_key VARCHAR(50) NN; checkpoint_id VARCHAR(50) NN; "
	 "timestamp DATETIME NN; phase VARCHAR(20) NN; entity_type VARCHAR(50); "
	 "last_processed_id VARCHAR(50); processed_count INTEGER; total_count INTEGER; "
	 "status VARCHAR(20) NN; checkpoint_data JSON",
	 "id",
	 "UNIQUE idx_checkpoint_id_unique(checkpoint_id); "
	 "idx_checkpoint_project_phase(project_key,phase); "
	 "ix_migration_checkpoints_project_key(project_key)",
	 ""},
	/* Alembic's own table */
	{"alembic_version", "version_num VARCHAR(32) NN", "version_num", "", ""},
};

/* Head: what migrations 4 (integrity fixes) and 5 (entity_mappings) change. */
static const struct table_spec head_changes[] = {
	{"entity_batch_state", NULL, NULL,
	 "UNIQUE #uq_entity_batch(project_key,entity_type,batch_number); "
	 "idx_entity_batch_project(project_key); idx_entity_batch_status(status)",
	 NULL},
	{"custom_field_values", NULL, NULL,
	 "idx_custom_field_value_entity(entity_type,entity_id); "
	 "idx_custom_field_value_field(field_id); "
	 "UNIQUE uq_custom_field_value_entity(field_id,entity_type,entity_id)",
	 NULL},
	{"case_label_association", "test_case_id VARCHAR(50) NN; label_id VARCHAR(50) NN",
	 "test_case_id,label_id", "", NULL},
	{"case_version_association", "test_case_id VARCHAR(50) NN; version_id VARCHAR(50) NN",
	 "test_case_id,version_id", "", NULL},
	{"entity_mappings",
	 "id INTEGER NN AUTO; project_key VARCHAR(50) NN; mapping_type VARCHAR(50) NN; "
	 "source_id VARCHAR(50) NN; target_id VARCHAR(50) NN; created_at DATETIME NN DEFAULT=now",
	 "id",
	 "UNIQUE #uq_entity_mapping(project_key,mapping_type,source_id); "
	 "idx_entity_mapping_target(project_key,mapping_type,target_id)",
	 ""},
};

#define NORIGINAL (sizeof(original) / sizeof(original[0]))
#define NCHANGES (sizeof(head_changes) / sizeof(head_changes[0]))

/* Replaces every `from` in `s` (a buffer of `size`) with `to`. */
static void replace(char *s, size_t size, const char *from, const char *to)
{
	char *p = s;

	while ((p = strstr(p, from)) != NULL) {
		size_t tail = strlen(p + strlen(from)) + 1;

		cr_assert_lt(strlen(s) - strlen(from) + strlen(to), size);
		memmove(p + strlen(to), p + strlen(from), tail);
		memcpy(p, to, strlen(to));
		p += strlen(to);
	}
}

/* The spec text as the catalog of `backend` shows it. */
static void expected_text(char *out, size_t size, const char *spec, ztoq_db_type backend,
			  int sorted)
{
	char *hash;

	snprintf(out, size, "%s", spec);
	if (backend == ZTOQ_DB_SQLITE)
		replace(out, size, "ENTITYTYPE", "VARCHAR(14)");
	while ((hash = strchr(out, '#')) != NULL) {
		char *paren = strchr(hash, '(');

		if (backend == ZTOQ_DB_SQLITE) { /* "#uq_name(" becomes "?(" */
			*hash = '?';
			memmove(hash + 1, paren, strlen(paren) + 1);
		} else {
			memmove(hash, hash + 1, strlen(hash + 1) + 1);
		}
	}
	if (sorted)
		catalog_sort(out);
}

static void expect_same(char *actual, const char *spec, ztoq_db_type backend, int sorted,
			const char *table, const char *what)
{
	char want[4096];

	expected_text(want, sizeof(want), spec, backend, sorted);
	cr_expect_str_eq(actual, want, "%s %s:\n  got      %s\n  expected %s", table, what, actual,
			 want);
	free(actual);
}

/* The spec of `name` at head: a changed part when there is one, else the original's. */
static struct table_spec head_spec(const struct table_spec *t)
{
	struct table_spec s = *t;

	for (size_t i = 0; i < NCHANGES; i++) {
		if (strcmp(head_changes[i].name, t->name) != 0)
			continue;
		s.columns = head_changes[i].columns ? head_changes[i].columns : s.columns;
		s.pk = head_changes[i].pk ? head_changes[i].pk : s.pk;
		s.indexes = head_changes[i].indexes ? head_changes[i].indexes : s.indexes;
		s.fks = head_changes[i].fks ? head_changes[i].fks : s.fks;
	}
	return s;
}

static void expect_table(ztoq_session *s, ztoq_db_type backend, const struct table_spec *t)
{
	expect_same(catalog_columns(s, t->name), t->columns, backend, 0, t->name, "columns");
	expect_same(catalog_primary_key(s, t->name), t->pk, backend, 0, t->name, "primary key");
	expect_same(catalog_indexes(s, t->name), t->indexes, backend, 1, t->name, "indexes");
	expect_same(catalog_foreign_keys(s, t->name), t->fks, backend, 1, t->name,
		    "foreign keys");
}

/* The whole schema: the set of tables, then every table in detail. */
static void expect_schema(ztoq_db *db, ztoq_db_type backend, int at_head)
{
	char names[4096] = "ztoq_schema_migrations";
	ztoq_session *s;

	for (size_t i = 0; i < NORIGINAL; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "; %s",
			 original[i].name);
	if (at_head)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "; %s",
			 head_changes[NCHANGES - 1].name);
	test_ok(ztoq_session_open(&s, db));
	expect_same(catalog_tables(s), names, backend, 1, "database", "tables");
	for (size_t i = 0; i < NORIGINAL; i++) {
		struct table_spec t = at_head ? head_spec(&original[i]) : original[i];
		expect_table(s, backend, &t);
	}
	if (at_head)
		expect_table(s, backend, &head_changes[NCHANGES - 1]);
	ztoq_session_close(s);
}

/* Scenarios 67 and 70: every table and column, with keys, indexes and foreign keys. */
TEST_BOTH(schema, head_matches_the_reference_table_by_table)
{
	ztoq_db *db = db_at_head(backend);

	expect_schema(db, backend, 1);
	ztoq_db_close(db);
}

TEST_BOTH(schema, original_revision_is_exactly_the_reference)
{
	ztoq_db *db = fresh_db(backend);

	test_ok(ztoq_migrate_upgrade(db, "3da7f9236c51", NULL));
	expect_schema(db, backend, 0);
	ztoq_db_close(db);
}

/* The same check fails on a schema that differs: the comparison is not vacuous. */
TEST_BOTH(schema, a_changed_column_is_seen)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;
	char *cols;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "ALTER TABLE labels ADD COLUMN colour VARCHAR(7)");
	cols = catalog_columns(s, "labels");
	cr_assert_str_eq(cols, "id VARCHAR(50) NN; name VARCHAR(100) NN; colour VARCHAR(7)");
	free(cols);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

TEST_BOTH(schema, entitytype_accepts_only_its_six_values)
{
	static const char *const values[] = {"TEST_CASE", "TEST_EXECUTION", "TEST_STEP",
					     "TEST_CYCLE", "TEST_PLAN", "FOLDER"};
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;
	char sql[256];

	test_ok(ztoq_session_open(&s, db));
	for (size_t i = 0; i < 6; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO links (id, name, url, type, entity_type, entity_id) "
			 "VALUES ('l%zu', 'n', 'http://x', 'web', '%s', 'e1')",
			 i, values[i]);
		test_exec(s, sql);
	}
	cr_assert_lt(ztoq_session_exec(s,
				       "INSERT INTO links (id, name, url, type, entity_type, "
				       "entity_id) VALUES ('bad', 'n', 'u', 'web', 'PROJECT', 'e1')",
				       NULL, 0, NULL),
		     0, "an entity type outside the enumeration is refused");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM links"), 6);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* Foreign keys are enforced on every connection, with their ON DELETE rules. */
TEST_BOTH(schema, foreign_keys_cascade_and_set_null)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(ztoq_session_exec(s,
				       "INSERT INTO test_cases (id, key, name, project_key) "
				       "VALUES ('c0', 'K-0', 'orphan', 'NOPE')",
				       NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT, "%s", ztoq_error_last()->message);
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('p1', 'P1', 'one')");
	test_exec(s, "INSERT INTO folders (id, name, folder_type, project_key) "
		     "VALUES ('f1', 'root', 'TEST_CASE', 'P1')");
	test_exec(s, "INSERT INTO folders (id, name, folder_type, parent_id, project_key) "
		     "VALUES ('f2', 'child', 'TEST_CASE', 'f1', 'P1')");
	test_exec(s, "INSERT INTO test_cases (id, key, name, folder_id, project_key) "
		     "VALUES ('c1', 'P1-1', 'one', 'f2', 'P1')");
	test_exec(s, "INSERT INTO test_steps (id, \"index\", description, test_case_id) "
		     "VALUES ('s1', 1, 'do', 'c1')");
	test_exec(s, "DELETE FROM folders WHERE id = 'f1'");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM folders WHERE parent_id IS NULL"), 1,
		     "ON DELETE SET NULL on folders.parent_id");
	test_exec(s, "DELETE FROM folders WHERE id = 'f2'");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM test_cases WHERE folder_id IS NULL"), 1);
	test_exec(s, "DELETE FROM projects WHERE key = 'P1'");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM test_cases"), 0, "CASCADE from projects");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM test_steps"), 0, "and on to the steps");
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* Migration 4 fixes: association pairs and custom field values are unique. */
TEST_BOTH(schema, integrity_fixes_refuse_duplicates)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('p1', 'P1', 'one')");
	test_exec(s, "INSERT INTO test_cases (id, key, name, project_key) "
		     "VALUES ('c1', 'P1-1', 'one', 'P1')");
	test_exec(s, "INSERT INTO labels (id, name) VALUES ('l1', 'smoke')");
	test_exec(s, "INSERT INTO case_label_association VALUES ('c1', 'l1')");
	cr_assert_eq(ztoq_session_exec(s, "INSERT INTO case_label_association VALUES ('c1', 'l1')",
				       NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT);
	cr_assert_eq(ztoq_session_exec(s, "INSERT INTO case_label_association VALUES (NULL, 'l1')",
				       NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT);
	test_exec(s, "INSERT INTO custom_field_definitions (id, name, type, project_key) "
		     "VALUES ('d1', 'risk', 'text', 'P1')");
	test_exec(s, "INSERT INTO custom_field_values (id, field_id, entity_type, entity_id) "
		     "VALUES ('v1', 'd1', 'TEST_CASE', 'c1')");
	cr_assert_eq(ztoq_session_exec(s,
				       "INSERT INTO custom_field_values (id, field_id, entity_type, "
				       "entity_id) VALUES ('v2', 'd1', 'TEST_CASE', 'c1')",
				       NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT);
	test_exec(s, "INSERT INTO entity_mappings (project_key, mapping_type, source_id, target_id) "
		     "VALUES ('P1', 'case', '17', 'c1')");
	cr_assert_eq(ztoq_session_exec(s,
				       "INSERT INTO entity_mappings (project_key, mapping_type, "
				       "source_id, target_id) VALUES ('P1', 'case', '17', 'c2')",
				       NULL, 0, NULL),
		     ZTOQ_ECONSTRAINT);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM entity_mappings WHERE created_at IS NULL"),
		     0, "created_at has a default");
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/*
 * Scenario 68: recommendation_history has its columns and the indexes covering
 * project+timestamp, priority and status; meta_data round-trips JSON as a structured
 * value (read back with the backend's JSON operators).
 */
TEST_BOTH(schema, recommendation_history_round_trips_json)
{
	ztoq_db *db = db_at_head(backend);
	ztoq_session *s;
	ztoq_stmt *st;
	const char *json = "{\"steps\": [3, 5, 8], \"owner\": \"qa\"}";
	char *indexes;
	const char *text;

	test_ok(ztoq_session_open(&s, db));
	indexes = catalog_indexes(s, "recommendation_history");
	cr_assert(strstr(indexes, "ix_recommendation_history_project_timestamp(project_key,timestamp)"));
	cr_assert(strstr(indexes, "ix_recommendation_history_priority(priority)"));
	cr_assert(strstr(indexes, "ix_recommendation_history_status(status)"));
	free(indexes);
	ztoq_value params[] = {ZTOQ_TEXT(json)};
	test_ok(ztoq_session_exec(s,
				  backend == ZTOQ_DB_POSTGRESQL
					  ? "INSERT INTO recommendation_history (project_key, "
					    "timestamp, recommendation_id, priority, category, issue, "
					    "action, meta_data) VALUES ('P1', '2025-04-15 14:42:00', "
					    "'r1', 'high', 'perf', 'slow', 'index', CAST(? AS json))"
					  : "INSERT INTO recommendation_history (project_key, "
					    "timestamp, recommendation_id, priority, category, issue, "
					    "action, meta_data) VALUES ('P1', '2025-04-15 14:42:00', "
					    "'r1', 'high', 'perf', 'slow', 'index', json(?))",
				  params, 1, NULL));
	cr_assert_eq(test_scalar(s, backend == ZTOQ_DB_POSTGRESQL
					    ? "SELECT CAST(meta_data->'steps'->>2 AS INTEGER) FROM "
					      "recommendation_history"
					    : "SELECT json_extract(meta_data, '$.steps[2]') FROM "
					      "recommendation_history"),
		     8);
	test_ok(ztoq_stmt_prepare(&st, s,
				  backend == ZTOQ_DB_POSTGRESQL
					  ? "SELECT meta_data->>'owner', status FROM recommendation_history"
					  : "SELECT json_extract(meta_data, '$.owner'), status FROM "
					    "recommendation_history"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	test_ok(ztoq_stmt_get_text(st, 0, &text, NULL, NULL));
	cr_assert_str_eq(text, "qa");
	test_ok(ztoq_stmt_get_text(st, 1, &text, NULL, NULL));
	cr_assert_str_eq(text, "open", "status defaults to open");
	ztoq_stmt_finalize(st);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* ---- per-project row counts (ztoq_schema_count) ------------------------------------ */

TestSuite(counts, .timeout = 120);

/* The count of `entity` in `c`, failing the test when it has no such entity. */
static int64_t count_of(const ztoq_entity_counts *c, const char *entity)
{
	for (size_t i = 0; i < c->count; i++)
		if (strcmp(c->items[i].entity, entity) == 0)
			return c->items[i].rows;
	cr_assert_fail("no count for %s", entity);
	return -1;
}

/* Two projects' rows in tables that carry the key and tables that hang off them. */
static void insert_two_projects(ztoq_db *db)
{
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "INSERT INTO projects (id, key, name) VALUES ('p1', 'P1', 'one'), "
		     "('p2', 'P2', 'two')");
	test_exec(s, "INSERT INTO folders (id, name, folder_type, project_key) VALUES "
		     "('f1', 'a', 'TEST_CASE', 'P1'), ('f2', 'b', 'TEST_CASE', 'P1'), "
		     "('f3', 'c', 'TEST_CASE', 'P2')");
	test_exec(s, "INSERT INTO test_cases (id, key, name, project_key) VALUES "
		     "('c1', 'P1-1', 'a', 'P1'), ('c2', 'P1-2', 'b', 'P1'), ('c3', 'P2-1', 'c', 'P2')");
	test_exec(s, "INSERT INTO test_cycles (id, key, name, project_key) VALUES "
		     "('y1', 'P1-C1', 'a', 'P1')");
	test_exec(s, "INSERT INTO test_executions (id, test_case_key, cycle_id, status, "
		     "project_key) VALUES ('e1', 'P1-1', 'y1', 'PASS', 'P1')");
	test_exec(s, "INSERT INTO test_steps (id, \"index\", description, test_case_id, "
		     "test_execution_id) VALUES ('s1', 1, 'x', 'c1', NULL), "
		     "('s2', 2, 'x', 'c1', NULL), ('s3', 1, 'x', NULL, 'e1'), "
		     "('s4', 1, 'x', 'c3', NULL)");
	test_exec(s, "INSERT INTO test_plans (id, key, name, project_key) VALUES "
		     "('t1', 'P1-P1', 'a', 'P1')");
	/* a4, a5 and a6 hang off P1's plan and execution; a7 names a P1 case as a plan */
	test_exec(s, "INSERT INTO attachments (id, filename, content_type, entity_type, "
		     "entity_id) VALUES ('a1', 'f', 't', 'TEST_CASE', 'c2'), "
		     "('a2', 'f', 't', 'TEST_CYCLE', 'y1'), ('a3', 'f', 't', 'TEST_CASE', 'c3'), "
		     "('a4', 'f', 't', 'TEST_PLAN', 't1'), ('a5', 'f', 't', 'TEST_PLAN', 't1'), "
		     "('a6', 'f', 't', 'TEST_EXECUTION', 'e1'), ('a7', 'f', 't', 'TEST_PLAN', 'c1')");
	test_exec(s, "INSERT INTO entity_mappings (project_key, mapping_type, source_id, "
		     "target_id) VALUES ('P2', 'case', '1', 'c3'), ('P2', 'case', '2', 'c3')");
	test_exec(s, "INSERT INTO statuses (id, name, type, project_key) "
		     "VALUES ('st1', 'Done', 'TEST_CASE', 'P1')");
	test_exec(s, "INSERT INTO priorities (id, name, rank, project_key) "
		     "VALUES ('pr1', 'High', 1, 'P1')");
	test_exec(s, "INSERT INTO environments (id, name, project_key) VALUES ('en1', 'prod', 'P1')");
	test_exec(s, "INSERT INTO script_files (id, filename, type, test_case_id) "
		     "VALUES ('sf1', 'a.feature', 'bdd', 'c1')");
	test_exec(s, "INSERT INTO custom_field_definitions (id, name, type, project_key) "
		     "VALUES ('d1', 'risk', 'text', 'P1')");
	test_exec(s, "INSERT INTO custom_field_values (id, field_id, entity_type, entity_id) "
		     "VALUES ('v1', 'd1', 'TEST_CASE', 'c1')");
	test_exec(s, "INSERT INTO entity_batch_state (project_key, entity_type, batch_number) "
		     "VALUES ('P1', 'test_cases', 1)");
	test_exec(s, "INSERT INTO migration_state (project_key) VALUES ('P1')");
	test_exec(s, "INSERT INTO migration_checkpoints (project_key, checkpoint_id, timestamp, "
		     "phase, status) VALUES ('P1', 'k1', '2025-04-15 14:42:00', 'extract', 'done')");
	ztoq_session_close(s);
}

/*
 * Every count exactly, for the project with rows in every table and for the one with
 * few: a predicate that drops the key, or joins through the wrong table, gives another
 * number. In the order of the result (projects first).
 */
TEST_BOTH(counts, rows_per_entity_for_each_project)
{
	static const struct {
		const char *entity;
		int64_t p1, p2;
	} want[] = {
		{"projects", 1, 1},
		{"folders", 2, 1},
		{"statuses", 1, 0},
		{"priorities", 1, 0},
		{"environments", 1, 0},
		{"test_cases", 2, 1},
		{"test_cycles", 1, 0},
		{"test_plans", 1, 0},
		{"test_executions", 1, 0},
		{"test_steps", 3, 1},   /* two of its cases, one of its execution */
		{"script_files", 1, 0},
		{"custom_field_definitions", 1, 0},
		{"custom_field_values", 1, 0},
		{"attachments", 5, 1},  /* of a case, a cycle, its plan (two), an execution */
		{"entity_batch_state", 1, 0},
		{"migration_state", 1, 0},
		{"migration_checkpoints", 1, 0},
		{"entity_mappings", 0, 2},
	};
	ztoq_db *db = db_at_head(backend);
	ztoq_entity_counts *p1, *p2;

	insert_two_projects(db);
	test_ok(ztoq_schema_count(&p1, db, "P1"));
	test_ok(ztoq_schema_count(&p2, db, "P2"));
	cr_assert_eq(p1->count, sizeof(want) / sizeof(want[0]));
	cr_assert_eq(p2->count, p1->count);
	for (size_t i = 0; i < p1->count; i++) {
		cr_assert_str_eq(p1->items[i].entity, want[i].entity);
		cr_expect_eq(p1->items[i].rows, want[i].p1, "P1 %s: %lld, not %lld", want[i].entity,
			     (long long)p1->items[i].rows, (long long)want[i].p1);
		cr_expect_eq(p2->items[i].rows, want[i].p2, "P2 %s: %lld, not %lld", want[i].entity,
			     (long long)p2->items[i].rows, (long long)want[i].p2);
	}
	ztoq_schema_counts_free(p1);
	ztoq_schema_counts_free(p2);
	ztoq_db_close(db);
}

/* A writer that adds, per transaction, one test case of P1 and its entity mapping. */
struct writer {
	ztoq_db *db;
	atomic_int done;
	int code;          /* the first error, ZTOQ_OK if none */
	char message[256]; /* its message */
};

#define WRITER_ROWS 200

/* One transaction of the writer: case `id` of P1 and its mapping. */
static int write_pair(ztoq_session *s, const char *id)
{
	ztoq_value v[] = {ZTOQ_TEXT(id), ZTOQ_TEXT(id)};
	int code;

	if ((code = ztoq_tx_begin(s, NULL)) < 0)
		return code;
	if ((code = ztoq_session_exec(s, "INSERT INTO test_cases (id, key, name, project_key) "
				      "VALUES (?, ?, 'w', 'P1')",
				      v, 2, NULL)) < 0 ||
	    (code = ztoq_session_exec(s, "INSERT INTO entity_mappings (project_key, mapping_type, "
				      "source_id, target_id) VALUES ('P1', 'case', ?, 'w')",
				      v, 1, NULL)) < 0) {
		ztoq_tx_rollback(s);
		return code;
	}
	return ztoq_tx_commit(s);
}

/* Thread body: WRITER_ROWS transactions on its own session, then done = 1. */
static void *write_pairs(void *arg)
{
	struct writer *w = arg;
	ztoq_session *s;
	char id[32];

	if ((w->code = ztoq_session_open(&s, w->db)) == ZTOQ_OK) {
		for (int i = 0; w->code == ZTOQ_OK && i < WRITER_ROWS; i++) {
			snprintf(id, sizeof(id), "w%d", i);
			w->code = write_pair(s, id);
		}
		ztoq_session_close(s);
	}
	if (w->code < 0)
		snprintf(w->message, sizeof(w->message), "%s", ztoq_error_last()->message);
	atomic_store(&w->done, 1);
	return NULL;
}

/*
 * The counts are one snapshot: while a writer commits a test case and its mapping
 * together, every call sees as many new cases as mappings. Counted one table after
 * another, the writer's commits land between the two.
 */
TEST_BOTH(counts, one_snapshot_while_an_import_writes)
{
	struct writer w = {.db = db_at_head(backend)};
	ztoq_entity_counts *c;
	pthread_t t;
	int reads = 0;

	insert_two_projects(w.db);
	cr_assert_eq(pthread_create(&t, NULL, write_pairs, &w), 0);
	while (!atomic_load(&w.done) || reads == 0) {
		int code = ztoq_schema_count(&c, w.db, "P1");
		int64_t cases, mappings;

		if (code < 0) {
			pthread_join(t, NULL);
			cr_assert_fail("ztoq_schema_count: %s", ztoq_error_last()->message);
		}
		cases = count_of(c, "test_cases") - 2;
		mappings = count_of(c, "entity_mappings");
		ztoq_schema_counts_free(c);
		reads++;
		if (cases != mappings) {
			pthread_join(t, NULL);
			cr_assert_fail("read %d: %lld new cases but %lld mappings", reads,
				       (long long)cases, (long long)mappings);
		}
	}
	pthread_join(t, NULL);
	cr_assert_eq(w.code, ZTOQ_OK, "writer: %s", w.message);
	cr_log_info("%d reads during %d writes", reads, WRITER_ROWS);
	ztoq_db_close(w.db);
}

/* A key no project has counts nothing, and a key full of SQL is only a key. */
TEST_BOTH(counts, unknown_project_gives_zeros)
{
	static const char *const keys[] = {"NOPE", "P1' OR '1'='1", "P1; DROP TABLE projects; --"};
	ztoq_db *db = db_at_head(backend);
	ztoq_entity_counts *c;

	insert_two_projects(db);
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		test_ok(ztoq_schema_count(&c, db, keys[k]));
		cr_assert_eq(c->count, 18);
		for (size_t i = 0; i < c->count; i++)
			cr_assert_eq(c->items[i].rows, 0, "%s for %s", c->items[i].entity, keys[k]);
		ztoq_schema_counts_free(c);
	}
	test_ok(ztoq_schema_count(&c, db, "P1"));
	cr_assert_eq(count_of(c, "projects"), 1, "projects still there");
	cr_assert_eq(count_of(c, "attachments"), 5, "attachments still there");
	ztoq_schema_counts_free(c);
	ztoq_db_close(db);
}

/* Bad input and a schema not at head are clear errors; no connection stays borrowed. */
TEST_BOTH(counts, bad_input_is_a_clear_error)
{
	ztoq_db *db = fresh_db(backend);
	ztoq_entity_counts *c = (ztoq_entity_counts *)&c;
	ztoq_pool_stats ps;

	cr_assert_eq(ztoq_schema_count(&c, db, NULL), ZTOQ_EINVALID);
	cr_assert_null(c);
	cr_assert(strstr(ztoq_error_last()->message, "project key is empty"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(ztoq_schema_count(&c, db, ""), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_schema_count(NULL, db, "P1"), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_schema_count(&c, NULL, "P1"), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_schema_count(&c, db, "P1"), ZTOQ_ESTATE, "no schema yet");
	cr_assert(strstr(ztoq_error_last()->message,
			 "the schema is at version 0, not at head (5)"),
		  "%s", ztoq_error_last()->message);
	test_ok(ztoq_migrate_upgrade(db, "4", NULL));
	cr_assert_eq(ztoq_schema_count(&c, db, "P1"), ZTOQ_ESTATE);
	cr_assert(strstr(ztoq_error_last()->message, "at version 4, not at head (5)"), "%s",
		  ztoq_error_last()->message);
	cr_assert_null(c);
	test_ok(ztoq_pool_stats_get(db, &ps));
	cr_assert_eq(ps.in_use, 0);
	ztoq_schema_counts_free(NULL);
	ztoq_db_close(db);
}
