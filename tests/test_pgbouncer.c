/*
 * test_pgbouncer.c - the library behind PgBouncer in transaction-pooling mode
 * (pooler=transaction): no session state outlives a transaction (issue 10).
 *
 * The fixture's PgBouncer (tests/fixture/pgbouncer.sh) has default_pool_size 2: every
 * client shares two server connections, so state left on one shows up in another
 * client. Setup and checks go to the server directly (test_config), the work under
 * test through PgBouncer (pgb_config).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate_support.h"
#include "support.h"

/* The lock migrations take: "ztoq_mig" as a big-endian 64-bit key. */
#define MIGRATION_KEY "8823800102648637799"
#define ADVISORY_LOCKS "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'"

/* A config through the fixture's PgBouncer with pooler=transaction (skips loudly when
 * there is none). Caller frees. */
static ztoq_config *pgb_config(const char *pooler)
{
	const char *why = getenv("ZTOQ_TEST_PGB_UNAVAILABLE");
	ztoq_config *cfg;

	if (why) {
		fprintf(stderr, "*** SKIPPING PgBouncer test: %s ***\n", why);
		cr_skip_test("PgBouncer unavailable: %s", why);
	}
	cfg = test_config_form(ZTOQ_DB_POSTGRESQL, "options");
	test_ok(ztoq_config_set(cfg, "port", getenv("ZTOQ_TEST_PGB_PORT")));
	if (pooler)
		test_ok(ztoq_config_set(cfg, "pooler", pooler));
	return cfg;
}

/* A manager through PgBouncer with pooler=transaction and option `key` set to `value`. */
static ztoq_db *pgb_open_with(const char *key, const char *value)
{
	ztoq_config *cfg = pgb_config("transaction");
	ztoq_db *db = NULL;

	test_ok(ztoq_config_set(cfg, key, value));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	return db;
}

/* A manager through PgBouncer with pooler=transaction and `max` connections. */
static ztoq_db *pgb_open(const char *max)
{
	return pgb_open_with("max_connections", max);
}

/* The text `sql` returns in its first row (SHOW ...), into `out`. */
static int copy_text(ztoq_stmt *st, void *payload)
{
	const char *text = "";

	test_ok(ztoq_stmt_get_text(st, 0, &text, NULL, NULL));
	snprintf(payload, 64, "%s", text);
	return 0;
}

static const char *show(ztoq_session *s, const char *sql, char out[64])
{
	out[0] = '\0';
	test_ok(ztoq_session_query(s, sql, NULL, 0, copy_text, out));
	return out;
}

/* The number of advisory locks anyone holds, asked of the server directly. */
static int64_t advisory_locks(void)
{
	ztoq_db *direct = test_open(ZTOQ_DB_POSTGRESQL);
	ztoq_session *s;
	int64_t n;

	test_ok(ztoq_session_open(&s, direct));
	n = test_scalar(s, ADVISORY_LOCKS);
	test_close(direct, s);
	return n;
}

/* Seconds since `t0` (CLOCK_MONOTONIC). */
static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* What a worker thread saw: Criterion's assertions may only run on the test's own
 * thread, so workers record their first failure and the test asserts after the join. */
struct outcome {
	int code;
	char message[512];
};

/* A worker thread's subject (a manager or a session, as the worker says) and outcome. */
struct job {
	void *on;
	struct outcome out;
};

/* Records `code` and the last error's message into `o` when `code` is a failure (and
 * none is recorded yet); returns whether it was one. */
static int failed(struct outcome *o, int code, const char *what)
{
	if (code >= 0 || o->code < 0)
		return code < 0;
	o->code = code;
	snprintf(o->message, sizeof(o->message), "%s: %s: %s", what, ztoq_error_name(code),
		 ztoq_error_last()->message);
	return 1;
}

/* ---- configuration ---------------------------------------------------------------- */

Test(pgbouncer_config, pooler_transaction_is_for_postgresql_only, .timeout = 20)
{
	ztoq_config *cfg = test_config(ZTOQ_DB_SQLITE);
	ztoq_db *db = NULL;

	cr_assert_eq(ztoq_config_set(cfg, "pooler", "statement"), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "pooler"), "%s", ztoq_error_last()->message);
	test_ok(ztoq_config_set(cfg, "pooler", "session")); /* the same as none */
	test_ok(ztoq_config_validate(cfg));
	test_ok(ztoq_config_set(cfg, "pooler", "transaction"));
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "pooler"), "%s", ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "PostgreSQL"), "%s",
		  ztoq_error_last()->message);
	ztoq_config_free(cfg);
	/* a DSN without db_type: refused once its driver names the backend */
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "dsn", "ztoq_sqlite"));
	test_ok(ztoq_config_set(cfg, "pooler", "transaction"));
	cr_assert_eq(ztoq_db_open(&db, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "pooler=transaction"), "%s",
		  ztoq_error_last()->message);
	ztoq_config_free(cfg);
}

/* pooler=transaction is one check among the others: an empty host or database is
 * still refused by name (it once skipped them and crashed composing the connection) */
Test(pgbouncer_config, pooler_transaction_still_checks_host_and_database, .timeout = 20)
{
	static const char *const keys[] = {"host", "database"};

	for (int i = 0; i < 2; i++) {
		ztoq_config *cfg = test_config_form(ZTOQ_DB_POSTGRESQL, "options");
		char *connstr = NULL;

		test_ok(ztoq_config_set(cfg, "pooler", "transaction"));
		test_ok(ztoq_config_set(cfg, keys[i], ""));
		cr_assert_eq(ztoq_config_validate(cfg), ZTOQ_EINVALID, "%s", keys[i]);
		cr_assert(strstr(ztoq_error_last()->message, keys[i]), "%s",
			  ztoq_error_last()->message);
		cr_assert_eq(ztoq_connstr_build(&connstr, cfg), ZTOQ_EINVALID, "%s", keys[i]);
		cr_assert(strstr(ztoq_error_last()->message, keys[i]), "%s",
			  ztoq_error_last()->message);
		cr_assert_null(connstr);
		ztoq_config_free(cfg);
	}
}

Test(pgbouncer_config, transaction_pooling_composes_no_session_state, .timeout = 20)
{
	ztoq_config *cfg = test_config_form(ZTOQ_DB_POSTGRESQL, "options");
	char *connstr;

	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "1500"));
	test_ok(ztoq_connstr_build(&connstr, cfg));
	cr_assert(strstr(connstr, "statement_timeout=1500"), "%s", connstr); /* pooler none */
	cr_assert_null(strstr(connstr, "UseServerSidePrepare"), "%s", connstr);
	ztoq_free(connstr);
	test_ok(ztoq_config_set(cfg, "pooler", "transaction"));
	test_ok(ztoq_connstr_build(&connstr, cfg));
	cr_assert_null(strstr(connstr, "statement_timeout"), "%s", connstr);
	cr_assert(strstr(connstr, "UseServerSidePrepare=0"), "%s", connstr);
	ztoq_free(connstr);
	/* a caller who asks for server-side prepares behind a transaction pooler is refused */
	test_ok(ztoq_config_set(cfg, "odbc_options", "UseServerSidePrepare=1"));
	cr_assert_eq(ztoq_connstr_build(&connstr, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "UseServerSidePrepare"), "%s",
		  ztoq_error_last()->message);
	ztoq_config_free(cfg);
}

Test(pgbouncer_config, a_refused_startup_parameter_names_the_pooler_option, .timeout = 30)
{
	ztoq_config *cfg = pgb_config(NULL);
	ztoq_db *db = NULL;

	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "1000"));
	if (ztoq_db_open(&db, cfg) == ZTOQ_OK) { /* PgBouncer >= 1.20 may take `options` */
		ztoq_db_close(db);
		ztoq_config_free(cfg);
		cr_skip_test("this PgBouncer accepts the options startup parameter");
	}
	cr_assert(strstr(ztoq_error_last()->message, "unsupported startup parameter"), "%s",
		  ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "set pooler=transaction"), "%s",
		  ztoq_error_last()->message);
	ztoq_config_free(cfg);
	/* with pooler=transaction already set the hint would mislead: the caller's own
	 * options are refused */
	cfg = pgb_config("transaction");
	test_ok(ztoq_config_set(cfg, "odbc_options", "pqopt={options='-c work_mem=64kB'}"));
	cr_assert_neq(ztoq_db_open(&db, cfg), ZTOQ_OK);
	cr_assert(strstr(ztoq_error_last()->message, "unsupported startup parameter"), "%s",
		  ztoq_error_last()->message);
	cr_assert_null(strstr(ztoq_error_last()->message, "set pooler=transaction"), "%s",
		       ztoq_error_last()->message);
	ztoq_config_free(cfg);
}

/* ---- 8 threads x 1,000 short transactions --------------------------------------------- */

#define THREADS 8
#define TXS 1000

struct counter_work {
	ztoq_db *db;
	int id;
	int64_t done;
	struct outcome out;
};

/* One short transaction: reads a shared row, updates it and inserts a row. */
static int bump(ztoq_session *s, void *payload)
{
	struct counter_work *w = payload;
	ztoq_value key = ZTOQ_INT64(w->id % 3), who = ZTOQ_INT64(w->id);
	int64_t n = 0;
	int code;

	if ((code = ztoq_session_scalar(s, "SELECT n FROM counters WHERE id = ?", &key, 1, &n,
					NULL)) < 0 ||
	    (code = ztoq_session_exec(s, "UPDATE counters SET n = n + 1 WHERE id = ?", &key, 1,
				      NULL)) < 0)
		return code;
	return ztoq_session_exec(s, "INSERT INTO events (worker) VALUES (?)", &who, 1, NULL);
}

static void *count_thread(void *arg)
{
	struct counter_work *w = arg;
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;

	opts.max_retries = 20;
	for (int i = 0; i < TXS; i++) {
		if (failed(&w->out, ztoq_db_transaction(w->db, &opts, bump, w), "a transaction"))
			break;
		w->done++;
	}
	return NULL;
}

Test(pgbouncer, eight_threads_thousand_transactions_exact_counts, .timeout = 240)
{
	struct counter_work w[THREADS];
	pthread_t t[THREADS];
	ztoq_session *s;
	ztoq_db *direct = fresh_db(ZTOQ_DB_POSTGRESQL), *db;
	int64_t total = 0;

	test_ok(ztoq_session_open(&s, direct));
	test_exec(s, "CREATE TABLE counters (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)");
	test_exec(s, "INSERT INTO counters VALUES (0, 0), (1, 0), (2, 0)");
	test_exec(s, "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, worker INTEGER NOT NULL)");
	db = pgb_open("8");
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct counter_work){.db = db, .id = i};
		cr_assert_eq(pthread_create(&t[i], NULL, count_thread, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].out.code, 0, "worker %d after %lld transactions: %s", i,
			     (long long)w[i].done, w[i].out.message);
		total += w[i].done;
	}
	cr_assert_eq(total, THREADS * TXS);
	cr_assert_eq(test_scalar(s, "SELECT SUM(n) FROM counters"), THREADS * TXS);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(*) FROM events"), THREADS * TXS);
	/* workers 0, 3, 6 bump row 0; 1, 4, 7 row 1; 2, 5 row 2 */
	cr_assert_eq(test_scalar(s, "SELECT n FROM counters WHERE id = 2"), 2 * TXS);
	cr_assert_eq(test_scalar(s, "SELECT COUNT(DISTINCT worker) FROM events"), THREADS);
	ztoq_db_close(db);
	test_close(direct, s);
}

/* ---- prepared statements ------------------------------------------------------------- */

/* 200 prepared statements, every other one in a transaction of its own. */
static void *reuse_thread(void *arg)
{
	struct job *w = arg; /* on a manager */
	ztoq_session *s;

	if (failed(&w->out, ztoq_session_open(&s, w->on), "session_open"))
		return NULL;
	for (int i = 0; i < 200; i++) {
		ztoq_value v = ZTOQ_INT64(i);
		int64_t got = -1;

		if ((i % 2 && failed(&w->out, ztoq_tx_begin(s, NULL), "tx_begin")) ||
		    failed(&w->out,
			   ztoq_session_scalar(s, "SELECT ?::bigint + 0 * pg_backend_pid()", &v,
					       1, &got, NULL),
			   "the statement") ||
		    (got != i && failed(&w->out, ZTOQ_ERROR, "a wrong answer")) ||
		    (i % 2 && failed(&w->out, ztoq_tx_commit(s), "tx_commit")))
			break;
	}
	ztoq_session_close(s);
	return NULL;
}

Test(pgbouncer, prepared_statements_are_reused_across_transactions, .timeout = 120)
{
	ztoq_db *db = pgb_open("8");
	ztoq_session *holder;
	struct job w[6];
	pthread_t t[6];

	/* one session holds a server connection in a transaction meanwhile: the others'
	 * statements move between server connections */
	test_ok(ztoq_session_open(&holder, db));
	test_ok(ztoq_tx_begin(holder, NULL));
	cr_assert_eq(test_scalar(holder, "SELECT 1"), 1);
	for (int i = 0; i < 6; i++) {
		w[i] = (struct job){.on = db};
		cr_assert_eq(pthread_create(&t[i], NULL, reuse_thread, &w[i]), 0);
	}
	test_sleep_ms(200);
	test_ok(ztoq_tx_commit(holder));
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].out.code, 0, "thread %d: %s", i, w[i].out.message);
	}
	ztoq_session_close(holder);
	ztoq_db_close(db);
}

/* ---- streams ---------------------------------------------------------------------- */

/* Sums column 0 of each batch; another session runs a statement between batches. */
struct stream_sum {
	ztoq_session *other;
	int64_t sum;
};

static int sum_batch(const ztoq_batch *b, void *payload)
{
	struct stream_sum *st = payload;

	for (size_t r = 0; r < ztoq_batch_rows(b); r++) {
		int64_t v = 0;

		test_ok(ztoq_batch_get_int64(b, r, 0, &v, NULL));
		st->sum += v;
	}
	cr_assert_eq(test_scalar(st->other, "SELECT 5"), 5);
	return 0;
}

Test(pgbouncer, a_stream_opened_outside_a_transaction_keeps_its_cursor, .timeout = 60)
{
	ztoq_db *db = pgb_open("3");
	ztoq_session *s, *other, *holder;
	ztoq_batch_options opts = ZTOQ_BATCH_OPTIONS_INIT;
	ztoq_batch_stats stats;
	struct stream_sum st = {NULL, 0};

	opts.batch_size = 1000;
	test_ok(ztoq_session_open(&s, db));
	test_ok(ztoq_session_open(&st.other, db));
	other = st.other;
	test_ok(ztoq_session_open(&holder, db));
	for (int round = 0; round < 3; round++) {
		st.sum = 0;
		test_ok(ztoq_batch_stream(&stats, s, "SELECT g FROM generate_series(1, 3500) g",
					  NULL, 0, sum_batch, &st, &opts));
		cr_assert_eq(stats.rows, 3500);
		cr_assert_eq(stats.batches, 4);
		cr_assert_eq(st.sum, 3500 * 3501 / 2);
		cr_assert_eq(ztoq_tx_depth(s), 0);
		/* no cursor is left on any server connection: both are free for these */
		test_ok(ztoq_tx_begin(holder, NULL));
		test_ok(ztoq_tx_begin(other, NULL));
		cr_assert_eq(test_scalar(holder, "SELECT COUNT(*) FROM pg_cursors"), 0);
		cr_assert_eq(test_scalar(other, "SELECT COUNT(*) FROM pg_cursors"), 0);
		test_ok(ztoq_tx_commit(other));
		test_ok(ztoq_tx_commit(holder));
	}
	ztoq_session_close(holder);
	ztoq_session_close(other);
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* ---- isolation and read-only ------------------------------------------------------- */

/* Begins a transaction on `s` at `level` and checks what the server and the library say. */
static void check_level(ztoq_session *s, ztoq_isolation level, int read_only, const char *want)
{
	ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;
	char got[64];

	opts.isolation = level;
	opts.read_only = read_only;
	test_ok(ztoq_tx_begin(s, &opts));
	cr_assert_str_eq(show(s, "SHOW transaction_isolation", got), want);
	cr_assert_str_eq(show(s, "SHOW transaction_read_only", got), read_only ? "on" : "off");
	cr_assert_eq(ztoq_session_isolation(s),
		     level ? level : ZTOQ_ISOLATION_READ_COMMITTED, "the library says %d",
		     (int)ztoq_session_isolation(s));
	cr_assert_eq(ztoq_session_read_only(s), read_only);
}

Test(pgbouncer, isolation_and_read_only_do_not_leak, .timeout = 60)
{
	ztoq_db *db = pgb_open("3");
	ztoq_session *a, *b, *c;

	test_ok(ztoq_session_open(&a, db));
	test_ok(ztoq_session_open(&b, db));
	test_ok(ztoq_session_open(&c, db));
	for (int round = 0; round < 4; round++) {
		check_level(a, ZTOQ_ISOLATION_SERIALIZABLE, 1, "serializable");
		test_ok(ztoq_tx_commit(a));
		check_level(b, ZTOQ_ISOLATION_DEFAULT, 0, "read committed"); /* held open */
		check_level(a, ZTOQ_ISOLATION_SERIALIZABLE, 0, "serializable");
		test_ok(ztoq_tx_commit(a)); /* two server connections: b holds one */
		check_level(c, ZTOQ_ISOLATION_REPEATABLE_READ, 1, "repeatable read");
		test_ok(ztoq_tx_commit(c));
		test_ok(ztoq_tx_commit(b));
		check_level(c, ZTOQ_ISOLATION_DEFAULT, 0, "read committed");
		test_ok(ztoq_tx_commit(c));
	}
	ztoq_session_close(a);
	ztoq_session_close(b);
	ztoq_session_close(c);
	ztoq_db_close(db);
}

/* Sets `settings` (set_config calls) as the defaults of both of PgBouncer's server
 * connections, as a pooler=none client may: both are held in a transaction at once. */
static void leave_on_server_connections(const char *settings)
{
	ztoq_config *cfg = pgb_config(NULL);
	ztoq_db *db = NULL;
	ztoq_session *s[2];

	test_ok(ztoq_config_set(cfg, "max_connections", "2"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	for (int i = 0; i < 2; i++) {
		test_ok(ztoq_session_open(&s[i], db));
		test_ok(ztoq_tx_begin(s[i], NULL));
		test_exec(s[i], settings);
	}
	for (int i = 0; i < 2; i++) {
		test_ok(ztoq_tx_commit(s[i]));
		ztoq_session_close(s[i]);
	}
	ztoq_db_close(db);
}

#define LEAKED_DEFAULTS                                                                 \
	"SELECT set_config('default_transaction_isolation', 'serializable', false), "     \
	"set_config('default_transaction_read_only', 'on', false), "                      \
	"set_config('statement_timeout', '1234', false)"

/* The test's manager and session, which a failed assertion leaves open. */
static ztoq_db *victim_db;
static ztoq_session *victim;

/* Puts the server connections' defaults back, passed or failed (first ending the
 * transaction a failed test left holding one of them). */
static void restore_server_connections(void)
{
	if (victim)
		ztoq_session_close(victim);
	if (victim_db)
		ztoq_db_close(victim_db);
	leave_on_server_connections("RESET ALL");
}

Test(pgbouncer, another_clients_defaults_do_not_reach_a_transaction,
     .fini = restore_server_connections, .timeout = 60)
{
	ztoq_db *db = victim_db = pgb_open("1");
	ztoq_session *s;
	char got[64];

	test_ok(ztoq_session_open(&s, db)); /* connected (its level read) before the leak */
	victim = s;
	leave_on_server_connections(LEAKED_DEFAULTS);
	for (int round = 0; round < 3; round++) {
		test_ok(ztoq_tx_begin(s, NULL));
		cr_assert_str_eq(show(s, "SHOW transaction_isolation", got), "read committed");
		cr_assert_str_eq(show(s, "SHOW transaction_read_only", got), "off");
		cr_assert_str_eq(show(s, "SHOW statement_timeout", got), "0");
		cr_assert_eq(ztoq_session_isolation(s), ZTOQ_ISOLATION_READ_COMMITTED);
		cr_assert_eq(ztoq_session_read_only(s), 0);
		test_exec(s, "CREATE TEMP TABLE written (id INTEGER)"); /* really read-write */
		test_ok(ztoq_tx_rollback(s));
	}
}

/* ---- statement timeout -------------------------------------------------------------- */

Test(pgbouncer, statement_timeout_holds_in_a_transaction_and_does_not_leak, .timeout = 60)
{
	ztoq_db *db = pgb_open_with("statement_timeout_ms", "500"), *plain = pgb_open("2");
	ztoq_session *s, *p[2];
	struct timespec t0;
	char got[64];
	int code;
	double s_taken;

	test_ok(ztoq_session_open(&s, db));
	for (int round = 0; round < 3; round++) {
		test_ok(ztoq_tx_begin(s, NULL));
		cr_assert_str_eq(show(s, "SHOW statement_timeout", got), "500ms");
		clock_gettime(CLOCK_MONOTONIC, &t0);
		code = ztoq_session_exec(s, "SELECT pg_sleep(3)", NULL, 0, NULL);
		s_taken = seconds_since(&t0);
		cr_assert_eq(code, ZTOQ_ETIMEOUT, "%s: %s", ztoq_error_name(code),
			     ztoq_error_last()->message);
		cr_assert_str_eq(ztoq_error_last()->sqlstate, "57014", "%s",
				 ztoq_error_last()->message);
		cr_assert_lt(s_taken, 1.4, "the server's timeout, not the watchdog's: %.2f s",
			     s_taken);
		test_ok(ztoq_tx_rollback(s));
		cr_assert_eq(test_scalar(s, "SELECT 7"), 7); /* the connection survived */
	}
	/* with a level and read-only too: one first statement sets all three */
	{
		ztoq_tx_options opts = ZTOQ_TX_OPTIONS_INIT;

		opts.isolation = ZTOQ_ISOLATION_SERIALIZABLE;
		opts.read_only = 1;
		test_ok(ztoq_tx_begin(s, &opts));
		cr_assert_str_eq(show(s, "SHOW statement_timeout", got), "500ms");
		cr_assert_str_eq(show(s, "SHOW transaction_isolation", got), "serializable");
		cr_assert_str_eq(show(s, "SHOW transaction_read_only", got), "on");
		test_ok(ztoq_tx_commit(s));
	}
	/* both server connections, each in a transaction of a client without a timeout */
	for (int i = 0; i < 2; i++) {
		test_ok(ztoq_session_open(&p[i], plain));
		test_ok(ztoq_tx_begin(p[i], NULL));
		cr_assert_str_eq(show(p[i], "SHOW statement_timeout", got), "0");
	}
	for (int i = 0; i < 2; i++) {
		test_ok(ztoq_tx_commit(p[i]));
		ztoq_session_close(p[i]);
	}
	ztoq_session_close(s);
	ztoq_db_close(db);
	ztoq_db_close(plain);
}

/* Outside a transaction there is no server-side timeout behind a transaction pooler:
 * the watchdog ends the statement, one second after statement_timeout_ms
 * (docs/scaling.md), and the manager's next session works. */
Test(pgbouncer, an_autocommit_statement_is_ended_by_the_watchdog, .timeout = 60)
{
	ztoq_db *db = pgb_open_with("statement_timeout_ms", "500");
	ztoq_session *s;
	struct timespec t0;
	int code;
	double s_taken;

	test_ok(ztoq_session_open(&s, db));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	code = ztoq_session_exec(s, "SELECT pg_sleep(10)", NULL, 0, NULL);
	s_taken = seconds_since(&t0);
	cr_assert_eq(code, ZTOQ_ETIMEOUT, "%s: %s", ztoq_error_name(code),
		     ztoq_error_last()->message);
	cr_log_info("the watchdog ended it after %.2f s", s_taken);
	cr_assert(s_taken > 1.2 && s_taken < 2.5, "ended after %.2f s, expected about 1.5 s",
		  s_taken);
	ztoq_session_close(s);
	test_ok(ztoq_session_open(&s, db));
	cr_assert_eq(test_scalar(s, "SELECT 7"), 7);
	test_ok(ztoq_tx_begin(s, NULL));
	cr_assert_eq(test_scalar(s, "SELECT 8"), 8);
	test_ok(ztoq_tx_commit(s));
	ztoq_session_close(s);
	ztoq_db_close(db);
}

/* ---- migrations ------------------------------------------------------------------- */

/* The schema of the test database, read from the catalog (tables, columns, indexes). */
static char *schema_text(void)
{
	ztoq_db *direct = test_open(ZTOQ_DB_POSTGRESQL);
	ztoq_session *s;
	char *tables, *out = NULL, *item;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	test_ok(ztoq_session_open(&s, direct));
	tables = catalog_tables(s);
	fprintf(f, "%s\n", tables);
	for (char *save = NULL, *t = strtok_r(tables, "; ", &save); t;
	     t = strtok_r(NULL, "; ", &save)) {
		if (strcmp(t, "ztoq_schema_migrations") == 0)
			continue; /* applied_at, duration differ */
		item = catalog_columns(s, t);
		fprintf(f, "%s: %s\n", t, item);
		free(item);
		item = catalog_indexes(s, t);
		fprintf(f, "%s idx: %s\n", t, item);
		free(item);
	}
	fclose(f);
	free(tables);
	test_close(direct, s);
	return out;
}

/* Migrates its job's manager (opened and closed by the test's thread). */
static void *migrate_thread(void *arg)
{
	struct job *m = arg;

	failed(&m->out, ztoq_migrate_init(m->on, NULL), "ztoq_migrate_init");
	return NULL;
}

Test(pgbouncer, concurrent_migrations_all_succeed_and_leave_no_lock, .timeout = 180)
{
	struct job m[6];
	pthread_t t[6];
	ztoq_db *reference;
	char *want, *got;

	reference = db_at_head(ZTOQ_DB_POSTGRESQL); /* the schema made directly, alone */
	ztoq_db_close(reference);
	want = schema_text();
	for (int round = 0; round < 2; round++) {
		ztoq_db_close(fresh_db(ZTOQ_DB_POSTGRESQL));
		for (int i = 0; i < 6; i++) {
			m[i] = (struct job){.on = pgb_open("2")};
			cr_assert_eq(pthread_create(&t[i], NULL, migrate_thread, &m[i]), 0);
		}
		for (int i = 0; i < 6; i++) {
			pthread_join(t[i], NULL);
			ztoq_db_close(m[i].on);
			cr_assert_eq(m[i].out.code, 0, "round %d migrator %d: %s", round, i,
				     m[i].out.message);
		}
		cr_assert_eq(advisory_locks(), 0, "an advisory lock outlived its migrator");
		got = schema_text();
		cr_assert_str_eq(got, want);
		free(got);
	}
	free(want);
}

/* Starts `ztoq db init` through PgBouncer, the pooler given by flag (`by_flag`) or by
 * ZTOQ_PG_POOLER, its stderr into `err` (a path). */
static pid_t start_cli_init(int by_flag, const char *err)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0 || !freopen("/dev/null", "w", stdout))
			_exit(127);
		setenv("ZTOQ_DB_TYPE", "postgresql", 1);
		setenv("ZTOQ_PG_HOST", getenv("ZTOQ_TEST_PG_HOST"), 1);
		setenv("ZTOQ_PG_PORT", getenv("ZTOQ_TEST_PGB_PORT"), 1);
		setenv("ZTOQ_PG_DATABASE", getenv("ZTOQ_TEST_PG_DATABASE"), 1);
		setenv("ZTOQ_PG_USER", getenv("ZTOQ_TEST_PG_USER"), 1);
		setenv("ZTOQ_PG_PASSWORD", getenv("ZTOQ_TEST_PG_PASSWORD"), 1);
		if (!by_flag)
			setenv("ZTOQ_PG_POOLER", "transaction", 1);
		execl(ZTOQ_CLI, ZTOQ_CLI, "db", "init", "--min-connections", "1",
		      by_flag ? "--pooler" : NULL, "transaction", (char *)NULL);
		_exit(127);
	}
	return pid;
}

Test(pgbouncer, concurrent_cli_db_init_through_pgbouncer, .timeout = 120)
{
	char err[4][512], text[2048];
	pid_t pid[4];
	int status;

	ztoq_config_free(pgb_config(NULL)); /* skips without PgBouncer */
	ztoq_db_close(fresh_db(ZTOQ_DB_POSTGRESQL));
	for (int i = 0; i < 4; i++) {
		snprintf(err[i], sizeof(err[i]), "%s", test_path("cli-stderr"));
		pid[i] = start_cli_init(i % 2, err[i]);
		cr_assert_gt(pid[i], 0);
	}
	for (int i = 0; i < 4; i++) {
		FILE *f;
		size_t n;

		cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
		f = fopen(err[i], "r");
		n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		text[n] = '\0';
		if (f)
			fclose(f);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ztoq db init %d: %s",
			  i, text);
	}
	cr_assert_eq(advisory_locks(), 0);
}

/* Polls the number of advisory locks until it is `want`, for at most `deadline_ms`;
 * returns the last count. */
static int64_t advisory_locks_become(int64_t want, int deadline_ms)
{
	int64_t n = advisory_locks();

	for (int waited = 0; n != want && waited < deadline_ms; waited += 100) {
		test_sleep_ms(100);
		n = advisory_locks();
	}
	return n;
}

/* Makes the test database one migration short of head and locks its tracking table
 * (ACCESS EXCLUSIVE) in a transaction of `*holder`, on the manager it returns (the
 * caller closes both), so that the next migration waits in its transaction. */
static ztoq_db *one_behind_and_locked(ztoq_session **holder)
{
	ztoq_db *db = db_at_head(ZTOQ_DB_POSTGRESQL);

	test_ok(ztoq_migrate_downgrade_steps(db, 1, NULL));
	ztoq_db_close(db);
	db = test_open(ZTOQ_DB_POSTGRESQL);
	test_ok(ztoq_session_open(holder, db));
	test_ok(ztoq_tx_begin(*holder, NULL));
	test_exec(*holder, "LOCK TABLE ztoq_schema_migrations IN ACCESS EXCLUSIVE MODE");
	return db;
}

/* A migrator through PgBouncer is killed (SIGKILL) while its transaction holds the
 * migration lock: it waits there for a table lock the test holds. Its lock goes once
 * the statement it was in ends (docs/scaling.md), and the next migration runs. */
Test(pgbouncer, a_killed_migrator_leaves_no_lock_behind, .timeout = 90)
{
	ztoq_config *cfg;
	ztoq_session *holder;
	ztoq_db *db, *holder_db = one_behind_and_locked(&holder);
	int status;
	pid_t child;

	cfg = pgb_config("transaction");
	fflush(NULL);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		if (ztoq_db_open(&db, cfg) == 0)
			ztoq_migrate_upgrade(db, NULL, NULL);
		_exit(3); /* the test kills it before */
	}
	cr_assert_eq(advisory_locks_become(1, 20000), 1,
		     "the migrator never held the migration lock");
	cr_assert_eq(waitpid(child, &status, WNOHANG), 0, "the migrator ended: status %d",
		     status);
	kill(child, SIGKILL);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
	test_ok(ztoq_tx_commit(holder)); /* the killed migrator's statement ends */
	cr_assert_eq(advisory_locks_become(0, 10000), 0,
		     "the killed migrator's lock is still held after 10 s");
	test_ok(ztoq_db_open(&db, cfg));
	test_ok(ztoq_migrate_upgrade(db, NULL, NULL));
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	test_close(holder_db, holder);
}

/* Commits the transaction of its job's session (which the test's thread does not use
 * meanwhile) after 1.5 s; its outcome is asserted after the join. */
static void *release_later(void *arg)
{
	struct job *h = arg;

	test_sleep_ms(1500);
	failed(&h->out, ztoq_tx_commit(h->on), "the holder's commit");
	return NULL;
}

/* lock_timeout_ms bounds the wait for the migration lock only: a table lock another
 * session holds for longer (1.5 s against 300 ms) is waited for, as the statement
 * timeout allows (lock_wait_reset puts the server's default back). Directly on the
 * server. */
Test(pgbouncer, a_migration_waits_for_a_table_lock_beyond_lock_timeout, .timeout = 60)
{
	ztoq_session *holder;
	ztoq_db *db, *holder_db = one_behind_and_locked(&holder);
	struct job h = {.on = holder};
	ztoq_config *cfg = test_config_form(ZTOQ_DB_POSTGRESQL, "options");
	struct timespec t0;
	pthread_t t;
	int code;
	double s_taken;

	test_ok(ztoq_config_set(cfg, "lock_timeout_ms", "300"));
	test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "20000"));
	test_ok(ztoq_db_open(&db, cfg));
	ztoq_config_free(cfg);
	cr_assert_eq(pthread_create(&t, NULL, release_later, &h), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	code = ztoq_migrate_upgrade(db, NULL, NULL);
	s_taken = seconds_since(&t0);
	pthread_join(t, NULL);
	cr_assert_eq(h.out.code, 0, "%s", h.out.message);
	cr_assert_eq(code, ZTOQ_OK, "%s: %s", ztoq_error_name(code), ztoq_error_last()->message);
	cr_assert_gt(s_taken, 1.0, "the migration did not wait for the table lock: %.2f s",
		     s_taken);
	ztoq_db_close(db);
	test_close(holder_db, holder);
}

/* Directly on the server: a migration waits for another migrator's lock, bounded. */
Test(pgbouncer, direct_migrations_still_exclude_each_other, .timeout = 60)
{
	ztoq_config *cfg;
	ztoq_db *holder_db = fresh_db(ZTOQ_DB_POSTGRESQL), *db;
	ztoq_session *holder;
	int code;

	test_ok(ztoq_session_open(&holder, holder_db));
	test_ok(ztoq_tx_begin(holder, NULL));
	test_exec(holder, "SELECT pg_advisory_xact_lock(" MIGRATION_KEY ")");
	cfg = test_config_form(ZTOQ_DB_POSTGRESQL, "options");
	test_ok(ztoq_config_set(cfg, "lock_timeout_ms", "500"));
	test_ok(ztoq_db_open(&db, cfg));
	code = ztoq_migrate_init(db, NULL);
	cr_assert_eq(code, ZTOQ_ETIMEOUT, "%s: %s", ztoq_error_name(code),
		     ztoq_error_last()->message);
	cr_assert(strstr(ztoq_error_last()->message, "another migrator"), "%s",
		  ztoq_error_last()->message);
	cr_assert_eq(test_scalar(holder, "SELECT COUNT(*) FROM pg_tables WHERE tablename = "
					 "'ztoq_schema_migrations'"),
		     0, "the refused migrator changed the schema");
	test_ok(ztoq_tx_commit(holder));
	test_ok(ztoq_migrate_init(db, NULL));
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	test_close(holder_db, holder);
}
