/*
 * db.h - the manager's internals, shared with the session module.
 */
#ifndef ZTOQ_DB_INTERNAL_H
#define ZTOQ_DB_INTERNAL_H

#include <sql.h>

#include "dialect.h"
#include "pool.h"
#include "ztoq/db.h"

struct ztoq__thread_slot;

struct ztoq_db {
	ztoq_config *cfg;
	const ztoq__dialect *dialect;
	SQLHENV env;
	char *connstr;    /* contains the password */
	char *redacted;   /* what messages show */
	char *secret;     /* the password, scrubbed from driver messages; NULL if none */
	ztoq__conn_target target; /* how connections are opened (points into the above) */
	ztoq__pool *pool;
	struct ztoq__thread_slot *thread_slots; /* sessions held by threads (db.c) */
};

#endif
