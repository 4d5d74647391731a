/*
 * db.c - the database manager: environment, pool, and the factory entry points.
 */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "config.h"
#include "error.h"
#include "replica.h"
#include "session.h"
#include "ztoq/connstr.h"

static void reclaim_threads(ztoq_db *db);
static int open_primary(ztoq_db *db, ztoq__conn **out);
static int make_host_targets(ztoq_db *db);
static void free_host_targets(ztoq_db *db);

/*
 * Learns the backend of a DSN or a caller's string whose driver the library does not
 * know (known_backend() is NULL) from the driver, once: a first connect, made as for
 * an unknown driver, asks it (SQL_DBMS_NAME) and is closed; the connection string then
 * gets the attributes that backend relies on, and every connection after it is opened
 * with them (one connect more per manager: docs/backends.md). A db_type given with the
 * DSN must agree. Thread-safe: the first caller detects, the others wait for it.
 */
static int detect(ztoq_db *db)
{
	ztoq__conn_target probe;
	const ztoq__dialect *d = NULL;
	char *connstr = NULL, *redacted = NULL;
	ztoq__conn *c;
	int code;

	pthread_mutex_lock(&db->detect_lock);
	if (atomic_load(&db->detected)) {
		pthread_mutex_unlock(&db->detect_lock);
		return ZTOQ_OK;
	}
	probe = db->target;
	probe.dialect = NULL;
	if ((code = ztoq__conn_open(&c, &probe)) == ZTOQ_OK) {
		d = c->dialect;
		ztoq__conn_close(c);
		if (db->set.db_type_given && db->set.db_type->compose_target &&
		    db->set.db_type != d)
			code = ztoq__error_set(ZTOQ_EINVALID,
					       "db_type is %s, but the driver of %s reports %s: "
					       "leave db_type unset (the backend is the driver's) "
					       "or set it to %s",
					       db->set.db_type->name, db->redacted,
					       d->dbms_name ? d->dbms_name : "another database",
					       d->name);
	}
	if (code == ZTOQ_OK &&
	    /* a password of the caller's own string is in it already */
	    (code = ztoq__connstr_compose(&connstr, &db->set, d,
					  db->secret_given ? db->secret : NULL)) == ZTOQ_OK &&
	    (code = ztoq_connstr_redact(&redacted, connstr)) == ZTOQ_OK) {
		/* the first redacted string stays until close: a caller may hold it from
		 * ztoq_db_target(); the first connection string (and its password) has no
		 * reader left once the probe is closed */
		ztoq__free_secret(db->connstr);
		db->first_redacted = db->redacted;
		db->target.connstr = db->connstr = connstr;
		db->target.redacted = redacted;
		/* ztoq_db_target() may read it meanwhile (lazy_open) */
		__atomic_store_n(&db->redacted, redacted, __ATOMIC_RELEASE);
		db->target.dialect = d;
		connstr = redacted = NULL;
		atomic_store(&db->detected, 1);
	}
	pthread_mutex_unlock(&db->detect_lock);
	ztoq__free_secret(connstr);
	ztoq__free(redacted);
	return code;
}

/* Opens one connection for the pool, learning the backend first if need be. */
static int open_conn(ztoq__conn **out, void *ctx)
{
	ztoq_db *db = ctx;
	int code;

	*out = NULL;
	if (!atomic_load(&db->detected) && (code = detect(db)) < 0)
		return code;
	if (db->host_targets)
		return open_primary(db, out);
	return ztoq__conn_open(out, &db->target);
}

static int make_environment(ztoq_db *db)
{
	SQLRETURN rc;

	ztoq__odbc_lock(); /* the driver manager's list of environments */
	rc = SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &db->env);
	ztoq__odbc_unlock();
	if (!SQL_SUCCEEDED(rc)) {
		db->env = SQL_NULL_HENV;
		return ztoq__error_set(ZTOQ_ENOMEM, "cannot allocate the ODBC environment");
	}
	if (!SQL_SUCCEEDED(SQLSetEnvAttr(db->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0)))
		return ztoq__error_odbc(ztoq__dialect_odbc.classify, SQL_HANDLE_ENV, db->env, NULL, ZTOQ_ERROR,
					"cannot select ODBC 3 behaviour");
	return ZTOQ_OK;
}

static uint64_t ms_to_ns(long ms)
{
	return (uint64_t)ms * 1000000u;
}

/*
 * Pool sizes left at their defaults become those of backend `d` (db_type's defaults
 * were taken before the driver said which backend a DSN is); a default gives way to
 * the other size where the user set it (a given minimum above the default maximum
 * raises the maximum to it, and so on).
 */
static void default_pool_sizes(ztoq__settings *set, const ztoq__dialect *d)
{
	long min = strtol(d->min_connections, NULL, 10);
	long max = strtol(d->max_connections, NULL, 10);

	if (!(set->pool_sizes_given & 1))
		set->min_connections = (set->pool_sizes_given & 2) && min > set->max_connections
					       ? set->max_connections
					       : min;
	if (!(set->pool_sizes_given & 2))
		set->max_connections = max > set->min_connections ? max : set->min_connections;
}

/* Opens the primary's pool; then the replicas' (replica_hosts), sized and timed alike. */
static int start_pool(ztoq_db *db)
{
	const ztoq__settings *set = &db->set;
	const ztoq__dialect *d = set->db_type;
	ztoq__pool_settings ps = {
		.min = (size_t)set->min_connections,
		.max = (size_t)set->max_connections,
		.acquire_timeout_ns = ms_to_ns(set->acquire_timeout_ms),
		.idle_timeout_ns = ms_to_ns(set->idle_timeout_ms),
		.max_lifetime_ns = ms_to_ns(set->max_lifetime_ms),
		.validate_after_ns = ms_to_ns(set->validate_after_ms),
		.lazy = set->lazy_open == 1,
		.open = open_conn,
		.open_ctx = db,
	};
	int code;

	/* A database that lives only while a connection is open keeps one. */
	if (!set->dsn && d->needs_one_open && d->needs_one_open(set->db_path)) {
		ps.min = ps.min ? ps.min : 1;
		ps.lazy = 0;
	}
	/* a host list: after a failover every idle connection may be to the old primary */
	ps.recheck_on_break = db->host_targets != NULL;
	code = ztoq__pool_new(&db->pool, &ps);
	if (!set->dsn && d->explain_open)
		code = d->explain_open(code, set);
	ps.recheck_on_break = 0;
	return code < 0 ? code : ztoq__replicas_open(db, &ps);
}

/*
 * The backend known at open: db_type's without a DSN. With one, the backend its
 * driver's library names (`guess`: every connect still checks what the driver reports
 * against it), unless a given db_type names another; NULL when the library does not
 * know the driver, which then says (detect()).
 */
static const ztoq__dialect *known_backend(const ztoq__settings *set,
					  const ztoq__dialect *guess)
{
	if (!set->dsn)
		return set->db_type;
	if (set->db_type_given && set->db_type->compose_target && set->db_type != guess)
		return NULL;
	return guess;
}

/* Fills db->target from the manager's settings, once they are all resolved. */
static void set_target(ztoq_db *db, const ztoq__dialect *known, const ztoq__dialect *guess)
{
	ztoq__conn_target *t = &db->target;

	t->env = db->env;
	t->dialect = known;
	t->connstr = db->connstr;
	t->redacted = db->redacted;
	t->secret = db->secret;
	t->login_timeout_s = db->set.connect_timeout_s;
	t->connect_as = guess;
	/* the port the socket goes to, unless a DSN decides it */
	t->port = db->set.dsn ? 0 : (int)db->set.port;
	t->statement_timeout_ns = ms_to_ns(db->set.statement_timeout_ms);
	t->tx_pooler = db->set.tx_pooler;
}

/*
 * Resolves the manager's own copy of the settings, once; the `:memory:` rule of a file
 * database then points db_path at the manager's private in-memory database.
 */
static int resolve(ztoq_db *db)
{
	const ztoq__dialect *d;
	int code;

	if ((code = ztoq__settings_resolve(&db->set, db->cfg)) < 0)
		return code;
	d = db->set.db_type;
	if (!db->set.dsn && d->private_path &&
	    d->private_path(db->private_path, sizeof(db->private_path), db->set.db_path))
		db->set.db_path = db->private_path;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_db_open(ztoq_db **out, const ztoq_config *cfg)
{
	const ztoq__dialect *guess, *known;
	ztoq_db *db;
	int code;

	if (!out || !cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_open: bad arguments");
	*out = NULL;
	if (!(db = ztoq__calloc(1, sizeof(*db))))
		return ztoq__error_nomem();
	pthread_mutex_init(&db->detect_lock, NULL);
	if ((code = ztoq_config_dup(&db->cfg, cfg)) < 0 || (code = resolve(db)) < 0)
		goto fail;
	guess = ztoq__connstr_guess(&db->set);
	known = known_backend(&db->set, guess);
	atomic_store(&db->detected, known != NULL);
	if ((code = ztoq__settings_password(&db->set, &db->secret)) < 0)
		goto fail;
	db->secret_given = db->secret != NULL;
	if (/* with a DSN whose driver is not known nothing is added before it says */
	    (code = ztoq__connstr_compose(&db->connstr, &db->set, known, db->secret)) < 0 ||
	    /* a caller's own string (db_type odbc) may carry one: driver texts get it masked */
	    (!db->secret && (code = ztoq__connstr_password(&db->secret, db->connstr)) < 0) ||
	    (code = ztoq_connstr_redact(&db->redacted, db->connstr)) < 0 ||
	    (code = make_environment(db)) < 0 ||
	    (code = ztoq__watchdog_new(&db->target.watchdog)) < 0)
		goto fail;
	set_target(db, known, guess);
	if ((code = make_host_targets(db)) < 0)
		goto fail;
	/* a DSN's backend sizes the pool: known now, or learnt before the pool opens
	 * (unless lazy_open) */
	if (!known && db->set.lazy_open != 1 && (code = detect(db)) < 0)
		goto fail;
	if (db->set.dsn && db->target.dialect)
		default_pool_sizes(&db->set, db->target.dialect);
	if ((code = start_pool(db)) < 0)
		goto fail;
	*out = db;
	return ZTOQ_OK;
fail:
	ztoq_db_close(db);
	return code;
}

ZTOQ_EXTERN(int) ztoq_db_open_env(ztoq_db **out)
{
	ztoq_config *cfg;
	int code;

	if ((code = ztoq_config_new(&cfg)) < 0)
		return code;
	if ((code = ztoq_config_load_env(cfg)) == ZTOQ_OK)
		code = ztoq_db_open(out, cfg);
	ztoq_config_free(cfg);
	return code;
}

ZTOQ_EXTERN(void) ztoq_db_close(ztoq_db *db)
{
	if (!db)
		return;
	reclaim_threads(db);
	ztoq__replicas_close(db);
	ztoq__pool_free(db->pool);
	free_host_targets(db);
	ztoq__watchdog_free(db->target.watchdog);
	if (db->env) {
		ztoq__odbc_lock();
		SQLFreeHandle(SQL_HANDLE_ENV, db->env);
		ztoq__odbc_unlock();
	}
	ztoq__free_secret(db->connstr);
	ztoq__free_secret(db->secret);
	ztoq__free(db->redacted);
	ztoq__free(db->first_redacted);
	ztoq_config_free(db->cfg);
	pthread_mutex_destroy(&db->detect_lock);
	ztoq__free(db);
}

ZTOQ_EXTERN(ztoq_db_type) ztoq_db_backend(const ztoq_db *db)
{
	/* until a DSN's driver has said (lazy_open), db_type's */
	return (atomic_load(&((ztoq_db *)db)->detected) ? db->target.dialect : db->set.db_type)
		->type;
}

ZTOQ_EXTERN(const char *) ztoq_db_type_name(ztoq_db_type type)
{
	return ztoq__dialect_get(type)->name;
}

ZTOQ_EXTERN(const char *) ztoq_db_target(const ztoq_db *db)
{
	return __atomic_load_n(&db->redacted, __ATOMIC_ACQUIRE);
}

ZTOQ_EXTERN(const ztoq_config *) ztoq_db_config(const ztoq_db *db)
{
	return db->cfg;
}

ZTOQ_EXTERN(int) ztoq_db_server_info(ztoq_db *db, ztoq_server_info *out)
{
	ztoq__conn *c;
	int code;

	if (!db || !out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_server_info: bad arguments");
	if ((code = ztoq__pool_acquire(db->pool, &c, UINT64_MAX)) < 0)
		return code;
	ztoq__conn_info(c->dbc, SQL_DBMS_NAME, out->dbms_name, sizeof(out->dbms_name));
	ztoq__conn_info(c->dbc, SQL_DBMS_VER, out->dbms_version, sizeof(out->dbms_version));
	ztoq__conn_info(c->dbc, SQL_DRIVER_NAME, out->driver_name, sizeof(out->driver_name));
	ztoq__conn_info(c->dbc, SQL_DRIVER_VER, out->driver_version, sizeof(out->driver_version));
	ztoq__pool_release(db->pool, c);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_db_check(ztoq_db *db)
{
	ztoq__conn *c;
	int code;

	if (!db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_check: db is NULL");
	if ((code = ztoq__pool_acquire(db->pool, &c, UINT64_MAX)) < 0)
		return code;
	code = ztoq__conn_ping(c, 0);
	ztoq__pool_release(db->pool, c);
	return code;
}

/* ---- the host list: the primary pool walks it ------------------------------------ */

/*
 * With host naming several servers (a backend with in_recovery_sql, no DSN), gives each
 * its own target: the manager's, with that server's connection string and port.
 * One server: nothing (db->host_targets stays NULL, and connections open as before,
 * with no recovery check), but the manager's target takes the port of host when it
 * has one ("db:5433"), the one the socket goes to, not port's. Called once by
 * ztoq_db_open.
 */
static int make_host_targets(ztoq_db *db)
{
	const ztoq__dialect *d = db->set.db_type;
	int code;

	if (db->set.dsn || !d->in_recovery_sql)
		return ZTOQ_OK;
	/* validate() parsed the same list: it cannot fail here */
	if ((code = ztoq__hosts_parse(&db->hosts, db->set.host, "host", db->set.port)) < 0)
		return code;
	db->target.port = (int)db->hosts.hosts[0].port;
	if (db->hosts.count < 2)
		return ZTOQ_OK;
	if (!(db->host_targets = ztoq__calloc(db->hosts.count, sizeof(*db->host_targets))))
		return ztoq__error_nomem();
	for (size_t i = 0; i < db->hosts.count; i++) {
		if ((code = ztoq__host_target_make(&db->host_targets[i], &db->target, &db->set, d,
						   db->secret, &db->hosts.hosts[i])) < 0)
			return code;
	}
	return ZTOQ_OK;
}

/* Frees what make_host_targets() made, all or part of it (ztoq_db_close). */
static void free_host_targets(ztoq_db *db)
{
	for (size_t i = 0; db->host_targets && i < db->hosts.count; i++)
		ztoq__host_target_free(&db->host_targets[i]);
	ztoq__free(db->host_targets);
}

/* Why server `h` was passed over, the driver's words first, on one line, into `why`. */
static void note_failure(char *why, size_t size, const ztoq__host *h, const char *reason)
{
	char text[ZTOQ__HOST_TEXT_SIZE];
	size_t len;

	ztoq__hosts_format(text, sizeof(text), h);
	snprintf(why, size, "%.100s: %s", text, reason);
	for (char *p = why; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	for (len = strlen(why); len && why[len - 1] == ' '; len--)
		why[len - 1] = '\0';
}

/*
 * Opens server i's connection: ZTOQ_OK with *out when it is a writable primary, 1 when
 * it is a standby in recovery (closed), or the error of its connect or check. The
 * check is bounded like the connect, by connect_timeout_s (0: the statement timeout),
 * so a server that accepts and then never answers is passed over.
 */
static int open_server(ztoq_db *db, size_t i, ztoq__conn **out)
{
	long bound_s = db->set.connect_timeout_s;
	SQLINTEGER standby = -1;
	int code;

	if ((code = ztoq__conn_open(out, &db->host_targets[i].target)) < 0)
		return code;
	if ((code = ztoq__conn_exec_int(*out, (*out)->dialect->in_recovery_sql,
					bound_s ? ztoq__now_ns() + ms_to_ns(bound_s * 1000) : 0,
					&standby)) == ZTOQ_OK &&
	    standby == 0)
		return ZTOQ_OK;
	ztoq__conn_close(*out);
	*out = NULL;
	return code < 0 ? code : 1;
}

/*
 * Sleeps before the next walk of the host list: `*pause_ms` (then doubled, up to 500
 * ms) or until `deadline_ns`, if sooner. 0 when the deadline has passed: no more walks.
 */
static int pause_walk(uint64_t deadline_ns, unsigned *pause_ms)
{
	uint64_t now = ztoq__now_ns(), ns = ms_to_ns(*pause_ms);
	struct timespec ts;

	if (now >= deadline_ns)
		return 0;
	ts = ztoq__timespec(deadline_ns - now < ns ? deadline_ns - now : ns);
	nanosleep(&ts, NULL);
	*pause_ms = *pause_ms >= 250 ? 500 : *pause_ms * 2;
	return 1;
}

/*
 * The room of one server's part of the walk's error: an equal share of the message,
 * after its opening words, so that every server is named (each part starts with it).
 */
#define WHY_ROOM(n) ((int)((ZTOQ__ERROR_MESSAGE_SIZE - 128) / (n)) - 2)

/*
 * Opens a connection to the first writable primary of the host list, starting at the
 * one the last walk found: a server that refuses, times out (connect_timeout_s) or
 * is in recovery is passed over. When none is, the walk is made again after a short
 * pause (50 ms, doubling up to 500 ms) until failover_timeout_ms has passed (0: one
 * pass): the first pass is whole, a later one stops at the deadline between servers
 * (a connect under way ends within connect_timeout_s). Then one error names every
 * server and why it was last passed over (each reason cut to its share of the message) (no password: the driver's words are
 * scrubbed, the strings are not shown); its code is the one every server failed with,
 * else ZTOQ_ECONNECT. Thread-safe (the pool's open).
 */
static int open_primary(ztoq_db *db, ztoq__conn **out)
{
	static const char in_recovery[] = "in recovery (a standby: read-only)";
	char why[ZTOQ__MAX_HOSTS][240];
	int codes[ZTOQ__MAX_HOSTS];
	uint64_t deadline = ztoq__now_ns() + ms_to_ns(db->set.failover_timeout_ms);
	unsigned pause_ms = 50;
	size_t n = db->hosts.count;
	int common;

	for (int pass = 0; pass == 0 || pause_walk(deadline, &pause_ms); pass++) {
		unsigned start = atomic_load(&db->primary);

		for (size_t k = 0; k < n && (pass == 0 || ztoq__now_ns() < deadline); k++) {
			size_t i = (start + k) % n;
			const ztoq_error *e = ztoq_error_last();
			int code = open_server(db, i, out);

			if (code == ZTOQ_OK) {
				atomic_store(&db->primary, (unsigned)i);
				return ZTOQ_OK;
			}
			note_failure(why[i], sizeof(why[i]), &db->hosts.hosts[i],
				     code > 0 ? in_recovery
				     : e->diag_count ? e->diags[0].message : e->message);
			codes[i] = code > 0 ? ZTOQ_ECONNECT : code;
		}
	}
	common = codes[0];
	for (size_t i = 1; i < n; i++)
		common = codes[i] == common ? common : ZTOQ_ECONNECT;
	ztoq__error_set(common, "no writable primary among the %zu servers of host "
			"(failover_timeout_ms %ld):", n, db->set.failover_timeout_ms);
	for (size_t i = 0; i < n; i++)
		ztoq__error_append("%s %.*s", i ? ";" : "", WHY_ROOM(n), why[i]);
	return common;
}

/* ---- the retry runner ----------------------------------------------------------- */

/* Sleeps for the backoff before retry number `attempt` (1-based): base * 2^(n-1), jittered. */
static void backoff(unsigned base_ms, unsigned attempt)
{
	static _Thread_local unsigned seed;
	uint64_t ns = (uint64_t)base_ms * 1000000u << (attempt > 10 ? 10 : attempt - 1);
	struct timespec ts;

	if (!seed)
		seed = (unsigned)ztoq__now_ns() | 1u;
	/* full range of [ns/2, ns): spreads out colliding writers */
	ns = ns / 2 + (ns / 2) * (uint64_t)rand_r(&seed) / ((uint64_t)RAND_MAX + 1);
	ts = ztoq__timespec(ns);
	nanosleep(&ts, NULL);
}

ZTOQ_EXTERN(int) ztoq_db_transaction(ztoq_db *db, const ztoq_tx_options *opts, ztoq_tx_fn fn,
				     void *payload)
{
	ztoq_tx_options defaults = ZTOQ_TX_OPTIONS_INIT;
	unsigned attempt = 0;
	int code;

	if (!db || !fn)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_transaction: bad arguments");
	if (!opts)
		opts = &defaults;
	for (;;) {
		ztoq_session *s;

		/* a read-only run goes straight to a replica when one fits */
		if ((code = opts->read_only ? ztoq__session_open_read(&s, db)
					    : ztoq_session_open(&s, db)) < 0)
			break;
		attempt++;
		code = ztoq_session_transaction(s, opts, fn, payload);
		ztoq_session_close(s);
		/* a disconnect inside the transaction came before its COMMIT (one during it
		 * is ZTOQ_ECOMMITUNKNOWN): nothing was committed, so it is run again */
		if (code >= 0 ||
		    !(ztoq_error_is_retryable(code) || code == ZTOQ_EDISCONNECTED) ||
		    attempt > opts->max_retries)
			break;
		backoff(opts->retry_base_ms ? opts->retry_base_ms : 1, attempt);
	}
	if (opts->attempts)
		*opts->attempts = attempt;
	return code;
}

/* ---- thread-local sessions ------------------------------------------------------ */

/*
 * One library-wide pthread key holds, per thread, a list of slots (one per manager the
 * thread used). A slot is also linked into its manager's list, so ztoq_db_close() can
 * reclaim sessions of threads still running, and the key's destructor returns a
 * session when its thread exits. One registry mutex guards both lists and the slots'
 * fields; it is held while a reclaimed session is closed, so a manager is never freed
 * under a thread that is giving its session back.
 */
struct ztoq__thread_slot {
	ztoq_db *db;              /* NULL once the manager reclaimed it */
	ztoq_session *session;    /* NULL once returned */
	struct ztoq__thread_slot *next_in_thread;
	struct ztoq__thread_slot *next_in_db;
};

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* Under the registry lock: unlinks `slot` from its manager's list. */
static void unlink_from_db(struct ztoq__thread_slot *slot)
{
	struct ztoq__thread_slot **link = &slot->db->thread_slots;

	while (*link && *link != slot)
		link = &(*link)->next_in_db;
	if (*link)
		*link = slot->next_in_db;
}

/* Key destructor: the thread is exiting; give back every session it still holds. */
static void thread_exit(void *value)
{
	struct ztoq__thread_slot *slot = value;

	while (slot) {
		struct ztoq__thread_slot *next = slot->next_in_thread;

		pthread_mutex_lock(&registry);
		if (slot->session) {
			unlink_from_db(slot);
			slot->session->thread_owned = 0;
			ztoq__session_end(slot->session);
		}
		pthread_mutex_unlock(&registry);
		ztoq__free(slot);
		slot = next;
	}
}

static void make_key(void)
{
	pthread_key_create(&thread_key, thread_exit);
}

/* The calling thread's live slot for `db`, pruning slots of closed managers. */
static struct ztoq__thread_slot *find_slot(ztoq_db *db)
{
	struct ztoq__thread_slot *head = pthread_getspecific(thread_key), **link = &head, *found = NULL;

	pthread_mutex_lock(&registry);
	while (*link) {
		struct ztoq__thread_slot *slot = *link;

		if (!slot->session) {
			*link = slot->next_in_thread;
			ztoq__free(slot);
			continue;
		}
		if (slot->db == db)
			found = slot;
		link = &slot->next_in_thread;
	}
	pthread_mutex_unlock(&registry);
	pthread_setspecific(thread_key, head);
	return found;
}

ZTOQ_EXTERN(int) ztoq_db_thread_session(ztoq_session **out, ztoq_db *db)
{
	struct ztoq__thread_slot *slot;
	ztoq_session *s;
	int code;

	if (!out || !db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_thread_session: bad arguments");
	pthread_once(&thread_key_once, make_key);
	if ((slot = find_slot(db)) != NULL) {
		*out = slot->session;
		return ZTOQ_OK;
	}
	if (!(slot = ztoq__calloc(1, sizeof(*slot))))
		return ztoq__error_nomem();
	if ((code = ztoq_session_open(&s, db)) < 0) {
		ztoq__free(slot);
		return code;
	}
	s->thread_owned = 1;
	slot->db = db;
	slot->session = s;
	pthread_mutex_lock(&registry);
	slot->next_in_db = db->thread_slots;
	db->thread_slots = slot;
	pthread_mutex_unlock(&registry);
	slot->next_in_thread = pthread_getspecific(thread_key);
	pthread_setspecific(thread_key, slot);
	*out = s;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_db_close_thread_session(ztoq_db *db)
{
	struct ztoq__thread_slot *slot;
	int code = ZTOQ_OK;

	if (!db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_close_thread_session: db is NULL");
	pthread_once(&thread_key_once, make_key);
	if (!(slot = find_slot(db)))
		return ZTOQ_OK; /* nothing held: closing twice is harmless */
	pthread_mutex_lock(&registry);
	unlink_from_db(slot);
	slot->session->thread_owned = 0;
	code = ztoq__session_end(slot->session);
	slot->session = NULL; /* pruned from the thread's list on its next lookup */
	pthread_mutex_unlock(&registry);
	return code;
}

/* Ends every thread-local session of `db` still held by a running thread. */
static void reclaim_threads(ztoq_db *db)
{
	pthread_mutex_lock(&registry);
	while (db->thread_slots) {
		struct ztoq__thread_slot *slot = db->thread_slots;

		db->thread_slots = slot->next_in_db;
		slot->session->thread_owned = 0;
		ztoq__session_end(slot->session);
		slot->session = NULL;
		slot->db = NULL;
	}
	pthread_mutex_unlock(&registry);
}
