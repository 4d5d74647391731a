/*
 * config.h - the configuration resolved once, typed, for the rest of the library.
 */
#ifndef ZTOQ__CONFIG_H
#define ZTOQ__CONFIG_H

#include "ztoq/config.h"

struct ztoq__dialect;

/* The longest sslrootcert path: it must fit in the pqopt attribute (dialect.h). */
#define ZTOQ__SSLROOTCERT_MAX 1000

/*
 * Every option's value in force, typed: one field per row of the option table (which
 * names the field by offsetof, as libpq's PQconninfoOptions does). Strings point into
 * the ztoq_config it was resolved from, which must outlive it; an unset or empty
 * string is NULL. Filled by ztoq__settings_resolve(); read-only afterwards, so any
 * thread may read it.
 */
typedef struct {
	const struct ztoq__dialect *db_type; /* the dialect db_type names */
	int db_type_given;                  /* db_type was set, not left at its default */
	const char *db_path;
	const char *host;
	long port;
	const char *username;
	const char *password;
	const char *password_file;
	const char *database;
	const char *dsn;
	const char *driver;
	const char *sqlite_driver;
	const char *pg_driver;
	long min_connections;
	long max_connections;
	int pool_sizes_given;               /* min and max: 1 and 2 when set, 0 at default */
	long acquire_timeout_ms;
	long idle_timeout_ms;
	long max_lifetime_ms;
	long validate_after_ms;
	long busy_timeout_ms;
	long connect_timeout_s;
	long lazy_open;
	long create_if_missing;
	long statement_timeout_ms;
	long lock_timeout_ms;
	const char *sslmode;                /* one of libpq's sslmode values, or NULL */
	const char *sslrootcert;            /* ZTOQ__SSLROOTCERT_MAX bytes at most */
	const char *odbc_options;           /* "Key=Value;..." as the user gave it */
	/* read replicas and routing (replica.c) */
	const char *replica_hosts;          /* host[:port],... or NULL: none */
	long max_replica_lag_ms;            /* 0: lag not measured */
	long read_your_writes;              /* sessions' default (0/1) */
	const char *pooler;                 /* none, session or transaction */
	int tx_pooler;                      /* pooler is transaction: no session state */
	long failover_timeout_ms;           /* how long a walk of a host list goes on */
} ztoq__settings;

/*
 * Validates `cfg` as a whole (ztoq_config_validate()) and fills `out` from it, in one
 * pass over the option table. Returns ZTOQ_OK or ZTOQ_EINVALID (recorded).
 */
int ztoq__settings_resolve(ztoq__settings *out, const ztoq_config *cfg);

/*
 * ZTOQ_OK unless pooler=transaction is set for backend `d`, which cannot keep to it:
 * then ZTOQ_EINVALID naming both (recorded). Thread-safe.
 */
int ztoq__settings_check_pooler(const ztoq__settings *set, const struct ztoq__dialect *d);

/*
 * ZTOQ_OK when `value` (a resolved setting) is set, else records ZTOQ_EINVALID "`key`
 * is empty: `why`". For the dialects' validate ops. Thread-safe.
 */
int ztoq__settings_require(const char *value, const char *key, const char *why);

/*
 * The password in force: from password_file (first line) or the password option.
 * *out is NULL when none is set; the caller wipes and frees it. (connstr.c)
 */
int ztoq__settings_password(const ztoq__settings *set, char **out);

/*
 * The connection string of `set` for backend `d`, with the password already resolved
 * (NULL: none): the dialect's own string without a DSN; with one, the DSN (or the
 * caller's whole string) followed by the attributes `d` relies on (d NULL: none, the
 * backend is not known yet). The caller frees *out with ztoq__free_secret(). (connstr.c)
 */
int ztoq__connstr_compose(char **out, const ztoq__settings *set, const struct ztoq__dialect *d,
			  const char *password);

/*
 * The backend whose driver library a DSN (its odbc.ini Driver) or a caller's whole
 * string (its Driver attribute) names, through odbcinst.ini, or NULL (a driver the
 * library does not know, which a first connect asks). Every connect checks it against
 * what the driver reports. Reads the ini files: once per manager. Thread-safe.
 * (connstr.c)
 */
const struct ztoq__dialect *ztoq__connstr_guess(const ztoq__settings *set);

/* The first password attribute's value of `connstr` (or NULL); caller frees (connstr.c). */
int ztoq__connstr_password(char **out, const char *connstr);

#endif
