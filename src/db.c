/*
 * db.c - the database manager: environment, pool, and the factory entry points.
 */
#include "db.h"

#include <string.h>

#include "alloc.h"
#include "config_int.h"
#include "error.h"
#include "ztoq/connstr.h"

/*
 * Learns the backend of a DSN or a caller's string from its driver, once: a first
 * connect, serialised like any driver the library does not know, asks the driver
 * (SQL_DBMS_NAME) and is closed; the connection string then gets the attributes that
 * backend relies on, and every connection after it is opened with them (one connect
 * more per manager: docs/backends.md). A db_type given with the DSN must agree.
 * Thread-safe: the first caller detects, the others wait for it.
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
	    (code = ztoq__connstr_compose(&connstr, &db->set, d, db->secret)) == ZTOQ_OK &&
	    (code = ztoq_connstr_redact(&redacted, connstr)) == ZTOQ_OK) {
		/* the first strings stay until close: a caller may hold ztoq_db_target() */
		db->first_connstr = db->connstr;
		db->first_redacted = db->redacted;
		db->target.connstr = db->connstr = connstr;
		db->target.redacted = redacted;
		/* ztoq_db_target() may read it meanwhile (lazy_open) */
		__atomic_store_n(&db->redacted, redacted, __ATOMIC_RELEASE);
		db->target.dialect = d;
		connstr = redacted = NULL;
		atomic_store(&db->dialect, d);
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
		return ztoq__error_odbc(NULL, SQL_HANDLE_ENV, db->env, NULL, ZTOQ_ERROR,
					"cannot select ODBC 3 behaviour");
	return ZTOQ_OK;
}

static uint64_t ms_to_ns(long ms)
{
	return (uint64_t)ms * 1000000u;
}

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
	code = ztoq__pool_new(&db->pool, &ps);
	return !set->dsn && d->explain_open ? d->explain_open(code, set) : code;
}

/* Fills db->target from the manager's settings, once they are all resolved. */
static void set_target(ztoq_db *db)
{
	ztoq__conn_target *t = &db->target;

	t->env = db->env;
	t->dialect = db->detected ? db->set.db_type : NULL;
	t->connstr = db->connstr;
	t->redacted = db->redacted;
	t->secret = db->secret;
	t->login_timeout_s = db->set.connect_timeout_s;
	/* the port the socket goes to, unless a DSN decides it */
	t->port = db->set.dsn ? 0 : (int)db->set.port;
	t->statement_timeout_ns = ms_to_ns(db->set.statement_timeout_ms);
}

/*
 * Resolves the manager's own copy of the settings, once: the `:memory:` rule of a
 * file database first rewrites db_path in that copy.
 */
static int resolve(ztoq_db *db)
{
	const ztoq__dialect *d;
	char path[128];
	int code;

	if ((code = ztoq__settings_resolve(&db->set, db->cfg)) < 0)
		return code;
	d = db->set.db_type;
	if (db->set.dsn || !d->private_path || !d->private_path(path, sizeof(path), db->set.db_path))
		return ZTOQ_OK;
	if ((code = ztoq_config_set(db->cfg, "db_path", path)) < 0)
		return code;
	return ztoq__settings_resolve(&db->set, db->cfg);
}

ZTOQ_EXTERN(int) ztoq_db_open(ztoq_db **out, const ztoq_config *cfg)
{
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
	/* without a DSN the library composed the string for db_type's driver, which
	 * every connect then confirms; a DSN's backend is the driver's (detect()) */
	atomic_store(&db->dialect, db->set.db_type);
	atomic_store(&db->detected, !db->set.dsn);
	if ((code = ztoq__settings_password(&db->set, &db->secret)) < 0 ||
	    /* with a DSN nothing is added before the driver says which backend it is */
	    (code = ztoq__connstr_compose(&db->connstr, &db->set,
					  db->set.dsn ? NULL : db->set.db_type, db->secret)) < 0 ||
	    /* a caller's own string (db_type odbc) may carry one: driver texts get it masked */
	    (!db->secret && (code = ztoq__connstr_password(&db->secret, db->connstr)) < 0) ||
	    (code = ztoq_connstr_redact(&db->redacted, db->connstr)) < 0 ||
	    (code = make_environment(db)) < 0 ||
	    (code = ztoq__watchdog_new(&db->target.watchdog)) < 0)
		goto fail;
	set_target(db);
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
	ztoq__session_reclaim_threads(db);
	ztoq__pool_free(db->pool);
	ztoq__watchdog_free(db->target.watchdog);
	if (db->env) {
		ztoq__odbc_lock();
		SQLFreeHandle(SQL_HANDLE_ENV, db->env);
		ztoq__odbc_unlock();
	}
	ztoq__free_secret(db->connstr);
	ztoq__free_secret(db->first_connstr);
	ztoq__free_secret(db->secret);
	ztoq__free(db->redacted);
	ztoq__free(db->first_redacted);
	ztoq_config_free(db->cfg);
	pthread_mutex_destroy(&db->detect_lock);
	ztoq__free(db);
}

ZTOQ_EXTERN(ztoq_db_type) ztoq_db_backend(const ztoq_db *db)
{
	return atomic_load(&((ztoq_db *)db)->dialect)->type;
}

ZTOQ_EXTERN(const char *) ztoq_db_target(const ztoq_db *db)
{
	return __atomic_load_n(&db->redacted, __ATOMIC_ACQUIRE);
}

ZTOQ_EXTERN(const ztoq_config *) ztoq_db_config(const ztoq_db *db)
{
	return db->cfg;
}

ZTOQ_EXTERN(int) ztoq_pool_stats_get(ztoq_db *db, ztoq_pool_stats *out)
{
	if (!db || !out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_pool_stats_get: bad arguments");
	ztoq__pool_stats(db->pool, out);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_pool_maintain(ztoq_db *db)
{
	if (!db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_pool_maintain: db is NULL");
	return ztoq__pool_maintain(db->pool);
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
