/*
 * stress_threads.c - eight threads open and close pooled connections in a loop, for
 * helgrind and ThreadSanitizer (no test framework: it forks nothing, so the race
 * checkers see every thread). Every round connects and disconnects through the
 * driver (max_lifetime 1 ms), which corrupts memory on the SQLite driver unless the
 * library serialises connect/disconnect.
 *
 *     stress_threads [--rounds N] [ztoq options, e.g. --db-path F or --db-type postgresql ...]
 *
 * Configuration comes from the environment and the options, as in any ztoq program.
 * Exits 0 when every round succeeded.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ztoq/ztoq.h>

#define THREADS 8

static ztoq_db *db;
static int rounds = 25;

static void *churn(void *arg)
{
	intptr_t id = (intptr_t)arg, failures = 0;

	for (int i = 0; i < rounds; i++) {
		ztoq_value row[] = {ZTOQ_INT64(id * 100000 + i), ZTOQ_INT64(id)};
		struct timespec pause = {0, 2000000};
		ztoq_session *s;

		if (ztoq_session_open_timeout(&s, db, 60000) < 0) {
			fprintf(stderr, "thread %ld: %s\n", (long)id, ztoq_error_last()->message);
			failures++;
			continue;
		}
		if (ztoq_session_exec(s, "INSERT INTO t VALUES (?, ?)", row, 2, NULL) < 0) {
			fprintf(stderr, "thread %ld: %s\n", (long)id, ztoq_error_last()->message);
			failures++;
		}
		nanosleep(&pause, NULL);
		ztoq_session_close(s);
	}
	return (void *)failures;
}

int main(int argc, char **argv)
{
	ztoq_config *cfg;
	ztoq_session *s;
	pthread_t t[THREADS];
	long failures = 0;

	if (ztoq_config_new(&cfg) < 0 || ztoq_config_load_env(cfg) < 0 ||
	    ztoq_config_parse_args(cfg, &argc, argv) < 0) {
		fprintf(stderr, "%s\n", ztoq_error_last()->message);
		return 2;
	}
	if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
		rounds = atoi(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: %s [--rounds N] [ztoq options]\n", argv[0]);
		return 2;
	}
	if (ztoq_config_set(cfg, "min_connections", "0") < 0 ||
	    ztoq_config_set(cfg, "max_connections", "8") < 0 ||
	    ztoq_config_set(cfg, "max_lifetime_ms", "1") < 0 ||
	    ztoq_config_set(cfg, "busy_timeout_ms", "30000") < 0 || ztoq_db_open(&db, cfg) < 0 ||
	    ztoq_session_open(&s, db) < 0 ||
	    ztoq_session_exec(s, "DROP TABLE IF EXISTS t", NULL, 0, NULL) < 0 ||
	    ztoq_session_exec(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, owner INTEGER)", NULL, 0,
			      NULL) < 0) {
		fprintf(stderr, "setup: %s\n", ztoq_error_last()->message);
		return 1;
	}
	ztoq_session_close(s);
	ztoq_config_free(cfg);
	for (intptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++) {
		void *f;
		pthread_join(t[i], &f);
		failures += (long)(intptr_t)f;
	}
	ztoq_db_close(db);
	printf("stress_threads: %d threads x %d rounds, %ld failures\n", THREADS, rounds, failures);
	return failures ? 1 : 0;
}
