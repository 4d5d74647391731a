/*
 * loop.h - the fault loop of issue 8: one realistic unit of work run through the fault
 * driver (faultdrv.c) once per call site, with the checks that must hold after every
 * injected failure. Plain C (no test framework), so that both the Criterion program
 * tests/test_faults.c and the valgrind gate (faults_main.c) run the same code.
 *
 * Needs the test fixture's environment (ZTOQ_TEST_TMPDIR, ZTOQ_TEST_PG_*). Not
 * thread-safe: one loop per process at a time.
 */
#ifndef ZTOQ_TEST_FAULTS_LOOP_H
#define ZTOQ_TEST_FAULTS_LOOP_H

#include <stddef.h>

#include <ztoq/ztoq.h>

/* How much of the loop to run. */
typedef enum {
	LOOP_SHORT, /* every fault site at up to 6 calls spread from first to last, one
		       SQLSTATE each, rotating through all six */
	LOOP_LONG   /* every call of every fault site, with every SQLSTATE */
} loop_size;

/* What a loop did. */
typedef struct {
	unsigned units;    /* units of work run with a fault */
	unsigned failed;   /* of which a check did not hold */
	unsigned survived; /* the library absorbed the fault (ZTOQ_OK, data complete) */
	unsigned unfired;  /* the call did not come that often this time (still checked) */
	char first[1024];  /* the first check that did not hold, "" if none */
	char calls[256];   /* the clean unit's calls per fault site, "Prepare=12 ..." */
	char absorbed[512]; /* the first rules the library absorbed, "SQLFetch:3:HY000 ..." */
} loop_result;

/* Runs the loop on `backend` into `out`; returns 0 when every check held, -1 otherwise
 * (out->first says why). */
int loop_run(ztoq_db_type backend, loop_size size, loop_result *out);

/* Runs one unit with `rule` ("SQLExecute:2:stall=300", ...) and checks it; `why` gets
 * the reason when a check does not hold. Returns 0 when all held. */
int loop_one(ztoq_db_type backend, const char *rule, char *why, size_t len);

/* A config for `backend`: through the fault driver when `faulty`, else the real one.
 * The SQLite file is the same for both. Caller frees. */
ztoq_config *loop_config(ztoq_db_type backend, int faulty);

/* Loads the fault driver and prepares the database: ZTOQ's schema at head and the
 * empty table fault_t (id, tag, kind). Returns 0, or -1 with `why` set. */
int loop_setup(ztoq_db_type backend, char *why, size_t len);

/* Sets the fault driver's rule ("" to count only) and restarts its counts. */
void loop_rule(const char *rule);

/* Faults the driver of `backend` injected since the last loop_rule(). */
unsigned long loop_fired(ztoq_db_type backend);

/* The int64 that `sql` returns, read through the real driver; -1 with `why` on error. */
int64_t loop_count(ztoq_db_type backend, const char *sql, char *why, size_t len);

#endif
