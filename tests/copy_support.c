/*
 * copy_support.c - see copy_support.h: the generated ZTOQ database, the value-by-value
 * comparison and the ztoq command runner that test_copy.c and test_copy_fault.c share.
 */
#include "copy_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Doubles that lose bits in the SQLite driver's 15 digits; the last two also in
 * SQLite's printf('%!.17g') (found among random doubles: its last digit is off). */
const double hard_doubles[] = {
	0.1 + 0.2, 1e-310, 9007199254740993.0 /* 2^53+1 as double */, 1.7976931348623157e308,
	4.9406564584124654e-324, 1.0 / 3.0, -123.456e-7, 2.2250738585072014e-308,
	-0x1.dbf291abb8ba3p+770, 0x1.c1973e2683ab0p+760,
};
const size_t nhard = sizeof(hard_doubles) / sizeof(hard_doubles[0]);

/* A blob with NUL bytes and every byte value. */
static unsigned char blob[600];

static void exec_params(ztoq_session *s, const char *sql, const ztoq_value *p, size_t n)
{
	int rc = ztoq_session_exec(s, sql, p, n, NULL);

	cr_assert_eq(rc, 0, "%s: %s", sql, ztoq_error_last()->message);
}

/*
 * Fills `db` (schema created here, at head) with a small ZTOQ database: `size`
 * projects, each with a folder tree, custom fields with values (the hard doubles,
 * booleans, dates), test cases with steps, attachments with binary content, entity
 * mappings (serial ids) and migration state.
 */
void generate(ztoq_db *db, int size)
{
	ztoq_session *s;
	char a[64], b[64], c[64], d[64], child[64], parent[64];

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)(i * 7 % 256);
	test_ok(ztoq_migrate_init(db, NULL));
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_tx_begin(s, NULL));
	for (int p = 0; p < size; p++) {
		snprintf(a, sizeof(a), "P%d", p);
		snprintf(b, sizeof(b), "PK%d", p);
		exec_params(s, "INSERT INTO projects (id, key, name, description) VALUES (?, ?, ?, ?)",
			    (ztoq_value[]){ZTOQ_TEXT(a), ZTOQ_TEXT(b), ZTOQ_TEXT("Projekt ä ✓"),
					   p ? ZTOQ_TEXT("line1\nline2 \"q\" 'a' \\") : ZTOQ_NULL_VALUE},
			    4);
		/* a folder stored four folders before its parent (moved under it later) */
		snprintf(child, sizeof(child), "F%d.child", p);
		snprintf(parent, sizeof(parent), "F%d.parent", p);
		for (int f = -1; f < 5; f++) {
			if (f == -1 || f == 4) {
				exec_params(s, "INSERT INTO folders (id, name, folder_type, project_key) "
					       "VALUES (?, 'moved', 'TEST_CASE', ?)",
					    (ztoq_value[]){ZTOQ_TEXT(f < 0 ? child : parent), ZTOQ_TEXT(b)}, 2);
				continue;
			}
			snprintf(c, sizeof(c), "F%d.%d", p, f);
			snprintf(d, sizeof(d), "F%d.%d", p, f - 1);
			exec_params(s, "INSERT INTO folders (id, name, folder_type, parent_id, project_key) "
				       "VALUES (?, ?, 'TEST_CASE', ?, ?)",
				    (ztoq_value[]){ZTOQ_TEXT(c), ZTOQ_TEXT(c),
						   f ? ZTOQ_TEXT(d) : ZTOQ_NULL_VALUE, ZTOQ_TEXT(b)},
				    4);
		}
		exec_params(s, "UPDATE folders SET parent_id = ? WHERE id = ?",
			    (ztoq_value[]){ZTOQ_TEXT(parent), ZTOQ_TEXT(child)}, 2);
		snprintf(c, sizeof(c), "CF%d", p);
		exec_params(s, "INSERT INTO custom_field_definitions (id, name, type, project_key) "
			       "VALUES (?, 'cf', 'NUMBER', ?)",
			    (ztoq_value[]){ZTOQ_TEXT(c), ZTOQ_TEXT(b)}, 2);
		for (size_t v = 0; v < nhard + 2; v++) {
			ztoq_timestamp ts = {2024, 2, 29, 23, 59, (uint16_t)v, (uint32_t)(v * 1000 + 123000)};

			snprintf(d, sizeof(d), "CV%d.%zu", p, v);
			exec_params(s, "INSERT INTO custom_field_values (id, field_id, entity_type, "
				       "entity_id, value_text, value_numeric, value_boolean, value_date) "
				       "VALUES (?, ?, 'TEST_CASE', ?, ?, ?, ?, ?)",
				    (ztoq_value[]){ZTOQ_TEXT(d), ZTOQ_TEXT(c), ZTOQ_TEXT(d),
						   ZTOQ_TEXT("t"),
						   v < nhard ? ZTOQ_DOUBLE(hard_doubles[v]) : ZTOQ_NULL_VALUE,
						   v == nhard ? ZTOQ_NULL_VALUE : ZTOQ_BOOL(v % 2),
						   v == nhard + 1 ? ZTOQ_NULL_VALUE : ZTOQ_TIMESTAMP(ts)},
				    7);
		}
		for (int t = 0; t < 3; t++) {
			snprintf(c, sizeof(c), "TC%d.%d", p, t);
			snprintf(d, sizeof(d), "%s-%d", b, t);
			exec_params(s, "INSERT INTO test_cases (id, key, name, project_key) "
				       "VALUES (?, ?, 'case', ?)",
				    (ztoq_value[]){ZTOQ_TEXT(c), ZTOQ_TEXT(d), ZTOQ_TEXT(b)}, 3);
			for (int st = 0; st < 3; st++) {
				snprintf(d, sizeof(d), "S%d.%d.%d", p, t, st);
				exec_params(s, "INSERT INTO test_steps (id, \"index\", description, "
					       "test_case_id) VALUES (?, ?, 'do it', ?)",
					    (ztoq_value[]){ZTOQ_TEXT(d), ZTOQ_INT64(st), ZTOQ_TEXT(c)}, 3);
			}
			snprintf(d, sizeof(d), "A%d.%d", p, t);
			exec_params(s, "INSERT INTO attachments (id, filename, content_type, size, "
				       "content, entity_type, entity_id) VALUES (?, 'f.bin', "
				       "'application/octet-stream', ?, ?, 'TEST_CASE', ?)",
				    (ztoq_value[]){ZTOQ_TEXT(d), ZTOQ_INT64(sizeof(blob)),
						   ZTOQ_BLOB(blob, sizeof(blob)), ZTOQ_TEXT(c)},
				    4);
			exec_params(s, "INSERT INTO entity_mappings (project_key, mapping_type, "
				       "source_id, target_id) VALUES (?, 'case', ?, ?)",
				    (ztoq_value[]){ZTOQ_TEXT(b), ZTOQ_TEXT(c), ZTOQ_TEXT(d)}, 3);
		}
		exec_params(s, "INSERT INTO migration_state (project_key, extraction_status) "
			       "VALUES (?, 'completed')",
			    (ztoq_value[]){ZTOQ_TEXT(b)}, 1);
		exec_params(s, "INSERT INTO recommendation_history (project_key, \"timestamp\", "
			       "recommendation_id, priority, category, issue, action, meta_data) "
			       "VALUES (?, '2024-05-06 07:08:09.500', 'R', 'high', 'c', 'i', 'a', ?)",
			    (ztoq_value[]){ZTOQ_TEXT(b),
					   ZTOQ_TEXT("{\"a\": [1, 2.50],  \"b\": \"\\u00e4 x\"}")},
			    2);
		exec_params(s, "INSERT INTO entity_batch_state (project_key, entity_type, "
			       "batch_number) VALUES (?, 'case', 1)",
			    (ztoq_value[]){ZTOQ_TEXT(b)}, 1);
		exec_params(s, "INSERT INTO migration_performance_stats (project_key, \"timestamp\", "
			       "phase, operation, duration_ms) VALUES (?, '2024-05-06 07:08:09', "
			       "'load', 'cases', 5)",
			    (ztoq_value[]){ZTOQ_TEXT(b)}, 1);
		exec_params(s, "INSERT INTO migration_checkpoints (project_key, checkpoint_id, "
			       "\"timestamp\", phase, status) VALUES (?, ?, '2024-05-06 07:08:09', "
			       "'load', 'done')",
			    (ztoq_value[]){ZTOQ_TEXT(b), ZTOQ_TEXT(b)}, 2);
	}
	test_ok(ztoq_tx_commit(s));
	test_ok(ztoq_session_close(s));
}

/* A manager on an empty database of `type` (PostgreSQL: schema reset). */
ztoq_db *empty_db(ztoq_db_type type)
{
	if (type == ZTOQ_DB_POSTGRESQL)
		test_pg_reset();
	return test_open(type);
}

/* The rows of a query, each value rendered as text (doubles as %a, blobs in hex),
 * one line a row: what two databases must agree on. */
struct dump {
	char *text;
	size_t len, cap;
};

static void dump_put(struct dump *d, const char *s, size_t n)
{
	if (d->len + n + 1 > d->cap) {
		d->cap = (d->len + n + 1) * 2;
		d->text = realloc(d->text, d->cap);
		cr_assert(d->text);
	}
	memcpy(d->text + d->len, s, n);
	d->len += n;
	d->text[d->len] = '\0';
}

static int dump_row(ztoq_stmt *row, void *payload)
{
	struct dump *d = payload;
	int n = ztoq_stmt_column_count(row);
	char tmp[128];

	for (int c = 0; c < n; c++) {
		ztoq_value v;

		cr_assert_eq(ztoq_stmt_get_value(row, (unsigned)c, &v), 0);
		switch (v.type) {
		case ZTOQ_TYPE_NULL:
			snprintf(tmp, sizeof(tmp), "NULL");
			break;
		case ZTOQ_TYPE_BOOL:
		case ZTOQ_TYPE_INT64:
			snprintf(tmp, sizeof(tmp), "%lld",
				 (long long)(v.type == ZTOQ_TYPE_BOOL ? v.v.boolean : v.v.int64));
			break;
		case ZTOQ_TYPE_DOUBLE:
			snprintf(tmp, sizeof(tmp), "%a", v.v.real);
			break;
		case ZTOQ_TYPE_TIMESTAMP:
			snprintf(tmp, sizeof(tmp), "%04d-%02u-%02u %02u:%02u:%02u.%06u", v.v.ts.year,
				 v.v.ts.month, v.v.ts.day, v.v.ts.hour, v.v.ts.minute, v.v.ts.second,
				 (unsigned)(v.v.ts.nanosecond / 1000));
			break;
		case ZTOQ_TYPE_TEXT:
			dump_put(d, v.v.bytes.ptr, v.v.bytes.len);
			tmp[0] = '\0';
			break;
		default:
			for (size_t i = 0; i < v.v.bytes.len; i++) {
				snprintf(tmp, sizeof(tmp), "%02x",
					 ((const unsigned char *)v.v.bytes.ptr)[i]);
				dump_put(d, tmp, 2);
			}
			tmp[0] = '\0';
		}
		dump_put(d, tmp, strlen(tmp));
		dump_put(d, "|", 1);
	}
	dump_put(d, "\n", 1);
	return 0;
}

/* Every value `sql` reads on `db`, in its order. Caller frees. */
static char *dump_table(ztoq_db *db, const char *sql)
{
	struct dump d = {NULL, 0, 0};
	ztoq_session *s;

	dump_put(&d, "", 0);
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_session_query(s, sql, NULL, 0, dump_row, &d));
	test_ok(ztoq_session_close(s));
	return d.text;
}

/* The canonical reads of the tables the generator fills, per backend: every column,
 * doubles as exact text, timestamps and booleans in one form. */
static const char *const compared[][3] = {
	{"projects", "SELECT id, key, name, description FROM projects ORDER BY id", NULL},
	{"folders", "SELECT id, name, folder_type, parent_id, project_key FROM folders ORDER BY id", NULL},
	{"custom_field_definitions", "SELECT id, name, type, project_key FROM custom_field_definitions ORDER BY id", NULL},
	{"custom_field_values",
	 "SELECT id, field_id, entity_type, entity_id, value_text, "
	 "CASE WHEN value_numeric IS NULL THEN NULL ELSE printf('%!.18e', value_numeric) END, "
	 "value_boolean, CAST(value_date AS TEXT), value_json FROM custom_field_values ORDER BY id",
	 "SELECT id, field_id, CAST(entity_type AS text), entity_id, value_text, "
	 "CAST(value_numeric AS text), CAST(value_boolean AS integer), "
	 "to_char(value_date, 'YYYY-MM-DD HH24:MI:SS.US'), value_json FROM custom_field_values ORDER BY id"},
	{"test_cases", "SELECT id, key, name, project_key FROM test_cases ORDER BY id", NULL},
	{"test_steps", "SELECT id, \"index\", description, test_case_id FROM test_steps ORDER BY id", NULL},
	{"attachments",
	 "SELECT id, filename, content_type, size, content, entity_type, entity_id FROM attachments ORDER BY id",
	 "SELECT id, filename, content_type, size, content, CAST(entity_type AS text), entity_id FROM attachments ORDER BY id"},
	{"entity_mappings",
	 "SELECT id, project_key, mapping_type, source_id, target_id, CAST(created_at AS TEXT) FROM entity_mappings ORDER BY id",
	 "SELECT id, project_key, mapping_type, source_id, target_id, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US') FROM entity_mappings ORDER BY id"},
	{"migration_state", "SELECT id, project_key, extraction_status FROM migration_state ORDER BY id", NULL},
	{"recommendation_history",
	 "SELECT id, project_key, CAST(\"timestamp\" AS TEXT), CAST(meta_data AS TEXT) "
	 "FROM recommendation_history ORDER BY id",
	 "SELECT id, project_key, to_char(\"timestamp\", 'YYYY-MM-DD HH24:MI:SS.US'), "
	 "CAST(meta_data AS text) FROM recommendation_history ORDER BY id"},
	{"entity_batch_state", "SELECT id, project_key, entity_type, batch_number FROM entity_batch_state ORDER BY id", NULL},
	{"migration_performance_stats",
	 "SELECT id, project_key, CAST(\"timestamp\" AS TEXT), phase, operation, duration_ms "
	 "FROM migration_performance_stats ORDER BY id",
	 "SELECT id, project_key, to_char(\"timestamp\", 'YYYY-MM-DD HH24:MI:SS.US'), phase, "
	 "operation, duration_ms FROM migration_performance_stats ORDER BY id"},
	{"migration_checkpoints",
	 "SELECT id, project_key, checkpoint_id, CAST(\"timestamp\" AS TEXT), phase, status "
	 "FROM migration_checkpoints ORDER BY id",
	 "SELECT id, project_key, checkpoint_id, to_char(\"timestamp\", 'YYYY-MM-DD HH24:MI:SS.US'), "
	 "phase, status FROM migration_checkpoints ORDER BY id"},
	{"alembic_version", "SELECT version_num FROM alembic_version", NULL},
};

/* SQLite's doubles read as 19-digit e-notation, PostgreSQL's as the shortest form:
 * every field that is wholly a number with a '.' or an exponent is rewritten as the
 * hex of its parsed bits, so two renderings of one double compare equal; a timestamp
 * with milliseconds (as the SQLite driver writes them) or none (SQLite's
 * CURRENT_TIMESTAMP) is written to the microsecond. */
static char *normalise_doubles(char *text)
{
	struct dump out = {NULL, 0, 0};
	char *save = NULL;

	dump_put(&out, "", 0);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (char *f = line, *bar; (bar = strchr(f, '|')); f = bar + 1) {
			char *end, num[64];
			double v;

			*bar = '\0';
			v = strtod(f, &end);
			if (end != f && !*end && strpbrk(f, ".eE"))
				snprintf(num, sizeof(num), "%a", v);
			else if (strlen(f) == 23 && f[4] == '-' && f[19] == '.')
				snprintf(num, sizeof(num), "%s000", f);
			else if (strlen(f) == 19 && f[4] == '-' && f[13] == ':')
				snprintf(num, sizeof(num), "%s.000000", f);
			else
				num[0] = '\0';
			/* anything else (text, blobs in hex) whole, however long */
			if (num[0])
				dump_put(&out, num, strlen(num));
			else
				dump_put(&out, f, strlen(f));
			dump_put(&out, "|", 1);
		}
		dump_put(&out, "\n", 1);
	}
	free(text);
	return out.text;
}

/* The tracking rows agree (the checksums are each dialect's own, not compared). */
static void assert_same_history(ztoq_db *a, ztoq_db *b)
{
	ztoq_migration_history *ha, *hb;

	test_ok(ztoq_migrate_history(&ha, a));
	test_ok(ztoq_migrate_history(&hb, b));
	cr_assert_eq(ha->count, hb->count);
	for (size_t i = 0; i < ha->count; i++) {
		cr_assert_eq(ha->items[i].applied, hb->items[i].applied);
		cr_assert_eq(hb->items[i].drift, 0);
		cr_assert_str_eq(ha->items[i].applied_at, hb->items[i].applied_at);
		cr_assert_eq(ha->items[i].duration_ms, hb->items[i].duration_ms);
		cr_assert_str_eq(ha->items[i].name, hb->items[i].name);
	}
	ztoq_migrate_history_free(ha);
	ztoq_migrate_history_free(hb);
}

/* Every column of every generated table agrees between `a` and `b`, value by value. */
void assert_same(ztoq_db *a, ztoq_db *b)
{
	assert_same_history(a, b);
	for (size_t i = 0; i < sizeof(compared) / sizeof(compared[0]); i++) {
		const char *sa = ztoq_db_backend(a) == ZTOQ_DB_POSTGRESQL && compared[i][2]
					 ? compared[i][2] : compared[i][1];
		const char *sb = ztoq_db_backend(b) == ZTOQ_DB_POSTGRESQL && compared[i][2]
					 ? compared[i][2] : compared[i][1];
		char *da = dump_table(a, sa), *db = dump_table(b, sb);

		da = normalise_doubles(da);
		db = normalise_doubles(db);
		cr_assert(strlen(da) > 0, "table %s is empty: the comparison proves nothing",
			  compared[i][0]);
		cr_assert_str_eq(da, db, "table %s differs:\n%s\n---\n%s", compared[i][0], da, db);
		free(da);
		free(db);
	}
}

ztoq_db_type other(ztoq_db_type t)
{
	return t == ZTOQ_DB_SQLITE ? ZTOQ_DB_POSTGRESQL : ZTOQ_DB_SQLITE;
}

/* Runs `sql` on `db` in a session of its own. */
void exec_on(ztoq_db *db, const char *sql)
{
	ztoq_session *s;

	test_ok(ztoq_session_open(&s, db));
	test_exec(s, sql);
	test_ok(ztoq_session_close(s));
}

void close_pair(ztoq_db *src, ztoq_db *dst)
{
	ztoq_db_close(src);
	ztoq_db_close(dst);
}

/* A generated source on `from` and an empty target on the other backend. */
void pair(ztoq_db_type from, ztoq_db **src, ztoq_db **dst, int size)
{
	*src = empty_db(from);
	generate(*src, size);
	*dst = empty_db(other(from));
}

/* Sets ZTOQ_TO_... (or ZTOQ_..., prefix "ZTOQ_") from every explicit value of `cfg`. */
void export_config(const ztoq_config *cfg, const char *prefix)
{
	size_t n;
	const ztoq_config_option *opt = ztoq_config_options(&n);

	for (size_t i = 0; i < n; i++) {
		char name[96];

		if (ztoq_config_source_of(cfg, opt[i].key) != ZTOQ_SOURCE_EXPLICIT)
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, opt[i].env + strlen("ZTOQ_"));
		setenv(name, ztoq_config_get(cfg, opt[i].key), 1);
	}
}
