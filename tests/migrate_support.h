/*
 * migrate_support.h - what the migration tests share: fresh databases, and a
 * database's schema read back through the ODBC catalog functions
 * (SQLTables, SQLColumns, SQLPrimaryKeys, SQLStatistics, SQLForeignKeys), in one
 * canonical text form for both drivers, so tests compare schemas as strings.
 *
 * Canonical forms (items joined with "; " and sorted, except columns):
 *   columns  "name TYPE[ NN][ AUTO][ DEFAULT=x]" in column order, where TYPE is one of
 *            VARCHAR(n) TEXT INTEGER BIGINT FLOAT BOOLEAN DATETIME BLOB JSON ENTITYTYPE,
 *            AUTO marks an auto-incremented integer key (SERIAL, SQLite rowid alias)
 *            and x is a quoted literal's text or "now" for CURRENT_TIMESTAMP;
 *   pk       "col,col" in key order;
 *   indexes  "[UNIQUE ]name(col,col)" without the primary key's index; an index the
 *            database named itself (SQLite's for a UNIQUE constraint) is named "?";
 *   fks      "col>table.col RULE" with RULE CASCADE, SET NULL, RESTRICT, NO ACTION.
 * Each function returns a malloc'ed string (free it) and fails the test on an ODBC error.
 */
#ifndef ZTOQ_TEST_MIGRATE_SUPPORT_H
#define ZTOQ_TEST_MIGRATE_SUPPORT_H

#include <ztoq/ztoq.h>

/* Opens a manager on an empty database of `backend` (the test PostgreSQL database is
 * reset first). Fails the test if it cannot. */
ztoq_db *fresh_db(ztoq_db_type backend);

/* fresh_db() with ZTOQ's schema created (ztoq_migrate_init). */
ztoq_db *db_at_head(ztoq_db_type backend);

char *catalog_tables(ztoq_session *s);
char *catalog_columns(ztoq_session *s, const char *table);
char *catalog_primary_key(ztoq_session *s, const char *table);
char *catalog_indexes(ztoq_session *s, const char *table);
char *catalog_foreign_keys(ztoq_session *s, const char *table);

/* 1 when `table` exists. */
int catalog_has_table(ztoq_session *s, const char *table);

/* Sorts the "; "-separated items of `list` in place (for comparing expected lists). */
void catalog_sort(char *list);

#endif
