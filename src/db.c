/*
 * db.c - the database manager: environment, pool, and the factory entry points.
 */
#include "db.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "config_int.h"
#include "error.h"
#include "ztoq/connstr.h"

/* Opens one connection for the pool. */
static int open_conn(ztoq__conn **out, void *ctx)
{
	ztoq_db *db = ctx;
	return ztoq__conn_open(out, &db->target);
}

/*
 * ":memory:" would give every pooled connection its own empty database. A named
 * shared-cache in-memory database is shared by the pool and private to this manager.
 */
static int private_memory_path(ztoq_config *cfg)
{
	static atomic_ulong sequence;
	char uri[96];

	snprintf(uri, sizeof(uri), "file:ztoq-memory-%ld-%lu?mode=memory&cache=shared",
		 (long)getpid(), atomic_fetch_add(&sequence, 1) + 1);
	return ztoq_config_set(cfg, "db_path", uri);
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
		return ztoq__error_odbc(db->dialect->type, SQL_HANDLE_ENV, db->env, NULL, ZTOQ_ERROR,
					"cannot select ODBC 3 behaviour");
	return ZTOQ_OK;
}

static uint64_t ms_setting(const ztoq_config *cfg, const char *key)
{
	return (uint64_t)ztoq__config_long(cfg, key) * 1000000u;
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
static int explain_sqlite_open(int code, const char *path, int create)
{
	char buf[1024], folder[1024];
	const char *file = path ? file_of(path, buf, sizeof(buf)) : NULL;
	const char *slash = file ? strrchr(file, '/') : NULL;
	struct stat st;

	if (code != ZTOQ_ECONNECT || !file)
		return code;
	if (!create && stat(file, &st) != 0) {
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

static int start_pool(ztoq_db *db)
{
	ztoq__pool_settings set = {
		.min = (size_t)ztoq__config_long(db->cfg, "min_connections"),
		.max = (size_t)ztoq__config_long(db->cfg, "max_connections"),
		.acquire_timeout_ns = ms_setting(db->cfg, "acquire_timeout_ms"),
		.idle_timeout_ns = ms_setting(db->cfg, "idle_timeout_ms"),
		.max_lifetime_ns = ms_setting(db->cfg, "max_lifetime_ms"),
		.validate_after_ns = ms_setting(db->cfg, "validate_after_ms"),
		.lazy = ztoq__config_long(db->cfg, "lazy_open") == 1,
		.open = open_conn,
		.open_ctx = db,
	};
	const char *path = ztoq__config_str(db->cfg, "db_path");

	/* A shared in-memory database lives as long as one connection is open. */
	if (db->dialect->file_database && path && strstr(path, "mode=memory")) {
		set.min = set.min ? set.min : 1;
		set.lazy = 0;
	}
	return explain_sqlite_open(ztoq__pool_new(&db->pool, &set),
				   db->dialect->file_database ? path : NULL,
				   ztoq__config_long(db->cfg, "create_if_missing"));
}

/* Fills db->target from the manager's settings, once they are all resolved. */
static void set_target(ztoq_db *db)
{
	ztoq__conn_target *t = &db->target;

	t->env = db->env;
	t->dialect = db->dialect;
	t->connstr = db->connstr;
	t->redacted = db->redacted;
	t->secret = db->secret;
	t->login_timeout_s = ztoq__config_long(db->cfg, "connect_timeout_s");
	/* the port the socket goes to, unless a DSN decides it */
	t->port = ztoq__config_str(db->cfg, "dsn") ? 0 : (int)ztoq__config_long(db->cfg, "port");
	t->statement_timeout_ns = ms_setting(db->cfg, "statement_timeout_ms");
}

ZTOQ_EXTERN(int) ztoq_db_open(ztoq_db **out, const ztoq_config *cfg)
{
	ztoq_db *db;
	const char *path;
	int code;

	if (!out || !cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_open: bad arguments");
	*out = NULL;
	if ((code = ztoq_config_validate(cfg)) < 0)
		return code;
	if (!(db = ztoq__calloc(1, sizeof(*db))))
		return ztoq__error_nomem();
	if ((code = ztoq_config_dup(&db->cfg, cfg)) < 0)
		goto fail;
	db->dialect = ztoq__dialect_get(ztoq_config_db_type(cfg));
	path = ztoq__config_str(cfg, "db_path");
	if (db->dialect->file_database && !ztoq__config_str(cfg, "dsn") &&
	    strcmp(path, ":memory:") == 0 && (code = private_memory_path(db->cfg)) < 0)
		goto fail;
	if ((code = ztoq__config_password(db->cfg, &db->secret)) < 0 ||
	    (code = ztoq__connstr_compose(&db->connstr, db->cfg, db->secret)) < 0 ||
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
	ztoq__free_secret(db->secret);
	ztoq__free(db->redacted);
	ztoq_config_free(db->cfg);
	ztoq__free(db);
}

ZTOQ_EXTERN(ztoq_db_type) ztoq_db_backend(const ztoq_db *db)
{
	return db->dialect->type;
}

ZTOQ_EXTERN(const char *) ztoq_db_target(const ztoq_db *db)
{
	return db->redacted;
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

static void get_info(ztoq__conn *c, SQLUSMALLINT what, char *buf, size_t size)
{
	SQLSMALLINT len = 0;

	if (!SQL_SUCCEEDED(SQLGetInfo(c->dbc, what, buf, (SQLSMALLINT)size, &len)))
		buf[0] = '\0';
	buf[size - 1] = '\0';
}

ZTOQ_EXTERN(int) ztoq_db_server_info(ztoq_db *db, ztoq_server_info *out)
{
	ztoq__conn *c;
	int code;

	if (!db || !out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_server_info: bad arguments");
	if ((code = ztoq__pool_acquire(db->pool, &c, UINT64_MAX)) < 0)
		return code;
	get_info(c, SQL_DBMS_NAME, out->dbms_name, sizeof(out->dbms_name));
	get_info(c, SQL_DBMS_VER, out->dbms_version, sizeof(out->dbms_version));
	get_info(c, SQL_DRIVER_NAME, out->driver_name, sizeof(out->driver_name));
	get_info(c, SQL_DRIVER_VER, out->driver_version, sizeof(out->driver_version));
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
