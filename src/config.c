/*
 * config.c - the option table and its four sources.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dialect.h"
#include "error.h"

#define NSOURCES 4

enum kind { KIND_STRING, KIND_INT, KIND_DB_TYPE, KIND_NONEMPTY, KIND_CHOICE };

/*
 * Validation rule of an option (KIND_STRING, the zero value, checks only a `max`
 * length when one is given) and the
 * field of ztoq__settings that holds its value: a long for KIND_INT, a dialect for
 * KIND_DB_TYPE, a string otherwise. A KIND_CHOICE value is one of `choices` (NULL
 * ended).
 */
struct ztoq__config_rule {
	enum kind kind;
	long min, max;
	size_t offset;
	const char *const *choices;
};

/* libpq's sslmode values, which psqlODBC's SSLmode passes on. */
static const char *const sslmodes[] = {"disable", "allow",     "prefer",
				       "require", "verify-ca", "verify-full", NULL};

/* Where the connections go (docs/scaling.md, "Behind PgBouncer"): straight to the
 * server (none), through a pooler in session mode (the same), or through one in
 * transaction mode, where nothing may outlive a transaction. */
static const char *const poolers[] = {"none", "session", "transaction", NULL};

/* Indices into the option table, so the two tables below cannot drift apart. */
enum option_id {
	OPT_DB_TYPE,
	OPT_DB_PATH,
	OPT_HOST,
	OPT_PORT,
	OPT_USERNAME,
	OPT_PASSWORD,
	OPT_PASSWORD_FILE,
	OPT_DATABASE,
	OPT_DSN,
	OPT_DRIVER,
	OPT_SQLITE_DRIVER,
	OPT_PG_DRIVER,
	OPT_MIN_CONNECTIONS,
	OPT_MAX_CONNECTIONS,
	OPT_ACQUIRE_TIMEOUT_MS,
	OPT_IDLE_TIMEOUT_MS,
	OPT_MAX_LIFETIME_MS,
	OPT_VALIDATE_AFTER_MS,
	OPT_BUSY_TIMEOUT_MS,
	OPT_CONNECT_TIMEOUT_S,
	OPT_LAZY_OPEN,
	OPT_CREATE_IF_MISSING,
	OPT_STATEMENT_TIMEOUT_MS,
	OPT_LOCK_TIMEOUT_MS,
	OPT_SSLMODE,
	OPT_SSLROOTCERT,
	OPT_ODBC_OPTIONS,
	/* read replicas and routing (issue 10, branch route) */
	OPT_REPLICA_HOSTS,
	OPT_MAX_REPLICA_LAG_MS,
	OPT_READ_YOUR_WRITES,
	OPT_POOLER,
	/* issue 10: the host list and failover */
	OPT_FAILOVER_TIMEOUT_MS,
	NOPTIONS
};

static const ztoq_config_option options[NOPTIONS] = {
	[OPT_DB_TYPE] = {"db_type", "db-type", "ZTOQ_DB_TYPE", NULL, ZTOQ__DEFAULT_DB_TYPE,
	 "backend: sqlite, postgresql or odbc", 0},
	[OPT_DB_PATH] = {"db_path", "db-path", "ZTOQ_DB_PATH", "ZTOQ_SQLITE_PATH", "ztoq_data.db",
	 "SQLite database file (:memory: for a private in-memory database)", 0},
	[OPT_HOST] = {"host", "host", "ZTOQ_PG_HOST", NULL, "localhost",
	 "PostgreSQL server host, or a list host[:port],... whose first writable primary "
	 "is used", 0},
	[OPT_PORT] = {"port", "port", "ZTOQ_PG_PORT", NULL, "5432", "PostgreSQL server port (1-65535)", 0},
	[OPT_USERNAME] = {"username", "username", "ZTOQ_PG_USER", NULL, NULL, "PostgreSQL user name", 0},
	[OPT_PASSWORD] = {"password", "password", "ZTOQ_PG_PASSWORD", NULL, NULL,
	 "PostgreSQL password (visible to other users on a command line: prefer "
	 "--password-file or ZTOQ_PG_PASSWORD)", 1},
	[OPT_PASSWORD_FILE] = {"password_file", "password-file", "ZTOQ_PG_PASSWORD_FILE", NULL, NULL,
	 "file whose first line is the PostgreSQL password", 0},
	[OPT_DATABASE] = {"database", "database", "ZTOQ_PG_DATABASE", NULL, "ztoq", "PostgreSQL database name", 0},
	[OPT_DSN] = {"dsn", "dsn", "ZTOQ_DSN", NULL, NULL,
	 "DSN from odbc.ini, or a full connection string with --db-type odbc", 0},
	[OPT_DRIVER] = {"driver", "driver", "ZTOQ_DB_DRIVER", NULL, NULL,
	 "ODBC driver name, overriding the per-backend default", 0},
	[OPT_SQLITE_DRIVER] = {"sqlite_driver", "sqlite-driver", "ZTOQ_SQLITE_DRIVER", NULL, "SQLite3",
	 "ODBC driver name for SQLite", 0},
	[OPT_PG_DRIVER] = {"pg_driver", "pg-driver", "ZTOQ_PG_DRIVER", NULL, "PostgreSQL Unicode",
	 "ODBC driver name for PostgreSQL", 0},
	[OPT_MIN_CONNECTIONS] = {"min_connections", "min-connections", "ZTOQ_DB_MIN_CONNECTIONS", NULL, NULL,
	 "connections opened at start and kept (default 5; SQLite 1)", 0},
	[OPT_MAX_CONNECTIONS] = {"max_connections", "max-connections", "ZTOQ_DB_MAX_CONNECTIONS", NULL, NULL,
	 "most connections open at once (default 20; SQLite 8)", 0},
	[OPT_ACQUIRE_TIMEOUT_MS] = {"acquire_timeout_ms", "acquire-timeout", "ZTOQ_DB_ACQUIRE_TIMEOUT_MS", NULL, "30000",
	 "how long to wait for a free pooled connection, ms", 0},
	[OPT_IDLE_TIMEOUT_MS] = {"idle_timeout_ms", "idle-timeout", "ZTOQ_DB_IDLE_TIMEOUT_MS", NULL, "600000",
	 "close connections idle this long (never below the minimum), ms; 0 never", 0},
	[OPT_MAX_LIFETIME_MS] = {"max_lifetime_ms", "max-lifetime", "ZTOQ_DB_MAX_LIFETIME_MS", NULL, "1800000",
	 "close idle connections older than this, ms; 0 never", 0},
	[OPT_VALIDATE_AFTER_MS] = {"validate_after_ms", "validate-after", "ZTOQ_DB_VALIDATE_AFTER_MS", NULL, "1000",
	 "check a connection idle this long with a round trip before use, ms; 0 never", 0},
	[OPT_BUSY_TIMEOUT_MS] = {"busy_timeout_ms", "busy-timeout", "ZTOQ_DB_BUSY_TIMEOUT_MS", NULL, "5000",
	 "SQLite: how long to wait for a lock, ms", 0},
	[OPT_CONNECT_TIMEOUT_S] = {"connect_timeout_s", "connect-timeout", "ZTOQ_DB_CONNECT_TIMEOUT_S", NULL, "10",
	 "how long to wait for a connection to open, s; 0 waits for ever", 0},
	[OPT_LAZY_OPEN] = {"lazy_open", "lazy-open", "ZTOQ_DB_LAZY_OPEN", NULL, "0",
	 "1: open connections on first use instead of min_connections at start", 0},
	[OPT_CREATE_IF_MISSING] = {"create_if_missing", "create-if-missing", "ZTOQ_DB_CREATE_IF_MISSING",
	 NULL, "1", "SQLite: 1 creates a missing database file, 0 refuses to open it", 0},
	[OPT_STATEMENT_TIMEOUT_MS] = {"statement_timeout_ms", "statement-timeout", "ZTOQ_DB_STATEMENT_TIMEOUT_MS", NULL, "0",
	 "cancel a statement running longer than this (ZTOQ_ETIMEOUT), ms; 0 never", 0},
	[OPT_LOCK_TIMEOUT_MS] = {"lock_timeout_ms", "lock-timeout", "ZTOQ_DB_LOCK_TIMEOUT_MS", NULL, "60000",
	 "PostgreSQL: how long a migrator waits for another's migration lock, ms", 0},
	[OPT_SSLMODE] = {"sslmode", "sslmode", "ZTOQ_PG_SSLMODE", NULL, NULL,
	 "PostgreSQL TLS: disable, allow, prefer, require, verify-ca or verify-full "
	 "(unset: the driver's default)", 0},
	[OPT_SSLROOTCERT] = {"sslrootcert", "sslrootcert", "ZTOQ_PG_SSLROOTCERT", NULL, NULL,
	 "PostgreSQL TLS: file of the CA certificates that verify-ca and verify-full trust", 0},
	[OPT_ODBC_OPTIONS] = {"odbc_options", "odbc-options", "ZTOQ_DB_ODBC_OPTIONS", NULL, NULL,
	 "extra driver attributes \"Key=Value;Key2=Value2\" appended to the connection "
	 "string", 1}, /* secret: a pqopt or ConnSettings there may carry one */
	/* read replicas and routing (issue 10, branch route) */
	[OPT_REPLICA_HOSTS] = {"replica_hosts", "replica-hosts", "ZTOQ_PG_REPLICA_HOSTS", NULL, NULL,
	 "PostgreSQL read replicas, host[:port] separated by commas: read-only "
	 "transactions go to them (unset: none)", 0},
	[OPT_MAX_REPLICA_LAG_MS] = {"max_replica_lag_ms", "max-replica-lag", "ZTOQ_PG_MAX_REPLICA_LAG_MS",
	 NULL, "0", "skip a replica whose replay lags more than this, ms; 0 does not measure", 0},
	[OPT_READ_YOUR_WRITES] = {"read_your_writes", "read-your-writes", "ZTOQ_DB_READ_YOUR_WRITES",
	 NULL, "0", "1: sessions keep read-only transactions on the primary by default", 0},
	[OPT_POOLER] = {"pooler", "pooler", "ZTOQ_PG_POOLER", NULL, "none",
	 "PostgreSQL: none, session, or transaction (PgBouncer in transaction-pooling "
	 "mode: no server-side prepares, no session state; slower)", 0},
	/* issue 10: the host list and failover */
	[OPT_FAILOVER_TIMEOUT_MS] = {"failover_timeout_ms", "failover-timeout",
	 "ZTOQ_PG_FAILOVER_TIMEOUT_MS", NULL, "0",
	 "PostgreSQL with several hosts: how long opening a connection keeps walking the "
	 "list when no host is a writable primary, ms; 0 one pass", 0},
};

#define FIELD(name) offsetof(ztoq__settings, name)

static const struct ztoq__config_rule rules[NOPTIONS] = {
	[OPT_DB_TYPE] = {KIND_DB_TYPE, 0, 0, FIELD(db_type)},
	[OPT_DB_PATH] = {KIND_STRING, 0, 0, FIELD(db_path)},
	[OPT_HOST] = {KIND_STRING, 0, 0, FIELD(host)},
	[OPT_PORT] = {KIND_INT, 1, 65535, FIELD(port)},
	[OPT_USERNAME] = {KIND_STRING, 0, 0, FIELD(username)},
	[OPT_PASSWORD] = {KIND_STRING, 0, 0, FIELD(password)},
	[OPT_PASSWORD_FILE] = {KIND_STRING, 0, 0, FIELD(password_file)},
	[OPT_DATABASE] = {KIND_STRING, 0, 0, FIELD(database)},
	[OPT_DSN] = {KIND_STRING, 0, 0, FIELD(dsn)},
	[OPT_DRIVER] = {KIND_NONEMPTY, 0, 0, FIELD(driver)},
	[OPT_SQLITE_DRIVER] = {KIND_NONEMPTY, 0, 0, FIELD(sqlite_driver)},
	[OPT_PG_DRIVER] = {KIND_NONEMPTY, 0, 0, FIELD(pg_driver)},
	[OPT_MIN_CONNECTIONS] = {KIND_INT, 0, 10000, FIELD(min_connections)},
	[OPT_MAX_CONNECTIONS] = {KIND_INT, 1, 10000, FIELD(max_connections)},
	[OPT_ACQUIRE_TIMEOUT_MS] = {KIND_INT, 0, 86400000, FIELD(acquire_timeout_ms)},
	[OPT_IDLE_TIMEOUT_MS] = {KIND_INT, 0, LONG_MAX, FIELD(idle_timeout_ms)},
	[OPT_MAX_LIFETIME_MS] = {KIND_INT, 0, LONG_MAX, FIELD(max_lifetime_ms)},
	[OPT_VALIDATE_AFTER_MS] = {KIND_INT, 0, LONG_MAX, FIELD(validate_after_ms)},
	[OPT_BUSY_TIMEOUT_MS] = {KIND_INT, 0, INT_MAX, FIELD(busy_timeout_ms)},
	[OPT_CONNECT_TIMEOUT_S] = {KIND_INT, 0, 3600, FIELD(connect_timeout_s)},
	[OPT_LAZY_OPEN] = {KIND_INT, 0, 1, FIELD(lazy_open)},
	[OPT_CREATE_IF_MISSING] = {KIND_INT, 0, 1, FIELD(create_if_missing)},
	[OPT_STATEMENT_TIMEOUT_MS] = {KIND_INT, 0, INT_MAX, FIELD(statement_timeout_ms)},
	[OPT_LOCK_TIMEOUT_MS] = {KIND_INT, 1, INT_MAX, FIELD(lock_timeout_ms)},
	[OPT_SSLMODE] = {KIND_CHOICE, 0, 0, FIELD(sslmode), sslmodes},
	[OPT_SSLROOTCERT] = {KIND_STRING, 0, ZTOQ__SSLROOTCERT_MAX, FIELD(sslrootcert)},
	[OPT_ODBC_OPTIONS] = {KIND_STRING, 0, 0, FIELD(odbc_options)},
	[OPT_REPLICA_HOSTS] = {KIND_STRING, 0, 0, FIELD(replica_hosts)},
	[OPT_MAX_REPLICA_LAG_MS] = {KIND_INT, 0, 86400000, FIELD(max_replica_lag_ms)},
	[OPT_READ_YOUR_WRITES] = {KIND_INT, 0, 1, FIELD(read_your_writes)},
	[OPT_POOLER] = {KIND_CHOICE, 0, 0, FIELD(pooler), poolers},
	/* issue 10: the host list and failover */
	[OPT_FAILOVER_TIMEOUT_MS] = {KIND_INT, 0, 86400000, FIELD(failover_timeout_ms)},
};

struct ztoq_config {
	char *values[NOPTIONS][NSOURCES];
};

static const char *const source_names[NSOURCES] = {"default", "environment", "option",
						   "value"};

ZTOQ_EXTERN(const ztoq_config_option *) ztoq_config_options(size_t *count)
{
	if (count)
		*count = NOPTIONS;
	return options;
}

static int find_option(const char *key)
{
	for (size_t i = 0; key && i < NOPTIONS; i++)
		if (strcmp(options[i].key, key) == 0)
			return (int)i;
	return -1;
}

static int find_flag(const char *flag, size_t len)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strlen(options[i].cli_flag) == len && memcmp(options[i].cli_flag, flag, len) == 0)
			return (int)i;
	return -1;
}

ZTOQ_EXTERN(int) ztoq_config_new(ztoq_config **out)
{
	if (!out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_new: out is NULL");
	*out = ztoq__calloc(1, sizeof(ztoq_config));
	return *out ? ZTOQ_OK : ztoq__error_nomem();
}

ZTOQ_EXTERN(void) ztoq_config_free(ztoq_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NOPTIONS; i++)
		for (int s = 0; s < NSOURCES; s++)
			ztoq__free_secret(cfg->values[i][s]);
	ztoq__free(cfg);
}

ZTOQ_EXTERN(int) ztoq_config_dup(ztoq_config **out, const ztoq_config *cfg)
{
	int rc;

	if (!cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_dup: cfg is NULL");
	if ((rc = ztoq_config_new(out)) < 0)
		return rc;
	for (size_t i = 0; i < NOPTIONS; i++) {
		for (int s = 0; s < NSOURCES; s++) {
			if (!cfg->values[i][s])
				continue;
			(*out)->values[i][s] = ztoq__strdup(cfg->values[i][s]);
			if (!(*out)->values[i][s]) {
				ztoq_config_free(*out);
				*out = NULL;
				return ztoq__error_nomem();
			}
		}
	}
	return ZTOQ_OK;
}

/* Describes where a value came from, for messages: "ZTOQ_PG_PORT", "--port", "port". */
static void origin(char *buf, size_t size, int opt, ztoq_config_source source, const char *env)
{
	switch (source) {
	case ZTOQ_SOURCE_ENV:
		snprintf(buf, size, "environment variable %s", env ? env : options[opt].env);
		break;
	case ZTOQ_SOURCE_CLI:
		snprintf(buf, size, "option --%s", options[opt].cli_flag);
		break;
	default:
		snprintf(buf, size, "%s \"%s\"", source_names[source], options[opt].key);
		break;
	}
}

/* ZTOQ_OK when `value` is one of `choices` (or empty: unset); else ZTOQ_EINVALID
 * naming the value, where it came from and every allowed one. */
static int check_choice(const char *const *choices, const char *value, const char *from)
{
	char allowed[160] = "";
	size_t len = 0;

	if (*value == '\0')
		return ZTOQ_OK;
	for (const char *const *c = choices; *c; c++) {
		if (strcmp(*c, value) == 0)
			return ZTOQ_OK;
		len += (size_t)snprintf(allowed + len, sizeof(allowed) - len, "%s%s",
					c == choices ? "" : ", ", *c);
	}
	return ztoq__error_set(ZTOQ_EINVALID, "%s: unsupported value \"%.*s%s\" (expected %s)",
			       from, ZTOQ__CLIP(value), allowed);
}

/* Checks one value against its option's rule; the message names where it came from. */
static int check_value(int opt, const char *value, const char *from)
{
	const struct ztoq__config_rule *r = &rules[opt];

	if (r->kind == KIND_INT) {
		char *end;
		long n;

		errno = 0;
		n = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno == ERANGE)
			return ztoq__error_set(ZTOQ_EINVALID, "%s: \"%.*s%s\" is not a whole number",
					       from, ZTOQ__CLIP(value));
		if (n < r->min || n > r->max)
			return ztoq__error_set(ZTOQ_EINVALID, "%s: %ld is out of range (%ld-%ld)",
					       from, n, r->min, r->max);
	} else if (r->kind == KIND_DB_TYPE) {
		if (!ztoq__dialect_by_name(value))
			return ztoq__error_set(ZTOQ_EINVALID,
					       "%s: unsupported database type \"%.*s%s\" "
					       "(expected sqlite, postgresql or odbc)",
					       from, ZTOQ__CLIP(value));
	} else if (r->kind == KIND_STRING && r->max && strlen(value) > (size_t)r->max) {
		return ztoq__error_set(ZTOQ_EINVALID, "%s: the value is longer than %ld bytes",
				       from, r->max);
	} else if (r->kind == KIND_CHOICE) {
		return check_choice(r->choices, value, from);
	} else if (r->kind == KIND_NONEMPTY && *value == '\0') {
		return ztoq__error_set(ZTOQ_EINVALID,
				       "%s: the value is empty (name an ODBC driver of "
				       "odbcinst.ini, or leave it unset for the default)",
				       from);
	}
	return ZTOQ_OK;
}

static int set_value(ztoq_config *cfg, ztoq_config_source source, int opt, const char *value,
		     size_t len, const char *env)
{
	char from[96];
	char *copy = NULL;
	int rc;

	origin(from, sizeof(from), opt, source, env);
	if (value) {
		if (memchr(value, '\0', len))
			return ztoq__error_set(ZTOQ_EINVALID, "%s: the value contains a NUL byte",
					       from);
		if (!(copy = ztoq__strndup(value, len)))
			return ztoq__error_nomem();
		if ((rc = check_value(opt, copy, from)) < 0) {
			ztoq__free_secret(copy);
			return rc;
		}
	}
	ztoq__free_secret(cfg->values[opt][source]);
	cfg->values[opt][source] = copy;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_config_set_from(ztoq_config *cfg, ztoq_config_source source,
				      const char *key, const char *value, size_t len)
{
	int opt = find_option(key);

	if (!cfg || (unsigned)source >= NSOURCES || source == ZTOQ_SOURCE_DEFAULT)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_set_from: bad arguments");
	if (opt < 0)
		return ztoq__error_set(ZTOQ_EINVALID, "unknown configuration key \"%s\"",
				       key ? key : "(null)");
	return set_value(cfg, source, opt, value, len, NULL);
}

ZTOQ_EXTERN(int) ztoq_config_set(ztoq_config *cfg, const char *key, const char *value)
{
	return ztoq_config_set_from(cfg, ZTOQ_SOURCE_EXPLICIT, key, value,
				    value ? strlen(value) : 0);
}

/* The environment variable `name` ("ZTOQ_PG_HOST") with `prefix` in place of its
 * "ZTOQ_" ("ZTOQ_TO_PG_HOST"), into buf; `name` itself when prefix is NULL. */
static const char *env_name(char *buf, size_t size, const char *prefix, const char *name)
{
	if (!prefix || !name)
		return name;
	snprintf(buf, size, "%s%s", prefix, name + strlen("ZTOQ_"));
	return buf;
}

/* Reads every option's variable (renamed by `prefix`, may be NULL) as the environment source. */
static int load_env(ztoq_config *cfg, const char *prefix)
{
	char main_buf[96], alias_buf[96];

	if (!cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_load_env: cfg is NULL");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const char *name = env_name(main_buf, sizeof(main_buf), prefix, options[i].env);
		const char *alias = env_name(alias_buf, sizeof(alias_buf), prefix, options[i].env_alias);
		const char *value = getenv(name);
		int rc;

		if (!value && alias)
			value = getenv(name = alias);
		if (!value)
			continue;
		if ((rc = set_value(cfg, ZTOQ_SOURCE_ENV, (int)i, value, strlen(value), name)) < 0)
			return rc;
	}
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_config_load_env(ztoq_config *cfg)
{
	return load_env(cfg, NULL);
}

ZTOQ_EXTERN(int) ztoq_config_load_env_prefixed(ztoq_config *cfg, const char *prefix)
{
	if (!prefix || strncmp(prefix, "ZTOQ_", 5) || strlen(prefix) > 32)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_load_env_prefixed: the prefix "
						      "must start with ZTOQ_ (at most 32 bytes)");
	return load_env(cfg, prefix);
}

ZTOQ_EXTERN(int) ztoq_config_load_dict(ztoq_config *cfg, const ztoq_config_entry *entries,
				       size_t n)
{
	ztoq_config *staged;
	int rc;

	if (!cfg || (n && !entries))
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_load_dict: bad arguments");
	/* Apply to a copy first so that a bad entry leaves cfg untouched. */
	if ((rc = ztoq_config_dup(&staged, cfg)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *v = entries[i].value;
		size_t len = v ? (entries[i].value_len ? entries[i].value_len : strlen(v)) : 0;

		rc = ztoq_config_set_from(staged, ZTOQ_SOURCE_EXPLICIT, entries[i].key, v, len);
		if (rc < 0) {
			ztoq_config_free(staged);
			return rc;
		}
	}
	for (size_t i = 0; i < NOPTIONS; i++) {
		for (int s = 0; s < NSOURCES; s++) {
			char *tmp = cfg->values[i][s];
			cfg->values[i][s] = staged->values[i][s];
			staged->values[i][s] = tmp;
		}
	}
	ztoq_config_free(staged);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_config_parse_args(ztoq_config *cfg, int *argc, char **argv)
{
	int in, out;

	if (!cfg || !argc || *argc < 0 || (*argc > 0 && !argv))
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_parse_args: bad arguments");
	for (in = out = (*argc > 0); in < *argc; in++) {
		const char *arg = argv[in], *name, *eq, *value;
		int opt, rc;

		if (strcmp(arg, "--") == 0) {
			while (in < *argc)
				argv[out++] = argv[in++];
			break;
		}
		if (strncmp(arg, "--", 2) != 0) {
			argv[out++] = argv[in];
			continue;
		}
		name = arg + 2;
		eq = strchr(name, '=');
		opt = find_flag(name, eq ? (size_t)(eq - name) : strlen(name));
		if (opt < 0) {
			argv[out++] = argv[in];
			continue;
		}
		if (eq) {
			value = eq + 1;
		} else if (in + 1 < *argc) {
			value = argv[++in];
		} else {
			return ztoq__error_set(ZTOQ_EINVALID, "option --%s needs a value",
					       options[opt].cli_flag);
		}
		if ((rc = set_value(cfg, ZTOQ_SOURCE_CLI, opt, value, strlen(value), NULL)) < 0)
			return rc;
	}
	if (out < *argc)
		argv[out] = NULL;
	*argc = out;
	return ZTOQ_OK;
}

static int source_in_force(const ztoq_config *cfg, int opt)
{
	for (int s = NSOURCES - 1; s > ZTOQ_SOURCE_DEFAULT; s--)
		if (cfg->values[opt][s])
			return s;
	return ZTOQ_SOURCE_DEFAULT;
}

/* The dialect db_type names (a stored value was checked on set). */
static const ztoq__dialect *db_type_dialect(const ztoq_config *cfg)
{
	int s = source_in_force(cfg, OPT_DB_TYPE);
	const ztoq__dialect *d =
		s == ZTOQ_SOURCE_DEFAULT ? NULL : ztoq__dialect_by_name(cfg->values[OPT_DB_TYPE][s]);

	return d ? d : ztoq__dialect_by_name(options[OPT_DB_TYPE].default_val);
}

/* Defaults that depend on the backend (pool sizes: the dialect's). */
static const char *derived_default(const ztoq_config *cfg, int opt)
{
	if (opt == OPT_MIN_CONNECTIONS)
		return db_type_dialect(cfg)->min_connections;
	if (opt == OPT_MAX_CONNECTIONS)
		return db_type_dialect(cfg)->max_connections;
	return options[opt].default_val;
}

/* The value in force of option `opt` (an index: no lookup by key). */
static const char *value_of(const ztoq_config *cfg, int opt)
{
	int s = source_in_force(cfg, opt);

	return s == ZTOQ_SOURCE_DEFAULT ? derived_default(cfg, opt) : cfg->values[opt][s];
}

ZTOQ_EXTERN(const char *) ztoq_config_get(const ztoq_config *cfg, const char *key)
{
	int opt = find_option(key);

	return (cfg && opt >= 0) ? value_of(cfg, opt) : NULL;
}

ZTOQ_EXTERN(ztoq_config_source) ztoq_config_source_of(const ztoq_config *cfg, const char *key)
{
	int opt = find_option(key);
	return (cfg && opt >= 0) ? (ztoq_config_source)source_in_force(cfg, opt)
				 : ZTOQ_SOURCE_DEFAULT;
}

ZTOQ_EXTERN(ztoq_db_type) ztoq_config_db_type(const ztoq_config *cfg)
{
	return db_type_dialect(cfg)->type;
}

/* The value in force of an integer option (already range-checked on set). */
static long long_of(const ztoq_config *cfg, int opt)
{
	const char *v = value_of(cfg, opt);
	return v ? strtol(v, NULL, 10) : 0;
}

/* The value in force of a string option, or NULL when unset or empty. */
static const char *str_of(const ztoq_config *cfg, int opt)
{
	const char *v = value_of(cfg, opt);
	return (v && *v) ? v : NULL;
}

/* An option that must not be empty for this backend. */
int ztoq__settings_require(const char *value, const char *key, const char *why)
{
	if (value)
		return ZTOQ_OK;
	return ztoq__error_set(ZTOQ_EINVALID, "%s is empty: %s", key, why);
}

int ztoq__settings_check_pooler(const ztoq__settings *set, const ztoq__dialect *d)
{
	if (!set->tx_pooler || d->tx_pooling)
		return ZTOQ_OK;
	return ztoq__error_set(ZTOQ_EINVALID,
			       "pooler=transaction is for PostgreSQL behind a transaction "
			       "pooler, not for %s (set pooler to none)",
			       d->dbms_name ? d->dbms_name : "this ODBC driver");
}

ZTOQ_EXTERN(int) ztoq_config_validate(const ztoq_config *cfg)
{
	ztoq__settings set;

	if (!cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_config_validate: cfg is NULL");
	return ztoq__settings_resolve(&set, cfg);
}

int ztoq__settings_resolve(ztoq__settings *out, const ztoq_config *cfg)
{
	memset(out, 0, sizeof(*out));
	/* Every stored value was checked on set; this types them and checks the whole. */
	for (int i = 0; i < NOPTIONS; i++) {
		char *field = (char *)out + rules[i].offset;

		if (rules[i].kind == KIND_INT)
			*(long *)(void *)field = long_of(cfg, i);
		else if (rules[i].kind == KIND_DB_TYPE)
			*(const ztoq__dialect **)(void *)field = db_type_dialect(cfg);
		else
			*(const char **)(void *)field = str_of(cfg, i);
	}
	out->db_type_given = source_in_force(cfg, OPT_DB_TYPE) != ZTOQ_SOURCE_DEFAULT;
	out->pool_sizes_given =
		(source_in_force(cfg, OPT_MIN_CONNECTIONS) != ZTOQ_SOURCE_DEFAULT) |
		(source_in_force(cfg, OPT_MAX_CONNECTIONS) != ZTOQ_SOURCE_DEFAULT) << 1;
	if (out->min_connections > out->max_connections)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "min_connections (%ld) is greater than max_connections (%ld)",
				       out->min_connections, out->max_connections);
	if (out->password && out->password_file)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "both password and password_file are set: give one");
	if (out->replica_hosts && (out->dsn || !out->db_type->replica_lag_sql))
		return ztoq__error_set(ZTOQ_EINVALID,
				       "replica_hosts is set, but read replicas need db_type "
				       "postgresql with the server given by host and port (not "
				       "a DSN or a connection string)");
	if (out->dsn && source_in_force(cfg, OPT_HOST) != ZTOQ_SOURCE_DEFAULT &&
	    strchr(out->host ? out->host : "", ','))
		return ztoq__error_set(ZTOQ_EINVALID,
				       "host names several servers (\"%.*s%s\"), which a DSN "
				       "cannot take: give them in host without dsn",
				       ZTOQ__CLIP(out->host));
	out->tx_pooler = out->pooler && strcmp(out->pooler, "transaction") == 0;
	if (out->tx_pooler && (out->db_type_given || !out->dsn) &&
	    ztoq__settings_check_pooler(out, out->db_type) != ZTOQ_OK)
		return ZTOQ_EINVALID;
	if (out->dsn)
		return ZTOQ_OK; /* the DSN carries the server or the file */
	return out->db_type->validate(out);
}
