/*
 * ztoq/health.h - health and diagnostics: connectivity, the table list and row counts
 * (ZTOQ's check_connectivity and get_database_stats). Pool figures are in ztoq/pool.h.
 */
#ifndef ZTOQ_HEALTH_H
#define ZTOQ_HEALTH_H

#include "common.h"
#include "db.h"

ZTOQ_BEGIN_DECL

/** One table of the database, with its row count (-1 when not counted). */
typedef struct {
	char *name;
	int64_t rows;
} ztoq_table_info;

/** A list of tables, sorted by name. Free with ztoq_table_list_free(). */
typedef struct {
	size_t count;
	ztoq_table_info *tables;
} ztoq_table_list;

/**
 * Lists the tables of the database (the current schema on PostgreSQL; SQLite's own
 * sqlite_* tables left out). With `count_rows`, each table's rows are counted too, in
 * one read transaction. The caller owns *out and frees it with ztoq_table_list_free().
 * Thread-safe (uses a pooled connection).
 */
ZTOQ_EXTERN(int) ztoq_health_tables(ztoq_table_list **out, ztoq_db *db, int count_rows);

/** Frees a table list. NULL is ignored. */
ZTOQ_EXTERN(void) ztoq_table_list_free(ztoq_table_list *list);

ZTOQ_END_DECL

#endif
