/*
 * loop.c - the fault loop: a unit of work through the fault driver, once per call site,
 * and the checks after each injected failure (see loop.h, docs/reliability.md).
 */
#define _GNU_SOURCE /* RTLD_NOLOAD */
#include "loop.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The steps of the unit of work, in order. */
enum step { STEP_OPEN, STEP_ACQUIRE, STEP_TX, STEP_BATCH, STEP_BULK, STEP_RELEASE,
	    STEP_MIGRATE, STEP_CLOSE };
static const char *const step_names[] = {"open", "acquire", "transaction", "batch",
					 "bulk insert", "release", "migration", "close"};

static const char *const sites[] = {"SQLDriverConnect", "SQLPrepare", "SQLExecute",
				    "SQLExecDirect", "SQLFetch", "SQLGetData", "SQLEndTran",
				    "SQLSetConnectAttr"};
#define NSITES (sizeof(sites) / sizeof(sites[0]))
static const char *const states[] = {"08S01", "40001", "HYT00", "HY000", "40P01", "57014"};
#define NSTATES (sizeof(states) / sizeof(states[0]))

#define TX_ROWS 3
#define BULK_ROWS 50

/* The fault driver of the backend, loaded by us first so that it stays loaded (and
 * keeps its counts) while the driver manager loads and unloads it. */
static struct {
	unsigned long (*calls)(const char *name);
	unsigned long (*fired)(void);
} drv[2];
static unsigned long rule_seq;

/* The result of one unit of work: the first error and the step it came from. */
struct unit {
	int rc;
	enum step step;
	char message[512];
	ztoq_pool_stats before;
};

static int fmt(char *why, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *why, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(why, len, f, ap);
	va_end(ap);
	return -1;
}

ztoq_config *loop_config(ztoq_db_type backend, int faulty)
{
	static const char *const pg[][2] = {{"host", "ZTOQ_TEST_PG_HOST"}, {"port", "ZTOQ_TEST_PG_PORT"},
		{"database", "ZTOQ_TEST_PG_DATABASE"}, {"username", "ZTOQ_TEST_PG_USER"},
		{"password", "ZTOQ_TEST_PG_PASSWORD"}};
	char path[512];
	ztoq_config *cfg;

	if (ztoq_config_new(&cfg) < 0)
		abort();
	if (backend == ZTOQ_DB_SQLITE) {
		snprintf(path, sizeof(path), "%s/faults.db", getenv("ZTOQ_TEST_TMPDIR"));
		ztoq_config_set(cfg, "db_type", "sqlite");
		ztoq_config_set(cfg, "db_path", path);
		if (faulty)
			ztoq_config_set(cfg, "sqlite_driver", "ZTOQ Fault SQLite");
	} else {
		ztoq_config_set(cfg, "db_type", "postgresql");
		for (size_t i = 0; i < sizeof(pg) / sizeof(pg[0]); i++)
			ztoq_config_set(cfg, pg[i][0], getenv(pg[i][1]));
		ztoq_config_set(cfg, "min_connections", "1");
		if (faulty)
			ztoq_config_set(cfg, "pg_driver", "ZTOQ Fault PostgreSQL");
	}
	ztoq_config_set(cfg, "acquire_timeout_ms", "5000");
	ztoq_config_set(cfg, "connect_timeout_s", "5");
	return cfg;
}

/* Opens a manager on the real driver (for setup and for checking behind the faults). */
static ztoq_db *clean_open(ztoq_db_type backend, char *why, size_t len)
{
	ztoq_config *cfg = loop_config(backend, 0);
	ztoq_db *db = NULL;

	if (ztoq_db_open(&db, cfg) < 0)
		fmt(why, len, "clean open: %s", ztoq_error_last()->message);
	ztoq_config_free(cfg);
	return db;
}

/* The single int64 `sql` returns on `db`, or -1 (with `why` set). */
static int64_t clean_scalar(ztoq_db *db, const char *sql, char *why, size_t len)
{
	ztoq_session *s;
	ztoq_stmt *st = NULL;
	int64_t v = -1;

	if (ztoq_session_open(&s, db) < 0) {
		fmt(why, len, "clean acquire: %s", ztoq_error_last()->message);
		return -1;
	}
	if (ztoq_stmt_prepare(&st, s, sql) < 0 || ztoq_stmt_execute(st) < 0 ||
	    ztoq_stmt_fetch(st) != ZTOQ_ROW || ztoq_stmt_get_int64(st, 0, &v, NULL) < 0) {
		fmt(why, len, "clean query %s: %s", sql, ztoq_error_last()->message);
		v = -1;
	}
	ztoq_stmt_finalize(st);
	ztoq_session_close(s);
	return v;
}

void loop_rule(const char *rule)
{
	const char *path = getenv("ZTOQ_FAULT_FILE");
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (!(f = fopen(tmp, "w")))
		abort();
	fprintf(f, "# run %lu\n%s\n", ++rule_seq, rule);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		abort();
}

/* Loads the fault driver of `backend` and points the driver at our control file. */
static int driver_load(ztoq_db_type backend, char *why, size_t len)
{
	int b = backend == ZTOQ_DB_POSTGRESQL;
	char path[600];
	void *lib;

	if (drv[b].calls)
		return 0;
	snprintf(path, sizeof(path), "%s/faultdrv_%s.so", FAULTDRV_DIR, b ? "pg" : "sqlite");
	if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
		return fmt(why, len, "cannot load %s: %s", path, dlerror());
	*(void **)&drv[b].calls = dlsym(lib, "faultdrv_calls");
	*(void **)&drv[b].fired = dlsym(lib, "faultdrv_fired");
	if (!getenv("ZTOQ_FAULT_FILE")) {
		snprintf(path, sizeof(path), "%s/fault.rule", getenv("ZTOQ_TEST_TMPDIR"));
		setenv("ZTOQ_FAULT_FILE", path, 1);
	}
	return drv[b].calls && drv[b].fired ? 0 : fmt(why, len, "%s: no control functions", path);
}

/* ---- the unit of work --------------------------------------------------------------- */

static int step(struct unit *u, enum step at, int rc)
{
	if (rc < 0 && u->rc == 0) {
		u->rc = rc;
		u->step = at;
		snprintf(u->message, sizeof(u->message), "%s", ztoq_error_last()->message);
	}
	return rc;
}

/* The transaction: three prepared inserts, a read back, commit. */
static int tx_work(ztoq_session *s, void *payload)
{
	int tag = *(int *)payload, rc;
	int64_t n = 0;
	ztoq_stmt *st;

	if ((rc = ztoq_stmt_prepare(&st, s, "INSERT INTO fault_t (id, tag, kind) VALUES (?, ?, 'tx')")) < 0)
		return rc;
	for (int i = 0; i < TX_ROWS && rc == 0; i++) {
		if ((rc = ztoq_stmt_bind_int64(st, 1, tag * 1000 + i)) == 0 &&
		    (rc = ztoq_stmt_bind_int64(st, 2, tag)) == 0)
			rc = ztoq_stmt_execute(st);
	}
	ztoq_stmt_finalize(st);
	if (rc < 0 || (rc = ztoq_stmt_prepare(&st, s, "SELECT count(*) FROM fault_t WHERE tag = ?")) < 0)
		return rc;
	if ((rc = ztoq_stmt_bind_int64(st, 1, tag)) == 0 && (rc = ztoq_stmt_execute(st)) == 0 &&
	    (rc = ztoq_stmt_fetch(st)) == ZTOQ_ROW)
		rc = ztoq_stmt_get_int64(st, 0, &n, NULL);
	ztoq_stmt_finalize(st);
	return rc < 0 ? rc : n == TX_ROWS ? 0 : ZTOQ_ERROR;
}

static int count_rows(const ztoq_batch *b, void *payload)
{
	*(size_t *)payload += ztoq_batch_rows(b);
	return 0;
}

/* The batch: the transaction's rows read back two at a time. */
static int batch_work(ztoq_session *s, int tag)
{
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	ztoq_value key = ZTOQ_INT64(tag);
	size_t rows = 0;
	int rc;

	opts.batch_size = 2;
	rc = ztoq_batch_stream(NULL, s, "SELECT id, kind FROM fault_t WHERE tag = ? ORDER BY id",
			       &key, 1, count_rows, &rows, &opts);
	return rc < 0 ? rc : rows == TX_ROWS ? 0 : ZTOQ_ERROR;
}

/* The bulk insert: fifty rows in one call. */
static int bulk_work(ztoq_session *s, int tag)
{
	static const char *const columns[] = {"id", "tag", "kind"};
	static const ztoq_type types[] = {ZTOQ_TYPE_INT64, ZTOQ_TYPE_INT64, ZTOQ_TYPE_TEXT};
	ztoq_bulk_table table = {"fault_t", columns, types, NULL, 3};
	ztoq_value rows[BULK_ROWS * 3];

	for (int i = 0; i < BULK_ROWS; i++) {
		rows[i * 3] = ZTOQ_INT64(tag * 1000 + 100 + i);
		rows[i * 3 + 1] = ZTOQ_INT64(tag);
		rows[i * 3 + 2] = ZTOQ_TEXT("bulk");
	}
	return ztoq_bulk_insert(NULL, s, &table, rows, BULK_ROWS, NULL);
}

/* Runs the whole unit (open, acquire, transaction, batch, bulk insert, release, a
 * migration down and up, close) into `u`; `*db` stays open for the checks. */
static void unit_run(struct unit *u, ztoq_db **db, ztoq_db_type backend, int tag)
{
	ztoq_config *cfg = loop_config(backend, 1);
	ztoq_session *s;

	memset(u, 0, sizeof(*u));
	*db = NULL;
	step(u, STEP_OPEN, ztoq_db_open(db, cfg));
	ztoq_config_free(cfg);
	if (u->rc < 0)
		return;
	ztoq_pool_stats_get(*db, &u->before);
	if (step(u, STEP_ACQUIRE, ztoq_session_open(&s, *db)) < 0)
		return;
	if (step(u, STEP_TX, ztoq_session_transaction(s, NULL, tx_work, &tag)) == 0 &&
	    step(u, STEP_BATCH, batch_work(s, tag)) == 0)
		step(u, STEP_BULK, bulk_work(s, tag));
	step(u, STEP_RELEASE, ztoq_session_close(s));
	if (u->rc == 0 && step(u, STEP_MIGRATE, ztoq_migrate_downgrade(*db, "-1", NULL)) == 0)
		step(u, STEP_MIGRATE, ztoq_migrate_upgrade(*db, NULL, NULL));
}

/* ---- the checks --------------------------------------------------------------------- */

/* 1 when `rc` is the class an injected `state` must end in. */
static int right_class(const char *state, const char *site, int rc)
{
	if (strcmp(state, "08S01") == 0) /* during COMMIT: the outcome is not known */
		return rc == ZTOQ_EDISCONNECTED || rc == ZTOQ_ECOMMITUNKNOWN ||
		       (strcmp(site, "SQLDriverConnect") == 0 && rc == ZTOQ_ECONNECT);
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return rc == ZTOQ_ERETRY;
	if (strcmp(state, "HYT00") == 0 || strcmp(state, "57014") == 0)
		return rc == ZTOQ_ETIMEOUT;
	return rc < 0; /* HY000: ZTOQ_ERROR or something more specific */
}

/* The pool after the unit: figures add up, nothing borrowed, a broken connection was
 * evicted, and the next acquire works. */
static int check_pool(ztoq_db *db, const struct unit *u, int broke, char *why, size_t len)
{
	ztoq_pool_stats st;
	ztoq_session *s;
	int rc;

	ztoq_pool_stats_get(db, &st);
	if (st.total != st.idle + st.in_use || st.in_use != 0)
		return fmt(why, len, "pool figures: total %zu, idle %zu, in use %zu", st.total,
			   st.idle, st.in_use);
	if (broke && st.evicted <= u->before.evicted)
		return fmt(why, len, "the broken connection was not evicted (evicted %llu)",
			   (unsigned long long)st.evicted);
	if ((rc = ztoq_session_open(&s, db)) < 0)
		return fmt(why, len, "next acquire: %s", ztoq_error_last()->message);
	rc = ztoq_session_exec(s, "SELECT 1", NULL, 0, NULL);
	ztoq_session_close(s);
	ztoq_pool_stats_get(db, &st);
	if (rc < 0 || st.in_use != 0)
		return fmt(why, len, "next use: %s", ztoq_error_last()->message);
	return 0;
}

/* Through the real driver: the unit's rows are all there or all absent as its result
 * says, the schema is whole, no transaction is left open; then the schema goes back to
 * head for the next unit. */
static int check_data(ztoq_db_type backend, const struct unit *u, int tag, char *why,
		      size_t len)
{
	ztoq_db *db = clean_open(backend, why, len);
	int tx_done = u->rc == 0 || u->step > STEP_TX;
	int bulk_done = u->rc == 0 || u->step > STEP_BULK;
	ztoq_migration_status *ms = NULL;
	char sql[160];
	int64_t n;
	int rc = 0;

	if (!db)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM fault_t WHERE tag = %d AND kind = 'tx'", tag);
	/* after ZTOQ_ECOMMITUNKNOWN all the rows or none, either way */
	if ((n = clean_scalar(db, sql, why, len)) != (tx_done ? TX_ROWS : 0) &&
	    !(u->rc == ZTOQ_ECOMMITUNKNOWN && n == TX_ROWS))
		rc = n < 0 ? -1 : fmt(why, len, "%lld transaction rows after a failure at %s",
				      (long long)n, step_names[u->step]);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM fault_t WHERE tag = %d AND kind = 'bulk'", tag);
	if (rc == 0 && (n = clean_scalar(db, sql, why, len)) != (bulk_done ? BULK_ROWS : 0))
		rc = n < 0 ? -1 : fmt(why, len, "%lld bulk rows after a failure at %s",
				      (long long)n, step_names[u->step]);
	if (rc == 0 && backend == ZTOQ_DB_POSTGRESQL &&
	    (n = clean_scalar(db, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
				  "'idle in transaction%'", why, len)) != 0)
		rc = n < 0 ? -1 : fmt(why, len, "%lld server transactions left open", (long long)n);
	if (rc == 0 && ztoq_migrate_status(&ms, db) < 0)
		rc = fmt(why, len, "migration status: %s", ztoq_error_last()->message);
	if (rc == 0 && ms->current != ms->head &&
	    (u->rc == 0 || u->step != STEP_MIGRATE || ms->current != ms->head - 1))
		rc = fmt(why, len, "schema at version %d of %d after a failure at %s", ms->current,
			 ms->head, step_names[u->step]);
	ztoq_migrate_status_free(ms);
	if (rc == 0 && ztoq_migrate_upgrade(db, NULL, NULL) < 0)
		rc = fmt(why, len, "restoring the schema: %s", ztoq_error_last()->message);
	ztoq_db_close(db);
	return rc;
}

int loop_setup(ztoq_db_type backend, char *why, size_t len)
{
	ztoq_migrate_options mo = ZTOQ_MIGRATE_OPTIONS_INIT;
	ztoq_db *db;
	ztoq_session *s;
	int rc;

	if (driver_load(backend, why, len) < 0 || !(db = clean_open(backend, why, len)))
		return -1;
	mo.drop_existing = 1;
	rc = ztoq_migrate_init(db, &mo);
	if (rc == 0 && (rc = ztoq_session_open(&s, db)) == 0) {
		rc = ztoq_session_exec(s, "CREATE TABLE fault_t (id BIGINT PRIMARY KEY, tag BIGINT "
				       "NOT NULL, kind VARCHAR(8) NOT NULL)", NULL, 0, NULL);
		ztoq_session_close(s);
	}
	if (rc < 0)
		fmt(why, len, "setup: %s", ztoq_error_last()->message);
	ztoq_db_close(db);
	return rc < 0 ? -1 : 0;
}

/* Runs one unit with `rule` and every check; `tag` keeps its rows apart. */
static int unit_check(ztoq_db_type backend, const char *rule, int tag, int *survived,
		      int *fired, char *why, size_t len)
{
	int b = backend == ZTOQ_DB_POSTGRESQL;
	char site[32] = "", state[16] = "";
	struct unit u;
	ztoq_db *db;
	int rc = 0;

	sscanf(rule, "%31[^:]:%*u:%15s", site, state);
	loop_rule(rule);
	unit_run(&u, &db, backend, tag);
	*fired = drv[b].fired() == 1;
	if (u.rc < 0 && !strstr(state, "stall") && !right_class(state, site, u.rc))
		rc = fmt(why, len, "%s at %s ended in %s: %s", state, step_names[u.step],
			 ztoq_error_name(u.rc), u.message);
	else if (u.rc < 0 && strstr(state, "stall"))
		rc = fmt(why, len, "a stall failed the unit at %s: %s", step_names[u.step], u.message);
	if (rc == 0 && db)
		rc = check_pool(db, &u, u.rc == ZTOQ_EDISCONNECTED || u.rc == ZTOQ_ECOMMITUNKNOWN,
				why, len);
	ztoq_db_close(db);
	if (rc == 0)
		rc = check_data(backend, &u, tag, why, len);
	*survived = u.rc == 0;
	if (rc < 0) {
		size_t used = strlen(why);
		snprintf(why + used, len - used, " [rule %s]", rule);
	}
	return rc;
}

unsigned long loop_fired(ztoq_db_type backend)
{
	return drv[backend == ZTOQ_DB_POSTGRESQL].fired();
}

int64_t loop_count(ztoq_db_type backend, const char *sql, char *why, size_t len)
{
	ztoq_db *db = clean_open(backend, why, len);
	int64_t n = db ? clean_scalar(db, sql, why, len) : -1;

	ztoq_db_close(db);
	return n;
}

int loop_one(ztoq_db_type backend, const char *rule, char *why, size_t len)
{
	int survived, fired, rc;

	if (loop_setup(backend, why, len) < 0)
		return -1;
	rc = unit_check(backend, rule, 1, &survived, &fired, why, len);
	return rc == 0 && !fired ? fmt(why, len, "the fault never fired") : rc;
}

/* 1 when call `n` of `calls` is in the short loop's sample: the first, the last and
 * four spread between them. */
static int sampled(unsigned long n, unsigned long calls)
{
	for (unsigned long k = 0; k < 6; k++)
		if (n == 1 + k * (calls - 1) / 5)
			return 1;
	return 0;
}

int loop_run(ztoq_db_type backend, loop_size size, loop_result *out)
{
	unsigned long calls[NSITES];
	char rule[96], why[sizeof(out->first)];
	struct unit u;
	unsigned pick = 0;
	int tag = 1, survived, fired;
	ztoq_db *db;

	memset(out, 0, sizeof(*out));
	if (loop_setup(backend, out->first, sizeof(out->first)) < 0)
		return -1;
	/* a clean run counts the calls of each site: the loop injects at each of them */
	loop_rule("");
	unit_run(&u, &db, backend, tag);
	for (size_t f = 0; f < NSITES; f++) {
		size_t used = strlen(out->calls);

		calls[f] = drv[backend == ZTOQ_DB_POSTGRESQL].calls(sites[f]);
		snprintf(out->calls + used, sizeof(out->calls) - used, "%s%s=%lu", used ? " " : "",
			 sites[f] + 3, calls[f]);
	}
	ztoq_db_close(db);
	if (u.rc < 0 || check_data(backend, &u, tag++, out->first, sizeof(out->first)) < 0) {
		if (u.rc < 0)
			fmt(out->first, sizeof(out->first), "the clean unit failed at %s: %s",
			    step_names[u.step], u.message);
		return -1;
	}
	for (size_t f = 0; f < NSITES; f++) {
		for (unsigned long n = 1; n <= calls[f]; n++) {
			if (size == LOOP_SHORT && !sampled(n, calls[f]))
				continue;
			for (size_t k = 0; k < NSTATES; k++) {
				const char *state = states[size == LOOP_SHORT ? pick++ % NSTATES : k];

				snprintf(rule, sizeof(rule), "%s:%lu:%s", sites[f], n, state);
				out->units++;
				if (unit_check(backend, rule, tag++, &survived, &fired, why,
					       sizeof(why)) < 0) {
					if (!out->failed++)
						snprintf(out->first, sizeof(out->first), "%s", why);
					fprintf(stderr, "faults: %s\n", why);
				}
				if (survived && fired) {
					size_t used = strlen(out->absorbed);

					out->survived++;
					snprintf(out->absorbed + used, sizeof(out->absorbed) - used,
						 "%s%s", used ? " " : "", rule);
				}
				out->unfired += !fired;
				if (size == LOOP_SHORT)
					break;
			}
		}
	}
	return out->failed ? -1 : 0;
}
