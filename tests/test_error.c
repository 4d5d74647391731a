/*
 * test_error.c - the thread-local last error and the classifier.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dialect.h"
#include "error.h"
#include "support.h"

Test(error, last_error_is_never_null_and_starts_clear)
{
	const ztoq_error *e = ztoq_error_last();

	cr_assert_not_null(e);
	cr_assert_eq(e->code, ZTOQ_OK);
	cr_assert_str_eq(e->message, "");
	cr_assert_eq(e->diag_count, 0);
}

Test(error, set_and_clear)
{
	cr_assert_eq(ztoq__error_set(ZTOQ_EBUSY, "locked %d", 5), ZTOQ_EBUSY);
	cr_assert_eq(ztoq_error_last()->code, ZTOQ_EBUSY);
	cr_assert_str_eq(ztoq_error_last()->message, "locked 5");
	ztoq_error_clear();
	cr_assert_eq(ztoq_error_last()->code, ZTOQ_OK);
}

static void *other_thread(void *arg)
{
	(void)arg;
	ztoq__error_set(ZTOQ_ETIMEOUT, "from the other thread");
	return (void *)(intptr_t)ztoq_error_last()->code;
}

Test(error, last_error_is_per_thread)
{
	pthread_t t;
	void *code;

	ztoq__error_set(ZTOQ_EAUTH, "mine");
	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, &code);
	cr_assert_eq((intptr_t)code, ZTOQ_ETIMEOUT);
	cr_assert_eq(ztoq_error_last()->code, ZTOQ_EAUTH);
	cr_assert_str_eq(ztoq_error_last()->message, "mine");
}

Test(error, names_and_retryable)
{
	cr_assert_str_eq(ztoq_error_name(ZTOQ_ECONSTRAINT), "ZTOQ_ECONSTRAINT");
	cr_assert_str_eq(ztoq_error_name(ZTOQ_EDRIFT), "ZTOQ_EDRIFT");
	cr_assert_str_eq(ztoq_error_name(-99), "ZTOQ_UNKNOWN");
	cr_assert(ztoq_error_is_retryable(ZTOQ_ERETRY));
	cr_assert(ztoq_error_is_retryable(ZTOQ_EBUSY));
	cr_assert_not(ztoq_error_is_retryable(ZTOQ_ECONSTRAINT));
}

Test(error, works_when_memory_is_exhausted)
{
	ztoq_config *cfg = NULL;

	ztoq__alloc_fail_after(1);
	cr_assert_eq(ztoq_config_new(&cfg), ZTOQ_ENOMEM);
	cr_assert_str_eq(ztoq_error_last()->message, "out of memory");
	cr_assert_null(cfg);
}

struct classify_case {
	ztoq_db_type type;
	const char *state;
	int native;
	const char *message;
	int expected;
};

Test(error, classifier_maps_postgresql_by_sqlstate_and_sqlite_by_native_code)
{
	static const struct classify_case cases[] = {
		{ZTOQ_DB_POSTGRESQL, "23505", 7, "duplicate key", ZTOQ_ECONSTRAINT},
		{ZTOQ_DB_POSTGRESQL, "23503", 7, "foreign key", ZTOQ_ECONSTRAINT},
		{ZTOQ_DB_POSTGRESQL, "40001", 7, "could not serialize", ZTOQ_ERETRY},
		{ZTOQ_DB_POSTGRESQL, "40P01", 7, "deadlock detected", ZTOQ_ERETRY},
		{ZTOQ_DB_POSTGRESQL, "25006", 7, "read-only transaction", ZTOQ_EREADONLY},
		{ZTOQ_DB_POSTGRESQL, "25P02", 7, "current transaction is aborted", ZTOQ_ETXFAILED},
		{ZTOQ_DB_POSTGRESQL, "57014", 7, "canceling statement", ZTOQ_ETIMEOUT},
		{ZTOQ_DB_POSTGRESQL, "55P03", 7, "lock not available", ZTOQ_ETIMEOUT},
		{ZTOQ_DB_POSTGRESQL, "HYT00", 0, "timeout", ZTOQ_ETIMEOUT},
		{ZTOQ_DB_POSTGRESQL, "08S01", 0, "communication link failure", ZTOQ_EDISCONNECTED},
		{ZTOQ_DB_POSTGRESQL, "57P01", 7, "terminating connection", ZTOQ_EDISCONNECTED},
		{ZTOQ_DB_POSTGRESQL, "HY000", 7, "FATAL: terminating connection due to administrator "
		 "command\nserver closed the connection unexpectedly", ZTOQ_EDISCONNECTED},
		{ZTOQ_DB_POSTGRESQL, "08001", 101, "Connection refused", ZTOQ_ECONNECT},
		{ZTOQ_DB_POSTGRESQL, "08001", 101, "password authentication failed for user", ZTOQ_EAUTH},
		{ZTOQ_DB_POSTGRESQL, "08001", 101, "database \"x\" does not exist", ZTOQ_ENOTFOUND},
		{ZTOQ_DB_POSTGRESQL, "IM002", 0, "Data source name not found", ZTOQ_ENOTFOUND},
		{ZTOQ_DB_POSTGRESQL, "42601", 7, "syntax error", ZTOQ_ERROR},
		{ZTOQ_DB_SQLITE, "HY000", 5, "database is locked", ZTOQ_EBUSY},
		{ZTOQ_DB_SQLITE, "HY000", 6, "table is locked", ZTOQ_EBUSY},
		{ZTOQ_DB_SQLITE, "HY000", 19, "UNIQUE constraint failed", ZTOQ_ECONSTRAINT},
		{ZTOQ_DB_SQLITE, "HY000", 8, "attempt to write a readonly database", ZTOQ_EREADONLY},
		{ZTOQ_DB_SQLITE, "HY000", 26, "file is not a database", ZTOQ_ECONNECT},
		{ZTOQ_DB_SQLITE, "HY000", 14, "unable to open database file", ZTOQ_ECONNECT},
		{ZTOQ_DB_SQLITE, "HY000", 1, "no such table: x", ZTOQ_ERROR},
		{ZTOQ_DB_SQLITE, "HY001", 7, "out of memory", ZTOQ_ENOMEM},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct classify_case *c = &cases[i];
		int got = ztoq__dialect_get(c->type)->classify(c->state, c->native, c->message);
		cr_expect_eq(got, c->expected, "case %zu (%s %d %s): got %s, want %s", i, c->state,
			     c->native, c->message, ztoq_error_name(got), ztoq_error_name(c->expected));
	}
}

/* A connection handle whose diagnostics say the driver is not registered. */
static SQLHDBC failed_connection(SQLHENV *env)
{
	SQLHDBC dbc;

	cr_assert(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, env)));
	SQLSetEnvAttr(*env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
	cr_assert(SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, *env, &dbc)));
	cr_assert_not(SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL,
						     (SQLCHAR *)"Driver={No Such Driver}",
						     SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT)));
	return dbc;
}

static void free_connection(SQLHENV env, SQLHDBC dbc)
{
	SQLFreeHandle(SQL_HANDLE_DBC, dbc);
	SQLFreeHandle(SQL_HANDLE_ENV, env);
}

/* A one-letter password must not turn "cannot" into "c*nnot". */
Test(error, short_secret_does_not_garble_the_message, .timeout = 30)
{
	SQLHENV env;
	SQLHDBC dbc = failed_connection(&env);
	const ztoq_error *e;

	ztoq__error_odbc(ztoq__dialect_sqlite.classify, SQL_HANDLE_DBC, dbc, "a", ZTOQ_ERROR,
			 "cannot connect a database (Pwd=***)");
	e = ztoq_error_last();
	cr_assert(strstr(e->message, "cannot connect a database (Pwd=***): [") == e->message,
		  "%s", e->message);
	cr_assert(strstr(e->message, e->diags[0].message), "%s", e->message);
	cr_assert_null(strchr(e->diags[0].message, '*'), "%s", e->diags[0].message);
	free_connection(env, dbc);
}

/* A secret of four bytes or more is masked wherever it stands as a token of its own. */
Test(error, secret_is_masked_as_a_token, .timeout = 30)
{
	SQLHENV env;
	SQLHDBC dbc = failed_connection(&env);
	const char *m;

	ztoq__error_odbc(ztoq__dialect_sqlite.classify, SQL_HANDLE_DBC, dbc, "p;w{d}", ZTOQ_ERROR,
			 "value p;w{d} and 'p;w{d}'");
	m = ztoq_error_last()->message;
	cr_assert(strstr(m, "value *** and '***': [") == m, "%s", m);
	free_connection(env, dbc);
}

/* A context longer than the message gives way to the SQLSTATE and the driver's text. */
Test(error, long_context_is_cut_before_the_reason, .timeout = 30)
{
	SQLHENV env;
	SQLHDBC dbc = failed_connection(&env);
	const ztoq_error *e;
	static char context[10240 + 1];
	char tail[1200];

	for (size_t i = 0; i < 10240; i += 2) /* é: a UTF-8 character is never cut in two */
		memcpy(context + i, "\xc3\xa9", 2);
	ztoq__error_odbc(ztoq__dialect_sqlite.classify, SQL_HANDLE_DBC, dbc, NULL, ZTOQ_ERROR, "%s",
			 context);
	e = ztoq_error_last();
	snprintf(tail, sizeof(tail), "...: [%s] %s", e->diags[0].sqlstate, e->diags[0].message);
	cr_assert_neq(e->sqlstate[0], '\0');
	cr_assert(strlen(e->message) > strlen(tail) &&
			  strcmp(e->message + strlen(e->message) - strlen(tail), tail) == 0,
		  "the message ends with the reason: %s", e->message);
	cr_assert_eq((strstr(e->message, "...") - e->message) % 2, 0, "cut inside a character");
	free_connection(env, dbc);
}
