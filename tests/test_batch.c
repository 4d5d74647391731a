/*
 * test_batch.c - execute_in_batches, streaming and keyset paging on both backends:
 * batch sizes and order, long values, NULLs, early stop, errors, and statements that
 * are fit for row-at-a-time use again afterwards.
 */
#include <stdio.h>
#include <string.h>

#include "support.h"

#define MAX_BATCHES 64

/* What the process callback saw. */
typedef struct {
	size_t sizes[MAX_BATCHES];
	uint64_t first_rows[MAX_BATCHES];
	size_t nbatches;
	int64_t ids[4096];
	size_t nids;
	size_t stop_after; /* return ZTOQ_BATCH_STOP after this many batches (0: never) */
	int fail_with;     /* return this from the first batch (0: never) */
	ztoq_session *session;
	int64_t offsets[MAX_BATCHES]; /* what the query callback was asked for */
	int64_t limits[MAX_BATCHES];
	size_t nqueries;
} seen;

static int collect(const ztoq_batch *b, void *payload)
{
	seen *w = payload;
	size_t n = ztoq_batch_rows(b);

	cr_assert_lt(w->nbatches, MAX_BATCHES);
	cr_assert_eq(ztoq_batch_index(b), w->nbatches);
	w->sizes[w->nbatches] = n;
	w->first_rows[w->nbatches] = ztoq_batch_first_row(b);
	w->nbatches++;
	for (size_t r = 0; r < n; r++) {
		int is_null = 1;
		test_ok(ztoq_batch_get_int64(b, r, 0, &w->ids[w->nids], &is_null));
		cr_assert_eq(is_null, 0);
		w->nids++;
	}
	if (w->fail_with)
		return w->fail_with;
	return w->stop_after && w->nbatches == w->stop_after ? ZTOQ_BATCH_STOP : 0;
}

/* A table t(id, name, score) with `n` rows: id = 3 * i + 1, name "name-<id>". */
static ztoq_session *with_rows(ztoq_db **db, ztoq_db_type backend, int n)
{
	ztoq_session *s = test_empty_session(db, backend);

	test_exec(s, "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION)");
	test_ok(ztoq_tx_begin(s, NULL));
	for (int i = 0; i < n; i++) {
		char name[32];
		ztoq_value v[3];

		snprintf(name, sizeof(name), "name-%d", 3 * i + 1);
		v[0] = ZTOQ_INT64(3 * i + 1), v[1] = ZTOQ_TEXT(name), v[2] = ZTOQ_DOUBLE(i * 0.5);
		test_ok(ztoq_session_exec(s, "INSERT INTO t VALUES (?, ?, ?)", v, 3, NULL));
	}
	test_ok(ztoq_tx_commit(s));
	return s;
}

/* Most tests: table t with some rows, batch options, and what collect() saw. */
typedef struct {
	ztoq_db *db;
	ztoq_session *s;
	ztoq_batch_options opts;
	ztoq_batch_stats stats;
	seen w;
} fixture;

static void setup(fixture *f, ztoq_db_type backend, int rows, size_t batch_size)
{
	memset(f, 0, sizeof(*f));
	f->s = with_rows(&f->db, backend, rows);
	f->opts = (ztoq_batch_options)ZTOQ_BATCH_OPTIONS_INIT;
	f->opts.batch_size = batch_size;
}

static void teardown(fixture *f)
{
	test_close(f->db, f->s);
}

/* Streams `sql` (no parameters) into f->w. */
static int stream(fixture *f, const char *sql)
{
	return ztoq_batch_stream(&f->stats, f->s, sql, NULL, 0, collect, &f->w, &f->opts);
}

/* Pages `sql` by its column `key` from `start` into f->w. */
static int keyset(fixture *f, const char *sql, unsigned key, ztoq_value start)
{
	return ztoq_batch_keyset(&f->stats, f->s, sql, key, &start, collect, &f->w, &f->opts);
}

static void assert_ids_in_order(const seen *w, size_t n)
{
	cr_assert_eq(w->nids, n, "%zu rows delivered, expected %zu", w->nids, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(w->ids[i], (int64_t)(3 * i + 1), "row %zu has id %lld", i,
			     (long long)w->ids[i]);
}

/* 25 rows in batches of 10: batches of 10, 10 and 5, every row once, in order. */
static void assert_10_10_5(const seen *w)
{
	cr_assert_eq(w->nbatches, 3);
	cr_assert_eq(w->sizes[0], 10);
	cr_assert_eq(w->sizes[1], 10);
	cr_assert_eq(w->sizes[2], 5);
	cr_assert_eq(w->first_rows[1], 10);
	cr_assert_eq(w->first_rows[2], 20);
	assert_ids_in_order(w, 25);
}

/* ---- execute_in_batches ----------------------------------------------------------- */

static int page_query(ztoq_stmt **out, ztoq_session *s, int64_t offset, int64_t limit,
		      void *payload)
{
	seen *w = payload;
	ztoq_stmt *st;

	w->offsets[w->nqueries] = offset;
	w->limits[w->nqueries++] = limit;
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id, name, score FROM t ORDER BY id LIMIT ? OFFSET ?"));
	test_ok(ztoq_stmt_bind_int64(st, 1, limit));
	test_ok(ztoq_stmt_bind_int64(st, 2, offset));
	test_ok(ztoq_stmt_execute(st));
	*out = st;
	return 0;
}

static int execute(fixture *f)
{
	return ztoq_batch_execute(&f->stats, f->s, page_query, collect, &f->w, &f->opts);
}

TEST_BOTH(batch, execute_25_rows_by_10_gives_10_10_5_in_order)
{
	fixture f;

	setup(&f, backend, 25, 10);
	test_ok(execute(&f));
	assert_10_10_5(&f.w);
	cr_assert_eq(f.w.nqueries, 3, "a short batch ends the loop without another query");
	cr_assert_eq(f.w.offsets[2], 20);
	cr_assert_eq(f.w.limits[2], 10);
	cr_assert_eq(f.stats.batches, 3);
	cr_assert_eq(f.stats.rows, 25);
	cr_assert_eq(f.stats.stopped, 0);
	teardown(&f);
}

TEST_BOTH(batch, execute_exact_multiple_processes_no_empty_batch)
{
	fixture f;

	setup(&f, backend, 20, 10);
	test_ok(execute(&f));
	cr_assert_eq(f.w.nbatches, 2);
	cr_assert_eq(f.w.nqueries, 3);
	assert_ids_in_order(&f.w, 20);
	teardown(&f);
}

TEST_BOTH(batch, execute_leaves_the_cached_statement_usable_row_by_row)
{
	fixture f;
	ztoq_session *s;
	ztoq_stmt *st;
	const char *name;
	int64_t id;

	setup(&f, backend, 12, 5);
	s = f.s;
	test_ok(execute(&f));
	/* the same SQL, from the connection's cache, read the ordinary way */
	test_ok(ztoq_stmt_prepare(&st, s, "SELECT id, name, score FROM t ORDER BY id LIMIT ? OFFSET ?"));
	test_ok(ztoq_stmt_bind_int64(st, 1, 100));
	test_ok(ztoq_stmt_bind_int64(st, 2, 0));
	test_ok(ztoq_stmt_execute(st));
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_ROW);
		test_ok(ztoq_stmt_get_int64(st, 0, &id, NULL));
		test_ok(ztoq_stmt_get_text(st, 1, &name, NULL, NULL));
		cr_assert_eq(id, 3 * i + 1);
		cr_assert_eq(atoi(name + 5), 3 * i + 1, "row %d: name %s", i, name);
	}
	cr_assert_eq(ztoq_stmt_fetch(st), ZTOQ_DONE);
	ztoq_stmt_finalize(st);
	teardown(&f);
}

static int failing_query(ztoq_stmt **out, ztoq_session *s, int64_t offset, int64_t limit,
			 void *payload)
{
	(void)s, (void)limit, (void)payload;
	*out = NULL;
	return offset == 0 ? ztoq_error_last()->code : 0; /* never reached twice */
}

static int no_stmt_query(ztoq_stmt **out, ztoq_session *s, int64_t offset, int64_t limit,
			 void *payload)
{
	(void)s, (void)offset, (void)limit, (void)payload;
	*out = NULL;
	return 0;
}

TEST_BOTH(batch, execute_reports_query_errors)
{
	ztoq_db *db;
	ztoq_session *s = with_rows(&db, backend, 3);
	seen w = {0};

	ztoq_error_clear();
	cr_assert_eq(ztoq_batch_execute(NULL, s, no_stmt_query, collect, &w, NULL), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "no statement"));
	ztoq_session_exec(s, "SELECT no_such_column FROM t", NULL, 0, NULL);
	cr_assert_lt(ztoq_batch_execute(NULL, s, failing_query, collect, &w, NULL), 0);
	cr_assert_eq(w.nbatches, 0);
	cr_assert_eq(ztoq_batch_execute(NULL, s, NULL, collect, &w, NULL), ZTOQ_EINVALID);
	test_close(db, s);
}

/* ---- streaming ---------------------------------------------------------------------- */

TEST_BOTH(batch, stream_25_rows_by_10_gives_10_10_5_in_order)
{
	fixture f;

	setup(&f, backend, 25, 10);
	test_ok(stream(&f, "SELECT id, name, score FROM t ORDER BY id"));
	assert_10_10_5(&f.w);
	cr_assert_eq(f.stats.rows, 25);
	cr_assert_eq(ztoq_tx_depth(f.s), 0, "the stream's own transaction is over");
	teardown(&f);
}

TEST_BOTH(batch, stream_exact_multiple_and_empty_result)
{
	fixture f;

	setup(&f, backend, 30, 10);
	test_ok(stream(&f, "SELECT id FROM t ORDER BY id"));
	cr_assert_eq(f.w.nbatches, 3);
	assert_ids_in_order(&f.w, 30);
	memset(&f.w, 0, sizeof(f.w));
	test_ok(stream(&f, "SELECT id FROM t WHERE id < 0"));
	cr_assert_eq(f.w.nbatches, 0);
	teardown(&f);
}

TEST_BOTH(batch, stream_with_parameters_inside_a_transaction)
{
	fixture f;
	ztoq_value params[2] = {ZTOQ_INT64(30), ZTOQ_TEXT("name-%")};

	setup(&f, backend, 40, 4);
	test_ok(ztoq_tx_begin(f.s, NULL));
	test_ok(ztoq_batch_stream(NULL, f.s, "SELECT id FROM t WHERE id > ? AND name LIKE ? ORDER BY id",
				  params, 2, collect, &f.w, &f.opts));
	cr_assert_eq(ztoq_tx_depth(f.s), 1, "the caller's transaction stays open");
	test_ok(ztoq_tx_commit(f.s));
	cr_assert_eq(f.w.nids, 30); /* ids 31, 34, ..., 118 */
	cr_assert_eq(f.w.ids[0], 31);
	cr_assert_eq(f.w.ids[29], 118);
	cr_assert_eq(f.w.nbatches, 8);
	teardown(&f);
}

/* Checks every value of the wide table, long or short, NULL or not. */
static int check_values(const ztoq_batch *b, void *payload)
{
	seen *w = payload;

	for (size_t r = 0; r < ztoq_batch_rows(b); r++) {
		int64_t id, len;
		const char *text;
		size_t n;
		double score;
		int is_null;
		ztoq_value v;

		test_ok(ztoq_batch_get_int64(b, r, 0, &id, NULL));
		test_ok(ztoq_batch_get_int64(b, r, 2, &len, NULL));
		test_ok(ztoq_batch_get_text(b, r, 1, &text, &n, &is_null));
		if (id % 5 == 0) {
			cr_assert_eq(is_null, 1, "id %lld", (long long)id);
			cr_assert_str_eq(text, "");
		} else {
			cr_assert_eq(is_null, 0);
			cr_assert_eq((int64_t)n, len, "id %lld: %zu bytes, expected %lld",
				     (long long)id, n, (long long)len);
			cr_assert_eq(strlen(text), n, "text is NUL-terminated");
			for (size_t i = 0; i < n; i++)
				cr_assert_eq(text[i], 'a' + (char)((id + (int64_t)i) % 26),
					     "id %lld byte %zu", (long long)id, i);
		}
		test_ok(ztoq_batch_get_double(b, r, 3, &score, &is_null));
		cr_assert_eq(is_null, id % 7 == 0);
		if (!is_null)
			cr_assert_float_eq(score, id / 4.0, 1e-9);
		test_ok(ztoq_batch_get_value(b, r, 0, &v));
		cr_assert_eq(v.type, ZTOQ_TYPE_INT64);
		w->nids++;
	}
	return 0;
}

TEST_BOTH(batch, stream_delivers_long_values_and_nulls_whole)
{
	ztoq_db *db;
	ztoq_session *s;
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	seen w = {0};
	static char text[5000];

	s = test_empty_session(&db, backend);
	test_exec(s, "CREATE TABLE w (id BIGINT, body TEXT, len BIGINT, score DOUBLE PRECISION)");
	test_ok(ztoq_tx_begin(s, NULL));
	for (int id = 1; id <= 60; id++) {
		/* lengths around the in-line width and far past it */
		size_t len = (size_t)((id * 97) % 4999);
		ztoq_value v[4] = {ZTOQ_INT64(id), ZTOQ_TEXTN(text, len), ZTOQ_INT64((int64_t)len),
				   ZTOQ_DOUBLE(id / 4.0)};

		for (size_t i = 0; i < len; i++)
			text[i] = (char)('a' + (id + (int)i) % 26);
		if (id % 5 == 0)
			v[1] = ZTOQ_NULL_VALUE;
		if (id % 7 == 0)
			v[3] = ZTOQ_NULL_VALUE;
		test_ok(ztoq_session_exec(s, "INSERT INTO w VALUES (?, ?, ?, ?)", v, 4, NULL));
	}
	test_ok(ztoq_tx_commit(s));
	opts.batch_size = 7;
	opts.text_width = 16;
	test_ok(ztoq_batch_stream(NULL, s, "SELECT id, body, len, score FROM w ORDER BY id", NULL,
				  0, check_values, &w, &opts));
	cr_assert_eq(w.nids, 60);
	test_close(db, s);
}

/* The byte `i` of the blob of row `id`: every value, NUL included. */
static unsigned char blob_byte(int64_t id, size_t i)
{
	return (unsigned char)((id * 7 + (int64_t)i * 13) % 256);
}

/* (no 1-byte blob: on SQLite one is stored as 0 bytes, a write-side defect of its own) */
static const size_t blob_lengths[] = {0, 2, 15, 16, 17, 31, 32, 33, 100, 1000, 3000};
#define NBLOBS (sizeof(blob_lengths) / sizeof(blob_lengths[0]))

/* Checks that each blob of the batch is byte for byte the one inserted. */
static int check_blobs(const ztoq_batch *b, void *payload)
{
	seen *w = payload;

	for (size_t r = 0; r < ztoq_batch_rows(b); r++) {
		ztoq_value id, data;
		const unsigned char *bytes;

		test_ok(ztoq_batch_get_value(b, r, 0, &id));
		test_ok(ztoq_batch_get_value(b, r, 1, &data));
		cr_assert_eq(data.type, ZTOQ_TYPE_BLOB, "id %lld", (long long)id.v.int64);
		cr_assert_eq(data.v.bytes.len, blob_lengths[id.v.int64 - 1], "id %lld: %zu bytes",
			     (long long)id.v.int64, data.v.bytes.len);
		bytes = data.v.bytes.ptr;
		for (size_t i = 0; i < data.v.bytes.len; i++)
			cr_assert_eq(bytes[i], blob_byte(id.v.int64, i), "id %lld byte %zu",
				     (long long)id.v.int64, i);
		w->nids++;
	}
	return 0;
}

/* Blobs shorter and longer than their slot (16 bytes) come whole, NUL bytes and all. */
TEST_BOTH(batch, stream_delivers_long_blobs_whole)
{
	fixture f;
	static unsigned char data[3000];

	setup(&f, backend, 0, 4);
	test_exec(f.s, backend == ZTOQ_DB_SQLITE ? "CREATE TABLE bl (id BIGINT, data BLOB)"
						 : "CREATE TABLE bl (id BIGINT, data BYTEA)");
	for (size_t k = 0; k < NBLOBS; k++) {
		ztoq_value v[2] = {ZTOQ_INT64((int64_t)k + 1), ZTOQ_BLOB(data, blob_lengths[k])};

		for (size_t i = 0; i < blob_lengths[k]; i++)
			data[i] = blob_byte((int64_t)k + 1, i);
		test_ok(ztoq_session_exec(f.s, "INSERT INTO bl VALUES (?, ?)", v, 2, NULL));
	}
	f.opts.text_width = 16;
	test_ok(ztoq_batch_stream(&f.stats, f.s, "SELECT id, data FROM bl ORDER BY id", NULL, 0,
				  check_blobs, &f.w, &f.opts));
	cr_assert_eq(f.w.nids, NBLOBS);
	cr_assert_eq(f.stats.batches, 3, "11 rows by 4");
	teardown(&f);
}

TEST_BOTH(batch, stream_early_stop_ends_cleanly)
{
	fixture f;

	setup(&f, backend, 50, 10);
	f.w.stop_after = 2;
	test_ok(stream(&f, "SELECT id FROM t ORDER BY id"));
	cr_assert_eq(f.w.nbatches, 2);
	assert_ids_in_order(&f.w, 20);
	cr_assert_eq(f.stats.stopped, 1);
	cr_assert_eq(f.stats.rows, 20);
	cr_assert_eq(ztoq_tx_depth(f.s), 0);
	/* the statement is closed: the table can be changed, even dropped, at once */
	test_exec(f.s, "UPDATE t SET name = 'x' WHERE id = 1");
	test_exec(f.s, "DROP TABLE t");
	teardown(&f);
}

Test(batch, stream_early_stop_in_a_transaction_closes_the_cursor)
{
	fixture f;

	setup(&f, ZTOQ_DB_POSTGRESQL, 50, 10);
	f.w.stop_after = 1;
	test_ok(ztoq_tx_begin(f.s, NULL));
	test_ok(stream(&f, "SELECT id FROM t ORDER BY id"));
	/* pg_cursors lists the query reading it too, as an unnamed portal */
	cr_assert_eq(test_scalar(f.s, "SELECT count(*) FROM pg_cursors WHERE name <> ''"), 0);
	cr_assert_eq(ztoq_tx_depth(f.s), 1);
	/* the same stream again in the same transaction: the cursor's name is free */
	f.w.nbatches = 0;
	test_ok(stream(&f, "SELECT id FROM t ORDER BY id"));
	test_ok(ztoq_tx_commit(f.s));
	teardown(&f);
}

/* Streams the table again from inside the first stream's process callback. */
static int nested(const ztoq_batch *b, void *payload)
{
	seen *w = payload, inner = {0};
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;

	(void)b;
	opts.batch_size = 3;
	test_ok(ztoq_batch_stream(NULL, w->session, "SELECT id FROM t ORDER BY id", NULL, 0,
				  collect, &inner, &opts));
	cr_assert_eq(inner.nids, 8);
	w->nbatches++;
	return 0;
}

TEST_BOTH(batch, streams_nest)
{
	ztoq_db *db;
	ztoq_session *s = with_rows(&db, backend, 8);
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	seen w = {0};

	w.session = s;
	opts.batch_size = 4;
	test_ok(ztoq_batch_stream(NULL, s, "SELECT id FROM t ORDER BY id", NULL, 0, nested, &w,
				  &opts));
	cr_assert_eq(w.nbatches, 2);
	test_close(db, s);
}

TEST_BOTH(batch, stream_error_from_process_is_returned_and_session_recovers)
{
	fixture f;

	setup(&f, backend, 30, 10);
	f.w.fail_with = ZTOQ_ENOTFOUND;
	ztoq_error_clear();
	cr_assert_eq(stream(&f, "SELECT id FROM t ORDER BY id"), ZTOQ_ENOTFOUND);
	cr_assert(strstr(ztoq_error_last()->message, "process callback"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(f.w.nbatches, 1);
	cr_assert_eq(ztoq_tx_depth(f.s), 0);
	cr_assert_eq(test_scalar(f.s, "SELECT count(*) FROM t"), 30);
	teardown(&f);
}

TEST_BOTH(batch, stream_sql_error_is_classified)
{
	fixture f;

	setup(&f, backend, 3, 0);
	cr_assert_lt(stream(&f, "SELECT nope FROM t"), 0);
	cr_assert(strstr(ztoq_error_last()->message, "nope"), "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_tx_depth(f.s), 0);
	cr_assert_eq(test_scalar(f.s, "SELECT count(*) FROM t"), 3);
	cr_assert_eq(stream(&f, "INSERT INTO t VALUES (100, 'x', 1)"),
		     backend == ZTOQ_DB_SQLITE ? ZTOQ_EINVALID : ZTOQ_ERROR);
	teardown(&f);
}

/* Checks (id, score or NULL) rows: the score of id 3i + 1 is i / 2, NULL for even ids. */
static int check_fixed_width(const ztoq_batch *b, void *payload)
{
	seen *w = payload;

	cr_assert_eq(ztoq_batch_index(b), w->nbatches);
	w->sizes[w->nbatches++] = ztoq_batch_rows(b);
	for (size_t r = 0; r < ztoq_batch_rows(b); r++) {
		int64_t id;
		double score;
		int is_null;

		test_ok(ztoq_batch_get_int64(b, r, 0, &id, NULL));
		test_ok(ztoq_batch_get_double(b, r, 1, &score, &is_null));
		cr_assert_eq(id, (int64_t)(3 * w->nids + 1), "row %zu: id %lld", w->nids, (long long)id);
		cr_assert_eq(is_null, id % 2 == 0, "id %lld", (long long)id);
		cr_assert_float_eq(score, is_null ? 0 : (double)w->nids / 2, 1e-12);
		w->nids++;
	}
	return 0;
}

/* No text or blob column: a block per fetch on both backends (values, NULLs, sizes). */
TEST_BOTH(batch, fixed_width_results_in_blocks)
{
	fixture f;
	const char *score = "CASE WHEN id % 2 = 0 THEN NULL ELSE score END";
	char sql[256];

	setup(&f, backend, 25, 7);
	snprintf(sql, sizeof(sql), "SELECT id, %s FROM t ORDER BY id", score);
	test_ok(ztoq_batch_stream(NULL, f.s, sql, NULL, 0, check_fixed_width, &f.w, &f.opts));
	cr_assert_eq(f.w.nids, 25);
	cr_assert_eq(f.w.nbatches, 4);
	cr_assert_eq(f.w.sizes[3], 4);
	memset(&f.w, 0, sizeof(f.w));
	snprintf(sql, sizeof(sql), "SELECT id, %s FROM t WHERE id > ? ORDER BY id LIMIT ?", score);
	test_ok(ztoq_batch_keyset(NULL, f.s, sql, 0, &ZTOQ_INT64(0), check_fixed_width, &f.w,
				  &f.opts));
	cr_assert_eq(f.w.nids, 25);
	cr_assert_eq(f.w.nbatches, 4);
	/* the statement goes back to the cache fit for row-at-a-time reading */
	cr_assert_eq(test_scalar(f.s, "SELECT count(*) FROM t WHERE id % 2 = 0"), 12);
	teardown(&f);
}

TEST_BOTH(batch, stream_many_rows_sums_right)
{
	ztoq_db *db;
	ztoq_session *s = test_empty_session(&db, backend);
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	seen w = {0};

	test_exec(s, "CREATE TABLE n (id BIGINT)");
	test_exec(s, backend == ZTOQ_DB_SQLITE
			     ? "INSERT INTO n SELECT value FROM (WITH RECURSIVE c(value) AS (SELECT 1 "
			       "UNION ALL SELECT value + 1 FROM c WHERE value < 3000) SELECT value FROM c)"
			     : "INSERT INTO n SELECT generate_series(1, 3000)");
	opts.batch_size = 1000;
	test_ok(ztoq_batch_stream(NULL, s, "SELECT id FROM n ORDER BY id", NULL, 0, collect, &w,
				  &opts));
	cr_assert_eq(w.nbatches, 3);
	cr_assert_eq(w.nids, 3000);
	for (size_t i = 0; i < 3000; i++)
		cr_assert_eq(w.ids[i], (int64_t)i + 1);
	test_close(db, s);
}

/* ---- keyset paging ------------------------------------------------------------------ */

#define BY_ID "SELECT id, name FROM t WHERE id > ? ORDER BY id LIMIT ?"
#define BY_NAME "SELECT id, name FROM t WHERE name > ? ORDER BY name LIMIT ?"

TEST_BOTH(batch, keyset_by_integer_key)
{
	fixture f;

	setup(&f, backend, 25, 10);
	test_ok(keyset(&f, BY_ID, 0, ZTOQ_INT64(0)));
	assert_10_10_5(&f.w);
	memset(&f.w, 0, sizeof(f.w));
	test_ok(keyset(&f, BY_ID, 0, ZTOQ_INT64(31))); /* resumes after id 31, the 11th row */
	cr_assert_eq(f.w.nids, 14);
	cr_assert_eq(f.w.ids[0], 34);
	teardown(&f);
}

TEST_BOTH(batch, keyset_by_text_key_with_early_stop)
{
	fixture f;

	setup(&f, backend, 25, 4);
	f.opts.text_width = 4; /* keys longer than the in-line width */
	test_ok(keyset(&f, BY_NAME, 1, ZTOQ_TEXT("")));
	cr_assert_eq(f.w.nids, 25);
	cr_assert_eq(f.w.nbatches, 7);
	/* name order: name-1, name-10, name-13, ... every id exactly once */
	for (int id = 1; id <= 73; id += 3) {
		int found = 0;
		for (size_t i = 0; i < f.w.nids; i++)
			found += f.w.ids[i] == id;
		cr_assert_eq(found, 1, "id %d seen %d times", id, found);
	}
	memset(&f.w, 0, sizeof(f.w));
	f.w.stop_after = 2;
	test_ok(keyset(&f, BY_NAME, 1, ZTOQ_TEXT("")));
	cr_assert_eq(f.stats.stopped, 1);
	cr_assert_eq(f.w.nids, 8);
	teardown(&f);
}

TEST_BOTH(batch, keyset_refuses_a_null_key_and_a_missing_column)
{
	fixture f;

	setup(&f, backend, 5, 2);
	cr_assert_eq(keyset(&f, "SELECT id, NULL FROM t WHERE id > ? ORDER BY id LIMIT ?", 1,
			    ZTOQ_INT64(0)),
		     ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "NULL"), "%s", ztoq_error_last()->message);
	cr_assert_eq(keyset(&f, "SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?", 3,
			    ZTOQ_INT64(0)),
		     ZTOQ_EINVALID);
	teardown(&f);
}

/* ---- getters and options -------------------------------------------------------------- */

static int check_getters(const ztoq_batch *b, void *payload)
{
	const char *text;
	int64_t i;
	double d;
	ztoq_value v;

	(void)payload;
	cr_assert_eq(ztoq_batch_column_count(b), 3);
	cr_assert_str_eq(ztoq_batch_column_name(b, 1), "name");
	cr_assert_null(ztoq_batch_column_name(b, 3));
	test_ok(ztoq_batch_get_double(b, 0, 0, &d, NULL)); /* int64 -> double */
	cr_assert_float_eq(d, 1.0, 1e-12);
	test_ok(ztoq_batch_get_int64(b, 1, 2, &i, NULL)); /* double -> int64 */
	cr_assert_eq(i, 0);
	cr_assert_eq(ztoq_batch_get_int64(b, 0, 1, &i, NULL), ZTOQ_EINVALID); /* "name-1" */
	cr_assert_eq(ztoq_batch_get_text(b, 0, 0, &text, NULL, NULL), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_batch_get_value(b, ztoq_batch_rows(b), 0, &v), ZTOQ_EINVALID);
	cr_assert_eq(ztoq_batch_get_value(b, 0, 3, &v), ZTOQ_EINVALID);
	return ZTOQ_BATCH_STOP;
}

TEST_BOTH(batch, getters_convert_and_check_ranges)
{
	ztoq_db *db;
	ztoq_session *s = with_rows(&db, backend, 3);

	test_ok(ztoq_batch_stream(NULL, s, "SELECT id, name, score FROM t ORDER BY id", NULL, 0,
				  check_getters, NULL, NULL));
	test_close(db, s);
}

Test(batch, bad_options_and_arguments)
{
	ztoq_db *db;
	ztoq_session *s = with_rows(&db, ZTOQ_DB_SQLITE, 3);
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	seen w = {0};

	opts.version = 99;
	cr_assert_eq(ztoq_batch_stream(NULL, s, "SELECT id FROM t", NULL, 0, collect, &w, &opts),
		     ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "ZTOQ_BATCH_OPTIONS_INIT"));
	cr_assert_eq(ztoq_batch_stream(NULL, s, "SELECT id FROM t", NULL, 0, NULL, &w, NULL),
		     ZTOQ_EINVALID);
	cr_assert_eq(ztoq_batch_stream(NULL, NULL, "SELECT id FROM t", NULL, 0, collect, &w, NULL),
		     ZTOQ_EINVALID);
	cr_assert_eq(ztoq_batch_stream(NULL, s, "SELECT id FROM t", NULL, 1, collect, &w, NULL),
		     ZTOQ_EINVALID);
	cr_assert_eq(ztoq_batch_keyset(NULL, s, "SELECT id FROM t", 0, NULL, collect, &w, NULL),
		     ZTOQ_EINVALID);
	cr_assert_eq(w.nbatches, 0);
	test_close(db, s);
}

/*
 * Issue 8: the SQLite driver dropped the rows of INSERT ... RETURNING (it runs any
 * statement that does not start with SELECT, WITH, PRAGMA or EXPLAIN as one without
 * a result). PostgreSQL cannot DECLARE a cursor for a write, so this is SQLite's.
 */
Test(batch, stream_delivers_returning_rows_once, .timeout = 60)
{
	fixture f;

	setup(&f, ZTOQ_DB_SQLITE, 5, 4);
	test_ok(stream(&f, "INSERT INTO t (id) VALUES (1000), (1001) RETURNING id"));
	f.w.nbatches = 0; /* a new stream counts its batches from 0 */
	test_ok(stream(&f, "WITH c(x) AS (SELECT 2000) INSERT INTO t (id) SELECT x FROM c "
			   "RETURNING id"));
	cr_assert_eq(f.w.nids, 3);
	cr_assert_eq(f.w.ids[0], 1000);
	cr_assert_eq(f.w.ids[2], 2000);
	cr_assert_eq(test_scalar(f.s, "SELECT COUNT(*) FROM t"), 8);
	teardown(&f);
}

/* Closes the stream's cursor behind its back, then fails with an error of its own. */
static int close_cursor_then_fail(const ztoq_batch *b, void *payload)
{
	int64_t v;

	test_exec(payload, "CLOSE ztoq_stream_1");
	return ztoq_batch_get_int64(b, 0, 99, &v, NULL);
}

/*
 * Issue 8: the CLOSE of a stream's cursor after a failed callback must not replace
 * the callback's error (PostgreSQL: streams use a server cursor there).
 */
Test(batch, stream_close_after_a_failure_keeps_its_error, .timeout = 60)
{
	fixture f;
	int rc;

	setup(&f, ZTOQ_DB_POSTGRESQL, 10, 4);
	rc = ztoq_batch_stream(&f.stats, f.s, "SELECT id FROM t ORDER BY id", NULL, 0,
			       close_cursor_then_fail, f.s, &f.opts);
	cr_assert_eq(rc, ZTOQ_EINVALID, "%s: %s", ztoq_error_name(rc), ztoq_error_last()->message);
	cr_assert_eq(ztoq_error_last()->code, ZTOQ_EINVALID, "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "99"), "%s", ztoq_error_last()->message);
	cr_assert_eq(ztoq_tx_depth(f.s), 0);
	teardown(&f);
}
