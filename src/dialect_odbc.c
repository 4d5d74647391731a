/*
 * dialect_odbc.c - any other ODBC driver, through a DSN or a caller's whole string.
 *
 * The library knows nothing of it: standard SQLSTATEs, autocommit-off transactions,
 * one row a bulk statement, the driver's own query timeout, connects serialised.
 */
#include "dialect.h"

static int validate(const ztoq__settings *set)
{
	return ztoq__settings_require(set->dsn, "dsn",
				      "db_type odbc needs a DSN or a connection string");
}

const ztoq__dialect ztoq__dialect_odbc = {
	.type = ZTOQ_DB_ODBC,
	.name = "odbc",
	.min_connections = "5",
	.max_connections = "20",
	.validate = validate,
	.connect_alone = 1,
	.stop = ZTOQ__STOP_QUERY_TIMEOUT,
	.classify = ztoq__dialect_classify_sqlstate,
	.native_isolation = 1,
	.ping_sql = "SELECT 1",
	.bulk_form = ZTOQ__BULK_ROWS,
	.is_row_error = ztoq__dialect_row_error_sqlstate,
};
