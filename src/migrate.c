/*
 * migrate.c - the migration engine: versioned schema, tracking table with checksums,
 * a lock against concurrent migrators, up / down / status / history.
 *
 * A run (init, upgrade, downgrade) works on one pooled session:
 *   1. PostgreSQL: each of its transactions first takes a transaction-level advisory
 *      lock (pg_advisory_xact_lock), which the end of the transaction releases, so that
 *      neither a migrator that dies nor a transaction pooler can leave it behind;
 *   2. a "prepare" transaction creates the tracking tables that are missing, reads
 *      the others, adopts a database that only Alembic has tracked, checks for drift
 *      and resolves the target;
 *   3. one transaction per migration, which first re-reads the tracking rows (so a
 *      concurrent migrator that got there first leaves nothing to do), runs the
 *      migration's statements, records it (or deletes its record) and keeps
 *      alembic_version in step. The run ends when the version it read or moved to
 *      is the target, without a transaction that would only find so.
 * SQLite has no lock that outlives a transaction: each of its transactions is an
 * exclusive one (BEGIN EXCLUSIVE, run with autocommit on, since the SQLite ODBC driver
 * issues its own plain BEGIN when autocommit is off), which is what makes step 3 safe.
 */
#include "migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "dialect.h"
#include "error.h"
#include "session.h"
#include "ztoq/stmt.h"

#define ALEMBIC_TABLE "alembic_version"

/* Alembic's own definition of its table. */
static const char create_alembic[] =
	"CREATE TABLE IF NOT EXISTS " ALEMBIC_TABLE " (version_num VARCHAR(32) NOT NULL, "
	"CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))";

/* ---- the migrations in use ------------------------------------------------------------ */

static const ztoq__migration *override_list;
static size_t override_count;

void ztoq__migrate_use(const ztoq__migration *list, size_t count)
{
	override_list = list;
	override_count = list ? count : 0;
}

static const ztoq__migration *migrations(size_t *count)
{
	*count = override_list ? override_count : ztoq__migration_count;
	return override_list ? override_list : ztoq__migrations;
}

ZTOQ_EXTERN(int) ztoq_migrate_head(void)
{
	size_t count;

	migrations(&count);
	return (int)count;
}

/* FNV-1a 64 of a text, as 16 hex digits. */
static void checksum(const char *text, char out[17])
{
	uint64_t h = 0xcbf29ce484222325u;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3u;
	}
	snprintf(out, 17, "%016" PRIx64, h);
}

/* Copies a string into a fixed buffer, truncating. */
static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* ---- one run ----------------------------------------------------------------------- */

struct ztoq__migrate_run {
	ztoq_session *s;
	const ztoq__dialect *d;
	const ztoq__migration *list;
	size_t count;
	const ztoq_migrate_options *opts;
	int take_lock;        /* each transaction takes the dialect's migration_lock */
	long lock_timeout_ms; /* the bound on each wait for it */
	int open_tx; /* prepare() left its transaction open for the first step */
};

/* What the tracking tables say. */
struct ztoq__migrate_record {
	int version;
	char name[64];
	char checksum[17];
	char applied_at[20];
	int64_t duration_ms;
};

struct ztoq__migrate_state {
	int tracked;      /* the tracking table exists */
	char alembic[33]; /* the alembic_version row, "" for none */
	size_t n;         /* records, ascending by version */
	struct ztoq__migrate_record *rows;
};

static void state_clear(struct ztoq__migrate_state *st)
{
	ztoq__free(st->rows);
	memset(st, 0, sizeof(*st));
}

/* Runs a fixed statement that needs no parameters, outside the statement cache. */
static int exec_plain(struct ztoq__migrate_run *r, const char *sql)
{
	return ztoq__session_exec_plain(r->s, sql);
}

/* Runs a statement with parameters (prepared and cached). */
static int exec_params(struct ztoq__migrate_run *r, const char *sql,
		       const ztoq_value *params, size_t n)
{
	return ztoq_session_exec(r->s, sql, params, n, NULL);
}

static int take_lock(struct ztoq__migrate_run *r);
static int tx_abort(struct ztoq__migrate_run *r, int code);

/* Begins a migration's transaction (SQLite: an exclusive one, see above; PostgreSQL:
 * one that first takes the migration lock). */
static int tx_begin(struct ztoq__migrate_run *r)
{
	int code = ztoq__session_begin_migration(r->s);

	/* only a wait says anything about other migrators ("file is not a database" not) */
	if (r->d->migration_begin && (code == ZTOQ_EBUSY || code == ZTOQ_ETIMEOUT))
		ztoq__error_append(" (waiting for the schema lock, which another migrator holds)");
	if (code == ZTOQ_OK && r->take_lock && (code = take_lock(r)) < 0)
		return tx_abort(r, code);
	return code;
}

/* Ends the transaction; a failed commit is rolled back, its error kept. */
static int tx_end(struct ztoq__migrate_run *r, int commit)
{
	return commit ? ztoq__session_commit(r->s) : ztoq__session_rollback(r->s);
}

/*
 * Rolls back after a failure that is the last error, which stays the last error. If
 * the rollback fails too, the connection is not reused and the error says so.
 */
static int tx_abort(struct ztoq__migrate_run *r, int code)
{
	int failed;

	ztoq__error_hold();
	failed = tx_end(r, 0) < 0;
	ztoq__error_release();
	if (failed) {
		ztoq__session_discard(r->s); /* maybe still in a transaction: never reuse it */
		ztoq__error_append(" (the rollback after it failed too)");
	}
	return code;
}

static int table_exists(struct ztoq__migrate_run *r, const char *table, int *out)
{
	ztoq_value name = ZTOQ_TEXT(table);
	int64_t n = 0;
	int code = ztoq_session_scalar(r->s, r->d->table_exists_sql, &name, 1, &n, NULL);

	*out = n > 0;
	return code;
}

/* Reads the alembic_version row, which must exist, into st->alembic. */
static int read_alembic(struct ztoq__migrate_run *r, struct ztoq__migrate_state *st)
{
	ztoq_stmt *q;
	const char *text;
	int code;

	if ((code = ztoq_stmt_prepare(&q, r->s, "SELECT version_num FROM " ALEMBIC_TABLE)) < 0)
		return code;
	if ((code = ztoq_stmt_execute(q)) == ZTOQ_OK && (code = ztoq_stmt_fetch(q)) == ZTOQ_ROW &&
	    (code = ztoq_stmt_get_text(q, 0, &text, NULL, NULL)) == ZTOQ_OK)
		copy(st->alembic, sizeof(st->alembic), text);
	ztoq_stmt_finalize(q);
	return code < 0 ? code : ZTOQ_OK;
}

/* Reads one tracking row into `rec`. */
static int read_record(ztoq_stmt *q, struct ztoq__migrate_record *rec)
{
	const char *name, *sum;
	ztoq_timestamp at;
	int64_t version;
	int code;

	if ((code = ztoq_stmt_get_int64(q, 0, &version, NULL)) < 0 ||
	    (code = ztoq_stmt_get_text(q, 1, &name, NULL, NULL)) < 0 ||
	    (code = ztoq_stmt_get_text(q, 2, &sum, NULL, NULL)) < 0 ||
	    (code = ztoq_stmt_get_timestamp(q, 3, &at, NULL)) < 0 ||
	    (code = ztoq_stmt_get_int64(q, 4, &rec->duration_ms, NULL)) < 0)
		return code;
	rec->version = (int)version;
	copy(rec->name, sizeof(rec->name), name);
	copy(rec->checksum, sizeof(rec->checksum), sum);
	snprintf(rec->applied_at, sizeof(rec->applied_at), "%04u-%02u-%02u %02u:%02u:%02u",
		 (unsigned)at.year % 10000u, at.month % 100u, at.day % 100u, at.hour % 100u,
		 at.minute % 100u, at.second % 100u);
	return ZTOQ_OK;
}

/* Reads the tracking rows, whose table must exist, into st (the caller clears it). */
static int read_records(struct ztoq__migrate_run *r, struct ztoq__migrate_state *st)
{
	size_t cap = 0;
	ztoq_stmt *q;
	int code;

	if ((code = ztoq_stmt_prepare(&q, r->s,
				      "SELECT version, name, checksum, applied_at, duration_ms "
				      "FROM " ZTOQ__TRACKING_TABLE " ORDER BY version")) < 0)
		return code;
	code = ztoq_stmt_execute(q);
	while (code == ZTOQ_OK && (code = ztoq_stmt_fetch(q)) == ZTOQ_ROW) {
		if (st->n == cap) {
			struct ztoq__migrate_record *grown;

			cap = cap ? cap * 2 : 8;
			if (!(grown = ztoq__realloc(st->rows, cap * sizeof(*grown)))) {
				code = ztoq__error_nomem();
				break;
			}
			st->rows = grown;
		}
		code = read_record(q, &st->rows[st->n]);
		if (code == ZTOQ_OK)
			st->n++;
	}
	ztoq_stmt_finalize(q);
	return code < 0 ? code : ZTOQ_OK;
}

/* Reads what the database records; missing tables read as empty. */
static int load_state(struct ztoq__migrate_run *r, struct ztoq__migrate_state *st)
{
	int code, alembic;

	memset(st, 0, sizeof(*st));
	if ((code = table_exists(r, ALEMBIC_TABLE, &alembic)) < 0 ||
	    (alembic && (code = read_alembic(r, st)) < 0) ||
	    (code = table_exists(r, ZTOQ__TRACKING_TABLE, &st->tracked)) < 0)
		return code;
	if (st->tracked && (code = read_records(r, st)) < 0)
		state_clear(st);
	return code;
}

static const struct ztoq__migrate_record *find_record(const struct ztoq__migrate_state *st,
						      int version)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->rows[i].version == version)
			return &st->rows[i];
	return NULL;
}

static int current_version(const struct ztoq__migrate_state *st)
{
	return st->n ? st->rows[st->n - 1].version : 0;
}

/*
 * Refuses to go on when the records do not describe a prefix of the shipped chain:
 * a version this library does not ship, a gap, or a checksum that no longer matches.
 */
static int check_state(const struct ztoq__migrate_run *r,
		       const struct ztoq__migrate_state *st)
{
	int current = current_version(st);

	if (current > (int)r->count)
		return ztoq__error_set(ZTOQ_ESTATE,
				       "the database schema is at version %d, made by a newer "
				       "ztoq: this one knows versions up to %d",
				       current, (int)r->count);
	for (int v = 1; v <= current; v++) {
		const ztoq__migration *m = &r->list[v - 1];
		const struct ztoq__migrate_record *rec = find_record(st, v);
		char sum[17];

		if (!rec)
			return ztoq__error_set(ZTOQ_ESTATE,
					       "migration %d %s is not recorded as applied, but "
					       "version %d is: the tracking table %s was changed by hand",
					       v, m->name, current, ZTOQ__TRACKING_TABLE);
		checksum(r->d->migration_sql(m, 1), sum);
		if (strcmp(sum, rec->checksum) != 0)
			return ztoq__error_set(ZTOQ_EDRIFT,
					       "migration %d %s was applied with checksum %s, but "
					       "its SQL now has checksum %s: the schema may not be "
					       "what this ztoq expects, nothing was changed",
					       v, m->name, rec->checksum, sum);
	}
	return ZTOQ_OK;
}

/*
 * A whole number written with digits only (no sign, no space), or -1. Ten digits at
 * most, which hold any unsigned int (ztoq_migrate_downgrade_steps formats its count).
 */
static int64_t parse_count(const char *s)
{
	size_t len = strlen(s);
	int64_t v = 0;

	if (!len || strspn(s, "0123456789") != len || len > 10)
		return -1;
	for (; *s; s++)
		v = v * 10 + (*s - '0');
	return v;
}

/* The version whose Alembic revision id is `revision`, or -1. */
static int revision_version(const struct ztoq__migrate_run *r, const char *revision)
{
	for (size_t i = 0; i < r->count; i++)
		if (r->list[i].alembic_revision && strcmp(r->list[i].alembic_revision, revision) == 0)
			return r->list[i].version;
	return -1;
}

/*
 * Resolves the target `spec` against the current version. `direction` is +1 for
 * upgrade (NULL and "head" mean head, "+N" is relative) and -1 for downgrade ("-N").
 */
static int resolve_target(const struct ztoq__migrate_run *r, const char *spec,
			  int current, int direction, int *out)
{
	const char *verb = direction > 0 ? "upgrade" : "downgrade";
	int64_t steps = -1, v = -1;

	if (!spec || strcmp(spec, "head") == 0)
		v = direction > 0 ? (int)r->count : -1;
	else if (strcmp(spec, "base") == 0)
		v = 0;
	else if (spec[0] == (direction > 0 ? '+' : '-'))
		steps = parse_count(spec + 1);
	else if ((v = revision_version(r, spec)) < 0)
		v = parse_count(spec);
	if (steps >= 0)
		v = current + direction * steps;
	if (steps >= 0 && (v < 0 || v > (int)r->count))
		return ztoq__error_set(ZTOQ_EINVALID,
				       "cannot %s %" PRId64 " step%s from version %d: versions "
				       "run 0-%d",
				       verb, steps, steps == 1 ? "" : "s", current, (int)r->count);
	if (v < 0 || v > (int)r->count)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "unknown %s target \"%s\": expected a version 0-%d, an "
				       "Alembic revision id, %s",
				       verb, spec ? spec : "", (int)r->count,
				       direction > 0 ? "head or +N" : "base or -N");
	if (direction * (v - current) < 0)
		return ztoq__error_set(ZTOQ_ESTATE,
				       "the schema is at version %d, %s the %s target %d: use %s",
				       current, direction > 0 ? "past" : "below", verb, (int)v,
				       direction > 0 ? "downgrade" : "upgrade");
	*out = (int)v;
	return ZTOQ_OK;
}

static ztoq_timestamp utc_now(void)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return (ztoq_timestamp){.year = (int16_t)(tm.tm_year + 1900),
				.month = (uint16_t)(tm.tm_mon + 1),
				.day = (uint16_t)tm.tm_mday,
				.hour = (uint16_t)tm.tm_hour,
				.minute = (uint16_t)tm.tm_min,
				.second = (uint16_t)tm.tm_sec};
}

static int record_applied(struct ztoq__migrate_run *r, const ztoq__migration *m,
			  int64_t duration_ms)
{
	char sum[17];

	checksum(r->d->migration_sql(m, 1), sum);
	ztoq_value params[] = {ZTOQ_INT64(m->version), ZTOQ_TEXT(m->name), ZTOQ_TEXT(sum),
			       ZTOQ_TIMESTAMP(utc_now()), ZTOQ_INT64(duration_ms)};
	return exec_params(r,
			   "INSERT INTO " ZTOQ__TRACKING_TABLE
			   " (version, name, checksum, applied_at, duration_ms) VALUES (?, ?, ?, ?, ?)",
			   params, 5);
}

static int record_reverted(struct ztoq__migrate_run *r, const ztoq__migration *m)
{
	ztoq_value version = ZTOQ_INT64(m->version);

	return exec_params(r, "DELETE FROM " ZTOQ__TRACKING_TABLE " WHERE version = ?", &version, 1);
}

/* Makes alembic_version hold the revision of the highest original revision <= version. */
static int sync_alembic(struct ztoq__migrate_run *r, int version)
{
	const char *revision = NULL;
	int code;

	for (int v = version; v >= 1 && !revision; v--)
		revision = r->list[v - 1].alembic_revision;
	if ((code = exec_plain(r, "DELETE FROM " ALEMBIC_TABLE)) < 0 || !revision)
		return code;
	ztoq_value param = ZTOQ_TEXT(revision);
	return exec_params(r, "INSERT INTO " ALEMBIC_TABLE " (version_num) VALUES (?)", &param, 1);
}

/*
 * A database that Alembic alone has tracked (the Python ZTOQ, or a tracking table
 * dropped by hand): records the original revisions up to alembic_version as applied.
 */
static int adopt(struct ztoq__migrate_run *r, struct ztoq__migrate_state *st)
{
	int version = revision_version(r, st->alembic);
	int code = ZTOQ_OK;

	if (version < 0)
		return ztoq__error_set(ZTOQ_ESTATE,
				       "alembic_version holds revision %s, which this ztoq does "
				       "not know",
				       st->alembic);
	for (int v = 1; v <= version && code == ZTOQ_OK; v++)
		code = record_applied(r, &r->list[v - 1], 0);
	return code < 0 ? code : read_records(r, st);
}

static void report(const struct ztoq__migrate_run *r, ztoq_migrate_event_kind kind,
		   const ztoq__migration *m, int64_t duration_ms, size_t tables)
{
	ztoq_migrate_event ev = {kind,
				 m ? m->version : 0,
				 m ? m->name : "",
				 m ? m->alembic_revision : NULL,
				 duration_ms,
				 tables};

	if (r->opts && r->opts->progress)
		r->opts->progress(&ev, r->opts->payload);
}

/*
 * Finds the next statement of a migration text at *pos (see src/migrations.h for the
 * format): its text without the ';', and the line it starts on. Returns 0 at the end.
 */
static int next_statement(const char **pos, unsigned *line, const char **sql, size_t *len,
			  unsigned *first_line)
{
	const char *p = *pos;

	*sql = NULL;
	while (*p) {
		size_t n = strcspn(p, "\n");
		size_t indent = strspn(p, " \t");
		int skip = indent >= n || strncmp(p + indent, "--", 2) == 0;

		if (!*sql && !skip) {
			*sql = p;
			*first_line = *line;
		}
		(*line)++;
		*pos = p + n + (p[n] == '\n');
		if (*sql && !skip && p[n - 1] == ';') {
			*len = (size_t)(p + n - 1 - *sql);
			return 1;
		}
		p = *pos;
	}
	return 0;
}

/* Runs the statements of one direction of a migration, naming the one that fails. */
static int run_sql(struct ztoq__migrate_run *r, const ztoq__migration *m, int up)
{
	const char *pos = r->d->migration_sql(m, up), *sql;
	unsigned line = 1, first = 0, index = 0;
	size_t len;

	while (next_statement(&pos, &line, &sql, &len, &first)) {
		size_t shown = strcspn(sql, "\n"); /* the statement's first line, without ';' */
		int code;

		if (shown > len)
			shown = len;
		index++;
		code = ztoq__session_exec_script(r->s, sql, len,
						 "migration %d %s (%s) failed at statement %u, "
						 "line %u \"%.*s%s\"",
						 m->version, m->name, up ? "up" : "down", index, first,
						 (int)(shown > 100 ? 100 : shown), sql,
						 shown > 100 || shown < len ? " ..." : "");
		if (code < 0)
			return code;
	}
	return ZTOQ_OK;
}

/*
 * Re-reads, in a step's transaction, the version the tracking rows record (a
 * concurrent migrator may have moved it since prepare()) and checks the rows.
 */
static int reread_current(struct ztoq__migrate_run *r, int *current)
{
	struct ztoq__migrate_state st = {0};
	int code = read_records(r, &st);

	if (code == ZTOQ_OK && (code = check_state(r, &st)) == ZTOQ_OK)
		*current = current_version(&st);
	state_clear(&st);
	return code;
}

/*
 * One migration in its own transaction: re-reads the current version (not in
 * prepare()'s transaction, which has just read it) and applies the next migration
 * towards `want` (direction +1) or reverts the current one (-1); *current is then the
 * new version. Commits nothing when the schema is already at or past the target.
 */
static int step(struct ztoq__migrate_run *r, int direction, int want, int *current)
{
	const ztoq__migration *m;
	int code, version;
	uint64_t start;
	int64_t ms;

	if (r->open_tx)
		r->open_tx = 0;
	else if ((code = tx_begin(r)) < 0)
		return code;
	else if ((code = reread_current(r, current)) < 0)
		return tx_abort(r, code);
	if (direction * (want - *current) <= 0)
		return tx_end(r, 1);
	version = direction > 0 ? *current + 1 : *current;
	m = &r->list[version - 1];
	start = ztoq__now_ns();
	code = run_sql(r, m, direction > 0);
	ms = (int64_t)((ztoq__now_ns() - start) / 1000000u);
	if (code == ZTOQ_OK)
		code = direction > 0 ? record_applied(r, m, ms) : record_reverted(r, m);
	if (code == ZTOQ_OK && m->alembic_revision)
		code = sync_alembic(r, direction > 0 ? version : version - 1);
	if (code < 0) {
		ztoq__error_append("; rolled back, the schema stays at version %d", *current);
		return tx_abort(r, code);
	}
	if ((code = tx_end(r, 1)) < 0)
		return code;
	*current = direction > 0 ? version : version - 1;
	report(r, direction > 0 ? ZTOQ_MIGRATE_APPLIED : ZTOQ_MIGRATE_REVERTED, m, ms, 0);
	return ZTOQ_OK;
}

/*
 * Creates the tracking tables that are missing, reads the ones that exist, adopts an
 * Alembic-only database, checks the records and resolves the target, in one
 * transaction; sets *current and *want. When it created a table and there is a
 * migration to run, that transaction is left open for the first step (r->open_tx): a
 * run whose first migration fails leaves the database exactly as it was, on both
 * backends (their DDL is transactional).
 */
static int prepare(struct ztoq__migrate_run *r, const char *target, int direction,
		   int *current, int *want)
{
	struct ztoq__migrate_state st = {0};
	int code, tracked = 0, alembic = 0;

	if ((code = tx_begin(r)) < 0)
		return code;
	if ((code = table_exists(r, ZTOQ__TRACKING_TABLE, &tracked)) == ZTOQ_OK &&
	    (code = table_exists(r, ALEMBIC_TABLE, &alembic)) == ZTOQ_OK &&
	    (code = tracked ? read_records(r, &st)
			    : exec_plain(r, r->d->tracking_sql)) == ZTOQ_OK &&
	    (code = alembic ? read_alembic(r, &st) : exec_plain(r, create_alembic)) == ZTOQ_OK) {
		if (st.n == 0 && st.alembic[0])
			code = adopt(r, &st);
		if (code == ZTOQ_OK)
			code = check_state(r, &st);
		*current = current_version(&st);
		if (code == ZTOQ_OK)
			code = resolve_target(r, target, *current, direction, want);
	}
	state_clear(&st);
	if (code < 0)
		return tx_abort(r, code);
	if ((!tracked || !alembic) && *current != *want) {
		r->open_tx = 1;
		return ZTOQ_OK;
	}
	return tx_end(r, 1);
}

/* Appends `name` as a quoted SQL identifier. */
static void put_identifier(ztoq__buf *b, const char *name)
{
	ztoq__buf_puts(b, "\"");
	for (const char *p = name; *p; p++) {
		ztoq__buf_append(b, p, 1);
		if (*p == '"')
			ztoq__buf_append(b, p, 1);
	}
	ztoq__buf_puts(b, "\"");
}

/* The DROP TABLE statements for every table of the database, each ending with a NUL. */
static int drop_statements(struct ztoq__migrate_run *r, ztoq__buf *sql, size_t *count)
{
	ztoq_stmt *q;
	const char *name;
	int code;

	*count = 0;
	if ((code = ztoq_stmt_prepare(&q, r->s, r->d->tables_sql)) < 0)
		return code;
	code = ztoq_stmt_execute(q);
	while (code == ZTOQ_OK && (code = ztoq_stmt_fetch(q)) == ZTOQ_ROW &&
	       (code = ztoq_stmt_get_text(q, 0, &name, NULL, NULL)) == ZTOQ_OK) {
		ztoq__buf_puts(sql, "DROP TABLE ");
		put_identifier(sql, name);
		ztoq__buf_puts(sql, r->d->drop_table_suffix);
		ztoq__buf_append(sql, "", 1);
		(*count)++;
	}
	ztoq_stmt_finalize(q);
	if (code >= 0 && sql->failed)
		code = ztoq__error_nomem();
	return code < 0 ? code : ZTOQ_OK;
}

/* The drop transaction of drop_all(). */
static int drop_tables(struct ztoq__migrate_run *r, size_t *count)
{
	ztoq__buf sql = ZTOQ__BUF_INIT;
	int code;

	if ((code = tx_begin(r)) < 0)
		return code;
	code = drop_statements(r, &sql, count);
	for (size_t at = 0; code == ZTOQ_OK && at < sql.len; at += strlen(sql.data + at) + 1)
		code = exec_plain(r, sql.data + at);
	ztoq__buf_dispose(&sql);
	if (code == ZTOQ_OK && r->d->drop_types_sql)
		code = exec_plain(r, r->d->drop_types_sql);
	if (code < 0) {
		ztoq__error_append("; rolled back, nothing was dropped");
		return tx_abort(r, code);
	}
	return tx_end(r, 1);
}

/*
 * init --drop-existing: drops every table, and the entitytype type, in one
 * transaction. SQLite checks foreign keys while it drops (and would refuse to drop a
 * parent before its children): they are off around the transaction.
 */
static int drop_all(struct ztoq__migrate_run *r)
{
	uint64_t start = ztoq__now_ns();
	size_t count = 0;
	int code, failed;

	if (r->d->foreign_keys_off && (code = exec_plain(r, r->d->foreign_keys_off)) < 0)
		return code;
	failed = (code = drop_tables(r, &count)) < 0;
	if (failed)
		ztoq__error_hold(); /* the drop's own error stays the last one */
	if (r->d->foreign_keys_on && exec_plain(r, r->d->foreign_keys_on) < 0) {
		ztoq__session_discard(r->s); /* never hand out a connection without foreign keys */
		code = failed ? code : ztoq_error_last()->code;
	}
	if (failed)
		ztoq__error_release();
	if (code == ZTOQ_OK)
		report(r, ZTOQ_MIGRATE_DROPPED, NULL,
		       (int64_t)((ztoq__now_ns() - start) / 1000000u), count);
	return code;
}

/* ---- the public entry points ------------------------------------------------------- */

/*
 * Takes the migration lock in the transaction just begun, waiting at most
 * lock_timeout_ms for another migrator's transaction to end (the dialect's lock_wait
 * bounds this wait only; lock_wait_reset undoes it for the migration's statements).
 */
static int take_lock(struct ztoq__migrate_run *r)
{
	ztoq__buf wait = ZTOQ__BUF_INIT;
	char *wait_sql;
	int code;

	r->d->lock_wait(&wait, r->lock_timeout_ms);
	if ((code = ztoq__buf_detach(&wait, &wait_sql)) < 0)
		return code;
	code = exec_plain(r, wait_sql);
	ztoq__free(wait_sql);
	if (code == ZTOQ_OK && (code = exec_plain(r, r->d->migration_lock)) == ZTOQ_ETIMEOUT)
		ztoq__error_append(" (another migrator held the migration lock, %s, for longer "
				   "than lock_timeout_ms %ld)",
				   r->d->migration_lock, r->lock_timeout_ms);
	return code < 0 ? code : exec_plain(r, r->d->lock_wait_reset);
}

/* Starts a run on a session of its own; `lock`: its transactions take the migration
 * lock (PostgreSQL). */
static int run_open(struct ztoq__migrate_run *r, ztoq_db *db,
		    const ztoq_migrate_options *opts, int lock)
{
	int code;

	memset(r, 0, sizeof(*r));
	if (!db)
		return ztoq__error_set(ZTOQ_EINVALID, "migrate: db is NULL");
	if (opts && opts->version != ZTOQ_MIGRATE_OPTIONS_VERSION)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "ztoq_migrate_options.version is %u, expected %u "
				       "(initialise with ZTOQ_MIGRATE_OPTIONS_INIT)",
				       opts->version, ZTOQ_MIGRATE_OPTIONS_VERSION);
	r->opts = opts;
	r->list = migrations(&r->count);
	if ((code = ztoq_session_open(&r->s, db)) < 0)
		return code;
	/* the backend is the driver's, known once the session's connection is open */
	r->d = r->s->conn->dialect;
	if (!r->d->migration_sql)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "ZTOQ's schema exists for SQLite and PostgreSQL only, not for "
				       "this database (ztoq db check names it)");
	r->take_lock = lock && r->d->migration_lock;
	r->lock_timeout_ms = db->set.lock_timeout_ms;
	return ZTOQ_OK;
}

/* Ends a run; records no error of its own, so the run's outcome stays the last error. */
static void run_close(struct ztoq__migrate_run *r)
{
	if (!r->s)
		return;
	ztoq__error_hold();
	ztoq_session_close(r->s);
	ztoq__error_release();
}

/*
 * Upgrades (+1) or downgrades (-1) to `target`, one transaction per migration, and
 * stops once the version prepare() read, or the one a step left or re-read, has
 * reached the target: no transaction only to find there is nothing left to do.
 */
static int migrate(struct ztoq__migrate_run *r, const char *target, int direction)
{
	int current = 0, want = 0, code;

	if ((code = prepare(r, target, direction, &current, &want)) < 0)
		return code;
	while (direction * (want - current) > 0 &&
	       (code = step(r, direction, want, &current)) == ZTOQ_OK)
		;
	return code;
}

ZTOQ_EXTERN(int) ztoq_migrate_init(ztoq_db *db, const ztoq_migrate_options *opts)
{
	struct ztoq__migrate_run r;
	int code = run_open(&r, db, opts, 1);

	if (code == ZTOQ_OK && opts && opts->drop_existing)
		code = drop_all(&r);
	if (code == ZTOQ_OK)
		code = migrate(&r, NULL, 1);
	run_close(&r);
	return code;
}

/* One upgrade (+1) or downgrade (-1) run to `target`. */
static int run_migrate(ztoq_db *db, const char *target, int direction,
		       const ztoq_migrate_options *opts)
{
	struct ztoq__migrate_run r;
	int code = run_open(&r, db, opts, 1);

	if (code == ZTOQ_OK)
		code = migrate(&r, target, direction);
	run_close(&r);
	return code;
}

ZTOQ_EXTERN(int) ztoq_migrate_upgrade(ztoq_db *db, const char *target,
				      const ztoq_migrate_options *opts)
{
	return run_migrate(db, target, 1, opts);
}

ZTOQ_EXTERN(int) ztoq_migrate_downgrade(ztoq_db *db, const char *target,
					const ztoq_migrate_options *opts)
{
	return run_migrate(db, target, -1, opts);
}

/* The target "-N": parse_count() reads any unsigned int back, so messages are the same. */
ZTOQ_EXTERN(int) ztoq_migrate_downgrade_steps(ztoq_db *db, unsigned steps,
					      const ztoq_migrate_options *opts)
{
	char spec[2 + 3 * sizeof(steps)];

	snprintf(spec, sizeof(spec), "-%u", steps);
	return run_migrate(db, spec, -1, opts);
}

/* Fills one history entry from a shipped migration and its record (may be NULL). */
static void describe(ztoq_migration *it, const struct ztoq__migrate_run *r, int version,
		     const struct ztoq__migrate_record *rec)
{
	const ztoq__migration *m = version <= (int)r->count ? &r->list[version - 1] : NULL;

	it->version = version;
	it->parent = version - 1;
	it->shipped = m != NULL;
	it->duration_ms = -1;
	if (m) {
		copy(it->name, sizeof(it->name), m->name);
		copy(it->revision, sizeof(it->revision), m->alembic_revision);
		if (version > 1)
			copy(it->parent_revision, sizeof(it->parent_revision),
			     r->list[version - 2].alembic_revision);
		checksum(r->d->migration_sql(m, 1), it->checksum);
	}
	if (!rec)
		return;
	if (!m)
		copy(it->name, sizeof(it->name), rec->name);
	it->applied = 1;
	copy(it->applied_checksum, sizeof(it->applied_checksum), rec->checksum);
	copy(it->applied_at, sizeof(it->applied_at), rec->applied_at);
	it->duration_ms = rec->duration_ms;
	it->drift = m && strcmp(it->checksum, it->applied_checksum) != 0;
}

/* Reads the records of `db` and describes every known version. */
static int read_history(ztoq_db *db, ztoq_migration_history **out,
			struct ztoq__migrate_state *st)
{
	ztoq_migration_history *h = NULL;
	struct ztoq__migrate_run r;
	size_t extra = 0;
	int code;

	if (!out)
		return ztoq__error_set(ZTOQ_EINVALID, "migrate: out is NULL");
	*out = NULL;
	if ((code = run_open(&r, db, NULL, 0)) == ZTOQ_OK)
		code = load_state(&r, st);
	for (size_t i = 0; code == ZTOQ_OK && i < st->n; i++)
		extra += st->rows[i].version > (int)r.count || st->rows[i].version < 1;
	if (code == ZTOQ_OK &&
	    (!(h = ztoq__calloc(1, sizeof(*h))) ||
	     !(h->items = ztoq__calloc(r.count + extra + 1, sizeof(*h->items)))))
		code = ztoq__error_nomem();
	if (code == ZTOQ_OK) {
		for (int v = 1; v <= (int)r.count; v++)
			describe(&h->items[h->count++], &r, v, find_record(st, v));
		for (size_t i = 0; i < st->n; i++)
			if (st->rows[i].version > (int)r.count || st->rows[i].version < 1)
				describe(&h->items[h->count++], &r, st->rows[i].version,
					 &st->rows[i]);
		*out = h;
	} else {
		ztoq_migrate_history_free(h);
		state_clear(st);
	}
	run_close(&r);
	return code;
}

ZTOQ_EXTERN(int) ztoq_migrate_history(ztoq_migration_history **out, ztoq_db *db)
{
	struct ztoq__migrate_state st;
	int code = read_history(db, out, &st);

	if (code == ZTOQ_OK)
		state_clear(&st);
	return code;
}

ZTOQ_EXTERN(void) ztoq_migrate_history_free(ztoq_migration_history *history)
{
	if (!history)
		return;
	ztoq__free(history->items);
	ztoq__free(history);
}

ZTOQ_EXTERN(int) ztoq_migrate_status(ztoq_migration_status **out, ztoq_db *db)
{
	ztoq_migration_history *h;
	ztoq_migration_status *s;
	struct ztoq__migrate_state st;
	int code;

	if (!out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_migrate_status: out is NULL");
	*out = NULL;
	if ((code = read_history(db, &h, &st)) < 0)
		return code;
	if (!(s = ztoq__calloc(1, sizeof(*s))) ||
	    !(s->pending = ztoq__calloc(h->count + 1, sizeof(int))) ||
	    !(s->drift = ztoq__calloc(h->count + 1, sizeof(int))) ||
	    !(s->unknown = ztoq__calloc(h->count + 1, sizeof(int)))) {
		code = ztoq__error_nomem();
		ztoq_migrate_status_free(s);
	} else {
		s->current = current_version(&st);
		s->head = ztoq_migrate_head();
		s->tracked = st.tracked;
		copy(s->alembic_version, sizeof(s->alembic_version), st.alembic);
		for (size_t i = 0; i < h->count; i++) {
			const ztoq_migration *it = &h->items[i];

			if (it->version == s->current)
				copy(s->current_name, sizeof(s->current_name), it->name);
			s->applied += (size_t)it->applied;
			if (!it->shipped)
				s->unknown[s->nunknown++] = it->version;
			else if (!it->applied)
				s->pending[s->npending++] = it->version;
			if (it->drift)
				s->drift[s->ndrift++] = it->version;
		}
		*out = s;
	}
	ztoq_migrate_history_free(h);
	state_clear(&st);
	return code;
}

ZTOQ_EXTERN(void) ztoq_migrate_status_free(ztoq_migration_status *status)
{
	if (!status)
		return;
	ztoq__free(status->pending);
	ztoq__free(status->drift);
	ztoq__free(status->unknown);
	ztoq__free(status);
}
