/*
 * dialect.h - the one place where SQLite and PostgreSQL differ.
 */
#ifndef ZTOQ_DIALECT_H
#define ZTOQ_DIALECT_H

#include <stdint.h>

#include "ztoq/config.h"

typedef struct {
	ztoq_db_type type;
	const char *name;           /* "sqlite", "postgresql", "odbc" */
	int serialize_connect;      /* the driver is unsafe when threads connect at once */
	int native_isolation;       /* SQL_ATTR_TXN_ISOLATION really changes the level */
	const char *read_only_on;   /* makes the connection read-only, or NULL */
	const char *read_only_off;  /* undoes it, or NULL */
	const char *read_only_tx;   /* first statement of a read-only transaction, or NULL */
	const char *begin_write;    /* starts a read-write transaction in SQL, or NULL: */
	const char *begin_read;     /*   then autocommit stays on and COMMIT/ROLLBACK end it */
	const char *ping_sql;       /* cheapest real round trip */
	const char *tables_sql;     /* names of the user tables, sorted, or NULL */
} ztoq__dialect;

/* The dialect of a backend. Static storage; thread-safe. */
const ztoq__dialect *ztoq__dialect_get(ztoq_db_type type);

/* Maps a diagnostic record to a ztoq_error_code (ZTOQ_ERROR when nothing matches). */
int ztoq__dialect_classify(ztoq_db_type type, const char *sqlstate, int32_t native,
			   const char *message);

#endif
