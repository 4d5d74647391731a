/*
 * ztoq/connstr.h - ODBC connection strings composed from a configuration.
 */
#ifndef ZTOQ_CONNSTR_H
#define ZTOQ_CONNSTR_H

#include "common.h"
#include "config.h"

ZTOQ_BEGIN_DECL

/**
 * Composes the ODBC connection string for `cfg`:
 *   sqlite:      Driver={SQLite3};Database=PATH;Timeout=MS;FKSupport=1;...
 *   postgresql:  Driver={PostgreSQL Unicode};Server=H;Port=P;Database=D;Uid=U;Pwd={...};...
 *   with a dsn:  DSN=NAME;Uid=U;Pwd=P   (db_type odbc and a dsn containing '=': used as is)
 * With a dsn the backend is known only once connected: ztoq_db_open() then adds the
 * attributes that backend relies on (docs/backends.md); this adds none. When host
 * lists several PostgreSQL servers ("h1:5432,h2"), the string is the first one's
 * (ztoq_db_open() composes one per server).
 * Values are wrapped in {...} with '}' doubled where the driver understands it, so no
 * value can add or override an attribute; a value the driver cannot express (a ';', a
 * leading '{' or surrounding spaces in a SQLite path or in a PostgreSQL host, database
 * or user name, which psqlODBC would receive with the braces on) is refused with
 * ZTOQ_EINVALID. Timeout is half of busy_timeout_ms: the SQLite driver waits twice its
 * value. create_if_missing 0 adds NoCreat=1. The result contains the password: the
 * caller owns it, frees it with ztoq_free(), and must never print it (see
 * ztoq_connstr_redact()). Thread-safe for distinct configurations.
 */
ZTOQ_EXTERN(int) ztoq_connstr_build(char **out, const ztoq_config *cfg);

/**
 * Copies a connection string with the value of every attribute that can carry a
 * secret replaced by "***": every key that contains pwd, password, secret, token or
 * key (Pwd, AccessToken, ClientSecret, KeyStorePassword, SSLKey...), pqopt (libpq
 * options, password=... among them), ConnSettings and their psqlODBC abbreviations D5
 * and A6, in any case and with any white space around the key. This is the form that logs and messages show. The
 * caller frees *out with ztoq_free(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_connstr_redact(char **out, const char *connstr);

ZTOQ_END_DECL

#endif
