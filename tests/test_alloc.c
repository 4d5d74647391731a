/*
 * test_alloc.c - every allocation of the library failing in turn: each call fails
 * cleanly with ZTOQ_ENOMEM (or succeeds), never crashes, and the manager still closes.
 */
#include "alloc.h"
#include "support.h"

/* One pass over the main paths; returns the first failure code, or 0. */
static int exercise(ztoq_config *cfg)
{
	ztoq_db *db = NULL;
	ztoq_session *s = NULL;
	ztoq_stmt *st = NULL;
	ztoq_table_list *tables = NULL;
	ztoq_value row[] = {ZTOQ_INT64(1), ZTOQ_TEXT("value")};
	int rc;

	if ((rc = ztoq_db_open(&db, cfg)) < 0)
		return rc;
	if ((rc = ztoq_session_open(&s, db)) == 0 &&
	    (rc = ztoq_session_exec(s, "CREATE TABLE IF NOT EXISTS t (id INTEGER, v TEXT)", NULL, 0,
				    NULL)) == 0 &&
	    (rc = ztoq_tx_begin(s, NULL)) == 0 &&
	    (rc = ztoq_session_exec(s, "INSERT INTO t VALUES (?, ?)", row, 2, NULL)) == 0 &&
	    (rc = ztoq_tx_commit(s)) == 0 && (rc = ztoq_stmt_prepare(&st, s, "SELECT v FROM t")) == 0 &&
	    (rc = ztoq_stmt_execute(st)) == 0 && (rc = ztoq_stmt_fetch(st)) == ZTOQ_ROW)
		rc = ztoq_health_tables(&tables, db, 1);
	ztoq_table_list_free(tables);
	ztoq_stmt_finalize(st);
	if (s && ztoq_tx_depth(s))
		ztoq_tx_rollback(s);
	ztoq_session_close(s);
	ztoq_db_close(db);
	return rc < 0 ? rc : 0;
}

TEST_BOTH(alloc, every_allocation_failing_in_turn_fails_cleanly)
{
	ztoq_config *cfg = test_config(backend);
	int n, failures = 0;

	for (n = 1; n < 400; n++) {
		int rc;

		ztoq__alloc_fail_after(n);
		rc = exercise(cfg);
		ztoq__alloc_fail_after(0);
		if (rc == 0)
			break; /* the n-th allocation is beyond the whole pass */
		failures++;
		cr_assert_eq(rc, ZTOQ_ENOMEM, "allocation %d failing gave %s: %s", n,
			     ztoq_error_name(rc), ztoq_error_last()->message);
	}
	cr_assert_lt(n, 400, "the pass makes fewer than 400 allocations");
	cr_assert_gt(failures, 20, "many allocation sites were exercised (%d)", failures);
	cr_assert_eq(exercise(cfg), 0, "all is well afterwards");
	ztoq_config_free(cfg);
}
