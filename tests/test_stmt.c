/*
 * test_stmt.c - statements: typed parameters and columns, large values, NULLs, names,
 * rows affected, the per-connection cache, and rows as name -> value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "stmt.h"
#include "support.h"

static ztoq_db *db;
static ztoq_session *s;

TestSuite(stmt, .timeout = 60);

static void open_items(ztoq_db_type backend)
{
	db = test_open(backend);
	test_ok(ztoq_session_open(&s, db));
	test_exec(s, "DROP TABLE IF EXISTS items");
	test_exec(s, backend == ZTOQ_DB_SQLITE
			     ? "CREATE TABLE items (id INTEGER PRIMARY KEY, flag BOOLEAN, n BIGINT, "
			       "x DOUBLE PRECISION, label TEXT, data BLOB, at TIMESTAMP)"
			     : "CREATE TABLE items (id INTEGER PRIMARY KEY, flag BOOLEAN, n BIGINT, "
			       "x DOUBLE PRECISION, label TEXT, data BYTEA, at TIMESTAMP)");
}

static void close_items(void)
{
	ztoq_session_close(s);
	ztoq_db_close(db);
}

TEST_BOTH(stmt, every_type_round_trips)
{
	const unsigned char blob[] = {0, 1, 2, 0, 255, 0};
	const char *utf8 = "Prüfung \xE2\x9C\x93 テスト";
	ztoq_timestamp at = {2025, 4, 13, 14, 42, 7, 123456000}, got_at;
	ztoq_value row[] = {ZTOQ_INT64(1), ZTOQ_BOOL(1), ZTOQ_INT64(-9007199254740993LL),
			    ZTOQ_DOUBLE(3.25), ZTOQ_TEXT(utf8), ZTOQ_BLOB(blob, sizeof(blob)),
			    ZTOQ_TIMESTAMP(at)};
	ztoq_value nulls[] = {ZTOQ_INT64(2), ZTOQ_NULL_VALUE, ZTOQ_NULL_VALUE, ZTOQ_NULL_VALUE,
			      ZTOQ_NULL_VALUE, ZTOQ_NULL_VALUE, ZTOQ_NULL_VALUE};
	const char *text;
	const void *data;
	size_t len;
	int64_t n;
	double x;
	int flag, is_null;
	ztoq_stmt *st;

	open_items(backend);
	test_ok(ztoq_session_exec(s, "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", row, 7, NULL));
	test_ok(ztoq_session_exec(s, "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", nulls, 7, NULL));
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT flag, n, x, label, data, at FROM items ORDER BY id"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	test_ok(ztoq_stmt_get_bool(st, 0, &flag, &is_null));
	cr_assert(flag && !is_null);
	test_ok(ztoq_stmt_get_int64(st, 1, &n, &is_null));
	cr_assert_eq(n, -9007199254740993LL);
	test_ok(ztoq_stmt_get_double(st, 2, &x, NULL));
	cr_assert_float_eq(x, 3.25, 1e-12);
	test_ok(ztoq_stmt_get_text(st, 3, &text, &len, NULL));
	cr_assert_eq(len, strlen(utf8));
	cr_assert_str_eq(text, utf8);
	test_ok(ztoq_stmt_get_blob(st, 4, &data, &len, NULL));
	cr_assert_eq(len, sizeof(blob));
	cr_assert_arr_eq(data, blob, sizeof(blob));
	test_ok(ztoq_stmt_get_timestamp(st, 5, &got_at, &is_null));
	cr_assert_eq(got_at.year, 2025);
	cr_assert_eq(got_at.month, 4);
	cr_assert_eq(got_at.second, 7);
	cr_assert_eq(got_at.nanosecond / 1000000, 123, "milliseconds survive: %u", got_at.nanosecond);

	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	for (unsigned col = 0; col < 6; col++) {
		ztoq_value v;
		test_ok(ztoq_stmt_get_value(st, col, &v));
		cr_assert_eq(v.type, ZTOQ_TYPE_NULL, "column %u is NULL", col);
	}
	test_ok(ztoq_stmt_get_int64(st, 1, &n, &is_null));
	cr_assert(is_null);
	cr_assert_eq(n, 0);
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_DONE);
	ztoq_stmt_finalize(st);
	close_items();
}

TEST_BOTH(stmt, one_mebibyte_text_and_blob_are_byte_exact)
{
	size_t size = 1 << 20;
	char *text = malloc(size + 1);
	unsigned char *blob = malloc(size);
	const char *got_text;
	const void *got_blob;
	size_t len;
	ztoq_stmt *st;

	for (size_t i = 0; i < size; i++) {
		text[i] = (char)('a' + i % 26);
		blob[i] = (unsigned char)((i * 7919) % 251); /* includes NUL bytes */
	}
	text[size] = '\0';
	open_items(backend);
	test_ok(ztoq_stmt_prepare(&st, s, "INSERT INTO items (id, label, data) VALUES (?, ?, ?)"));
	test_ok(ztoq_stmt_bind_int64(st, 1, 1));
	test_ok(ztoq_stmt_bind_text(st, 2, text, SIZE_MAX));
	test_ok(ztoq_stmt_bind_blob(st, 3, blob, size));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_rows_affected(st), 1);
	ztoq_stmt_finalize(st);

	test_ok(ztoq_stmt_prepare(&st, s, "SELECT label, data FROM items WHERE id = ?"));
	test_ok(ztoq_stmt_bind_int64(st, 1, 1));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	test_ok(ztoq_stmt_get_text(st, 0, &got_text, &len, NULL));
	cr_assert_eq(len, size);
	cr_assert(memcmp(got_text, text, size) == 0);
	test_ok(ztoq_stmt_get_blob(st, 1, &got_blob, &len, NULL));
	cr_assert_eq(len, size);
	cr_assert(memcmp(got_blob, blob, size) == 0);
	ztoq_stmt_finalize(st);
	free(text);
	free(blob);
	close_items();
}

TEST_BOTH(stmt, names_counts_and_rows_affected)
{
	ztoq_stmt *st;
	int64_t affected = -1;

	open_items(backend);
	for (int i = 1; i <= 5; i++) {
		ztoq_value v[] = {ZTOQ_INT64(i), ZTOQ_INT64(i * 10)};
		test_ok(ztoq_session_exec(s, "INSERT INTO items (id, n) VALUES (?, ?)", v, 2, NULL));
	}
	test_ok(ztoq_session_exec(s, "UPDATE items SET n = n + 1 WHERE id > ?",
				  (ztoq_value[]){ZTOQ_INT64(2)}, 1, &affected));
	cr_assert_eq(affected, 3);
	test_ok(ztoq_session_exec(s, "DELETE FROM items WHERE id > 100", NULL, 0, &affected));
	cr_assert_eq(affected, 0);
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id, n AS total FROM items"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_column_count(st), 2);
	cr_assert_str_eq(ztoq_stmt_column_name(st, 1), "total");
	cr_assert_eq(ztoq_stmt_column_index(st, "TOTAL"), 1);
	cr_assert_eq(ztoq_stmt_column_index(st, "missing"), -1);
	cr_assert_null(ztoq_stmt_column_name(st, 2));
	ztoq_stmt_finalize(st);
	close_items();
}

TEST_BOTH(stmt, prepared_statements_are_cached_per_connection)
{
	ztoq_stmt *a, *b, *c;
	SQLHSTMT handle;

	open_items(backend);
	test_ok(ztoq_stmt_prepare(&a, s, "SELECT n FROM items WHERE id = ?"));
	handle = a->handle;
	ztoq_stmt_finalize(a);
	/* back in the pool and out again: same connection (the pool holds one idle) */
	ztoq_session_close(s);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_stmt_prepare(&b, s, "SELECT n FROM items WHERE id = ?"));
	cr_assert_eq(b->handle, handle, "the cached statement is reused, not prepared again");
	/* the same SQL in use twice at once needs a second statement */
	test_ok(ztoq_stmt_prepare(&c, s, "SELECT n FROM items WHERE id = ?"));
	cr_assert_neq(c->handle, handle);
	ztoq_stmt_finalize(b);
	ztoq_stmt_finalize(c);
	close_items();
}

struct collected {
	int rows;
	int64_t sum;
	char last_label[32];
};

static int collect(ztoq_stmt *row, void *payload)
{
	struct collected *c = payload;
	ztoq_value v;
	int64_t n;

	test_ok(ztoq_stmt_get_int64(row, (unsigned)ztoq_stmt_column_index(row, "n"), &n, NULL));
	test_ok(ztoq_stmt_get_value(row, (unsigned)ztoq_stmt_column_index(row, "label"), &v));
	cr_assert_eq(v.type, ZTOQ_TYPE_TEXT);
	snprintf(c->last_label, sizeof(c->last_label), "%.*s", (int)v.v.bytes.len,
		 (const char *)v.v.bytes.ptr);
	c->sum += n;
	return ++c->rows == 3 ? 99 : 0; /* stop after three rows */
}

TEST_BOTH(stmt, query_rows_by_name_and_stop_early)
{
	struct collected c = {0};

	open_items(backend);
	for (int i = 1; i <= 5; i++) {
		char label[16];
		snprintf(label, sizeof(label), "row %d", i);
		ztoq_value v[] = {ZTOQ_INT64(i), ZTOQ_INT64(i), ZTOQ_TEXT(label)};
		test_ok(ztoq_session_exec(s, "INSERT INTO items (id, n, label) VALUES (?, ?, ?)", v, 3, NULL));
	}
	cr_assert_eq(ztoq_session_query(s, "SELECT label, n FROM items WHERE n >= ? ORDER BY id",
					(ztoq_value[]){ZTOQ_INT64(2)}, 1, collect, &c),
		     99);
	cr_assert_eq(c.rows, 3);
	cr_assert_eq(c.sum, 2 + 3 + 4);
	cr_assert_str_eq(c.last_label, "row 4");
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 5, "the connection is fine after a stop");
	close_items();
}

TEST_BOTH(stmt, errors_carry_sqlstate_and_values_never_become_sql)
{
	const char *evil = "x'); DROP TABLE items; --";
	int rc;

	open_items(backend);
	rc = ztoq_session_exec(s, "SELEC nonsense", NULL, 0, NULL);
	cr_assert_lt(rc, 0);
	cr_assert_neq(ztoq_error_last()->sqlstate[0], '\0');
	cr_assert_gt(ztoq_error_last()->diag_count, 0);
	test_ok(ztoq_session_exec(s, "INSERT INTO items (id, label) VALUES (1, ?)",
				  (ztoq_value[]){ZTOQ_TEXT(evil)}, 1, NULL));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 1);
	rc = ztoq_session_exec(s, "INSERT INTO items (id) VALUES (1)", NULL, 0, NULL);
	cr_assert_eq(rc, ZTOQ_ECONSTRAINT, "%s", ztoq_error_last()->message);
	close_items();
}

Test(stmt, typed_getters_refuse_what_cannot_convert)
{
	ztoq_stmt *st;
	int64_t n;
	ztoq_timestamp ts;

	open_items(ZTOQ_DB_SQLITE);
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT 'abc', '42', 7"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
	cr_assert_eq(ztoq_stmt_get_int64(st, 0, &n, NULL), ZTOQ_EINVALID);
	test_ok(ztoq_stmt_get_int64(st, 1, &n, NULL));
	cr_assert_eq(n, 42);
	cr_assert_eq(ztoq_stmt_get_timestamp(st, 2, &ts, NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_stmt_get_int64(st, 9, &n, NULL), ZTOQ_EINVALID);
	ztoq_stmt_finalize(st);
	close_items();
}

/* ---- statements the SQLite driver only steps when a row is fetched -------------- */

static int count_rows(ztoq_stmt *st, void *payload)
{
	(void)st;
	(*(int *)payload)++;
	return 0;
}

/* Runs `sql` through ztoq_session_exec and checks rows affected and the table's size. */
static void exec_counts(const char *sql, const ztoq_value *params, size_t n, int64_t affected,
			int64_t total)
{
	int64_t got = -7;

	test_ok(ztoq_session_exec(s, sql, params, n, &got));
	cr_assert_eq(got, affected, "%s: %lld rows affected, expected %lld", sql, (long long)got,
		     (long long)affected);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), total, "%s: table size", sql);
}

/*
 * Issue 8: with StepAPI=1 the SQLite driver defers every statement that starts with
 * WITH, SELECT, PRAGMA or EXPLAIN (and has no parameter, outside its own
 * transactions) to the first fetch. A write with a CTE has no result columns, so it
 * was never run: no error, 0 rows.
 */
TEST_BOTH(stmt, cte_writes_run_once_with_their_row_count)
{
	const char *ins = "WITH c(x) AS (SELECT 1 UNION ALL SELECT 2) "
			  "INSERT INTO items (id) SELECT x FROM c";
	ztoq_value base = ZTOQ_INT64(10);
	ztoq_stmt *st;
	int rows = 0;

	open_items(backend);
	exec_counts(ins, NULL, 0, 2, 2);
	exec_counts("  /* leading comment */ with c(x) AS (SELECT 5) "
		    "UPDATE items SET n = (SELECT x FROM c)",
		    NULL, 0, 2, 2);
	cr_assert_eq(test_scalar(s, "SELECT SUM(n) FROM items"), 10);
	exec_counts("WITH c(x) AS (SELECT 1) DELETE FROM items WHERE id IN (SELECT x FROM c)",
		    NULL, 0, 1, 1);
	exec_counts("WITH c(x) AS (SELECT ? + 1 UNION ALL SELECT ? + 2) "
		    "INSERT INTO items (id) SELECT x FROM c",
		    (ztoq_value[]){base, base}, 2, 2, 3);

	/* a prepared statement runs once per execute */
	test_ok(ztoq_stmt_prepare(&st, s, "WITH c(x) AS (SELECT MAX(id) + 1 FROM items) "
					  "INSERT INTO items (id) SELECT x FROM c"));
	for (int i = 0; i < 3; i++) {
		test_ok(ztoq_stmt_execute(st));
		cr_assert_eq(ztoq_stmt_rows_affected(st), 1);
	}
	ztoq_stmt_finalize(st);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 6);

	/* through query, and inside a transaction */
	test_ok(ztoq_session_query(s, "WITH c(x) AS (SELECT 100) INSERT INTO items (id) "
				      "SELECT x FROM c",
				   NULL, 0, count_rows, &rows));
	cr_assert_eq(rows, 0);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 7);
	test_ok(ztoq_tx_begin(s, NULL));
	exec_counts("WITH c(x) AS (SELECT 200 UNION ALL SELECT 201) "
		    "INSERT INTO items (id) SELECT x FROM c",
		    NULL, 0, 2, 9);
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 9);
	close_items();
}

/* A CTE write with RETURNING: exec runs it and counts it; query delivers its rows once. */
TEST_BOTH(stmt, cte_writes_with_returning_run_once)
{
	int rows = 0;

	open_items(backend);
	exec_counts("WITH c(x) AS (SELECT 1 UNION ALL SELECT 2) "
		    "INSERT INTO items (id) SELECT x FROM c RETURNING id",
		    NULL, 0, 2, 2);
	test_ok(ztoq_session_query(s, "WITH c(x) AS (SELECT 3 UNION ALL SELECT 4) "
				      "INSERT INTO items (id) SELECT x FROM c RETURNING id",
				   NULL, 0, count_rows, &rows));
	cr_assert_eq(rows, 2);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 4);
	close_items();
}

/* Plain RETURNING: the rows come back, and exec counts them. */
TEST_BOTH(stmt, returning_delivers_its_rows)
{
	int rows = 0;

	open_items(backend);
	exec_counts("INSERT INTO items (id) VALUES (1), (2) RETURNING id", NULL, 0, 2, 2);
	test_ok(ztoq_session_query(s, "INSERT INTO items (id) VALUES (3), (4) RETURNING id", NULL,
				   0, count_rows, &rows));
	cr_assert_eq(rows, 2);
	rows = 0;
	test_ok(ztoq_session_query(s, "DELETE FROM items WHERE id > 2 RETURNING id", NULL, 0,
				   count_rows, &rows));
	cr_assert_eq(rows, 2);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 2);
	close_items();
}

/* PRAGMA assignments return nothing and were not run either. */
Test(stmt, pragma_assignments_run)
{
	open_items(ZTOQ_DB_SQLITE);
	test_ok(ztoq_session_exec(s, "PRAGMA user_version = 42", NULL, 0, NULL));
	cr_assert_eq(test_scalar(s, "PRAGMA user_version"), 42);
	close_items();
}

/* A VALUES statement is a query: the SQLite driver ran it as a write, rows dropped. */
TEST_BOTH(stmt, values_statement_delivers_its_rows)
{
	int rows = 0;

	open_items(backend);
	test_ok(ztoq_session_query(s, "VALUES (1), (2), (3)", NULL, 0, count_rows, &rows));
	cr_assert_eq(rows, 3);
	close_items();
}

/*
 * The verb of a WITH is the word after its CTE list: a name with a byte >= 0x80 is
 * one word (éselect is not SELECT), and a CTE may be named like a verb (replace).
 */
TEST_BOTH(stmt, cte_names_do_not_pass_for_the_verb)
{
	int rows = 0;

	open_items(backend);
	exec_counts("WITH \xC3\xA9select AS (SELECT 1 AS x) "
		    "INSERT INTO items (id) SELECT x FROM \xC3\xA9select",
		    NULL, 0, 1, 1);
	exec_counts("WITH replace(x) AS (SELECT 2), \"del\"\"ete\" AS NOT MATERIALIZED "
		    "(SELECT 3) INSERT INTO items (id) SELECT x FROM replace",
		    NULL, 0, 1, 2);
	test_ok(ztoq_session_query(s, "WITH replace(x) AS (SELECT 1 UNION ALL SELECT 2) "
				      "SELECT x FROM replace",
				   NULL, 0, count_rows, &rows));
	cr_assert_eq(rows, 2);
	close_items();
}

/* What the SQLite plan says for each form (static cursor, rewritten, counted). */
Test(stmt, sqlite_plan_reads_the_verb_after_the_ctes)
{
	static const struct {
		const char *sql;
		int static_cursor, rewritten, count_changes;
	} cases[] = {
		{"SELECT 1", 0, 0, 0},
		{"WITH replace AS (SELECT 1) SELECT * FROM replace", 0, 0, 0},
		{"WITH \xC3\xA9select AS (SELECT 1) INSERT INTO t SELECT * FROM \xC3\xA9select", 1,
		 0, 1},
		{"WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x+1 FROM c WHERE x<5) "
		 "SELECT x FROM c",
		 0, 0, 0},
		{"with a as materialized (select 1), [b] (y) as not materialized (select ')') "
		 "delete from t where x in (select * from a)",
		 1, 0, 1},
		{"WITH c AS (SELECT 1) UPDATE t SET x = 1 RETURNING x", 1, 0, 1},
		{"-- c\n/* d */ INSERT INTO t VALUES (1) RETURNING id", 1, 1, 1},
		{"INSERT INTO t SELECT 'returning' FROM u", 0, 0, 0},
		{"INSERT INTO t (\xC3\xA9returning) VALUES (1)", 0, 0, 0},
		{"VALUES (1), (2)", 0, 1, 0},
		{"PRAGMA user_version = 7", 1, 0, 0},
		{"WITH c AS (SELECT 1) garbage", 1, 0, 0},
		{"WITH", 1, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ztoq__sqlite_plan plan;

		test_ok(ztoq__stmt_plan_sqlite(&plan, cases[i].sql, strlen(cases[i].sql)));
		cr_expect_eq(plan.static_cursor, cases[i].static_cursor, "static: %s", cases[i].sql);
		cr_expect_eq(plan.text != NULL, cases[i].rewritten, "rewritten: %s", cases[i].sql);
		cr_expect_eq(plan.count_changes, cases[i].count_changes, "counted: %s",
			     cases[i].sql);
		ztoq__free(plan.text);
	}
}

/*
 * A CTE write is counted by a second query, SELECT changes(). When that one fails the
 * write is already applied (and committed): it is reported done, its count unknown,
 * so that a caller does not apply it twice. Both SELECT changes() statements the
 * cache could lend are held, so the count needs a new one, whose allocation fails.
 */
Test(stmt, a_failed_count_does_not_fail_the_write_it_follows)
{
	ztoq_stmt *st, *held[2];

	open_items(ZTOQ_DB_SQLITE);
	test_ok(ztoq_stmt_prepare(&held[0], s, "SELECT changes()"));
	test_ok(ztoq_stmt_prepare(&st, s, "WITH c(x) AS (SELECT MAX(id) + 1 FROM items) "
					  "INSERT INTO items (id) SELECT COALESCE(x, 1) FROM c"));
	test_ok(ztoq_stmt_execute(st));
	cr_assert_eq(ztoq_stmt_rows_affected(st), 1);
	test_ok(ztoq_stmt_prepare(&held[1], s, "SELECT changes()"));
	ztoq__alloc_fail_after(1);
	cr_assert_eq(ztoq_stmt_execute(st), ZTOQ_OK, "%s", ztoq_error_last()->message);
	ztoq__alloc_fail_after(0);
	cr_assert_eq(ztoq_stmt_rows_affected(st), -1);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM items"), 2);
	ztoq_stmt_finalize(st);
	ztoq_stmt_finalize(held[0]);
	ztoq_stmt_finalize(held[1]);
	close_items();
}

/* ztoq_session_scalar: one value, typed; NULL; and a clear error for every other shape. */
TEST_BOTH(stmt, scalar_reads_one_value_and_refuses_other_shapes)
{
	ztoq_value p[] = {ZTOQ_INT64(3), ZTOQ_TEXT("three")}, n = ZTOQ_INT64(-1);
	int64_t v = 7;
	int is_null = 7;

	open_items(backend);
	test_ok(ztoq_session_exec(s, "INSERT INTO items (id, label) VALUES (?, ?)", p, 2, NULL));
	test_ok(ztoq_session_exec(s, "INSERT INTO items (id, label, n) VALUES (4, 'four', 12)",
				  NULL, 0, NULL));
	test_ok(ztoq_session_scalar(s, "SELECT COUNT(*) FROM items WHERE id >= ?", &p[0], 1, &v,
				    &is_null));
	cr_assert_eq(v, 2);
	cr_assert_eq(is_null, 0);
	test_ok(ztoq_session_scalar(s, "SELECT n FROM items WHERE label = ?", &p[1], 1, &v,
				    &is_null));
	cr_assert_eq(is_null, 1, "SQL NULL");
	cr_assert_eq(v, 0, "NULL reads as 0");
	test_ok(ztoq_session_scalar(s, "SELECT n FROM items WHERE id = 4", NULL, 0, &v, NULL));
	cr_assert_eq(v, 12, "is_null may be NULL");

	cr_assert_eq(ztoq_session_scalar(s, "SELECT n FROM items WHERE id = ?", &n, 1, &v, NULL),
		     ZTOQ_ENOTFOUND);
	cr_assert(strstr(ztoq_error_last()->message, "no row"), "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_session_scalar(s, "SELECT id FROM items", NULL, 0, &v, NULL), ZTOQ_ERROR);
	cr_assert(strstr(ztoq_error_last()->message, "more than one row"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(ztoq_session_scalar(s, "SELECT id, n FROM items WHERE id = 4", NULL, 0, &v,
					 NULL), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "2 columns"), "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_session_scalar(s, "UPDATE items SET n = 1 WHERE id = 4", NULL, 0, &v,
					 NULL), ZTOQ_EINVALID, "a statement that returns no rows");
	cr_assert_eq(ztoq_session_scalar(s, "SELECT label FROM items WHERE id = 4", NULL, 0, &v,
					 NULL), ZTOQ_EINVALID, "text that is not a number");
	cr_assert_eq(ztoq_session_scalar(s, "SELECT n FROM items", NULL, 0, NULL, NULL),
		     ZTOQ_EINVALID, "out is NULL");
	cr_assert_eq(ztoq_session_scalar(s, "SELECT nope FROM items", NULL, 0, &v, NULL) < 0, 1);

	/* a shape error does not fail the transaction; a failing statement does */
	test_ok(ztoq_tx_begin(s, NULL));
	cr_assert_eq(ztoq_session_scalar(s, "SELECT id FROM items", NULL, 0, &v, NULL), ZTOQ_ERROR);
	test_ok(ztoq_session_scalar(s, "SELECT COUNT(*) FROM items", NULL, 0, &v, NULL));
	cr_assert_eq(v, 2, "the statement cache gave back a usable statement");
	cr_assert_eq(ztoq_session_scalar(s, "SELECT nope FROM items", NULL, 0, &v, NULL) < 0, 1);
	cr_assert_eq(ztoq_session_scalar(s, "SELECT 1", NULL, 0, &v, NULL), ZTOQ_ETXFAILED);
	test_ok(ztoq_tx_rollback(s));
	close_items();
}

/*
 * A result whose description failed part way (here: out of memory at each of its
 * allocations in turn) is closed, and described again by the next execute. Before,
 * the cached statement kept the columns described so far, one without a name, and
 * lost the others for good (SQLite), or its result stayed open in the driver and
 * every later execute failed with HY010 (PostgreSQL).
 */
TEST_BOTH(stmt, a_failed_describe_is_done_again)
{
	int failures = 0;

	open_items(backend);
	for (long n = 1; n < 20; n++) {
		char sql[64];
		ztoq_stmt *st;
		const char *name;
		int64_t a, b;
		int rc;

		/* a new statement each time: only the first execute describes */
		snprintf(sql, sizeof(sql), "SELECT %ld AS a, 2 AS b", n);
		test_ok(ztoq_stmt_prepare(&st, s, sql));
		ztoq__alloc_fail_after(n);
		rc = ztoq_stmt_execute(st);
		ztoq__alloc_fail_after(0);
		if (rc == ZTOQ_OK) {
			ztoq_stmt_finalize(st);
			break;
		}
		failures++;
		cr_assert_eq(rc, ZTOQ_ENOMEM, "allocation %ld: %s", n, ztoq_error_last()->message);
		test_ok(ztoq_stmt_execute(st));
		cr_assert_eq(ztoq_stmt_column_count(st), 2, "allocation %ld failed", n);
		name = ztoq_stmt_column_name(st, 1);
		cr_assert(name && strcmp(name, "b") == 0, "allocation %ld: column 1 is %s", n,
			  name ? name : "(null)");
		cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
		test_ok(ztoq_stmt_get_int64(st, 0, &a, NULL));
		test_ok(ztoq_stmt_get_int64(st, 1, &b, NULL));
		cr_assert(a == n && b == 2, "allocation %ld: %lld, %lld", n, (long long)a,
			  (long long)b);
		cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_DONE);
		ztoq_stmt_finalize(st);
	}
	cr_assert_geq(failures, 3, "the columns, and each name, were allocated (%d)", failures);
	close_items();
}
