/*
 * copy_rates.c - the library's own read and write rates on the data of bench/copy.sh,
 * which prints `ztoq db copy`'s rate against the slower of the two (issue 12's 0.8x).
 *
 * usage: copy_rates read SQLITE_FILE   streams every row of the source's tables with
 *                                      ztoq_batch_stream (each value read, nothing
 *                                      written), as the copy reads them: 5,000 a batch
 *        copy_rates write ROWS         writes the same rows, generated a chunk at a
 *                                      time, with the bulk writer
 *                                      (ztoq_bulk_insert_stream) into an empty ZTOQ
 *                                      schema made here in the fixture's PostgreSQL,
 *                                      each column with the target's own type as the
 *                                      copy does; nothing is read
 * Prints "rows N seconds S" (the timed work only). Runs inside
 * tests/fixture/with-env.sh (ZTOQ_TEST_PG_*). Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* The tables bench/copy.sh fills, parents first. */
static const char *const tables[] = {"projects", "custom_field_definitions", "test_cases",
				     "test_steps", "custom_field_values"};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))
#define CHUNK 5000
#define MAX_COLS 32

#define CHECK(call)                                                                   \
	do {                                                                          \
		if ((call) < 0)                                                       \
			bench_die("%s: %s", #call, ztoq_error_last()->message);       \
	} while (0)

static void set(ztoq_config *cfg, const char *key, const char *env)
{
	const char *v = getenv(env);

	if (!v || ztoq_config_set(cfg, key, v) < 0)
		bench_die("%s is not set, or config %s refused it", env, key);
}

/* ---- read ------------------------------------------------------------------------ */

static int read_batch(const ztoq_batch *b, void *payload)
{
	size_t n = ztoq_batch_rows(b);
	unsigned ncols = ztoq_batch_column_count(b);
	ztoq_value v;

	for (size_t r = 0; r < n; r++)
		for (unsigned c = 0; c < ncols; c++)
			if (ztoq_batch_get_value(b, r, c, &v) < 0)
				return -1;
	*(double *)payload += (double)n;
	return 0;
}

static void read_rate(const char *path)
{
	ztoq_batch_options bo = ZTOQ_BATCH_OPTIONS_INIT;
	ztoq_config *cfg;
	ztoq_session *s;
	ztoq_db *db;
	double rows = 0, t0;
	char sql[128];

	CHECK(ztoq_config_new(&cfg));
	CHECK(ztoq_config_set(cfg, "db_type", "sqlite"));
	CHECK(ztoq_config_set(cfg, "db_path", path));
	CHECK(ztoq_db_open(&db, cfg));
	CHECK(ztoq_session_open(&s, db));
	bo.batch_size = CHUNK;
	bo.text_width = 256;
	t0 = bench_now();
	for (size_t i = 0; i < NTABLES; i++) {
		snprintf(sql, sizeof(sql), "SELECT * FROM %s", tables[i]);
		CHECK(ztoq_batch_stream(NULL, s, sql, NULL, 0, read_batch, &rows, &bo));
	}
	printf("rows %.0f seconds %.3f\n", rows, bench_now() - t0);
	ztoq_session_close(s);
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

/* ---- write ----------------------------------------------------------------------- */

/* One table's columns (the target catalog's names and types) and its generated rows. */
typedef struct {
	const char *table;
	char names[MAX_COLS][64], types_text[MAX_COLS][64];
	const char *name_ptrs[MAX_COLS], *sql_types[MAX_COLS];
	ztoq_type types[MAX_COLS];
	size_t ncols;
	long next, total;
	char *text; /* CHUNK * ncols slots of 64 bytes: the chunk's text values */
	double written;
} gen;

static int add_column(ztoq_stmt *row, void *payload)
{
	gen *g = payload;
	const char *name, *type;

	if (g->ncols == MAX_COLS || ztoq_stmt_get_text(row, 0, &name, NULL, NULL) < 0 ||
	    ztoq_stmt_get_text(row, 1, &type, NULL, NULL) < 0)
		return -1;
	snprintf(g->names[g->ncols], 64, "%s", name);
	snprintf(g->types_text[g->ncols], 64, "%s", type);
	g->name_ptrs[g->ncols] = g->names[g->ncols];
	g->sql_types[g->ncols] = g->types_text[g->ncols];
	/* what the copy writes: integers and booleans as int64, doubles as doubles, the
	 * rest (timestamps too) as text */
	g->types[g->ncols] = strstr(type, "int") || strstr(type, "bool") ? ZTOQ_TYPE_INT64
			     : strstr(type, "double") ? ZTOQ_TYPE_DOUBLE
			     : strstr(type, "bytea") ? ZTOQ_TYPE_BLOB
						     : ZTOQ_TYPE_TEXT;
	g->ncols++;
	return 0;
}

/* bench/copy.sh's generator: text columns as a format of the row's number (`mod`: of
 * that number modulo mod), the other values below; columns it leaves out are NULL. */
static const struct {
	const char *table, *column, *format;
	long mod;
} texts[] = {
	{"projects", "id", "P1", 0},
	{"projects", "key", "PK", 0},
	{"projects", "name", "bench", 0},
	{"custom_field_definitions", "id", "CF", 0},
	{"custom_field_definitions", "name", "n", 0},
	{"custom_field_definitions", "type", "NUMBER", 0},
	{"custom_field_definitions", "project_key", "PK", 0},
	{"test_cases", "id", "TC%ld", 0},
	{"test_cases", "key", "PK-%ld", 0},
	{"test_cases", "name", "case %ld", 0},
	{"test_cases", "project_key", "PK", 0},
	{"test_cases", "created_on", "2024-01-02 03:04:05.123456", 0},
	{"test_steps", "id", "S%ld", 0},
	{"test_steps", "description", "step %ld: open the page and check the title", 0},
	{"test_steps", "expected_result", "the title reads %ld", 0},
	{"test_steps", "test_case_id", "TC%ld", 1000},
	{"custom_field_values", "id", "V%ld", 0},
	{"custom_field_values", "field_id", "CF", 0},
	{"custom_field_values", "entity_type", "TEST_CASE", 0},
	{"custom_field_values", "entity_id", "E%ld", 0},
};

/* Value of column `c` of row `i` of g->table; text goes to `buf` (64 bytes). */
static ztoq_value value(const gen *g, size_t c, long i, char *buf)
{
	const char *col = g->names[c];

	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		if (strcmp(texts[k].table, g->table) || strcmp(texts[k].column, col))
			continue;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
		return (ztoq_value)ZTOQ_TEXTN(buf, (size_t)snprintf(buf, 64, texts[k].format,
								     texts[k].mod ? i % texts[k].mod : i));
#pragma GCC diagnostic pop
	}
	if (!strcmp(g->table, "test_steps") && !strcmp(col, "index"))
		return ZTOQ_INT64(i % 10);
	if (!strcmp(g->table, "custom_field_values") && !strcmp(col, "value_numeric"))
		return ZTOQ_DOUBLE((double)i / 7.0 + 0.1);
	if (!strcmp(g->table, "custom_field_values") && !strcmp(col, "value_boolean"))
		return ZTOQ_INT64(i % 2);
	return ZTOQ_NULL_VALUE;
}

/* The bulk source: the next chunk of generated rows. */
static int next_chunk(ztoq_value *rows, size_t max_rows, size_t *nrows, void *payload)
{
	gen *g = payload;
	size_t n = 0;

	for (; n < max_rows && g->next < g->total; n++, g->next++)
		for (size_t c = 0; c < g->ncols; c++)
			rows[n * g->ncols + c] = value(g, c, g->next,
							&g->text[(n * g->ncols + c) * 64]);
	*nrows = n;
	g->written += (double)n;
	return 0;
}

static void write_rate(long nrows)
{
	static const char *const columns_sql =
		"SELECT CAST(a.attname AS text), format_type(a.atttypid, NULL) "
		"FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
		"WHERE c.relname = ? AND c.relkind = 'r' "
		"AND c.relnamespace = CAST(current_schema() AS regnamespace) "
		"AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
	const long counts[NTABLES] = {1, 1, 1000, nrows, nrows / 10};
	ztoq_migrate_options mo = ZTOQ_MIGRATE_OPTIONS_INIT;
	ztoq_bulk_options opts = ZTOQ_BULK_OPTIONS_INIT;
	static gen g[NTABLES];
	ztoq_config *cfg;
	ztoq_session *s;
	ztoq_db *db;
	double rows = 0, t0;

	CHECK(ztoq_config_new(&cfg));
	CHECK(ztoq_config_set(cfg, "db_type", "postgresql"));
	set(cfg, "host", "ZTOQ_TEST_PG_HOST");
	set(cfg, "port", "ZTOQ_TEST_PG_PORT");
	set(cfg, "database", "ZTOQ_TEST_PG_DATABASE");
	set(cfg, "username", "ZTOQ_TEST_PG_USER");
	set(cfg, "password", "ZTOQ_TEST_PG_PASSWORD");
	CHECK(ztoq_db_open(&db, cfg));
	mo.drop_existing = 1;
	CHECK(ztoq_migrate_init(db, &mo));
	CHECK(ztoq_session_open(&s, db));
	for (size_t i = 0; i < NTABLES; i++) {
		ztoq_value name = ZTOQ_TEXT(tables[i]);

		g[i].table = tables[i];
		g[i].total = counts[i];
		CHECK(ztoq_session_query(s, columns_sql, &name, 1, add_column, &g[i]));
		if (!(g[i].text = malloc((size_t)CHUNK * g[i].ncols * 64)))
			bench_die("out of memory");
	}
	opts.rows_per_savepoint = CHUNK;
	t0 = bench_now();
	for (size_t i = 0; i < NTABLES; i++) {
		ztoq_bulk_table t = {g[i].table, g[i].name_ptrs, g[i].types, g[i].sql_types,
				     g[i].ncols};

		CHECK(ztoq_bulk_insert_stream(NULL, s, &t, next_chunk, &g[i],
					      ZTOQ_BULK_COMMIT_AT_END, &opts));
		rows += g[i].written;
	}
	printf("rows %.0f seconds %.3f\n", rows, bench_now() - t0);
	for (size_t i = 0; i < NTABLES; i++)
		free(g[i].text);
	ztoq_session_close(s);
	ztoq_db_close(db);
	ztoq_config_free(cfg);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "read"))
		read_rate(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "write"))
		write_rate(atol(argv[2]));
	else
		bench_die("usage: copy_rates read SQLITE_FILE | write ROWS");
	return 0;
}
