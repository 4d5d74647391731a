/*
 * ztoq/schema.h - questions about ZTOQ's data that belong with its schema: how many
 * rows of each entity a project has (ZTOQ's get_database_stats per project, the
 * `ztoq db stats` command).
 *
 * The queries are written for the schema at head (ztoq/migrate.h) and live in the
 * library next to the migrations, so that a schema change and the counts that depend
 * on it are one change. The project key is always a bound parameter, never SQL text.
 */
#ifndef ZTOQ_SCHEMA_H
#define ZTOQ_SCHEMA_H

#include "common.h"
#include "db.h"

ZTOQ_BEGIN_DECL

/** One entity table and how many of its rows belong to the project. */
typedef struct {
	const char *entity; /**< the table, e.g. "test_cases"; static, never freed */
	int64_t rows;       /**< rows of the project in that table */
} ztoq_entity_count;

/** A project's row counts, one per entity table, in a fixed order (projects first). */
typedef struct {
	size_t count;
	ztoq_entity_count *items;
} ztoq_entity_counts;

/**
 * Counts the rows of project `project_key` in every entity table: the project itself,
 * what carries its key (folders, test cases, cycles, plans, executions, ...) and what
 * hangs off those (test steps of its cases and executions, script files, custom field
 * values, attachments of its cases, cycles, plans and executions). A key no project
 * has gives zeros. All the counts come from one statement, so they are one snapshot:
 * rows committed meanwhile are counted in every table or in none.
 *
 * The schema must be at head: otherwise ZTOQ_ESTATE, saying the version it is at. An
 * empty or NULL key is ZTOQ_EINVALID. On success the caller owns *out and frees it
 * with ztoq_schema_counts_free(); on failure *out is NULL.
 * Thread-safe (uses pooled connections).
 */
ZTOQ_EXTERN(int) ztoq_schema_count(ztoq_entity_counts **out, ztoq_db *db,
				   const char *project_key);

/** Frees counts from ztoq_schema_count(). NULL is ignored. */
ZTOQ_EXTERN(void) ztoq_schema_counts_free(ztoq_entity_counts *counts);

ZTOQ_END_DECL

#endif
