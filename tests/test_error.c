/*
 * test_error.c - the thread-local last error and the classifier.
 */
#include <pthread.h>
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
		int got = ztoq__dialect_classify(c->type, c->state, c->native, c->message);
		cr_expect_eq(got, c->expected, "case %zu (%s %d %s): got %s, want %s", i, c->state,
			     c->native, c->message, ztoq_error_name(got), ztoq_error_name(c->expected));
	}
}
