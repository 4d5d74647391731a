/*
 * db.h - the manager's internals, shared with the session module.
 */
#ifndef ZTOQ__DB_H
#define ZTOQ__DB_H

#include <pthread.h>
#include <sql.h>
#include <stdatomic.h>

#include "dialect.h"
#include "hosts.h"
#include "pool.h"
#include "ztoq/db.h"

struct ztoq__thread_slot;

struct ztoq_db {
	ztoq_config *cfg;
	ztoq__settings set;       /* cfg resolved (points into cfg) */
	/* target.dialect is known: db_type's without a DSN, else set by detect(), which
	 * stores this last (so a reader that sees it sees the dialect and strings) */
	atomic_int detected;
	pthread_mutex_t detect_lock; /* one first connect learns the backend */
	SQLHENV env;
	char *connstr;    /* contains the password */
	char *redacted;   /* what messages show */
	char *secret;     /* the password, scrubbed from driver messages; NULL if none */
	int secret_given; /* it is the configured password (else it was read from the
			     caller's own string, only to mask it) */
	char *first_redacted;     /* before detect() added attributes: a caller may still
				     hold it from ztoq_db_target() */
	char private_path[128];   /* db_path of a private in-memory database (:memory:) */
	ztoq__conn_target target; /* how connections are opened (points into the above) */
	ztoq__pool *pool;
	struct ztoq__thread_slot *thread_slots; /* sessions held by threads (db.c) */
	/* read replicas (replica.c): fixed after open, their state is atomics */
	struct ztoq__replica *replicas;
	size_t nreplicas;
	atomic_uint next_replica;     /* round robin: where the next pick starts */
	_Atomic uint64_t routed;      /* read-only transactions run on a replica */
	_Atomic uint64_t fallbacks;   /* ones that could have but ran on the primary */

	/* host as a list of several servers (db.c, "the host list"); NULL with one */
	struct ztoq__host_target *host_targets; /* one a server of `hosts`, same order */
	ztoq__host_list hosts;
	atomic_uint primary;      /* the server the last walk found writable: next start */
};

#endif
