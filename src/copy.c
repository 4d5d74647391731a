/*
 * copy.c - copying a ZTOQ database to another one, verified (ztoq/copy.h).
 *
 * Each column is read in a canonical form, the same whatever the backend: integers
 * and booleans as integers, doubles as text that parses back to the same bits, text
 * as text, blobs as bytes, timestamps as text normalised here to
 * "YYYY-MM-DD HH:MM:SS.ffffff". The values written and the row checksums both come
 * from that form, so a checksum of one side compares with the other's.
 *
 * Table names come from the list below, column names from the catalog (quoted).
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "ztoq/copy.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "bulk.h"
#include "clock.h"
#include "column.h"
#include "dialect.h"
#include "error.h"
#include "session.h"
#include "ztoq/batch.h"
#include "ztoq/migrate.h"
#include "ztoq/session.h"
#include "ztoq/stmt.h"

/* ZTOQ's tables in foreign-key order (a table after those it references), then the
 * migration engine's tracking tables, whose rows are replaced by the source's. A
 * table the source's schema version does not have is skipped. */
static const char *const table_names[] = {
	"projects", "case_versions", "labels", "links", "migration_state",
	"entity_batch_state", "attachments", "custom_field_definitions", "environments",
	"folders", "priorities", "statuses", "custom_field_values", "test_cases",
	"test_cycles", "test_plans", "case_label_association", "case_version_association",
	"script_files", "test_executions", "test_steps", "recommendation_history",
	"migration_performance_stats", "migration_checkpoints", "entity_mappings",
	"ztoq_schema_migrations", "alembic_version",
};
#define NTABLES (sizeof(table_names) / sizeof(table_names[0]))
#define FIRST_TRACKING (NTABLES - 2)

/* The tracking table whose checksum column is of each dialect's migration SQL: the
 * target keeps its own dialect's checksums (else it would show drift). */
#define CHECKSUMMED "ztoq_schema_migrations"

/* The mark of a copy in progress on the target. */
#define MARK_TABLE "ztoq_copy_state"

/* The largest batch (rows) a caller may ask for: a batch is held in memory. */
#define MAX_BATCH 100000

/* A table with this many source rows or more is loaded with its secondary indexes
 * and foreign keys dropped and re-created after its rows, in its transaction (where
 * the target's dialect lists them, copy_rebuild_sql): one index build and one
 * validation pass beat maintaining them row by row (docs/performance.md). Not with a
 * statement timeout on the target: it bounds each statement, and one index build
 * over the whole table is not bounded the way a chunk of rows is. */
#define REBUILD_ROWS 10000

/* Bytes of a canonical timestamp, with its NUL. */
#define TS_LEN 27

struct column {
	char name[64];
	ztoq__copy_kind kind;
	int unhashed;      /* left out of the checksum: differs by dialect by design */
	char sql_type[64]; /* PostgreSQL target: the column's type, for the bulk arrays */
};

struct table {
	const char *name;
	int tracking;
	size_t ncols;
	struct column *cols;
	uint64_t rows; /* in the source */
};

/* Rows and an order-independent checksum of a table's rows. */
struct digest {
	uint64_t rows, sum, xor, bytes;
};

struct copy_run {
	ztoq_db *source, *target;
	ztoq_session *src, *dst;
	const ztoq__dialect *dst_d; /* the target's (NULL: a dry run without one) */
	const ztoq_copy_options *opts;
	size_t batch_size;
	struct table tables[NTABLES];
	size_t ntables;
	ztoq_copy_result *out;
};

/* The state of one table's stream: values of a batch, and the digest so far. */
struct table_stream {
	struct copy_run *run;
	const struct table *t;
	ztoq_session *write;  /* NULL: only digest */
	ztoq_bulk_table bulk;
	ztoq_value *values;
	char *ts;             /* TS_LEN bytes per value of the batch */
	struct digest d;
	uint64_t start_ns;
	ztoq__bulk_writer *writer; /* with `write`: open there for the whole table */
	ztoq_bulk_result written;  /* what the writer wrote */
};

/* The kind of a column from its declared (SQLite) or catalog (PostgreSQL) type. */
static ztoq__copy_kind kind_of(const char *type)
{
	char low[64];
	size_t i;

	for (i = 0; type[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)type[i]);
	low[i] = '\0';
	if (strstr(low, "bool"))
		return ZTOQ__COPY_BOOL;
	if (strstr(low, "int") || strstr(low, "serial"))
		return ZTOQ__COPY_INT;
	if (strstr(low, "float") || strstr(low, "double") || strstr(low, "real"))
		return ZTOQ__COPY_DOUBLE;
	if (strstr(low, "timestamp") || strstr(low, "date"))
		return ZTOQ__COPY_TS;
	if (strstr(low, "blob") || strstr(low, "bytea"))
		return ZTOQ__COPY_BLOB;
	return ZTOQ__COPY_TEXT;
}

struct column_list {
	struct column *cols;
	size_t n;
};

static int add_column(ztoq_stmt *row, void *payload)
{
	struct column_list *l = payload;
	struct column *grown, *c;
	const char *name, *type;
	int code;

	if ((code = ztoq_stmt_get_text(row, 0, &name, NULL, NULL)) < 0 ||
	    (code = ztoq_stmt_get_text(row, 1, &type, NULL, NULL)) < 0)
		return code;
	if (!(grown = ztoq__realloc(l->cols, (l->n + 1) * sizeof(*grown))))
		return ztoq__error_nomem();
	l->cols = grown;
	c = &grown[l->n++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->sql_type, sizeof(c->sql_type), "%s", type);
	c->kind = kind_of(type);
	c->unhashed = 0;
	return ZTOQ_OK;
}

/* The columns of `table` (none when it does not exist), in the catalog's order. */
static int read_columns(ztoq_session *s, const char *table, struct column_list *out)
{
	ztoq_value name = ZTOQ_TEXT(table);

	out->cols = NULL;
	out->n = 0;
	return ztoq_session_query(s, s->conn->dialect->copy_columns_sql, &name, 1, add_column, out);
}

/*
 * The one table that references itself, folders (parent_id), is read parents first
 * (by depth from a root), so that a folder stored before its parent is not refused
 * by the target's foreign key when the two fall in different batches. A folder whose
 * parent is missing counts as a root (the target refuses it); one in a cycle is never
 * reached (depth bounded), so the verification's row count finds it.
 */
#define SELF_REFERENCING "folders"
#define BY_DEPTH \
	"WITH RECURSIVE ztoq_depth(ztoq_id, ztoq_level) AS (" \
	"SELECT id, 0 FROM folders WHERE parent_id IS NULL OR parent_id NOT IN " \
	"(SELECT id FROM folders) UNION ALL SELECT f.id, d.ztoq_level + 1 FROM folders f " \
	"JOIN ztoq_depth d ON f.parent_id = d.ztoq_id WHERE d.ztoq_level < 100000) "

/* "SELECT <canonical reads> FROM table" in dialect `d` into *out (caller frees). */
static int select_sql(char **out, const ztoq__dialect *d, const struct table *t)
{
	ztoq__buf b = ZTOQ__BUF_INIT;
	int by_depth = !strcmp(t->name, SELF_REFERENCING);

	ztoq__buf_puts(&b, by_depth ? BY_DEPTH "SELECT " : "SELECT ");
	for (size_t c = 0; c < t->ncols; c++) {
		if (c)
			ztoq__buf_puts(&b, ", ");
		d->copy_read(&b, t->cols[c].name, t->cols[c].kind);
	}
	ztoq__buf_printf(&b, " FROM \"%s\"", t->name);
	if (by_depth)
		ztoq__buf_puts(&b, " JOIN ztoq_depth ON id = ztoq_id ORDER BY ztoq_level");
	return ztoq__buf_detach(&b, out);
}

/* FNV-1a 64 over `len` bytes, continuing from `h`. */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

/* splitmix64's finaliser: spreads a row's hash before it is summed. */
static uint64_t mix(uint64_t h)
{
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/* Parses "YYYY-MM-DD[ |T]HH:MM:SS[.f{1,9}]" (or a date alone) into the canonical
 * "YYYY-MM-DD HH:MM:SS.ffffff"; 0 on success, -1 for anything else (or for digits
 * past the microsecond that are not zero). */
static int canonical_ts(const char *s, size_t len, char out[TS_LEN])
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0, us = 0;
	char rest[16] = "", frac[16] = "";
	char in[64];
	int n = 0;

	if (len >= sizeof(in))
		return -1;
	memcpy(in, s, len);
	in[len] = '\0';
	if (sscanf(in, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3)
		return -1;
	if (in[n] && (sscanf(in + n, "%*1[ T]%2u:%2u:%2u%15s", &h, &mi, &sec, rest) < 3))
		return -1;
	if (*rest) {
		size_t f = strspn(rest + 1, "0123456789");

		if (rest[0] != '.' || f == 0 || rest[1 + f] || f > 9 ||
		    (f > 6 && strspn(rest + 7, "0") != f - 6))
			return -1;
		snprintf(frac, sizeof(frac), "%.6s000000", rest + 1);
		frac[6] = '\0';
		us = (unsigned)strtoul(frac, NULL, 10);
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	snprintf(out, TS_LEN, "%04u-%02u-%02u %02u:%02u:%02u.%06u", y, mo, d, h, mi, sec, us);
	return 0;
}

/* An unreadable source value of `table`.`col`: ZTOQ_ERROR (the data's, not a usage
 * error) quoting the value's start. */
static int bad_value(const char *table, const struct column *col, const ztoq_value *v,
		     const char *what)
{
	const char *text = v->type == ZTOQ_TYPE_TEXT ? v->v.bytes.ptr : "";

	return ztoq__error_set(ZTOQ_ERROR, "table %s, column %s: \"%.40s\" is not %s", table,
			       col->name, text, what);
}

/* Reads value (r, c) of `b` in column `col`'s canonical form into *v (a timestamp's
 * text goes to `ts`), and feeds it to the row hash *h. Each cell is read once: the
 * conversions start from the value ztoq_batch_get_value gave. */
static int read_value(const ztoq_batch *b, size_t r, unsigned c, const struct column *col,
		      const char *table, ztoq_value *v, char *ts, uint64_t *h, uint64_t *bytes)
{
	size_t len;
	char *end;
	double real;
	int64_t i64;
	unsigned char tag[2] = {(unsigned char)col->kind, 0};
	int code = ztoq_batch_get_value(b, r, c, v);

	if (code < 0)
		return code;
	if (v->type == ZTOQ_TYPE_NULL) {
		*h = fnv(*h, tag, 2);
		return ZTOQ_OK;
	}
	tag[1] = 1;
	*h = fnv(*h, tag, 2);
	switch (col->kind) {
	case ZTOQ__COPY_INT:
	case ZTOQ__COPY_BOOL:
		if (ztoq__column_number(v, 1, &i64, &real) < 0)
			return bad_value(table, col, v, "a whole number");
		*v = ZTOQ_INT64(i64);
		*h = fnv(*h, &i64, sizeof(i64));
		*bytes += sizeof(i64);
		return ZTOQ_OK;
	case ZTOQ__COPY_DOUBLE: /* read as text, the lossless form (select_sql) */
		if (v->type != ZTOQ_TYPE_TEXT)
			return bad_value(table, col, v, "a number's text");
		real = strtod(v->v.bytes.ptr, &end);
		if (end == (const char *)v->v.bytes.ptr || *end)
			return bad_value(table, col, v, "a number");
		*v = ZTOQ_DOUBLE(real);
		if (real == 0)
			real = 0; /* SQLite has no negative zero: zeros compare equal */
		*h = fnv(*h, &real, sizeof(real));
		*bytes += sizeof(real);
		return ZTOQ_OK;
	case ZTOQ__COPY_TS:
		if (v->type != ZTOQ_TYPE_TEXT ||
		    canonical_ts(v->v.bytes.ptr, v->v.bytes.len, ts) < 0)
			return bad_value(table, col, v, "a timestamp");
		*v = ZTOQ_TEXTN(ts, TS_LEN - 1);
		break;
	case ZTOQ__COPY_TEXT:
	case ZTOQ__COPY_BLOB:
		if (v->type != ZTOQ_TYPE_TEXT && v->type != ZTOQ_TYPE_BLOB)
			return bad_value(table, col, v, "text");
		v->type = col->kind == ZTOQ__COPY_BLOB ? ZTOQ_TYPE_BLOB : ZTOQ_TYPE_TEXT;
		break;
	}
	len = v->v.bytes.len;
	*h = fnv(*h, &len, sizeof(len));
	*h = fnv(*h, v->v.bytes.ptr, len);
	*bytes += len;
	return ZTOQ_OK;
}

/* Reports `kind` for table `t` (its digest so far `d`, begun at `start_ns`) to the
 * caller's progress callback, if any. */
static void emit(const struct copy_run *run, const struct table *t, const struct digest *d,
		 uint64_t start_ns, ztoq_copy_event_kind kind, int verified)
{
	const ztoq_copy_options *o = run->opts;
	ztoq_copy_event ev = {kind, t->name, d->rows, t->rows, d->bytes,
			      (int64_t)((ztoq__now_ns() - start_ns) / 1000000), verified};

	if (o->progress)
		o->progress(&ev, o->payload);
}

/*
 * Makes a failure while `doing` table `t` (`where`: "to the target", ...) name them
 * (the driver's messages and the failed statements name neither, or only as SQL),
 * unless the message already says "table <name>"; appends to the first error, never
 * replaces it. Returns `code`.
 */
static int name_table(int code, const struct table *t, const char *doing, const char *where)
{
	char said[96];

	snprintf(said, sizeof(said), "table %s", t->name);
	if (code < 0 && !strstr(ztoq_error_last()->message, said))
		ztoq__error_append(" (%s %s %s)", doing, said, where);
	return code;
}

/* One batch: canonical values, their digest, and (when copying) the bulk write. */
static int on_batch(const ztoq_batch *b, void *payload)
{
	struct table_stream *ts = payload;
	const struct table *t = ts->t;
	size_t n = ztoq_batch_rows(b);
	int code;

	if (ztoq_batch_column_count(b) != t->ncols)
		return ztoq__error_set(ZTOQ_ESTATE, "table %s: %u columns read, %zu expected",
				       t->name, ztoq_batch_column_count(b), t->ncols);
	for (size_t r = 0; r < n; r++) {
		uint64_t h = 0xcbf29ce484222325ULL;

		for (unsigned c = 0; c < t->ncols; c++) {
			size_t i = r * t->ncols + c;
			uint64_t unhashed = 0;

			if ((code = read_value(b, r, c, &t->cols[c], t->name, &ts->values[i],
					       ts->ts + i * TS_LEN,
					       t->cols[c].unhashed ? &unhashed : &h,
					       &ts->d.bytes)) < 0)
				return code;
		}
		h = mix(h);
		ts->d.sum += h;
		ts->d.xor ^= h;
	}
	ts->d.rows += n;
	if (!ts->write)
		return ZTOQ_OK;
	if ((code = ztoq__bulk_write(ts->writer, ts->values, n)) < 0)
		return name_table(code, t, "writing", "to the target");
	emit(ts->run, t, &ts->d, ts->start_ns, ZTOQ_COPY_PROGRESS, 0);
	return ZTOQ_OK;
}

/* 1 when the target's bulk writes name each column's type (PostgreSQL's arrays): the
 * copy then passes the target's own column types. */
static int typed_arrays(const struct copy_run *run)
{
	return run->dst_d && run->dst_d->bulk_form == ZTOQ__BULK_ARRAYS;
}

/* Reads table `t` on `s` in canonical form into *d; with `write`, also
 * writes each batch there (to a PostgreSQL target with its columns' types). Holds one
 * batch of values; owns and frees what it allocates. */
static int stream_table(struct copy_run *run, const struct table *t, ztoq_session *s,
			ztoq_session *write, struct digest *d)
{
	ztoq_batch_options bo = ZTOQ_BATCH_OPTIONS_INIT;
	struct table_stream ts = {run, t, write, {0}, NULL, NULL, {0}, ztoq__now_ns(),
				  NULL, {0, 0, SIZE_MAX}};
	const char **names = ztoq__calloc(t->ncols + 1, sizeof(*names));
	const char **sql_types = ztoq__calloc(t->ncols + 1, sizeof(*sql_types));
	ztoq_type *types = ztoq__calloc(t->ncols + 1, sizeof(*types));
	char *sql = NULL;
	int code = ZTOQ_OK;

	ts.values = ztoq__calloc(run->batch_size * t->ncols + 1, sizeof(*ts.values));
	ts.ts = ztoq__malloc(run->batch_size * t->ncols * TS_LEN + 1);
	if (!names || !sql_types || !types || !ts.values || !ts.ts)
		code = ztoq__error_nomem();
	for (size_t c = 0; code == ZTOQ_OK && c < t->ncols; c++) {
		static const ztoq_type written[] = {
			[ZTOQ__COPY_INT] = ZTOQ_TYPE_INT64, [ZTOQ__COPY_BOOL] = ZTOQ_TYPE_INT64,
			[ZTOQ__COPY_DOUBLE] = ZTOQ_TYPE_DOUBLE, [ZTOQ__COPY_TEXT] = ZTOQ_TYPE_TEXT,
			[ZTOQ__COPY_BLOB] = ZTOQ_TYPE_BLOB, [ZTOQ__COPY_TS] = ZTOQ_TYPE_TEXT,
		};

		names[c] = t->cols[c].name;
		types[c] = written[t->cols[c].kind];
		sql_types[c] = t->cols[c].sql_type[0] ? t->cols[c].sql_type : NULL;
	}
	ts.bulk = (ztoq_bulk_table){t->name, names, types,
				    typed_arrays(run) ? sql_types : NULL,
				    t->ncols};
	bo.batch_size = run->batch_size;
	bo.text_width = 256;
	if (code == ZTOQ_OK)
		code = select_sql(&sql, s->conn->dialect, t);
	if (code == ZTOQ_OK && write && (code = ztoq__bulk_check(write, &ts.bulk, NULL)) == ZTOQ_OK)
		code = ztoq__bulk_open(&ts.writer, write, &ts.bulk, NULL, &ts.written);
	if (code == ZTOQ_OK)
		code = ztoq_batch_stream(NULL, s, sql, NULL, 0, on_batch, &ts, &bo);
	ztoq__bulk_close(ts.writer);
	*d = ts.d;
	ztoq__free(sql);
	ztoq__free(ts.ts);
	ztoq__free(ts.values);
	ztoq__free(types);
	ztoq__free(sql_types);
	ztoq__free(names);
	return name_table(code, t, "reading", s == run->src ? "from the source" : "from the target");
}

static void tables_free(struct copy_run *run)
{
	for (size_t i = 0; i < run->ntables; i++)
		ztoq__free(run->tables[i].cols);
	run->ntables = 0;
}

/* 1 when `name` is one the caller asked for (or the caller asked for all). */
static int wanted(const ztoq_copy_options *o, const char *name, int tracking)
{
	if (!o->tables || tracking)
		return 1;
	for (size_t i = 0; i < o->ntables; i++)
		if (!strcmp(o->tables[i], name))
			return 1;
	return 0;
}

/* Refuses a name in opts->tables that is no table of ZTOQ's schema. */
static int check_names(const ztoq_copy_options *o)
{
	for (size_t i = 0; o->tables && i < o->ntables; i++) {
		size_t k = 0;

		if (!o->tables[i])
			return ztoq__error_set(ZTOQ_EINVALID, "ztoq_copy: tables[%zu] is NULL", i);
		while (k < FIRST_TRACKING && strcmp(table_names[k], o->tables[i]))
			k++;
		if (k == FIRST_TRACKING)
			return ztoq__error_set(ZTOQ_EINVALID, "no table \"%.*s%s\" in ZTOQ's schema",
					       ZTOQ__CLIP(o->tables[i]));
	}
	return ZTOQ_OK;
}

/* The rows of table `name` on `s`, counted. */
static int count_rows(ztoq_session *s, const char *name, int64_t *rows)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM \"%s\"", name);
	return ztoq_session_scalar(s, sql, NULL, 0, rows, NULL);
}

/* *exists: table `name` is in the database of `s` (the dialect's table_exists_sql). */
static int table_exists(ztoq_session *s, const char *name, int *exists)
{
	ztoq_value param = ZTOQ_TEXT(name);
	int64_t n = 0;
	int code = ztoq_session_scalar(s, s->conn->dialect->table_exists_sql, &param, 1, &n, NULL);

	*exists = code == ZTOQ_OK && n > 0;
	return code;
}

/* The source's tables (those its schema has, that the caller wants) with their
 * columns and row counts, read in the source's transaction. */
static int plan_tables(struct copy_run *run)
{
	int code;

	for (size_t i = 0; i < NTABLES; i++) {
		struct column_list l;
		struct table *t = &run->tables[run->ntables];
		int64_t rows = 0;

		if (!wanted(run->opts, table_names[i], i >= FIRST_TRACKING))
			continue;
		if ((code = read_columns(run->src, table_names[i], &l)) < 0)
			return code;
		if (!l.n)
			continue;
		*t = (struct table){table_names[i], i >= FIRST_TRACKING, l.n, l.cols, 0};
		run->ntables++;
		for (size_t c = 0; c < l.n; c++) {
			l.cols[c].sql_type[0] = '\0';
			l.cols[c].unhashed = !strcmp(t->name, CHECKSUMMED) &&
					     !strcmp(l.cols[c].name, "checksum");
		}
		if ((code = count_rows(run->src, t->name, &rows)) < 0)
			return code;
		t->rows = (uint64_t)rows;
	}
	return ZTOQ_OK;
}

/* Takes the target's column types for the bulk arrays (PostgreSQL), checking that the
 * target has every column the source has. */
static int match_target(struct copy_run *run)
{
	int code = ZTOQ_OK;

	for (size_t i = 0; code == ZTOQ_OK && i < run->ntables; i++) {
		struct table *t = &run->tables[i];
		struct column_list l;

		if ((code = read_columns(run->dst, t->name, &l)) < 0)
			break;
		for (size_t c = 0; code == ZTOQ_OK && c < t->ncols; c++) {
			size_t k = 0;

			while (k < l.n && strcmp(l.cols[k].name, t->cols[c].name))
				k++;
			if (k == l.n)
				code = ztoq__error_set(ZTOQ_ESTATE, "target table %s has no column %s",
						       t->name, t->cols[c].name);
			else if (typed_arrays(run))
				memcpy(t->cols[c].sql_type, l.cols[k].sql_type,
				       sizeof(t->cols[c].sql_type));
		}
		ztoq__free(l.cols);
	}
	return code;
}

ZTOQ_EXTERN(int) ztoq_copy_incomplete(ztoq_db *db, int *out)
{
	ztoq_session *s;
	int code;

	*out = 0;
	if ((code = ztoq_session_open(&s, db)) < 0)
		return code;
	code = table_exists(s, MARK_TABLE, out);
	ztoq__error_hold();
	ztoq_session_close(s);
	ztoq__error_release();
	return code;
}

/*
 * What the target holds, in words, into `state`: "empty", or the first thing that
 * makes it no empty target for this copy (a schema at another version, rows in a
 * table, an interrupted copy's mark: *marked). Returns ZTOQ_OK and *ready 1 when the
 * copy may go ahead without replace.
 */
static int target_state(struct copy_run *run, int version, char *state, size_t size,
			int *ready, int *marked)
{
	ztoq_migration_status *st = NULL;
	int code;

	*ready = 0;
	if ((code = table_exists(run->dst, MARK_TABLE, marked)) < 0) /* on the session already open */
		return code;
	if (*marked) {
		snprintf(state, size, "an interrupted copy (table %s): started over", MARK_TABLE);
		return ZTOQ_OK;
	}
	if ((code = ztoq_migrate_status(&st, run->target)) < 0)
		return code;
	if (st->current && st->current != version) {
		snprintf(state, size, "a ZTOQ schema at version %d (the source is at %d)",
			 st->current, version);
		ztoq_migrate_status_free(st);
		return ZTOQ_OK;
	}
	ztoq_migrate_status_free(st);
	for (size_t i = 0; i < FIRST_TRACKING; i++) {
		int64_t rows = 0;
		int exists;

		if ((code = table_exists(run->dst, table_names[i], &exists)) < 0)
			return code;
		if (!exists)
			continue;
		if ((code = count_rows(run->dst, table_names[i], &rows)) < 0)
			return code;
		if (rows) {
			snprintf(state, size, "%lld rows in table %s", (long long)rows,
				 table_names[i]);
			return ZTOQ_OK;
		}
	}
	snprintf(state, size, "empty");
	*ready = 1;
	return ZTOQ_OK;
}

/* Brings the target to `version`: dropped and rebuilt when `fresh`, else upgraded. */
static int prepare_target(struct copy_run *run, int version, int fresh)
{
	ztoq_migrate_options mo = ZTOQ_MIGRATE_OPTIONS_INIT;
	char spec[16];
	int code;

	snprintf(spec, sizeof(spec), "%d", version);
	mo.drop_existing = 1;
	if (fresh && (code = ztoq_migrate_init(run->target, &mo)) < 0)
		return code;
	if (version < ztoq_migrate_head() && fresh)
		return ztoq_migrate_downgrade(run->target, spec, NULL);
	return ztoq_migrate_upgrade(run->target, spec, NULL);
}

/* 1 when table `name` is one the run copies. */
static int copied(const struct copy_run *run, const char *name)
{
	for (size_t i = 0; i < run->ntables; i++)
		if (!strcmp(run->tables[i].name, name))
			return 1;
	return 0;
}

/* Sets the sequence of every column of the copied tables that owns one past the
 * copied ids: one catalog query, then one statement per such column (ZTOQ's tables
 * have one at most). The catalog's pairs are read as a column list: `name` the
 * table, `sql_type` the column. */
static int advance_sequences(struct copy_run *run)
{
	struct column_list l = {NULL, 0};
	int64_t value;
	int code = ZTOQ_OK;

	if (!run->dst_d->copy_serials_sql)
		return ZTOQ_OK;
	code = ztoq_session_query(run->dst, run->dst_d->copy_serials_sql, NULL, 0, add_column, &l);
	for (size_t i = 0; code == ZTOQ_OK && i < l.n; i++) {
		ztoq__buf sql = ZTOQ__BUF_INIT;
		char *text = NULL;

		if (!copied(run, l.cols[i].name))
			continue;
		run->dst_d->copy_sequence(&sql, l.cols[i].name, l.cols[i].sql_type);
		if ((code = ztoq__buf_detach(&sql, &text)) == ZTOQ_OK)
			code = ztoq_session_scalar(run->dst, text, NULL, 0, &value, NULL);
		ztoq__free(text);
	}
	ztoq__free(l.cols);
	return code;
}

/* Compares two digests of table `t`; a difference is ZTOQ_ESTATE naming it. */
static int compare(const struct table *t, const struct digest *a, const struct digest *b)
{
	if (a->rows != b->rows)
		return ztoq__error_set(ZTOQ_ESTATE, "verification failed: table %s has %llu rows "
						    "in the source, %llu in the target",
				       t->name, (unsigned long long)a->rows,
				       (unsigned long long)b->rows);
	if (a->sum != b->sum || a->xor != b->xor)
		return ztoq__error_set(ZTOQ_ESTATE, "verification failed: table %s differs (same "
						    "%llu rows, another checksum)",
				       t->name, (unsigned long long)a->rows);
	return ZTOQ_OK;
}

/* Verifies table `t` of the target against the source's digest `src`. */
static int verify_table(struct copy_run *run, const struct table *t, const struct digest *src)
{
	uint64_t start = ztoq__now_ns();
	struct digest d;
	int code = stream_table(run, t, run->dst, NULL, &d);

	if (code == ZTOQ_OK)
		code = compare(t, src, &d);
	if (code < 0)
		emit(run, t, &d, start, ZTOQ_COPY_MISMATCH, 0);
	return code;
}

/* The (drop, create) statements of a table's secondary indexes and foreign keys, as
 * the target's catalog gives them (copy_rebuild_sql). Owns its strings. */
struct rebuild {
	char **sql; /* 2 * n: each pair's drop, then its create */
	size_t n;
};

/* ztoq_row_fn: appends the row's (drop, create) pair to the struct rebuild `payload`,
 * which owns the copies even when this fails. Not thread-safe (the copy's one thread). */
static int add_rebuild(ztoq_stmt *row, void *payload)
{
	struct rebuild *r = payload;
	char **grown, **pair;
	const char *text;
	int code;

	if (!(grown = ztoq__realloc(r->sql, (2 * r->n + 2) * sizeof(*grown))))
		return ztoq__error_nomem();
	r->sql = grown;
	pair = &grown[2 * r->n++];
	pair[0] = pair[1] = NULL;
	for (unsigned c = 0; c < 2; c++) {
		if ((code = ztoq_stmt_get_text(row, c, &text, NULL, NULL)) < 0)
			return code;
		if (!text)
			return ztoq__error_set(ZTOQ_ESTATE, "the target's catalog gave no "
							    "statement to re-create an index or key");
		if (!(pair[c] = ztoq__strdup(text)))
			return ztoq__error_nomem();
	}
	return ZTOQ_OK;
}

/* Frees what `r` holds (not `r`). */
static void rebuild_free(struct rebuild *r)
{
	for (size_t i = 0; i < 2 * r->n; i++)
		ztoq__free(r->sql[i]);
	ztoq__free(r->sql);
}

/* Reads into *r what table `t` is loaded without (nothing when the target's dialect
 * lists nothing or the table is small), then drops it all, in the target's
 * transaction. *r is the caller's to free, even after a failure. */
static int rebuild_drop(struct copy_run *run, const struct table *t, struct rebuild *r)
{
	ztoq_value name = ZTOQ_TEXT(t->name);
	int code;

	if (!run->dst_d->copy_rebuild_sql || t->rows < REBUILD_ROWS ||
	    run->dst->conn->statement_timeout_ns)
		return ZTOQ_OK;
	code = ztoq_session_query(run->dst, run->dst_d->copy_rebuild_sql, &name, 1,
				  add_rebuild, r);
	for (size_t i = 0; code == ZTOQ_OK && i < r->n; i++)
		code = ztoq_session_exec(run->dst, r->sql[2 * i], NULL, 0, NULL);
	return code;
}

/* Re-creates what rebuild_drop dropped, in the reverse order (indexes, then the
 * foreign keys, each validated in one pass over the loaded rows). */
static int rebuild_create(struct copy_run *run, const struct rebuild *r)
{
	int code = ZTOQ_OK;

	for (size_t i = r->n; code == ZTOQ_OK && i > 0; i--)
		code = ztoq_session_exec(run->dst, r->sql[2 * i - 1], NULL, 0, NULL);
	return code;
}

/* Copies table `t` in one target transaction (a large one without its secondary
 * indexes and foreign keys, re-created before the commit), then verifies it. */
static int copy_table(struct copy_run *run, const struct table *t)
{
	struct digest d;
	struct rebuild rb = {NULL, 0};
	char sql[128];
	uint64_t start = ztoq__now_ns();
	int code = ztoq_tx_begin(run->dst, NULL);

	if (code == ZTOQ_OK)
		code = rebuild_drop(run, t, &rb);
	if (code == ZTOQ_OK && t->tracking) {
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", t->name);
		code = ztoq_session_exec(run->dst, sql, NULL, 0, NULL);
	}
	if (code == ZTOQ_OK)
		code = stream_table(run, t, run->src, run->dst, &d);
	if (code == ZTOQ_OK)
		code = rebuild_create(run, &rb);
	rebuild_free(&rb);
	if (code == ZTOQ_OK)
		code = ztoq_tx_commit(run->dst);
	else if (ztoq_tx_depth(run->dst))
		ztoq__session_rollback_after(run->dst, code);
	if (code < 0)
		return name_table(code, t, "writing", "to the target");
	run->out->rows += d.rows;
	run->out->bytes += d.bytes;
	if (!run->opts->no_verify && (code = verify_table(run, t, &d)) < 0)
		return code;
	emit(run, t, &d, start, ZTOQ_COPY_TABLE_DONE, !run->opts->no_verify);
	return ZTOQ_OK;
}

/* Sets the checksum of every applied migration on the target to its own dialect's (the
 * source, refused when it drifts, had its own dialect's). */
static int own_checksums(struct copy_run *run)
{
	ztoq_migration_history *h = NULL;
	int code = ztoq_migrate_history(&h, run->target);

	for (size_t i = 0; code == ZTOQ_OK && i < h->count; i++) {
		ztoq_value p[] = {ZTOQ_TEXT(h->items[i].checksum), ZTOQ_INT64(h->items[i].version)};

		if (h->items[i].shipped)
			code = ztoq_session_exec(run->dst, "UPDATE " CHECKSUMMED " SET checksum = ? "
							   "WHERE version = ?", p, 2, NULL);
	}
	ztoq_migrate_history_free(h);
	return code;
}

static int mark_exec(struct copy_run *run, const char *sql)
{
	return ztoq_session_exec(run->dst, sql, NULL, 0, NULL);
}

/* Says which database (`side`: "source", "target") a failure outside a table's copy
 * was on, appended to the first error; returns `code`. */
static int on_side(int code, const char *side)
{
	if (code < 0)
		ztoq__error_append(" (on the %s)", side);
	return code;
}

/* Runs the target dialect's NULL-terminated list of statements `sql` (NULL: none). */
static int exec_list(struct copy_run *run, const char *const *sql)
{
	int code = ZTOQ_OK;

	for (size_t i = 0; sql && sql[i] && code == ZTOQ_OK; i++)
		code = mark_exec(run, sql[i]);
	return code;
}

/* Copies the planned tables with the target's session set for bulk writes
 * (copy_write_on) and set back after (copy_write_off), even after a failure, whose
 * error stays the one returned. */
static int copy_tables(struct copy_run *run)
{
	int code = on_side(exec_list(run, run->dst_d->copy_write_on), "target");

	for (size_t i = 0; code == ZTOQ_OK && i < run->ntables; i++)
		code = copy_table(run, &run->tables[i]);
	if (code == ZTOQ_OK)
		return on_side(exec_list(run, run->dst_d->copy_write_off), "target");
	ztoq__error_hold();
	exec_list(run, run->dst_d->copy_write_off);
	ztoq__error_release();
	return code;
}

/* The copy proper, in the source's read transaction. */
static int run_copy(struct copy_run *run, int version)
{
	char state[sizeof(run->out->target_state)];
	int ready = 0, marked = 0, code;

	if (!run->target) {
		snprintf(run->out->target_state, sizeof(run->out->target_state),
			 "not there (the copy creates it)");
		return ZTOQ_OK;
	}
	if ((code = target_state(run, version, state, sizeof(state), &ready, &marked)) < 0)
		return on_side(code, "target");
	snprintf(run->out->target_state, sizeof(run->out->target_state), "%s", state);
	if (run->opts->dry_run)
		return ZTOQ_OK;
	if (!ready && !marked && !run->opts->replace)
		return ztoq__error_set(ZTOQ_ESTATE, "the target is not empty: it holds %s "
						    "(replace it with --replace)", state);
	if ((code = prepare_target(run, version, !ready)) < 0 ||
	    (code = match_target(run)) < 0 ||
	    (code = mark_exec(run, "CREATE TABLE " MARK_TABLE " (note VARCHAR(64))")) < 0)
		return on_side(code, "target");
	if ((code = copy_tables(run)) < 0)
		return code;
	if ((code = advance_sequences(run)) < 0 ||
	    (code = own_checksums(run)) < 0)
		return on_side(code, "target");
	run->out->verified = !run->opts->no_verify;
	return on_side(mark_exec(run, "DROP TABLE " MARK_TABLE), "target");
}

/* Verifies every planned table: the source's digest against the target's. */
static int run_verify(struct copy_run *run)
{
	int code = ZTOQ_OK;

	for (size_t i = 0; code == ZTOQ_OK && i < run->ntables; i++) {
		struct digest d;

		code = stream_table(run, &run->tables[i], run->src, NULL, &d);
		if (code == ZTOQ_OK)
			code = verify_table(run, &run->tables[i], &d);
	}
	run->out->verified = code == ZTOQ_OK;
	return code;
}

/* 1 when `key` has the same value in both configurations (both unset counts). */
static int same_value(const ztoq_config *a, const ztoq_config *b, const char *key)
{
	const char *x = ztoq_config_get(a, key), *y = ztoq_config_get(b, key);

	return (!x && !y) || (x && y && !strcmp(x, y));
}

/* 1 when the two paths name one file (by real path when both exist, else as text). */
static int same_path(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!a || !b)
		return a == b;
	if (realpath(a, ra) && realpath(b, rb))
		return !strcmp(ra, rb);
	return !strcmp(a, b);
}

/* Refuses a target that is the source itself (a copy would drop it): the same
 * backend, DSN, server, port, database and file. */
static int check_distinct(ztoq_db *source, ztoq_db *target)
{
	const ztoq_config *a = ztoq_db_config(source), *b = ztoq_db_config(target);

	if (ztoq_db_backend(source) == ztoq_db_backend(target) && same_value(a, b, "dsn") &&
	    same_value(a, b, "host") && same_value(a, b, "port") && same_value(a, b, "database") &&
	    same_path(ztoq_config_get(a, "db_path"), ztoq_config_get(b, "db_path")))
		return ztoq__error_set(ZTOQ_EINVALID, "the target is the source itself: a copy "
						      "needs another database");
	return ZTOQ_OK;
}

/* Opens the sessions, reads the source's version, plans the tables, then copies (or
 * with `verify_only` verifies) in the source's read-only transaction and ends it;
 * cleanup never replaces the first error. */
static int with_source(ztoq_copy_result *out, ztoq_db *source, ztoq_db *target,
		       const ztoq_copy_options *opts, int verify_only)
{
	ztoq_copy_options defaults = ZTOQ_COPY_OPTIONS_INIT;
	ztoq_copy_result scratch;
	ztoq_tx_options ro = ZTOQ_TX_OPTIONS_INIT;
	ztoq_migration_status *st = NULL;
	struct copy_run run = {0};
	uint64_t start = ztoq__now_ns();
	int code;

	if (!out)
		out = &scratch;
	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if (!source || (!target && (verify_only || !opts->dry_run)) || source == target ||
	    opts->version != ZTOQ_COPY_OPTIONS_VERSION)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_copy: a source and another target are "
						      "needed (options from ZTOQ_COPY_OPTIONS_INIT)");
	if (opts->batch_size > MAX_BATCH)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_copy: batch_size %zu is over %d",
				       opts->batch_size, MAX_BATCH);
	if ((code = check_names(opts)) < 0 || (target && (code = check_distinct(source, target)) < 0))
		return code;
	run = (struct copy_run){source, target, NULL, NULL, NULL, opts,
				opts->batch_size ? opts->batch_size : 5000, {{0}}, 0, out};
	if ((code = ztoq_migrate_status(&st, source)) < 0)
		return on_side(code, "source");
	out->schema_version = st->current;
	if (!st->current)
		code = ztoq__error_set(ZTOQ_ESTATE, "the source has no ZTOQ schema");
	else if (st->ndrift || st->nunknown)
		code = ztoq__error_set(ZTOQ_EDRIFT, "the source's schema %s (version %d): it is "
						    "not copied until repaired ('ztoq db status')",
				       st->ndrift ? "has drifted" : "was migrated by a newer ztoq",
				       st->ndrift ? st->drift[0] : st->unknown[0]);
	else
		code = ZTOQ_OK;
	ztoq_migrate_status_free(st);
	if (code == ZTOQ_OK && (code = ztoq_session_open(&run.src, source)) == ZTOQ_OK && target &&
	    (code = ztoq_session_open(&run.dst, target)) == ZTOQ_OK)
		run.dst_d = run.dst->conn->dialect;
	if (code == ZTOQ_OK && (!run.src->conn->dialect->copy_read ||
				(run.dst_d && !run.dst_d->copy_read)))
		code = ztoq__error_set(ZTOQ_EINVALID, "ztoq_copy: SQLite and PostgreSQL only");
	ro.isolation = ZTOQ_ISOLATION_REPEATABLE_READ;
	ro.read_only = 1;
	if (code == ZTOQ_OK && (code = on_side(ztoq_tx_begin(run.src, &ro), "source")) == ZTOQ_OK) {
		if ((code = on_side(plan_tables(&run), "source")) == ZTOQ_OK) {
			const struct digest none = {0};

			for (size_t i = 0; i < run.ntables; i++) {
				emit(&run, &run.tables[i], &none, start, ZTOQ_COPY_PLAN, 0);
				out->tables++;
				if (opts->dry_run)
					out->rows += run.tables[i].rows;
			}
			code = verify_only ? run_verify(&run)
					   : run_copy(&run, out->schema_version);
		}
		if (ztoq_tx_depth(run.src)) /* the read-only snapshot: nothing to keep */
			ztoq__session_rollback_after(run.src, code);
	}
	ztoq__error_hold();
	if (run.dst)
		ztoq_session_close(run.dst);
	if (run.src)
		ztoq_session_close(run.src);
	ztoq__error_release();
	tables_free(&run);
	out->elapsed_ms = (int64_t)((ztoq__now_ns() - start) / 1000000);
	return code;
}

ZTOQ_EXTERN(int) ztoq_copy(ztoq_copy_result *out, ztoq_db *source, ztoq_db *target,
			   const ztoq_copy_options *opts)
{
	return with_source(out, source, target, opts, 0);
}

ZTOQ_EXTERN(int) ztoq_copy_verify(ztoq_copy_result *out, ztoq_db *source, ztoq_db *target,
				  const ztoq_copy_options *opts)
{
	return with_source(out, source, target, opts, 1);
}
