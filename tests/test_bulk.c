/*
 * test_bulk.c - bulk insert and upsert on both backends: values round-trip exactly,
 * one transaction, and both bad-row policies checked row by row (rows before and
 * after the bad ones), never trusting a driver's status array.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "support.h"

static const char *const cols[] = {"id", "name", "score"};
static const ztoq_type types[] = {ZTOQ_TYPE_INT64, ZTOQ_TYPE_TEXT, ZTOQ_TYPE_DOUBLE};
static const ztoq_bulk_table table = {"t", cols, types, NULL, 3};

#define MAX_ROWS 2000
static ztoq_value rows[MAX_ROWS * 3];
static char names[MAX_ROWS][32];

/* Row i: (i + 1, "row-<i>", i / 8.0); NOT NULL name, so a NULL name is a bad row. */
static void make_rows(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "row-%zu", i);
		rows[3 * i] = ZTOQ_INT64((int64_t)i + 1);
		rows[3 * i + 1] = ZTOQ_TEXT(names[i]);
		rows[3 * i + 2] = ZTOQ_DOUBLE((double)i / 8.0);
	}
}

static ztoq_session *with_table(ztoq_db **db, ztoq_db_type backend)
{
	ztoq_session *s = test_empty_session(db, backend);

	test_exec(s, "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL, "
		     "score DOUBLE PRECISION CHECK (score >= 0))");
	return s;
}

/* The name stored for key `id`, or NULL when there is no such row. Static buffer. */
static const char *name_of(ztoq_session *s, int64_t id)
{
	static char buf[64];
	ztoq_stmt *st;
	const char *text;
	int rc;

	test_ok(ztoq_stmt_prepare(&st, s, "SELECT name FROM t WHERE id = ?"));
	test_ok(ztoq_stmt_bind_int64(st, 1, id));
	test_ok(ztoq_stmt_execute(st));
	rc = ztoq_stmt_fetch(st);
	cr_assert_geq(rc, 0);
	if (rc == ZTOQ_DONE) {
		ztoq_stmt_finalize(st);
		return NULL;
	}
	test_ok(ztoq_stmt_get_text(st, 0, &text, NULL, NULL));
	snprintf(buf, sizeof(buf), "%s", text);
	ztoq_stmt_finalize(st);
	return buf;
}

/* Every row of make_rows() except those in `missing` is stored, with its values. */
static void assert_rows_stored(ztoq_session *s, size_t n, const size_t *missing, size_t nmissing)
{
	ztoq_stmt *st;
	size_t i = 0, m = 0;

	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id, name, score FROM t ORDER BY id"));
	test_ok(ztoq_stmt_execute(st));
	for (; i < n; i++) {
		int64_t id;
		const char *name;
		double score;

		if (m < nmissing && missing[m] == i) {
			m++;
			continue;
		}
		cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW, "row %zu is missing", i);
		test_ok(ztoq_stmt_get_int64(st, 0, &id, NULL));
		test_ok(ztoq_stmt_get_text(st, 1, &name, NULL, NULL));
		test_ok(ztoq_stmt_get_double(st, 2, &score, NULL));
		cr_assert_eq(id, (int64_t)i + 1, "expected row %zu, got id %lld", i, (long long)id);
		cr_assert_str_eq(name, names[i]);
		cr_assert_float_eq(score, (double)i / 8.0, 1e-12);
	}
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_DONE, "more rows than expected");
	ztoq_stmt_finalize(st);
}

TEST_BOTH(bulk, inserts_many_rows_in_one_call)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	ztoq_bulk_result res;

	make_rows(MAX_ROWS);
	test_ok(ztoq_bulk_insert(&res, s, &table, rows, MAX_ROWS, NULL));
	cr_assert_eq(res.affected, MAX_ROWS);
	cr_assert_eq(res.rejected, 0);
	cr_assert_eq(res.first_bad, SIZE_MAX);
	cr_assert_eq(ztoq_tx_depth(s), 0, "its own transaction was committed");
	assert_rows_stored(s, MAX_ROWS, NULL, 0);
	test_close(db, s);
}

TEST_BOTH(bulk, statement_and_savepoint_sizes_do_not_change_the_result)
{
	static const size_t sizes[][2] = {{1, 1}, {7, 21}, {7, 10}, {64, 5}, {1000, 0}};
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	ztoq_bulk_options opts = ZTOQ_BULK_OPTIONS_INIT;
	ztoq_bulk_result res;

	make_rows(257);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		opts.rows_per_statement = sizes[k][0];
		opts.rows_per_savepoint = sizes[k][1];
		test_exec(s, "DELETE FROM t");
		test_ok(ztoq_bulk_insert(&res, s, &table, rows, 257, &opts));
		cr_assert_eq(res.affected, 257, "sizes %zu/%zu", sizes[k][0], sizes[k][1]);
		assert_rows_stored(s, 257, NULL, 0);
	}
	test_ok(ztoq_bulk_insert(&res, s, &table, rows, 0, &opts));
	cr_assert_eq(res.affected, 0);
	test_close(db, s);
}

TEST_BOTH(bulk, values_round_trip_exactly)
{
	static const char *const wcols[] = {"i", "t", "d", "b", "x", "ts"};
	static const ztoq_type wtypes[] = {ZTOQ_TYPE_INT64, ZTOQ_TYPE_TEXT, ZTOQ_TYPE_DOUBLE,
					   ZTOQ_TYPE_BOOL,  ZTOQ_TYPE_BLOB, ZTOQ_TYPE_TIMESTAMP};
	static const char *const texts[] = {"", "NULL", "a,b", "{x}", "quote \" here",
					    "back\\slash", "  spaced  ", "ünïcødé ✓", "line\nbreak",
					    "comma, \"both\\\" {}"};
	ztoq_bulk_table wide = {"w", wcols, wtypes, NULL, 6};
	ztoq_timestamp ts = {2024, 2, 29, 23, 59, 58, 123456000};
	unsigned char blob[256];
	ztoq_value v[12 * 6];
	ztoq_db *db;
	ztoq_session *s;
	ztoq_stmt *st;

	for (int i = 0; i < 256; i++)
		blob[i] = (unsigned char)i;
	s = test_empty_session(&db, backend);
	test_exec(s, backend == ZTOQ_DB_SQLITE
			     ? "CREATE TABLE w (i INTEGER, t TEXT, d DOUBLE, b BOOLEAN, x BLOB, ts TIMESTAMP)"
			     : "CREATE TABLE w (i BIGINT, t TEXT, d DOUBLE PRECISION, b BOOLEAN, x BYTEA, "
			       "ts TIMESTAMP)");
	for (int r = 0; r < 12; r++) {
		ztoq_value *row = &v[r * 6];

		row[0] = ZTOQ_INT64(r == 0 ? INT64_MIN : r == 1 ? INT64_MAX : r - 5);
		row[1] = r < 10 ? ZTOQ_TEXT(texts[r]) : ZTOQ_NULL_VALUE;
		row[2] = ZTOQ_DOUBLE(r == 0 ? -1e300 : r == 1 ? 0.1 : r == 2 ? 1234567.125 : r * -2.25);
		row[3] = r == 11 ? ZTOQ_NULL_VALUE : ZTOQ_BOOL(r % 2);
		row[4] = r == 10 ? ZTOQ_NULL_VALUE : ZTOQ_BLOB(blob, (size_t)(r * 23 % 257));
		row[5] = r == 9 ? ZTOQ_NULL_VALUE : ZTOQ_TIMESTAMP(ts);
	}
	test_ok(ztoq_bulk_insert(NULL, s, &wide, v, 12, NULL));
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT i, t, d, b, x, ts FROM w ORDER BY i"));
	test_ok(ztoq_stmt_execute(st));
	for (int k = 0; k < 12; k++) {
		/* ORDER BY i: row 0 (INT64_MIN), rows 2..11 (-3..6), row 1 (INT64_MAX) */
		int r = k == 0 ? 0 : k == 11 ? 1 : k + 1;
		const ztoq_value *row = &v[r * 6];
		int64_t i;
		const char *t;
		size_t len;
		double d;
		int b, is_null;
		const void *x;
		ztoq_timestamp got;

		cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
		test_ok(ztoq_stmt_get_int64(st, 0, &i, NULL));
		cr_assert_eq(i, row[0].v.int64);
		test_ok(ztoq_stmt_get_text(st, 1, &t, &len, &is_null));
		cr_assert_eq(is_null, row[1].type == ZTOQ_TYPE_NULL, "row %d", r);
		if (!is_null) {
			cr_assert_eq(len, row[1].v.bytes.len, "row %d: %s", r, t);
			cr_assert_eq(memcmp(t, row[1].v.bytes.ptr, len), 0, "row %d: %s", r, t);
		}
		test_ok(ztoq_stmt_get_double(st, 2, &d, NULL));
		cr_assert_eq(d, row[2].v.real, "row %d: %.17g", r, d);
		test_ok(ztoq_stmt_get_bool(st, 3, &b, &is_null));
		cr_assert_eq(is_null, r == 11);
		cr_assert_eq(b, is_null ? 0 : r % 2);
		test_ok(ztoq_stmt_get_blob(st, 4, &x, &len, &is_null));
		cr_assert_eq(is_null, r == 10);
		cr_assert_eq(len, is_null ? 0 : row[4].v.bytes.len, "row %d", r);
		cr_assert(len == 0 || memcmp(x, blob, len) == 0, "row %d", r);
		if (backend == ZTOQ_DB_POSTGRESQL) {
			test_ok(ztoq_stmt_get_timestamp(st, 5, &got, &is_null));
			cr_assert_eq(is_null, r == 9);
			cr_assert(is_null || memcmp(&got, &ts, sizeof(ts)) == 0, "row %d", r);
		}
	}
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_DONE);
	ztoq_stmt_finalize(st);
	test_close(db, s);
}

/* Records the bad rows the call reports. */
typedef struct {
	size_t rows[16];
	int codes[16];
	char first_message[256];
	size_t n;
} reported;

static void on_bad(size_t row, const ztoq_error *why, void *payload)
{
	reported *r = payload;

	cr_assert_lt(r->n, 16);
	if (r->n == 0)
		snprintf(r->first_message, sizeof(r->first_message), "%s", why->message);
	r->codes[r->n] = why->code;
	r->rows[r->n++] = row;
}

/* Options with `policy`, bad rows reported into `r`. */
static ztoq_bulk_options reporting(ztoq_bulk_policy policy, reported *r)
{
	ztoq_bulk_options opts = ZTOQ_BULK_OPTIONS_INIT;

	opts.policy = policy;
	opts.on_bad_row = on_bad;
	opts.payload = r;
	return opts;
}

/* Rows 0..299 with bad rows: 0 (NULL name), 57 (row 3's key again), 70 (negative
 * score), 150 (row 99's key) and 299, the last (row 298's key). A duplicate is the
 * later of the two rows, as when rows are written one at a time. */
static const size_t bad[] = {0, 57, 70, 150, 299};
#define NBAD (sizeof(bad) / sizeof(bad[0]))
#define NROWS 300

static void make_bad_rows(void)
{
	make_rows(NROWS);
	rows[3 * 0 + 1] = ZTOQ_NULL_VALUE;
	rows[3 * 57] = ZTOQ_INT64(4);
	rows[3 * 70 + 2] = ZTOQ_DOUBLE(-1);
	rows[3 * 150] = ZTOQ_INT64(100);
	rows[3 * 299] = ZTOQ_INT64(299);
}

static void skip_policy(ztoq_db_type backend, size_t per_statement)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	reported r = {0};
	ztoq_bulk_options opts = reporting(ZTOQ_BULK_SKIP, &r);
	ztoq_bulk_result res;

	make_bad_rows();
	opts.rows_per_statement = per_statement;
	opts.rows_per_savepoint = per_statement ? 4 * per_statement : 0;
	test_ok(ztoq_bulk_insert(&res, s, &table, rows, NROWS, &opts));
	cr_assert_eq(res.rejected, NBAD, "%llu rejected", (unsigned long long)res.rejected);
	cr_assert_eq(res.affected, NROWS - NBAD);
	cr_assert_eq(res.first_bad, 0);
	cr_assert_eq(r.n, NBAD, "%zu reported", r.n);
	for (size_t i = 0; i < NBAD; i++)
		cr_assert_eq(r.rows[i], bad[i], "bad row %zu reported as %zu", bad[i], r.rows[i]);
	cr_assert_eq(r.codes[1], ZTOQ_ECONSTRAINT, "%s", ztoq_error_name(r.codes[1]));
	/* row 57 (key 4) was refused: row 3 holds key 4 with its own values */
	cr_assert_str_eq(name_of(s, 4), "row-3");
	cr_assert_null(name_of(s, 1), "row 0 was refused");
	/* every other row, before and after each bad one, is there exactly */
	assert_rows_stored(s, NROWS, bad, NBAD);
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), NROWS - NBAD);
	test_close(db, s);
}

TEST_BOTH(bulk, skip_policy_writes_the_good_rows_and_reports_the_bad)
{
	skip_policy(backend, 0);
}

TEST_BOTH(bulk, skip_policy_with_small_statements)
{
	skip_policy(backend, 3);
}

TEST_BOTH(bulk, abort_policy_rolls_back_everything_and_names_the_row)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	reported r = {0};
	ztoq_bulk_options opts = reporting(ZTOQ_BULK_ABORT, &r);
	ztoq_bulk_result res;
	int rc;

	test_exec(s, "INSERT INTO t VALUES (1000, 'before', 1)");
	make_rows(NROWS);
	rows[3 * 57] = ZTOQ_INT64(4); /* a duplicate of row 3's key */
	rows[3 * 150 + 1] = ZTOQ_NULL_VALUE;
	rc = ztoq_bulk_insert(&res, s, &table, rows, NROWS, &opts);
	cr_assert_eq(rc, ZTOQ_ECONSTRAINT, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "row 57"), "%s", ztoq_error_last()->message);
	cr_assert_eq(res.rejected, 1);
	cr_assert_eq(res.first_bad, 57);
	cr_assert_eq(res.affected, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.rows[0], 57);
	cr_assert_eq(ztoq_tx_depth(s), 0);
	/* neither the rows before the bad one nor those after it stayed */
	cr_assert_null(name_of(s, 1));
	cr_assert_null(name_of(s, 57));
	cr_assert_null(name_of(s, 59));
	cr_assert_null(name_of(s, NROWS));
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), 1);
	cr_assert_str_eq(name_of(s, 1000), "before");
	test_close(db, s);
}

TEST_BOTH(bulk, abort_inside_a_transaction_keeps_the_callers_work)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);

	make_rows(50);
	rows[3 * 49] = ZTOQ_INT64(1);
	test_ok(ztoq_tx_begin(s, NULL));
	test_exec(s, "INSERT INTO t VALUES (1000, 'mine', 1)");
	cr_assert_eq(ztoq_bulk_insert(NULL, s, &table, rows, 50, NULL), ZTOQ_ECONSTRAINT);
	cr_assert_eq(ztoq_tx_depth(s), 1, "the caller's transaction is still open");
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), 1);
	rows[3 * 49] = ZTOQ_INT64(50);
	test_ok(ztoq_bulk_insert(NULL, s, &table, rows, 50, NULL));
	test_ok(ztoq_tx_commit(s));
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), 51);
	test_close(db, s);
}

/* Options for an upsert keyed on id. */
static ztoq_bulk_options upsert_on_id(ztoq_bulk_conflict conflict)
{
	static const char *const keys[] = {"id"};
	ztoq_bulk_options opts = ZTOQ_BULK_OPTIONS_INIT;

	opts.conflict = conflict;
	opts.key_columns = keys;
	opts.nkeys = 1;
	return opts;
}

TEST_BOTH(bulk, upsert_updates_and_ignore_keeps)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	ztoq_bulk_options opts = upsert_on_id(ZTOQ_BULK_CONFLICT_IGNORE);
	ztoq_bulk_result res;
	ztoq_value upd[6 * 3];

	make_rows(10);
	test_ok(ztoq_bulk_insert(NULL, s, &table, rows, 10, NULL));
	for (int i = 0; i < 6; i++) { /* keys 8..13: 3 existing, 3 new */
		upd[3 * i] = ZTOQ_INT64(8 + i);
		upd[3 * i + 1] = ZTOQ_TEXT("new");
		upd[3 * i + 2] = ZTOQ_DOUBLE(1);
	}
	test_ok(ztoq_bulk_insert(&res, s, &table, upd, 6, &opts));
	cr_assert_eq(res.affected, 3);
	cr_assert_str_eq(name_of(s, 8), "row-7");
	cr_assert_str_eq(name_of(s, 13), "new");
	upd[3 * 0 + 1] = ZTOQ_TEXT("newer");
	upd[3 * 5 + 1] = ZTOQ_TEXT("newer");
	opts.conflict = ZTOQ_BULK_CONFLICT_UPDATE;
	test_ok(ztoq_bulk_insert(&res, s, &table, upd, 6, &opts));
	cr_assert_eq(res.affected, 6);
	cr_assert_str_eq(name_of(s, 8), "newer");
	cr_assert_str_eq(name_of(s, 9), "new");
	cr_assert_str_eq(name_of(s, 13), "newer");
	cr_assert_str_eq(name_of(s, 7), "row-6");
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), 13);
	test_close(db, s);
}

TEST_BOTH(bulk, upsert_of_one_key_twice_in_a_call)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	ztoq_bulk_options opts = upsert_on_id(ZTOQ_BULK_CONFLICT_UPDATE);
	ztoq_value v[3 * 3] = {ZTOQ_INT64(1), ZTOQ_TEXT("first"),  ZTOQ_DOUBLE(1),
			       ZTOQ_INT64(2), ZTOQ_TEXT("other"),  ZTOQ_DOUBLE(1),
			       ZTOQ_INT64(1), ZTOQ_TEXT("second"), ZTOQ_DOUBLE(2)};

	test_ok(ztoq_bulk_insert(NULL, s, &table, v, 3, &opts));
	cr_assert_str_eq(name_of(s, 1), "second", "later rows win, as row by row");
	cr_assert_str_eq(name_of(s, 2), "other");
	test_close(db, s);
}

TEST_BOTH(bulk, refuses_bad_arguments_before_writing)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	ztoq_bulk_options opts = ZTOQ_BULK_OPTIONS_INIT;
	const char *const bad_types[] = {NULL, "text; DROP TABLE t", NULL};
	ztoq_bulk_table injected = table;

	make_rows(20);
	rows[3 * 15 + 2] = ZTOQ_TEXT("not a double");
	cr_assert_eq(ztoq_bulk_insert(NULL, s, &table, rows, 20, NULL), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "row 15"), "%s", ztoq_error_last()->message);
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), 0);
	make_rows(20);
	opts.conflict = ZTOQ_BULK_CONFLICT_UPDATE; /* without key columns */
	cr_assert_eq(ztoq_bulk_insert(NULL, s, &table, rows, 20, &opts), ZTOQ_EINVALID);
	opts = (ztoq_bulk_options)ZTOQ_BULK_OPTIONS_INIT;
	opts.version = 0;
	cr_assert_eq(ztoq_bulk_insert(NULL, s, &table, rows, 20, &opts), ZTOQ_EINVALID);
	injected.sql_types = bad_types;
	cr_assert_eq(ztoq_bulk_insert(NULL, s, &injected, rows, 20, NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_bulk_insert(NULL, s, NULL, rows, 20, NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_bulk_insert(NULL, s, &table, NULL, 20, NULL), ZTOQ_EINVALID);
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM t"), 0);
	test_close(db, s);
}

TEST_BOTH(bulk, unknown_table_is_an_error_not_bad_rows)
{
	ztoq_db *db;
	ztoq_session *s = with_table(&db, backend);
	ztoq_bulk_table missing = table;
	reported r = {0};
	ztoq_bulk_options opts = reporting(ZTOQ_BULK_SKIP, &r);

	missing.table = "no_such_table";
	make_rows(100);
	cr_assert_lt(ztoq_bulk_insert(NULL, s, &missing, rows, 100, &opts), 0);
	cr_assert(strstr(ztoq_error_last()->message, "no_such_table"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(r.n, 0, "no row is blamed for a missing table");
	cr_assert_eq(ztoq_tx_depth(s), 0);
	test_close(db, s);
}

Test(bulk, postgresql_column_types_by_name)
{
	static const char *const jcols[] = {"id", "doc"};
	static const ztoq_type jtypes[] = {ZTOQ_TYPE_INT64, ZTOQ_TYPE_TEXT};
	static const char *const jsql[] = {"integer", "jsonb"};
	ztoq_bulk_table jt = {"public.j", jcols, jtypes, jsql, 2};
	ztoq_value v[2 * 2] = {ZTOQ_INT64(1), ZTOQ_TEXT("{\"a\": [1, \"x,y\"]}"), ZTOQ_INT64(2),
			       ZTOQ_NULL_VALUE};
	ztoq_db *db;
	ztoq_session *s = test_empty_session(&db, ZTOQ_DB_POSTGRESQL);

	test_exec(s, "CREATE TABLE j (id INTEGER PRIMARY KEY, doc JSONB)");
	test_ok(ztoq_bulk_insert(NULL, s, &jt, v, 2, NULL));
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM j WHERE doc->'a'->>1 = 'x,y'"), 1);
	cr_assert_eq(test_scalar(s, "SELECT count(*) FROM j WHERE doc IS NULL"), 1);
	test_close(db, s);
}

/*
 * Issue 8: a write that fails with an I/O error (SQLite rolls the whole transaction
 * back by itself) is what the bulk call reports, not the failed ROLLBACK TO of its
 * savepoint. A file size limit of one byte stands in for a full disk; 4 rows of 4 MiB
 * overflow the page cache, so the write reaches the file.
 */
Test(bulk, io_error_is_reported_not_the_rollback_after_it, .timeout = 60)
{
	size_t len = 4u << 20;
	char *big = malloc(len + 1);
	struct rlimit old, tight;
	ztoq_session *s;
	ztoq_db *db;
	const char *msg;
	int rc;

	cr_assert_not_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	make_rows(4);
	for (size_t i = 0; i < 4; i++)
		rows[3 * i + 1] = (ztoq_value)ZTOQ_TEXT(big);
	s = with_table(&db, ZTOQ_DB_SQLITE);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	tight = old;
	tight.rlim_cur = 1;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);
	rc = ztoq_bulk_insert(NULL, s, &table, rows, 4, NULL);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	msg = ztoq_error_last()->message;
	cr_assert_eq(rc, ZTOQ_ERROR, "%s: %s", ztoq_error_name(rc), msg);
	cr_assert(strstr(msg, "disk I/O error"), "the write's own error: %s", msg);
	cr_assert_eq(ztoq_tx_depth(s), 0);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM t"), 0);
	free(big);
	test_close(db, s);
}

/* ---- streamed bulk writes -------------------------------------------------------- */

#define STREAM_ROWS 1500
#define STREAM_CHUNK 400

/* A row source: the rows of make_rows(), made a chunk at a time into its own buffers. */
typedef struct {
	size_t next, total;
	size_t dup_at;  /* this row repeats row 3's key (SIZE_MAX: none) */
	size_t null_at; /* this row's name is NULL (SIZE_MAX: none) */
	size_t fail_at; /* the call that would give this row fails instead (SIZE_MAX: none) */
	size_t calls, max_seen;
	char names[STREAM_CHUNK][32];
} source;

static source new_source(void)
{
	return (source){0, STREAM_ROWS, SIZE_MAX, SIZE_MAX, SIZE_MAX, 0, 0, {{0}}};
}

static int source_rows(ztoq_value *out, size_t max, size_t *nrows, void *payload)
{
	source *src = payload;
	size_t n = src->total - src->next < max ? src->total - src->next : max;

	src->calls++;
	src->max_seen = max > src->max_seen ? max : src->max_seen;
	if (src->fail_at >= src->next && src->fail_at < src->next + n)
		return ZTOQ_ERROR; /* records nothing: the write must say who stopped it */
	cr_assert_leq(n, STREAM_CHUNK);
	for (size_t k = 0; k < n; k++) {
		size_t i = src->next + k;

		snprintf(src->names[k], sizeof(src->names[k]), "row-%zu", i);
		out[3 * k] = ZTOQ_INT64(i == src->dup_at ? 4 : (int64_t)i + 1);
		out[3 * k + 1] = i == src->null_at ? (ztoq_value)ZTOQ_NULL_VALUE
						   : (ztoq_value)ZTOQ_TEXT(src->names[k]);
		out[3 * k + 2] = ZTOQ_DOUBLE((double)i / 8.0);
	}
	src->next += n;
	*nrows = n;
	return ZTOQ_OK;
}

/* One streamed write's parts: a table t, options reporting bad rows, a fresh source. */
typedef struct {
	ztoq_db *db;
	ztoq_session *s;
	ztoq_bulk_options opts;
	ztoq_bulk_result res;
	source src;
	reported bad;
} stream_case;

static void stream_case_init(stream_case *k, ztoq_db_type backend, ztoq_bulk_policy policy)
{
	memset(k, 0, sizeof(*k));
	k->s = with_table(&k->db, backend);
	k->opts = reporting(policy, &k->bad);
	k->opts.rows_per_savepoint = STREAM_CHUNK;
	k->src = new_source();
}

/* Streams k's source into t in chunks of STREAM_CHUNK. */
static int stream(stream_case *k, ztoq_bulk_commit commit)
{
	return ztoq_bulk_insert_stream(&k->res, k->s, &table, source_rows, &k->src, commit, &k->opts);
}

/* The error of a write that should have failed with `want`. */
static void assert_failed(int rc, int want)
{
	cr_assert_eq(rc, want, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
}

TEST_BOTH(bulk, stream_writes_every_chunk_in_one_transaction)
{
	stream_case k;

	stream_case_init(&k, backend, ZTOQ_BULK_ABORT);
	make_rows(STREAM_ROWS); /* the names assert_rows_stored() expects */
	test_ok(stream(&k, ZTOQ_BULK_COMMIT_AT_END));
	cr_assert_eq(k.res.affected, STREAM_ROWS);
	cr_assert_eq(k.res.rejected, 0);
	cr_assert_eq(k.src.calls, 5, "4 chunks and the end, not %zu calls", k.src.calls);
	cr_assert_eq(k.src.max_seen, STREAM_CHUNK, "asked for chunks of %zu", k.src.max_seen);
	cr_assert_eq(ztoq_tx_depth(k.s), 0);
	assert_rows_stored(k.s, STREAM_ROWS, NULL, 0);
	test_close(k.db, k.s);
}

TEST_BOTH(bulk, stream_abort_at_end_rolls_back_every_chunk)
{
	stream_case k;

	stream_case_init(&k, backend, ZTOQ_BULK_ABORT);
	k.src.dup_at = 1234; /* in the fourth chunk */
	assert_failed(stream(&k, ZTOQ_BULK_COMMIT_AT_END), ZTOQ_ECONSTRAINT);
	cr_assert(strstr(ztoq_error_last()->message, "row 1234"), "%s", ztoq_error_last()->message);
	cr_assert_eq(k.res.first_bad, 1234);
	cr_assert_eq(k.bad.n, 1);
	cr_assert_eq(k.bad.rows[0], 1234, "rows are numbered over the stream");
	cr_assert_eq(k.res.affected, 0);
	cr_assert_eq(ztoq_tx_depth(k.s), 0);
	cr_assert_eq(test_scalar(k.s, "SELECT count(*) FROM t"), 0);
	test_close(k.db, k.s);
}

TEST_BOTH(bulk, stream_commit_each_chunk_keeps_committed_chunks_and_resumes)
{
	stream_case k;

	stream_case_init(&k, backend, ZTOQ_BULK_ABORT);
	k.src.dup_at = 1234;
	assert_failed(stream(&k, ZTOQ_BULK_COMMIT_EACH_CHUNK), ZTOQ_ECONSTRAINT);
	cr_assert_eq(k.res.affected, 3 * STREAM_CHUNK, "the three chunks before the bad one");
	cr_assert_eq(ztoq_tx_depth(k.s), 0);
	cr_assert_eq(test_scalar(k.s, "SELECT count(*) FROM t"), 3 * STREAM_CHUNK);
	cr_assert_eq(test_scalar(k.s, "SELECT max(id) FROM t"), 3 * STREAM_CHUNK);

	/* the same load again, the bad row mended: the committed rows are kept */
	k.src = new_source();
	k.opts.conflict = ZTOQ_BULK_CONFLICT_IGNORE;
	test_ok(stream(&k, ZTOQ_BULK_COMMIT_EACH_CHUNK));
	cr_assert_eq(k.res.affected, STREAM_ROWS - 3 * STREAM_CHUNK, "only the rest was written");
	make_rows(STREAM_ROWS);
	assert_rows_stored(k.s, STREAM_ROWS, NULL, 0);
	test_close(k.db, k.s);
}

TEST_BOTH(bulk, stream_skip_reports_rows_by_their_number_in_the_stream)
{
	static const size_t skipped[] = {5, 1234};
	stream_case k;

	stream_case_init(&k, backend, ZTOQ_BULK_SKIP);
	k.src.null_at = skipped[0];
	k.src.dup_at = skipped[1];
	test_ok(stream(&k, ZTOQ_BULK_COMMIT_EACH_CHUNK));
	cr_assert_eq(k.res.rejected, 2);
	cr_assert_eq(k.res.first_bad, skipped[0]);
	cr_assert_eq(k.bad.n, 2);
	cr_assert_eq(k.bad.rows[0], skipped[0]);
	cr_assert_eq(k.bad.rows[1], skipped[1]);
	cr_assert_eq(k.res.affected, STREAM_ROWS - 2);
	make_rows(STREAM_ROWS);
	assert_rows_stored(k.s, STREAM_ROWS, skipped, 2);
	test_close(k.db, k.s);
}

/* A source that stops: its code is the write's, the message says the source stopped. */
static void source_stops(ztoq_db_type backend, ztoq_bulk_commit commit, int64_t kept)
{
	stream_case k;

	stream_case_init(&k, backend, ZTOQ_BULK_ABORT);
	k.src.fail_at = 2 * STREAM_CHUNK + 1; /* the third chunk */
	assert_failed(stream(&k, commit), ZTOQ_ERROR);
	cr_assert(strstr(ztoq_error_last()->message, "bulk source of t stopped"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(k.res.affected, (uint64_t)kept);
	cr_assert_eq(ztoq_tx_depth(k.s), 0);
	cr_assert_eq(test_scalar(k.s, "SELECT count(*) FROM t"), kept);
	test_close(k.db, k.s);
}

TEST_BOTH(bulk, stream_source_error_rolls_back_the_transaction)
{
	source_stops(backend, ZTOQ_BULK_COMMIT_AT_END, 0);
}

TEST_BOTH(bulk, stream_source_error_keeps_the_committed_chunks)
{
	source_stops(backend, ZTOQ_BULK_COMMIT_EACH_CHUNK, 2 * STREAM_CHUNK);
}

static int source_of_a_bad_type(ztoq_value *out, size_t max, size_t *nrows, void *payload)
{
	source *src = payload;
	int rc = source_rows(out, max, nrows, payload);

	if (src->next > STREAM_CHUNK) /* the second chunk's row 10 */
		out[3 * 10 + 2] = (ztoq_value)ZTOQ_TEXT("not a double");
	return rc;
}

TEST_BOTH(bulk, stream_refuses_a_bad_type_naming_the_row_and_a_commit_mode_in_a_transaction)
{
	stream_case k;

	stream_case_init(&k, backend, ZTOQ_BULK_ABORT);
	assert_failed(ztoq_bulk_insert_stream(&k.res, k.s, &table, source_of_a_bad_type, &k.src,
					      ZTOQ_BULK_COMMIT_AT_END, &k.opts),
		      ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "row 410, column score"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(test_scalar(k.s, "SELECT count(*) FROM t"), 0);

	test_ok(ztoq_tx_begin(k.s, NULL));
	k.src = new_source();
	assert_failed(stream(&k, ZTOQ_BULK_COMMIT_EACH_CHUNK), ZTOQ_ESTATE);
	cr_assert_eq(k.src.calls, 0, "nothing was pulled");
	cr_assert_eq(ztoq_tx_depth(k.s), 1, "the caller's transaction is left open");
	test_ok(ztoq_tx_rollback(k.s));
	cr_assert_eq(ztoq_bulk_insert_stream(&k.res, k.s, &table, NULL, NULL,
					     ZTOQ_BULK_COMMIT_AT_END, NULL),
		     ZTOQ_EINVALID);
	test_close(k.db, k.s);
}
