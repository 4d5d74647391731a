/*
 * schema.c - per-project row counts over ZTOQ's schema (ztoq/schema.h).
 *
 * One statement counts every entity, the project key bound to each of its '?', never
 * spliced. A change to the tables in src/migrations/ that these queries read changes
 * COUNT_QUERIES in the same commit.
 */
#include "ztoq/schema.h"

#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "ztoq/migrate.h"
#include "ztoq/session.h"
#include "ztoq/stmt.h"

/*
 * Every entity and the query that counts its rows, in the order of the result:
 * X(entity, query) for each, SEP between two. Each query takes the project key once
 * per '?'. Expanded twice below: into the entity names and into one statement.
 */
#define COUNT_QUERIES(X, SEP) \
	X("projects", "SELECT COUNT(*) FROM projects WHERE key = ?") SEP \
	X("folders", "SELECT COUNT(*) FROM folders WHERE project_key = ?") SEP \
	X("statuses", "SELECT COUNT(*) FROM statuses WHERE project_key = ?") SEP \
	X("priorities", "SELECT COUNT(*) FROM priorities WHERE project_key = ?") SEP \
	X("environments", "SELECT COUNT(*) FROM environments WHERE project_key = ?") SEP \
	X("test_cases", "SELECT COUNT(*) FROM test_cases WHERE project_key = ?") SEP \
	X("test_cycles", "SELECT COUNT(*) FROM test_cycles WHERE project_key = ?") SEP \
	X("test_plans", "SELECT COUNT(*) FROM test_plans WHERE project_key = ?") SEP \
	X("test_executions", "SELECT COUNT(*) FROM test_executions WHERE project_key = ?") SEP \
	X("test_steps", \
	  "SELECT COUNT(*) FROM test_steps WHERE test_case_id IN " \
	  "(SELECT id FROM test_cases WHERE project_key = ?) OR test_execution_id IN " \
	  "(SELECT id FROM test_executions WHERE project_key = ?)") SEP \
	X("script_files", \
	  "SELECT COUNT(*) FROM script_files WHERE test_case_id IN " \
	  "(SELECT id FROM test_cases WHERE project_key = ?)") SEP \
	X("custom_field_definitions", \
	  "SELECT COUNT(*) FROM custom_field_definitions WHERE project_key = ?") SEP \
	X("custom_field_values", \
	  "SELECT COUNT(*) FROM custom_field_values WHERE field_id IN " \
	  "(SELECT id FROM custom_field_definitions WHERE project_key = ?)") SEP \
	X("attachments", \
	  "SELECT COUNT(*) FROM attachments WHERE " \
	  "(entity_type = 'TEST_CASE' AND entity_id IN " \
	  "(SELECT id FROM test_cases WHERE project_key = ?)) OR " \
	  "(entity_type = 'TEST_CYCLE' AND entity_id IN " \
	  "(SELECT id FROM test_cycles WHERE project_key = ?)) OR " \
	  "(entity_type = 'TEST_PLAN' AND entity_id IN " \
	  "(SELECT id FROM test_plans WHERE project_key = ?)) OR " \
	  "(entity_type = 'TEST_EXECUTION' AND entity_id IN " \
	  "(SELECT id FROM test_executions WHERE project_key = ?))") SEP \
	X("entity_batch_state", "SELECT COUNT(*) FROM entity_batch_state WHERE project_key = ?") SEP \
	X("migration_state", "SELECT COUNT(*) FROM migration_state WHERE project_key = ?") SEP \
	X("migration_checkpoints", \
	  "SELECT COUNT(*) FROM migration_checkpoints WHERE project_key = ?") SEP \
	X("entity_mappings", "SELECT COUNT(*) FROM entity_mappings WHERE project_key = ?")

#define ENTITY_NAME(entity, query) entity
#define SUBQUERY(entity, query) "(" query ")"
#define NAME_SEP ,
#define COLUMN_SEP ", "

/* The entities, one per column of counts_sql. */
static const char *const entities[] = {COUNT_QUERIES(ENTITY_NAME, NAME_SEP)};
#define NQUERIES (sizeof(entities) / sizeof(entities[0]))

/*
 * All the counts as one statement returning one row of NQUERIES columns: one
 * statement reads one snapshot on both backends, so the counts agree with each other.
 */
static const char counts_sql[] = "SELECT " COUNT_QUERIES(SUBQUERY, COLUMN_SEP);

ZTOQ_EXTERN(void) ztoq_schema_counts_free(ztoq_entity_counts *counts)
{
	if (!counts)
		return;
	ztoq__free(counts->items);
	ztoq__free(counts);
}

/* ZTOQ_ESTATE unless the schema of `db` is at head. */
static int require_head(ztoq_db *db)
{
	ztoq_migration_status *status;
	int code, current, head;

	if ((code = ztoq_migrate_status(&status, db)) < 0)
		return code;
	current = status->current;
	head = status->head;
	ztoq_migrate_status_free(status);
	if (current < head)
		return ztoq__error_set(ZTOQ_ESTATE,
				       "the schema is at version %d, not at head (%d): migrate it "
				       "first ('ztoq db migrate')",
				       current, head);
	return ZTOQ_OK;
}

/*
 * Runs counts_sql on `s`, every '?' bound to `key`, and reads its one row into the
 * NQUERIES items of `counts`. The caller owns `s` and `counts`. Not thread-safe (the
 * session's).
 */
static int count_all(ztoq_session *s, const char *key, ztoq_entity_counts *counts)
{
	ztoq_stmt *st;
	unsigned n = 0;
	int code;

	if ((code = ztoq_stmt_prepare(&st, s, counts_sql)) < 0)
		return code;
	for (const char *p = strchr(counts_sql, '?'); code == ZTOQ_OK && p; p = strchr(p + 1, '?'))
		code = ztoq_stmt_bind_text(st, ++n, key, SIZE_MAX);
	if (code == ZTOQ_OK)
		code = ztoq_stmt_execute(st);
	if (code == ZTOQ_OK && (code = ztoq_stmt_fetch(st)) == ZTOQ_DONE)
		code = ztoq__error_set(ZTOQ_ERROR, "ztoq_schema_count: the count query returned no row");
	else if (code == ZTOQ_ROW)
		code = ZTOQ_OK;
	for (size_t i = 0; code == ZTOQ_OK && i < NQUERIES; i++) {
		counts->items[i].entity = entities[i];
		code = ztoq_stmt_get_int64(st, (unsigned)i, &counts->items[i].rows, NULL);
	}
	ztoq_stmt_finalize(st);
	return code;
}

ZTOQ_EXTERN(int) ztoq_schema_count(ztoq_entity_counts **out, ztoq_db *db,
				   const char *project_key)
{
	ztoq_entity_counts *counts;
	ztoq_session *s;
	int code;

	if (!out || !db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_schema_count: bad arguments");
	*out = NULL;
	if (!project_key || !*project_key)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_schema_count: the project key is empty");
	if ((code = require_head(db)) < 0)
		return code;
	if (!(counts = ztoq__calloc(1, sizeof(*counts))) ||
	    !(counts->items = ztoq__calloc(NQUERIES, sizeof(*counts->items)))) {
		ztoq_schema_counts_free(counts);
		return ztoq__error_nomem();
	}
	if ((code = ztoq_session_open(&s, db)) < 0) {
		ztoq_schema_counts_free(counts);
		return code;
	}
	code = count_all(s, project_key, counts);
	ztoq_session_close(s);
	if (code < 0) {
		ztoq_schema_counts_free(counts);
		return code;
	}
	counts->count = NQUERIES;
	*out = counts;
	return ZTOQ_OK;
}
