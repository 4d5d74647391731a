/*
 * connect.c - opens the database that the environment (or --options) describes and
 * prints what it is connected to.
 *
 *     examples/connect [--db-type sqlite|postgresql] [--db-path FILE] [--host H] ...
 */
#include <stdio.h>

#include <ztoq/ztoq.h>

int main(int argc, char **argv)
{
	ztoq_config *cfg = NULL;
	ztoq_db *db = NULL;
	ztoq_server_info info;
	int rc;

	if ((rc = ztoq_config_new(&cfg)) < 0 || (rc = ztoq_config_load_env(cfg)) < 0 ||
	    (rc = ztoq_config_parse_args(cfg, &argc, argv)) < 0 ||
	    (rc = ztoq_db_open(&db, cfg)) < 0 || (rc = ztoq_db_server_info(db, &info)) < 0) {
		fprintf(stderr, "connect: %s (%s)\n", ztoq_error_last()->message,
			ztoq_error_name(rc));
		ztoq_db_close(db);
		ztoq_config_free(cfg);
		return 1;
	}
	printf("connected to %s %s through %s %s\n", info.dbms_name, info.dbms_version,
	       info.driver_name, info.driver_version);
	printf("connection: %s\n", ztoq_db_target(db));
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	return 0;
}
