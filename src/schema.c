/*
 * schema.c - per-project row counts over ZTOQ's schema (ztoq/schema.h).
 *
 * Each query takes the project key once per '?'; the keys are bound, never spliced.
 * A change to the tables in src/migrations/ that these queries read changes this
 * table in the same commit.
 */
#include "ztoq/schema.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "ztoq/migrate.h"
#include "ztoq/session.h"
#include "ztoq/stmt.h"

/* The most '?' one query below has. */
#define MAX_KEYS 4

static const struct {
	const char *entity;
	const char *sql;
} queries[] = {
	{"projects", "SELECT COUNT(*) FROM projects WHERE key = ?"},
	{"folders", "SELECT COUNT(*) FROM folders WHERE project_key = ?"},
	{"statuses", "SELECT COUNT(*) FROM statuses WHERE project_key = ?"},
	{"priorities", "SELECT COUNT(*) FROM priorities WHERE project_key = ?"},
	{"environments", "SELECT COUNT(*) FROM environments WHERE project_key = ?"},
	{"test_cases", "SELECT COUNT(*) FROM test_cases WHERE project_key = ?"},
	{"test_cycles", "SELECT COUNT(*) FROM test_cycles WHERE project_key = ?"},
	{"test_plans", "SELECT COUNT(*) FROM test_plans WHERE project_key = ?"},
	{"test_executions", "SELECT COUNT(*) FROM test_executions WHERE project_key = ?"},
	{"test_steps",
	 "SELECT COUNT(*) FROM test_steps WHERE test_case_id IN "
	 "(SELECT id FROM test_cases WHERE project_key = ?) OR test_execution_id IN "
	 "(SELECT id FROM test_executions WHERE project_key = ?)"},
	{"script_files",
	 "SELECT COUNT(*) FROM script_files WHERE test_case_id IN "
	 "(SELECT id FROM test_cases WHERE project_key = ?)"},
	{"custom_field_definitions",
	 "SELECT COUNT(*) FROM custom_field_definitions WHERE project_key = ?"},
	{"custom_field_values",
	 "SELECT COUNT(*) FROM custom_field_values WHERE field_id IN "
	 "(SELECT id FROM custom_field_definitions WHERE project_key = ?)"},
	{"attachments",
	 "SELECT COUNT(*) FROM attachments WHERE "
	 "(entity_type = 'TEST_CASE' AND entity_id IN "
	 "(SELECT id FROM test_cases WHERE project_key = ?)) OR "
	 "(entity_type = 'TEST_CYCLE' AND entity_id IN "
	 "(SELECT id FROM test_cycles WHERE project_key = ?)) OR "
	 "(entity_type = 'TEST_PLAN' AND entity_id IN "
	 "(SELECT id FROM test_plans WHERE project_key = ?)) OR "
	 "(entity_type = 'TEST_EXECUTION' AND entity_id IN "
	 "(SELECT id FROM test_executions WHERE project_key = ?))"},
	{"entity_batch_state", "SELECT COUNT(*) FROM entity_batch_state WHERE project_key = ?"},
	{"migration_state", "SELECT COUNT(*) FROM migration_state WHERE project_key = ?"},
	{"migration_checkpoints",
	 "SELECT COUNT(*) FROM migration_checkpoints WHERE project_key = ?"},
	{"entity_mappings", "SELECT COUNT(*) FROM entity_mappings WHERE project_key = ?"},
};
#define NQUERIES (sizeof(queries) / sizeof(queries[0]))

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

/* The count query `i` returns, every '?' bound to `key`. */
static int count_one(ztoq_session *s, size_t i, const char *key, int64_t *out)
{
	ztoq_value keys[MAX_KEYS];
	size_t n = 0;

	for (const char *p = strchr(queries[i].sql, '?'); p; p = strchr(p + 1, '?'))
		keys[n++] = ZTOQ_TEXT(key);
	return ztoq_session_scalar(s, queries[i].sql, keys, n, out, NULL);
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
	for (size_t i = 0; code == ZTOQ_OK && i < NQUERIES; i++) {
		counts->items[i].entity = queries[i].entity;
		code = count_one(s, i, project_key, &counts->items[i].rows);
	}
	ztoq_session_close(s);
	if (code < 0) {
		ztoq_schema_counts_free(counts);
		return code;
	}
	counts->count = NQUERIES;
	*out = counts;
	return ZTOQ_OK;
}
