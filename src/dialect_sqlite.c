/*
 * dialect_sqlite.c - SQLite through Christian Werner's SQLite ODBC driver.
 *
 * The driver reports nearly everything as HY000 with the SQLite result code as the
 * native error, so errors are classified by native code first (docs/drivers.md).
 */
#include "dialect.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Without a DSN SQLite needs db_path; ZTOQ_EINVALID (recorded) names it when unset. */
static int validate(const ztoq__settings *set)
{
	return ztoq__settings_require(set->db_path, "db_path",
				      "SQLite needs a database file path (or :memory:)");
}

/*
 * Appends the driver (driver, else sqlite_driver) and Database=db_path to `b`; the
 * driver takes no braces, so a path it cannot be given is ZTOQ_EINVALID (recorded).
 */
static int compose_target(ztoq__buf *b, const ztoq__settings *set)
{
	ztoq__connstr_put_value(b, "Driver", set->driver ? set->driver : set->sqlite_driver, 1);
	return ztoq__connstr_put_unquotable(b, "Database", "db_path", set->db_path, "SQLite");
}

/*
 * The SQLite driver's attributes: its busy Timeout, foreign keys, NoCreat when
 * create_if_missing is 0, StepAPI, and WAL for a plain file of a string the library
 * composes (`dsn` 0). Writes `out`, which the caller owns; returns how many.
 */
static size_t attributes(ztoq__attribute *out, const ztoq__settings *set, int dsn)
{
	long busy = set->busy_timeout_ms, statement = set->statement_timeout_ms;
	const char *path = set->db_path;
	size_t n = 0;

	/* the driver waits twice its Timeout for a lock (measured: 1000 waits 2.08 s), and
	 * Timeout=0 means 1000 s: 0 asks for 1, the shortest wait it has. The watchdog's
	 * interrupt does not end a lock wait: a shorter statement timeout bounds it here
	 * (the call then fails with SQLITE_BUSY, ZTOQ_EBUSY) */
	if (statement > 0 && busy > statement)
		busy = statement;
	out[n] = (ztoq__attribute){.key = "Timeout"};
	snprintf(out[n++].value, sizeof(out[0].value), "%ld", busy ? (busy + 1) / 2 : 1);
	out[n++] = (ztoq__attribute){.key = "FKSupport", .value = "1", .required = 1};
	if (set->create_if_missing == 0)
		out[n++] = (ztoq__attribute){.key = "NoCreat", .value = "1", .required = 1};
	/* rows are produced as they are stepped, not materialised, and statements are
	 * planned for it (stmt.c; docs/drivers.md) */
	out[n++] = (ztoq__attribute){.key = "StepAPI", .value = "1", .required = 1};
	if (!dsn && strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0)
		out[n++] = (ztoq__attribute){.key = "JournalMode", .value = "WAL"};
	return n;
}

/*
 * ":memory:" would give every pooled connection its own empty database. A named
 * shared-cache in-memory database is shared by the pool and private to this manager.
 */
static int private_path(char *buf, size_t size, const char *path)
{
	static atomic_ulong sequence;

	if (strcmp(path, ":memory:") != 0)
		return 0;
	snprintf(buf, size, "file:ztoq-memory-%ld-%lu?mode=memory&cache=shared",
		 (long)getpid(), atomic_fetch_add(&sequence, 1) + 1);
	return 1;
}

/* A shared in-memory database lives as long as one connection is open. */
static int needs_one_open(const char *path)
{
	return strstr(path, "mode=memory") != NULL;
}

/*
 * The file a SQLite path names, for stat(): the path itself, or the path of a `file:`
 * URI (copied to `buf`). NULL when there is none to check: an in-memory database, a
 * percent-encoded path, one too long.
 */
static const char *file_of(const char *path, char *buf, size_t size)
{
	const char *p = path + 5;
	size_t n;

	if (strncmp(path, "file:", 5) != 0)
		return path;
	if (strncmp(p, "//", 2) == 0 && !(p = strchr(p + 2, '/')))
		return NULL;
	n = strcspn(p, "?#");
	if (strstr(path, "mode=memory") || memchr(p, '%', n) || n == 0 || n >= size)
		return NULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/*
 * Says why a SQLite file could not be opened when the reason is a missing folder, or a
 * missing file that create_if_missing 0 forbids to create. A `file:` URI is checked by
 * its path: stat() of the URI itself always failed, which called every failure of one
 * "no such file" (the private :memory: URI among them).
 */
static int explain_open(int code, const ztoq__settings *set)
{
	char buf[1024], folder[1024];
	const char *file = file_of(set->db_path, buf, sizeof(buf));
	const char *slash = file ? strrchr(file, '/') : NULL;
	struct stat st;

	if (code != ZTOQ_ECONNECT || !file)
		return code;
	if (!set->create_if_missing && stat(file, &st) != 0) {
		ztoq__error_append(" (no such file %s; create_if_missing is 0)", file);
		return ztoq__error_reclassify(ZTOQ_ENOTFOUND);
	}
	if (!slash || (size_t)(slash - file) >= sizeof(folder))
		return code;
	memcpy(folder, file, (size_t)(slash - file));
	folder[slash - file] = '\0';
	if (slash != file && stat(folder, &st) != 0)
		ztoq__error_append(" (the folder %s does not exist)", folder);
	return code;
}

/* SQLite result codes (primary code: low byte of an extended code). */
static int classify_native(int32_t native, const char *message)
{
	switch (native & 0xff) {
	case 5:  /* SQLITE_BUSY */
	case 6:  /* SQLITE_LOCKED */
		return ZTOQ_EBUSY;
	case 7:  /* SQLITE_NOMEM */
		return ZTOQ_ENOMEM;
	case 8:  /* SQLITE_READONLY */
		return ZTOQ_EREADONLY;
	case 9:  /* SQLITE_INTERRUPT */
		return ZTOQ_ETIMEOUT;
	case 14: /* SQLITE_CANTOPEN */
	case 26: /* SQLITE_NOTADB */
		return ZTOQ_ECONNECT;
	case 19: /* SQLITE_CONSTRAINT */
		return ZTOQ_ECONSTRAINT;
	default:
		break;
	}
	/* PRAGMA query_only reports "attempt to write a readonly database" */
	if (message && strstr(message, "readonly database"))
		return ZTOQ_EREADONLY;
	if (message && strstr(message, "database is locked"))
		return ZTOQ_EBUSY;
	return ZTOQ_ERROR;
}

/* Driver-manager states first, then SQLite's result code (the native error), then
 * the SQLSTATE; pure, thread-safe. */
static int classify(const char *sqlstate, int32_t native, const char *message)
{
	int code = ztoq__dialect_classify_manager(sqlstate, message);

	if (code == ZTOQ_ERROR)
		code = classify_native(native, message);
	return code != ZTOQ_ERROR ? code : ztoq__dialect_classify_sqlstate(sqlstate, native, message);
}

/* A constraint, or a value too big, mismatched or out of range (SQLite result
 * codes): an error of the rows' data, so a smaller chunk may pass (bulk.c). */
static int is_row_error(int code, const char *sqlstate, int32_t native)
{
	(void)sqlstate;
	if (code == ZTOQ_ECONSTRAINT)
		return 1;
	if (code != ZTOQ_ERROR && code != ZTOQ_EINVALID)
		return 0;
	native &= 0xff; /* TOOBIG, CONSTRAINT, MISMATCH, RANGE */
	return native == 18 || native == 19 || native == 20 || native == 25;
}

static const char *migration_sql(const ztoq__migration *m, int up)
{
	return up ? m->sqlite_up : m->sqlite_down;
}

/* ---- copying (copy.c) ------------------------------------------------------------ */

/* REAL as printf('%!.18e'): the driver's reading keeps 15 digits and '%!.17g' gets the
 * last bit of some doubles wrong; 19 digits parse back exactly (docs/design.md). */
static void copy_read(ztoq__buf *b, const char *name, ztoq__copy_kind kind)
{
	if (kind == ZTOQ__COPY_DOUBLE) {
		ztoq__buf_puts(b, "CASE WHEN ");
		ztoq__dialect_quote_ansi(b, name);
		ztoq__buf_puts(b, " IS NULL THEN NULL ELSE printf('%!.18e', ");
		ztoq__dialect_quote_ansi(b, name);
		ztoq__buf_puts(b, ") END");
		return;
	}
	if (kind == ZTOQ__COPY_TEXT || kind == ZTOQ__COPY_TS)
		ztoq__buf_puts(b, "CAST(");
	ztoq__dialect_quote_ansi(b, name);
	if (kind == ZTOQ__COPY_TEXT || kind == ZTOQ__COPY_TS)
		ztoq__buf_puts(b, " AS TEXT)");
}

/*
 * A copy inserts into indexed tables in the order of another key, touching pages all
 * over each index. With SQLite's default 2 MB page cache the transaction spills dirty
 * pages to the WAL and reads them back, and each multi-row INSERT copies the pages it
 * touches to a statement journal in a temporary file: 1,000,000 test steps took 23 s
 * of CPU in the sqlite3 shell, 7 s with a 16 MiB cache and the journals in memory
 * (docs/performance.md, issue 12). The copy's own connection gets both, and SQLite's
 * defaults back after it.
 */
static const char *const copy_write_on[] = {"PRAGMA cache_size = -16384",
					     "PRAGMA temp_store = MEMORY", NULL};
static const char *const copy_write_off[] = {"PRAGMA cache_size = -2000",
					      "PRAGMA temp_store = DEFAULT", NULL};

const ztoq__dialect ztoq__dialect_sqlite = {
	.type = ZTOQ_DB_SQLITE,
	.name = "sqlite",
	.dbms_name = "SQLite",
	.driver_file = "sqlite3odbc", /* libsqlite3odbc.so */
	.min_connections = "1",
	.max_connections = "8",
	.validate = validate,
	.compose_target = compose_target,
	.attributes = attributes,
	.private_path = private_path,
	.needs_one_open = needs_one_open,
	.explain_open = explain_open,
	.connect_alone = 1, /* the driver corrupts memory otherwise (docs/drivers.md) */
	.stop = ZTOQ__STOP_CANCEL,
	.classify = classify,
	.native_isolation = 0,
	.read_only_on = "PRAGMA query_only = 1",
	.read_only_off = "PRAGMA query_only = 0",
	/* The driver's own BEGIN is deferred: two read-then-write transactions then
	 * deadlock on the lock upgrade, and one fails at once whatever the busy
	 * timeout. IMMEDIATE takes the write lock up front, waiting its turn. */
	.begin_write = "BEGIN IMMEDIATE",
	.begin_read = "BEGIN",
	.ping_sql = "SELECT 1",
	.reset_needs_prepare = 1,
	.plan_statements = 1, /* StepAPI=1 */
	.bulk_form = ZTOQ__BULK_VALUES,
	.is_row_error = is_row_error,
	/* LIKE ignores case, as SQLite does when it reserves the sqlite_ names */
	.tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' "
		      "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
	.migration_sql = migration_sql,
	/* no lock outlives a transaction: each migration's is exclusive instead */
	.migration_begin = "BEGIN EXCLUSIVE",
	.tracking_sql = ZTOQ__TRACKING_SQL("DATETIME", "INTEGER"),
	.table_exists_sql = "SELECT COUNT(*) FROM sqlite_master "
			    "WHERE type = 'table' AND name = ?",
	.drop_table_suffix = "",
	/* SQLite checks foreign keys while it drops, refusing a parent before its
	 * children */
	.foreign_keys_off = "PRAGMA foreign_keys = OFF",
	.foreign_keys_on = "PRAGMA foreign_keys = ON",
	.copy_columns_sql = "SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
	.copy_read = copy_read,
	.copy_sequence = NULL, /* an INTEGER PRIMARY KEY goes on from the largest rowid */
	/* the declared indexes (an index backing a constraint has no SQL); SQLite's
	 * foreign keys are part of the table's own definition: kept */
	/* not a UNIQUE index: it may be a foreign key's parent key, without which SQLite
	 * refuses to prepare an INSERT into the table ("foreign key mismatch") */
	.copy_rebuild_sql = "SELECT 'DROP INDEX \"' || replace(m.name, '\"', '\"\"') || '\"', "
			    "m.sql FROM sqlite_master m JOIN pragma_index_list(m.tbl_name) l "
			    "ON l.name = m.name WHERE m.type = 'index' AND m.tbl_name = ? "
			    "AND m.sql IS NOT NULL AND l.\"unique\" = 0 ORDER BY m.name",
	.copy_write_on = copy_write_on,
	.copy_write_off = copy_write_off,
};
