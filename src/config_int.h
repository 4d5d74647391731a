/*
 * config_int.h - typed access to a configuration for the rest of the library.
 */
#ifndef ZTOQ_CONFIG_INT_H
#define ZTOQ_CONFIG_INT_H

#include "ztoq/config.h"

/* The value in force of an integer option (already range-checked on set). */
long ztoq__config_long(const ztoq_config *cfg, const char *key);

/* The value in force, or NULL when unset or empty. */
const char *ztoq__config_str(const ztoq_config *cfg, const char *key);

/* The ODBC driver name in force: --driver, else the per-backend driver option. */
const char *ztoq__config_driver(const ztoq_config *cfg);

/*
 * The password in force: from password_file (first line) or the password option.
 * *out is NULL when none is set; the caller wipes and frees it. (connstr.c)
 */
int ztoq__config_password(const ztoq_config *cfg, char **out);

/*
 * ztoq_connstr_build() with the password already resolved (NULL: none), so a caller
 * that keeps the password reads a password file once. (connstr.c)
 */
int ztoq__connstr_compose(char **out, const ztoq_config *cfg, const char *password);

/* The first password attribute's value of `connstr` (or NULL); caller frees (connstr.c). */
int ztoq__connstr_password(char **out, const char *connstr);

#endif
