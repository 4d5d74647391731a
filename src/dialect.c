/*
 * dialect.c - finding a backend's table, and what the tables share.
 *
 * PostgreSQL reports the server's SQLSTATE intact; the SQLite driver reports nearly
 * everything as HY000 with the SQLite result code as the native error, so SQLite adds
 * its own classification by native code (dialect_sqlite.c, docs/drivers.md).
 */
#include "dialect.h"

#include <string.h>

#include "ztoq/error.h"

/* Every backend, the generic one last: it claims any DBMS the others do not. */
static const ztoq__dialect *const dialects[] = {
	&ztoq__dialect_sqlite,
	&ztoq__dialect_postgresql,
	&ztoq__dialect_odbc,
};

#define NDIALECTS (sizeof(dialects) / sizeof(dialects[0]))

const ztoq__dialect *ztoq__dialect_get(ztoq_db_type type)
{
	for (size_t i = 0; i < NDIALECTS; i++)
		if (dialects[i]->type == type)
			return dialects[i];
	return &ztoq__dialect_odbc;
}

const ztoq__dialect *ztoq__dialect_by_name(const char *name)
{
	for (size_t i = 0; i < NDIALECTS; i++)
		if (strcmp(dialects[i]->name, name) == 0)
			return dialects[i];
	return NULL;
}

const ztoq__dialect *ztoq__dialect_of_driver_file(const char *path)
{
	const char *file = strrchr(path, '/');

	file = file ? file + 1 : path;
	for (size_t i = 0; i < NDIALECTS; i++)
		if (dialects[i]->driver_file && strstr(file, dialects[i]->driver_file))
			return dialects[i];
	return NULL;
}

const ztoq__dialect *ztoq__dialect_of_dbms(const char *dbms_name)
{
	for (size_t i = 0; i < NDIALECTS; i++)
		if (dialects[i]->dbms_name && strcmp(dialects[i]->dbms_name, dbms_name) == 0)
			return dialects[i];
	return &ztoq__dialect_odbc;
}

int ztoq__dialect_row_error_sqlstate(int code, const char *sqlstate, int32_t native)
{
	(void)native;
	if (code == ZTOQ_ECONSTRAINT)
		return 1;
	if (code != ZTOQ_ERROR && code != ZTOQ_EINVALID)
		return 0;
	/* cardinality (an upsert touching one row twice), data exception, integrity */
	return strncmp(sqlstate, "21", 2) == 0 || strncmp(sqlstate, "22", 2) == 0 ||
	       strncmp(sqlstate, "23", 2) == 0;
}

void ztoq__dialect_quote_ansi(ztoq__buf *b, const char *name)
{
	ztoq__buf_puts(b, "\"");
	ztoq__buf_append_doubling(b, name, '"');
	ztoq__buf_puts(b, "\"");
}

static int starts(const char *sqlstate, const char *prefix)
{
	return strncmp(sqlstate, prefix, strlen(prefix)) == 0;
}

static int has(const char *message, const char *needle)
{
	return message && strstr(message, needle) != NULL;
}

int ztoq__dialect_classify_manager(const char *sqlstate, const char *message)
{
	if (starts(sqlstate, "IM002") || starts(sqlstate, "IM003") ||
	    has(message, "Can't open lib"))
		return ZTOQ_ENOTFOUND;
	if (starts(sqlstate, "HY001"))
		return ZTOQ_ENOMEM;
	if (starts(sqlstate, "HYT0"))
		return ZTOQ_ETIMEOUT;
	return ZTOQ_ERROR;
}

int ztoq__dialect_classify_sqlstate(const char *sqlstate, int32_t native, const char *message)
{
	int code = ztoq__dialect_classify_manager(sqlstate, message);

	(void)native;
	if (code != ZTOQ_ERROR)
		return code;
	if (starts(sqlstate, "08001")) {
		if (has(message, "password authentication failed") ||
		    has(message, "no password supplied") || has(message, "authentication failed"))
			return ZTOQ_EAUTH;
		if (has(message, "does not exist"))
			return ZTOQ_ENOTFOUND;
		return ZTOQ_ECONNECT;
	}
	if (starts(sqlstate, "08") || starts(sqlstate, "57P0") ||
	    has(message, "server closed the connection unexpectedly") ||
	    has(message, "no connection to the server") ||
	    has(message, "could not send data to server"))
		return ZTOQ_EDISCONNECTED;
	if (starts(sqlstate, "23"))
		return ZTOQ_ECONSTRAINT;
	if (starts(sqlstate, "40001") || starts(sqlstate, "40P01"))
		return ZTOQ_ERETRY;
	if (starts(sqlstate, "25006"))
		return ZTOQ_EREADONLY;
	if (starts(sqlstate, "25P02"))
		return ZTOQ_ETXFAILED;
	if (starts(sqlstate, "57014") || starts(sqlstate, "55P03"))
		return ZTOQ_ETIMEOUT;
	if (starts(sqlstate, "28"))
		return ZTOQ_EAUTH;
	if (starts(sqlstate, "3D000"))
		return ZTOQ_ENOTFOUND;
	return ZTOQ_ERROR;
}
