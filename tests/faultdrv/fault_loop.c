/*
 * fault_loop.c - the short fault loop (loop.c) outside Criterion, for the leak gate:
 * valgrind sees one process, where Criterion would fork and report a leaking test as
 * passed. Run inside the test fixture:
 *
 *     fault_loop sqlite|postgresql
 *
 * Exits 0 when every check held, 1 otherwise (the first failure on stderr).
 */
#include <stdio.h>
#include <string.h>

#include "loop.h"

int main(int argc, char **argv)
{
	ztoq_db_type backend;
	loop_result r;
	int rc;

	if (argc != 2 || (strcmp(argv[1], "sqlite") != 0 && strcmp(argv[1], "postgresql") != 0)) {
		fprintf(stderr, "usage: %s sqlite|postgresql\n", argv[0]);
		return 2;
	}
	backend = strcmp(argv[1], "sqlite") == 0 ? ZTOQ_DB_SQLITE : ZTOQ_DB_POSTGRESQL;
	rc = loop_run(backend, LOOP_SHORT, &r);
	printf("fault loop on %s: calls in a clean unit: %s\n", argv[1], r.calls);
	printf("fault loop on %s: %u units with a fault, %u absorbed, %u failed checks\n", argv[1],
	       r.units, r.survived, r.failed);
	if (rc < 0)
		fprintf(stderr, "first failure: %s\n", r.first);
	return rc < 0 ? 1 : 0;
}
