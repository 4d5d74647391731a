/*
 * test_health.c - connectivity, the table list and per-table row counts.
 */
#include <string.h>

#include "support.h"

TEST_BOTH(health, lists_tables_and_counts_rows)
{
	ztoq_db *db;
	ztoq_session *s;
	ztoq_table_list *list;

	if (backend == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	db = test_open(backend);
	test_ok(ztoq_db_check(db));
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, backend == ZTOQ_DB_SQLITE
			     ? "CREATE TABLE beta (id INTEGER PRIMARY KEY AUTOINCREMENT)" /* + sqlite_sequence */
			     : "CREATE TABLE beta (id SERIAL PRIMARY KEY)");
	test_exec(s, "CREATE TABLE \"we\"\"ird\" (x INTEGER)");
	test_exec(s, "CREATE TABLE alpha (x INTEGER)");
	test_exec(s, "CREATE VIEW not_a_table AS SELECT x FROM alpha");
	for (int i = 0; i < 3; i++)
		test_exec(s, "INSERT INTO beta DEFAULT VALUES");
	test_exec(s, "INSERT INTO \"we\"\"ird\" VALUES (1)");
	ztoq_session_close(s);

	test_ok(ztoq_health_tables(&list, db, 1));
	cr_assert_eq(list->count, 3, "tables only, no views, no sqlite_* (%zu)", list->count);
	cr_assert_str_eq(list->tables[0].name, "alpha");
	cr_assert_eq(list->tables[0].rows, 0);
	cr_assert_str_eq(list->tables[1].name, "beta");
	cr_assert_eq(list->tables[1].rows, 3);
	cr_assert_str_eq(list->tables[2].name, "we\"ird");
	cr_assert_eq(list->tables[2].rows, 1);
	ztoq_table_list_free(list);

	test_ok(ztoq_health_tables(&list, db, 0));
	cr_assert_eq(list->tables[1].rows, -1, "not counted when not asked");
	ztoq_table_list_free(list);
	ztoq_db_close(db);
}
