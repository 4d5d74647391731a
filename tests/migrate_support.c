/*
 * migrate_support.c - fresh databases, and the schema read back through the ODBC
 * catalog functions (see migrate_support.h).
 *
 * The library has no catalog API: the session's ODBC connection handle is reached
 * through the library's internal session header.
 */
#include "migrate_support.h"

#include <criterion/criterion.h>
#include <sql.h>
#include <sqlext.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "support.h"

#define MAX_ITEMS 64
#define ITEM_SIZE 256

ztoq_db *fresh_db(ztoq_db_type backend)
{
	if (backend == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	return test_open(backend);
}

ztoq_db *db_at_head(ztoq_db_type backend)
{
	ztoq_db *db = fresh_db(backend);

	test_ok(ztoq_migrate_init(db, NULL));
	return db;
}

/* One catalog result, every value read as text ("" for NULL). */
struct result {
	SQLHSTMT h;
	char value[20][ITEM_SIZE];
};

/* Formats into an ITEM_SIZE buffer, at offset strlen(dst) when `append`; fails the test
 * rather than truncate. */
static void format_item(char *dst, int append, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void format_item(char *dst, int append, const char *fmt, ...)
{
	size_t used = append ? strlen(dst) : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst + used, ITEM_SIZE - used, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < ITEM_SIZE - used, "catalog item too long: %s", dst);
}

static void check(SQLRETURN rc, SQLHSTMT h, const char *what)
{
	SQLCHAR state[6] = "", msg[512] = "";
	SQLINTEGER native;
	SQLSMALLINT len;

	if (SQL_SUCCEEDED(rc))
		return;
	SQLGetDiagRec(SQL_HANDLE_STMT, h, 1, state, &native, msg, sizeof(msg), &len);
	cr_assert_fail("%s: [%s] %s", what, state, msg);
}

static SQLHSTMT open_stmt(ztoq_session *s)
{
	SQLHSTMT h;

	cr_assert(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, s->conn->dbc, &h)));
	return h;
}

/* Fetches the next row, reading columns 1..n; 0 at the end. */
static int next_row(struct result *r, int n)
{
	SQLRETURN rc = SQLFetch(r->h);

	if (rc == SQL_NO_DATA)
		return 0;
	check(rc, r->h, "SQLFetch");
	for (int i = 1; i <= n; i++) {
		SQLLEN ind;

		if (!SQL_SUCCEEDED(SQLGetData(r->h, (SQLUSMALLINT)i, SQL_C_CHAR, r->value[i],
					      ITEM_SIZE, &ind)) ||
		    ind == SQL_NULL_DATA)
			r->value[i][0] = '\0';
	}
	return 1;
}

static void close_stmt(struct result *r)
{
	SQLFreeHandle(SQL_HANDLE_STMT, r->h);
}

static int cmp_items(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Joins items with "; ", sorted unless `keep_order`. */
static char *join(char items[][ITEM_SIZE], size_t n, int keep_order)
{
	char *sorted[MAX_ITEMS], *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < n; i++)
		sorted[i] = items[i];
	if (!keep_order)
		qsort(sorted, n, sizeof(sorted[0]), cmp_items);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "; " : "", sorted[i]);
	fclose(f);
	return out;
}

void catalog_sort(char *list)
{
	char items[MAX_ITEMS][ITEM_SIZE];
	size_t n = 0;
	char *copy = strdup(list), *p = copy, *sorted;

	while (p && *p) {
		char *end = strstr(p, "; ");

		if (end)
			*end = '\0';
		cr_assert_lt(n, MAX_ITEMS);
		format_item(items[n++], 0, "%s", p);
		p = end ? end + 2 : NULL;
	}
	sorted = join(items, n, 0);
	strcpy(list, sorted);
	free(sorted);
	free(copy);
}

static int is_pg(ztoq_session *s)
{
	return ztoq_db_backend(ztoq_session_db(s)) == ZTOQ_DB_POSTGRESQL;
}

char *catalog_tables(ztoq_session *s)
{
	char items[MAX_ITEMS][ITEM_SIZE];
	struct result r = {.h = open_stmt(s)};
	size_t n = 0;

	check(SQLTables(r.h, NULL, 0, NULL, 0, (SQLCHAR *)"%", SQL_NTS, (SQLCHAR *)"TABLE",
			SQL_NTS),
	      r.h, "SQLTables");
	while (next_row(&r, 3)) {
		cr_assert_lt(n, MAX_ITEMS);
		format_item(items[n++], 0, "%s", r.value[3]);
	}
	close_stmt(&r);
	return join(items, n, 0);
}

int catalog_has_table(ztoq_session *s, const char *table)
{
	char *tables = catalog_tables(s), *p = tables;
	size_t len = strlen(table);
	int found = 0;

	while (!found && (p = strstr(p, table)) != NULL) {
		found = (p == tables || p[-1] == ' ') && (p[len] == ';' || p[len] == '\0');
		p += len;
	}
	free(tables);
	return found;
}

/* The primary key's columns in key order, and the name of its index (PostgreSQL). */
static size_t primary_key(ztoq_session *s, const char *table, char cols[][ITEM_SIZE],
			  char *pk_name)
{
	struct result r = {.h = open_stmt(s)};
	size_t n = 0;

	pk_name[0] = '\0';
	check(SQLPrimaryKeys(r.h, NULL, 0, NULL, 0, (SQLCHAR *)table, SQL_NTS), r.h,
	      "SQLPrimaryKeys");
	while (next_row(&r, 6)) {
		int seq = atoi(r.value[5]);

		if (strcmp(r.value[3], table) != 0)
			continue;
		cr_assert(seq >= 1 && seq <= MAX_ITEMS, "KEY_SEQ %d", seq);
		format_item(cols[seq - 1], 0, "%s", r.value[4]);
		format_item(pk_name, 0, "%s", r.value[6]);
		n = (size_t)seq > n ? (size_t)seq : n;
	}
	close_stmt(&r);
	return n;
}

char *catalog_primary_key(ztoq_session *s, const char *table)
{
	char cols[MAX_ITEMS][ITEM_SIZE], pk_name[ITEM_SIZE], *out = NULL;
	size_t n = primary_key(s, table, cols, pk_name), len;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", cols[i]);
	fclose(f);
	return out;
}

/* Maps a driver's type name onto the canonical names of catalog.h. */
static void canonical_type(char *out, const char *type_name, long size, int pg)
{
	static const char *const pg_names[][2] = {
		{"varchar", "VARCHAR"}, {"text", "TEXT"},   {"int4", "INTEGER"},
		{"int8", "BIGINT"},     {"float8", "FLOAT"}, {"bool", "BOOLEAN"},
		{"timestamp", "DATETIME"}, {"bytea", "BLOB"}, {"json", "JSON"},
		{"entitytype", "ENTITYTYPE"},
	};
	char base[ITEM_SIZE];

	/* SQLite reports the declared type, "VARCHAR(50)"; PostgreSQL its own names. */
	format_item(base, 0, "%.*s", (int)strcspn(type_name, "("), type_name);
	if (pg) {
		format_item(out, 0, "?%s", base);
		for (size_t i = 0; i < sizeof(pg_names) / sizeof(pg_names[0]); i++)
			if (strcmp(base, pg_names[i][0]) == 0)
				format_item(out, 0, "%s", pg_names[i][1]);
	} else {
		for (char *p = base; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		format_item(out, 0, "%s", base);
	}
	if (strcmp(out, "VARCHAR") == 0)
		format_item(out, 0, "VARCHAR(%ld)", size);
}

/* " DEFAULT=x": a quoted literal's text, "now" for CURRENT_TIMESTAMP; "" for none. */
static void canonical_default(char *out, const char *def)
{
	const char *q = strchr(def, '\'');

	if (!*def || strcmp(def, "NULL") == 0 || strncmp(def, "nextval(", 8) == 0)
		out[0] = '\0';
	else if (strstr(def, "CURRENT_TIMESTAMP"))
		format_item(out, 0, " DEFAULT=now");
	else if (q)
		format_item(out, 0, " DEFAULT=%.*s", (int)strcspn(q + 1, "'"), q + 1);
	else
		format_item(out, 0, " DEFAULT=%s", def);
}

char *catalog_columns(ztoq_session *s, const char *table)
{
	char items[MAX_ITEMS][ITEM_SIZE], pk[MAX_ITEMS][ITEM_SIZE], pk_name[ITEM_SIZE];
	size_t npk = primary_key(s, table, pk, pk_name), n = 0;
	struct result r = {.h = open_stmt(s)};
	int pg = is_pg(s);

	check(SQLColumns(r.h, NULL, 0, NULL, 0, (SQLCHAR *)table, SQL_NTS, NULL, 0), r.h,
	      "SQLColumns");
	while (next_row(&r, 17)) {
		char type[ITEM_SIZE], def[ITEM_SIZE];
		int pos = atoi(r.value[17]);
		int autoinc;

		if (strcmp(r.value[3], table) != 0)
			continue;
		cr_assert(pos >= 1 && pos <= MAX_ITEMS, "ORDINAL_POSITION %d", pos);
		canonical_type(type, r.value[6], atol(r.value[7]), pg);
		canonical_default(def, r.value[13]);
		autoinc = pg ? strncmp(r.value[13], "nextval(", 8) == 0
			     : strcmp(type, "INTEGER") == 0 && npk == 1 &&
				       strcmp(pk[0], r.value[4]) == 0;
		format_item(items[pos - 1], 0, "%s %s%s%s%s", r.value[4], type,
			 atoi(r.value[11]) == SQL_NO_NULLS ? " NN" : "", autoinc ? " AUTO" : "", def);
		n = (size_t)pos > n ? (size_t)pos : n;
	}
	close_stmt(&r);
	return join(items, n, 1);
}

char *catalog_indexes(ztoq_session *s, const char *table)
{
	char names[MAX_ITEMS][ITEM_SIZE], cols[MAX_ITEMS][MAX_ITEMS][ITEM_SIZE];
	char items[MAX_ITEMS][ITEM_SIZE], pk[MAX_ITEMS][ITEM_SIZE], pk_name[ITEM_SIZE];
	size_t ncols[MAX_ITEMS] = {0}, n = 0, nitems = 0;
	size_t npk = primary_key(s, table, pk, pk_name);
	int unique[MAX_ITEMS];
	struct result r = {.h = open_stmt(s)};

	check(SQLStatistics(r.h, NULL, 0, NULL, 0, (SQLCHAR *)table, SQL_NTS, SQL_INDEX_ALL,
			    SQL_QUICK),
	      r.h, "SQLStatistics");
	while (next_row(&r, 9)) {
		size_t i = 0;
		int pos = atoi(r.value[8]);

		if (atoi(r.value[7]) == SQL_TABLE_STAT || strcmp(r.value[3], table) != 0)
			continue;
		while (i < n && strcmp(names[i], r.value[6]) != 0)
			i++;
		if (i == n) {
			cr_assert_lt(n, MAX_ITEMS);
			format_item(names[n], 0, "%s", r.value[6]);
			unique[n++] = atoi(r.value[4]) == 0;
		}
		cr_assert(pos >= 1 && pos <= MAX_ITEMS, "ORDINAL_POSITION %d", pos);
		format_item(cols[i][pos - 1], 0, "%s", r.value[9]);
		ncols[i] = (size_t)pos > ncols[i] ? (size_t)pos : ncols[i];
	}
	close_stmt(&r);
	for (size_t i = 0; i < n; i++) {
		int self_named = strncmp(names[i], "sqlite_autoindex", 16) == 0;
		int is_pk = unique[i] && ncols[i] == npk &&
			    (self_named || strcmp(names[i], pk_name) == 0);
		char list[ITEM_SIZE] = "";

		for (size_t c = 0; is_pk && c < npk; c++)
			is_pk = strcmp(cols[i][c], pk[c]) == 0;
		if (is_pk)
			continue;
		for (size_t c = 0; c < ncols[i]; c++)
			format_item(list, 1, "%s%s", c ? "," : "", cols[i][c]);
		format_item(items[nitems++], 0, "%s%s(%s)", unique[i] ? "UNIQUE " : "",
			 self_named ? "?" : names[i], list);
	}
	return join(items, nitems, 0);
}

char *catalog_foreign_keys(ztoq_session *s, const char *table)
{
	static const char *const rules[] = {"CASCADE", "RESTRICT", "SET NULL", "NO ACTION",
					    "SET DEFAULT"};
	char items[MAX_ITEMS][ITEM_SIZE];
	struct result r = {.h = open_stmt(s)};
	size_t n = 0;

	check(SQLForeignKeys(r.h, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, (SQLCHAR *)table,
			     SQL_NTS),
	      r.h, "SQLForeignKeys");
	while (next_row(&r, 11)) {
		int rule = atoi(r.value[11]);

		if (strcmp(r.value[7], table) != 0)
			continue;
		cr_assert_lt(n, MAX_ITEMS);
		format_item(items[n++], 0, "%s>%s.%s %s", r.value[8], r.value[3], r.value[4],
			 rule >= 0 && rule <= 4 ? rules[rule] : "?");
	}
	close_stmt(&r);
	return join(items, n, 0);
}
