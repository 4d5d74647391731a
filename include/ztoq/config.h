/*
 * ztoq/config.h - the factory's input: one table of options, four ways in.
 *
 * Every option has a dictionary key, a command-line flag, environment variables and a
 * compiled default (see ztoq_config_options()). A value can come from four sources; the
 * value in force is chosen field by field:
 *
 *     explicit (ztoq_config_set, ztoq_config_load_dict) > CLI > environment > default
 *
 * so the order in which sources are loaded does not matter. A ztoq_config is not
 * thread-safe: fill it in one thread, then hand it to ztoq_db_open(), which copies it.
 */
#ifndef ZTOQ_CONFIG_H
#define ZTOQ_CONFIG_H

#include "common.h"

ZTOQ_BEGIN_DECL

typedef struct ztoq_config ztoq_config;

/** Where a value came from, in increasing precedence. */
typedef enum {
	ZTOQ_SOURCE_DEFAULT = 0,
	ZTOQ_SOURCE_ENV = 1,
	ZTOQ_SOURCE_CLI = 2,
	ZTOQ_SOURCE_EXPLICIT = 3
} ztoq_config_source;

/** The backends the factory knows. */
typedef enum {
	ZTOQ_DB_SQLITE = 0,
	ZTOQ_DB_POSTGRESQL = 1,
	ZTOQ_DB_ODBC = 2 /* any other driver, through a DSN or a full connection string */
} ztoq_db_type;

/** One row of the option table, in the manner of libpq's PQconninfoOption. */
typedef struct {
	const char *key;         /* dictionary key: "host" */
	const char *cli_flag;    /* long option without dashes: "host" */
	const char *env;         /* environment variable: "ZTOQ_PG_HOST" */
	const char *env_alias;   /* second variable read when the first is unset, or NULL */
	const char *default_val; /* compiled default, or NULL */
	const char *help;        /* one line for --help */
	int secret;              /* 1 for values never to print (the password) */
} ztoq_config_option;

/** A key/value pair for ztoq_config_load_dict(); value_len 0 means NUL-terminated. */
typedef struct {
	const char *key;
	const char *value;
	size_t value_len;
} ztoq_config_entry;

/**
 * The option table, `*count` rows, in a stable order. Static storage; thread-safe.
 */
ZTOQ_EXTERN(const ztoq_config_option *) ztoq_config_options(size_t *count);

/** Creates an empty configuration (every option at its default). Caller frees with ztoq_config_free(). */
ZTOQ_EXTERN(int) ztoq_config_new(ztoq_config **out);

/** Deep-copies `cfg`. Caller frees the copy with ztoq_config_free(). */
ZTOQ_EXTERN(int) ztoq_config_dup(ztoq_config **out, const ztoq_config *cfg);

/** Frees a configuration, wiping the password from memory. NULL is ignored. */
ZTOQ_EXTERN(void) ztoq_config_free(ztoq_config *cfg);

/**
 * Sets `key` to `value` as an explicit value (the highest precedence). The value is
 * copied and checked (unknown key, NUL byte, bad number: ZTOQ_EINVALID with a message
 * naming the key). A NULL value unsets the explicit value.
 */
ZTOQ_EXTERN(int) ztoq_config_set(ztoq_config *cfg, const char *key, const char *value);

/**
 * Sets `key` from a given source, with an explicit length (`len` bytes, which must not
 * contain a NUL byte). A value from a lower source never replaces one from a higher one.
 */
ZTOQ_EXTERN(int) ztoq_config_set_from(ztoq_config *cfg, ztoq_config_source source,
				      const char *key, const char *value, size_t len);

/**
 * Reads every option's environment variable now (not at load time of the program), as
 * the environment source. Rejects bad values with ZTOQ_EINVALID naming the variable.
 */
ZTOQ_EXTERN(int) ztoq_config_load_env(ztoq_config *cfg);

/**
 * As ztoq_config_load_env(), with every variable's leading "ZTOQ_" replaced by
 * `prefix` (which starts with "ZTOQ_"): with "ZTOQ_TO_", ZTOQ_TO_PG_HOST for
 * ZTOQ_PG_HOST, ZTOQ_TO_DB_PATH for ZTOQ_DB_PATH (`ztoq db copy`'s target).
 */
ZTOQ_EXTERN(int) ztoq_config_load_env_prefixed(ztoq_config *cfg, const char *prefix);

/**
 * Loads `n` key/value pairs as explicit values (ZTOQ's from_config). An unknown key is
 * an error, not silently ignored; on error nothing of the dictionary is applied.
 */
ZTOQ_EXTERN(int) ztoq_config_load_dict(ztoq_config *cfg, const ztoq_config_entry *entries, size_t n);

/**
 * Takes the options of the table out of a program's argv (`--host X` or `--host=X`) as
 * the CLI source, removing them from argv and updating *argc; other arguments stay in
 * order, and "--" ends option processing. argv[0] is kept. An option without its value
 * is ZTOQ_EINVALID.
 */
ZTOQ_EXTERN(int) ztoq_config_parse_args(ztoq_config *cfg, int *argc, char **argv);

/**
 * The value in force for `key` (NULL if unset with no default, or key unknown). The
 * string is owned by `cfg` and valid until `cfg` changes. For the password this is the
 * real value: never print it.
 */
ZTOQ_EXTERN(const char *) ztoq_config_get(const ztoq_config *cfg, const char *key);

/** Which source the value in force for `key` came from. */
ZTOQ_EXTERN(ztoq_config_source) ztoq_config_source_of(const ztoq_config *cfg, const char *key);

/**
 * Checks the configuration as a whole: db type, port range, path, PostgreSQL host and
 * database, min <= max connections, timeouts. Returns ZTOQ_EINVALID with one message
 * naming the first problem. ztoq_db_open() calls it too.
 */
ZTOQ_EXTERN(int) ztoq_config_validate(const ztoq_config *cfg);

/** The resolved backend type. Call after ztoq_config_validate() succeeded. */
ZTOQ_EXTERN(ztoq_db_type) ztoq_config_db_type(const ztoq_config *cfg);

/**
 * The db_type value naming `type`: "sqlite", "postgresql" or "odbc" (an unknown type
 * is "odbc"). Static storage; thread-safe.
 */
ZTOQ_EXTERN(const char *) ztoq_db_type_name(ztoq_db_type type);

ZTOQ_END_DECL

#endif
