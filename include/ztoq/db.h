/*
 * ztoq/db.h - the database manager: ODBC environment, connection pool and
 * thread-local sessions, built from a configuration (the factory).
 */
#ifndef ZTOQ_DB_H
#define ZTOQ_DB_H

#include "common.h"
#include "config.h"

ZTOQ_BEGIN_DECL

typedef struct ztoq_db ztoq_db;

/** What a manager is connected to, as the driver reports it. */
typedef struct {
	char dbms_name[64];      /* "PostgreSQL", "SQLite" */
	char dbms_version[64];
	char driver_name[64];    /* "psqlodbcw.so" */
	char driver_version[64];
} ztoq_server_info;

/**
 * Opens a manager from `cfg` (copied: the caller keeps and frees its own). Validates
 * the configuration, composes the connection string and opens the pool's minimum of
 * connections, so a wrong setting fails here with a classified error (ZTOQ_ECONNECT,
 * ZTOQ_EAUTH, ZTOQ_ENOTFOUND, ZTOQ_EINVALID, ...) whose message never contains the
 * password. db_path ":memory:" gives an in-memory SQLite database shared by the pool's
 * connections, private to this manager and gone when it closes. The caller owns *out
 * and frees it with ztoq_db_close(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_db_open(ztoq_db **out, const ztoq_config *cfg);

/**
 * Opens a manager configured from the environment alone (ZTOQ's get_database_manager):
 * the variables are read at the time of the call. Caller frees with ztoq_db_close().
 */
ZTOQ_EXTERN(int) ztoq_db_open_env(ztoq_db **out);

/**
 * Closes the manager: thread-local sessions still held are rolled back and reclaimed,
 * then every connection and the environment are released. Sessions opened with
 * ztoq_session_open() must be closed before. NULL is ignored. Not to be called while
 * other threads still use `db`.
 */
ZTOQ_EXTERN(void) ztoq_db_close(ztoq_db *db);

/**
 * The backend `db` talks to, as its driver reports it (SQL_DBMS_NAME; ZTOQ_DB_ODBC for
 * a database the library has no dialect for). With a DSN or a caller's connection
 * string through a driver the library does not know, the backend is learnt on the
 * first connect, which ztoq_db_open() makes unless lazy_open is 1: until then this is
 * db_type's. Thread-safe.
 */
ZTOQ_EXTERN(ztoq_db_type) ztoq_db_backend(const ztoq_db *db);

/**
 * The connection string with the password replaced by "***". Owned by `db`. With a
 * DSN of a driver the library does not know, it gains the attributes the backend
 * relies on at the first connect (a string returned before stays valid until
 * ztoq_db_close()). Thread-safe.
 */
ZTOQ_EXTERN(const char *) ztoq_db_target(const ztoq_db *db);

/** The configuration in force (a copy owned by `db`; read-only). Thread-safe. */
ZTOQ_EXTERN(const ztoq_config *) ztoq_db_config(const ztoq_db *db);

/** Fills `out` from the driver (SQLGetInfo) over a pooled connection. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_db_server_info(ztoq_db *db, ztoq_server_info *out);

/** Connectivity check: a real round trip (SELECT 1) on a pooled connection. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_db_check(ztoq_db *db);

/** The role a host plays, as ztoq_db_hosts() found it. */
typedef enum {
	ZTOQ_HOST_PRIMARY = 0, /* accepts writes (not in recovery) */
	ZTOQ_HOST_REPLICA,     /* in recovery: serves reads only */
	ZTOQ_HOST_DOWN         /* no connection could be had, or it broke */
} ztoq_host_role;

/** One host the manager knows, and what it is now. */
typedef struct {
	char host[256];      /* its name or address as configured, without a ":port"
				(an IPv6 one without brackets); a SQLite file: its path;
				a DSN or a whole connection string: ztoq_db_target()'s
				text (no password) */
	int port;            /* its port (from host or replica_hosts when given there,
				else the port option); 0 when there is none (SQLite, DSN) */
	ztoq_host_role role;
	long lag_ms;         /* replay lag of a replica, ms; -1 when not measured */
	int pool;            /* the pool it feeds: -1 the primary's, i >= 0 replica pool i */
} ztoq_host_status;

/**
 * Asks every host `db` knows what it is now: the primary first (through its pool; or,
 * when host names several servers, each of them in order through a connection of its
 * own, all feeding the primary pool), then each replica of replica_hosts (through its
 * own pool, waiting at most 100 ms for a free connection; a replica's connect is bounded
 * by the shorter of connect_timeout_s and 2 s). A host that
 * cannot be reached is ZTOQ_HOST_DOWN, not an error. Fills *out with *count entries,
 * which the caller frees with ztoq_free(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_db_hosts(ztoq_db *db, ztoq_host_status **out, size_t *count);

/** "primary", "replica" or "down". Static storage. */
ZTOQ_EXTERN(const char *) ztoq_host_role_name(ztoq_host_role role);

ZTOQ_END_DECL

#endif
