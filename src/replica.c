/*
 * replica.c - read replicas: their pools, which one a read-only transaction borrows
 * from, their lag and their figures (replica.h).
 */
#include "replica.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "config.h"
#include "error.h"
#include "hosts.h"
#include "stmt.h"

/* How long a replica is skipped after a failed connect or a broken connection. */
#define REPLICA_DOWN_NS 1000000000u
/* How long it is skipped after a connect that failed only at its timeout (a replica
 * that accepts TCP and never answers): each such connect holds psqlODBC's process-wide
 * connect turn (conn.c), so primary connects wait behind it. */
#define REPLICA_STALLED_DOWN_NS 5000000000u
/* The bound of one replica connect, in seconds: connect_timeout_s when it is shorter.
 * A read-only transaction can fall back to the primary rather than wait. 2 s is
 * libpq's floor: psqlODBC passes the login timeout on as connect_timeout, and libpq
 * takes 1 as 2 (measured: a 1 s login timeout to a silent server failed after 2.1 s). */
#define REPLICA_CONNECT_S 2
/* How long a lag measurement is trusted (the lag is measured at most this often). */
#define LAG_FRESH_NS 100000000u
/* The bound of one lag query (it also bounds ztoq_db_hosts' role query). */
#define LAG_QUERY_NS 1000000000u
/* How long a read-only transaction waits for a free connection of a replica before
 * trying the next one, or the primary: at least the pool's validation floor (pool.c
 * MIN_VALIDATE_NS), so an idle connection of a restarted replica is still checked. */
#define REPLICA_WAIT_NS 100000000u
/* The lag of a replica not measured yet, or whose measurement failed. */
#define LAG_UNKNOWN LONG_MAX

struct ztoq__replica {
	ztoq_db *db;
	ztoq__host host;               /* from replica_hosts */
	struct ztoq__host_target way;  /* the primary's target, with this host's */
	ztoq__pool *pool;
	_Atomic uint64_t down_until_ns; /* skipped until then (0: up) */
	_Atomic uint64_t lag_at_ns;    /* when the lag was last measured (or claimed to be) */
	_Atomic long lag_ms;           /* the last measurement, or LAG_UNKNOWN */
	atomic_flag connecting;        /* set while one thread connects to it */
};

/*
 * Marks `r` down for `for_ns` from now, and forgets its lag: a replica back from an
 * outage is measured before its first use, not trusted on its old figure. Thread-safe.
 */
static void mark_down_for(struct ztoq__replica *r, uint64_t for_ns)
{
	atomic_store(&r->lag_ms, LAG_UNKNOWN);
	atomic_store(&r->lag_at_ns, 0);
	atomic_store(&r->down_until_ns, ztoq__now_ns() + for_ns);
}

/* Marks `r` down for REPLICA_DOWN_NS from now. Thread-safe. */
static void mark_down(struct ztoq__replica *r)
{
	mark_down_for(r, REPLICA_DOWN_NS);
}

/*
 * The replica pools' open function. One thread at a time connects to a replica: the
 * others fail at once (ZTOQ_ECONNECT, held by the caller) and fall back, rather than
 * each wait out a connect of their own. A connect that fails marks the replica down,
 * for REPLICA_STALLED_DOWN_NS when it ran into its timeout. Thread-safe.
 */
static int open_conn(ztoq__conn **out, void *ctx)
{
	struct ztoq__replica *r = ctx;
	uint64_t start = ztoq__now_ns();
	int code;

	if (atomic_flag_test_and_set(&r->connecting))
		return ztoq__error_set(ZTOQ_ECONNECT, "cannot connect to replica %s: another "
				       "thread is connecting to it", r->way.redacted);
	code = ztoq__conn_open(out, &r->way.target);
	/* 90% of the timeout: "ran into it", whatever the driver's rounding */
	if (code < 0)
		mark_down_for(r, (ztoq__now_ns() - start) * 10 >=
			      (uint64_t)r->way.target.login_timeout_s * 9000000000u
			      ? REPLICA_STALLED_DOWN_NS : REPLICA_DOWN_NS);
	atomic_flag_clear(&r->connecting);
	return code;
}

/* Gives `r` its way in: the primary's settings with its host and port, a short connect. */
static int compose(struct ztoq__replica *r)
{
	ztoq_db *db = r->db;
	ztoq__conn_target *t = &r->way.target;
	int code;

	if ((code = ztoq__host_target_make(&r->way, &db->target, &db->set, db->target.dialect,
					   db->secret, &r->host)) < 0)
		return code;
	if (t->login_timeout_s <= 0 || t->login_timeout_s > REPLICA_CONNECT_S)
		t->login_timeout_s = REPLICA_CONNECT_S;
	return ZTOQ_OK;
}

int ztoq__replicas_open(ztoq_db *db, const ztoq__pool_settings *like)
{
	ztoq__host_list list;
	int code;

	if (!db->set.replica_hosts)
		return ZTOQ_OK;
	if ((code = ztoq__hosts_parse(&list, db->set.replica_hosts, "replica_hosts",
				      db->set.port)) < 0)
		return code;
	if (!(db->replicas = ztoq__calloc(list.count, sizeof(*db->replicas))))
		return ztoq__error_nomem();
	for (; db->nreplicas < list.count; db->nreplicas++) {
		struct ztoq__replica *r = &db->replicas[db->nreplicas];
		ztoq__pool_settings ps = *like;

		r->db = db;
		r->host = list.hosts[db->nreplicas];
		atomic_init(&r->lag_ms, LAG_UNKNOWN);
		atomic_flag_clear(&r->connecting);
		ps.lazy = 1; /* a replica that is down must not fail the open */
		ps.open = open_conn;
		ps.open_ctx = r;
		if ((code = compose(r)) < 0 || (code = ztoq__pool_new(&r->pool, &ps)) < 0) {
			db->nreplicas++; /* freed by ztoq__replicas_close */
			return code;
		}
	}
	return ZTOQ_OK;
}

void ztoq__replicas_close(ztoq_db *db)
{
	for (size_t i = 0; i < db->nreplicas; i++) {
		struct ztoq__replica *r = &db->replicas[i];

		ztoq__pool_free(r->pool);
		ztoq__host_target_free(&r->way);
	}
	ztoq__free(db->replicas);
	db->replicas = NULL;
	db->nreplicas = 0;
}

/*
 * Runs the dialect's lag query on `c` (bounded by LAG_QUERY_NS): *lag is the lag in ms,
 * -1 for a server not in recovery, LAG_UNKNOWN when the query failed (its code is
 * returned). The caller holds errors.
 */
static int measure(ztoq__conn *c, long *lag)
{
	SQLINTEGER value = 0; /* up to 24 days in ms; more fails, as unknown (skipped) */
	int code = ztoq__conn_exec_int(c, c->dialect->replica_lag_sql,
				       ztoq__now_ns() + LAG_QUERY_NS, &value);

	*lag = code < 0 ? LAG_UNKNOWN : (long)value;
	return code;
}

/* measure(), the result kept as `r`'s lag. */
static int measure_replica(struct ztoq__replica *r, ztoq__conn *c, long *lag)
{
	int code = measure(c, lag);

	atomic_store(&r->lag_ms, *lag);
	return code;
}

/* 1 when the last lag measurement of `r`, `at`, is older than LAG_FRESH_NS at `now`
 * (a measurement claimed after `now` was read is fresh). */
static int stale(uint64_t at, uint64_t now)
{
	return now > at && now - at >= LAG_FRESH_NS;
}

/*
 * Claims the next lag measurement of `r` when the last one is older than LAG_FRESH_NS:
 * 1 for the one thread that wins it, 0 for the others (they use the last value).
 */
static int claim_measurement(struct ztoq__replica *r)
{
	uint64_t now = ztoq__now_ns(), at = atomic_load(&r->lag_at_ns);

	return stale(at, now) && atomic_compare_exchange_strong(&r->lag_at_ns, &at, now);
}

/*
 * A connection of `r` fit for a read-only transaction, or NULL. The measurement slot
 * is claimed only once a connection is had, so a replica that is down or busy does
 * not use it up. Errors held.
 */
static ztoq__conn *try_replica(struct ztoq__replica *r, long limit)
{
	uint64_t now = ztoq__now_ns();
	ztoq__conn *c;
	int due;
	long lag;

	if (now < atomic_load(&r->down_until_ns) ||
	    (limit > 0 && atomic_load(&r->lag_ms) > limit &&
	     !stale(atomic_load(&r->lag_at_ns), now)))
		return NULL;
	if (ztoq__pool_acquire(r->pool, &c, REPLICA_WAIT_NS) < 0)
		return NULL;
	due = limit > 0 && claim_measurement(r);
	if (due ? measure_replica(r, c, &lag) < 0 || lag > limit
		: limit > 0 && atomic_load(&r->lag_ms) > limit) {
		ztoq__replica_release(r, c);
		return NULL;
	}
	return c;
}

int ztoq__replica_acquire(ztoq_db *db, ztoq__conn **out, struct ztoq__replica **from)
{
	size_t n = db->nreplicas;
	unsigned start = n ? atomic_fetch_add(&db->next_replica, 1) : 0;

	*out = NULL;
	ztoq__error_hold(); /* a replica that does not fit is not the caller's error */
	for (size_t i = 0; i < n && !*out; i++) {
		*from = &db->replicas[(start + i) % n];
		*out = try_replica(*from, db->set.max_replica_lag_ms);
	}
	ztoq__error_release();
	return *out != NULL;
}

void ztoq__replica_release(struct ztoq__replica *r, ztoq__conn *c)
{
	if (c->broken)
		mark_down(r);
	ztoq__pool_release(r->pool, c);
}

/* ---- the public face (ztoq/pool.h, ztoq/db.h) ------------------------------------ */

ZTOQ_EXTERN(size_t) ztoq_db_replica_count(const ztoq_db *db)
{
	return db ? db->nreplicas : 0;
}

ZTOQ_EXTERN(int) ztoq_pool_maintain(ztoq_db *db)
{
	int code;

	if (!db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_pool_maintain: db is NULL");
	code = ztoq__pool_maintain(db->pool);
	/* the replicas' pools are lazy: this only closes their expired connections */
	for (size_t i = 0; i < db->nreplicas; i++)
		ztoq__pool_maintain(db->replicas[i].pool);
	return code;
}

ZTOQ_EXTERN(int) ztoq_pool_stats_get_replica(ztoq_db *db, size_t index, ztoq_pool_stats *out)
{
	if (!db || !out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_pool_stats_get_replica: bad arguments");
	if (index >= db->nreplicas)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "ztoq_pool_stats_get_replica: no replica %zu (there are %zu)",
				       index, db->nreplicas);
	ztoq__pool_stats(db->replicas[index].pool, out);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_route_stats_get(ztoq_db *db, ztoq_route_stats *out)
{
	if (!db || !out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_route_stats_get: bad arguments");
	out->routed = atomic_load(&db->routed);
	out->fallbacks = atomic_load(&db->fallbacks);
	return ZTOQ_OK;
}

ZTOQ_EXTERN(const char *) ztoq_host_role_name(ztoq_host_role role)
{
	switch (role) {
	case ZTOQ_HOST_PRIMARY:
		return "primary";
	case ZTOQ_HOST_REPLICA:
		return "replica";
	default:
		return "down";
	}
}

/* Fills the role and lag of `h` from connection `c` (of replica `r`, or the primary's). */
static void describe(ztoq_host_status *h, ztoq__conn *c, struct ztoq__replica *r)
{
	long lag = -1;
	int code;

	if (!c->dialect->replica_lag_sql)
		code = ztoq__conn_ping(c, ztoq__now_ns() + LAG_QUERY_NS);
	else
		code = r ? measure_replica(r, c, &lag) : measure(c, &lag);
	if (code == ZTOQ_OK) {
		h->role = lag < 0 ? ZTOQ_HOST_PRIMARY : ZTOQ_HOST_REPLICA;
		h->lag_ms = lag;
	}
}

/* Names server `from` in `h`: its name (an IPv6 address without brackets), its port. */
static void name_host(ztoq_host_status *h, const ztoq__host *from)
{
	snprintf(h->host, sizeof(h->host), "%s", from->name);
	h->port = (int)from->port;
}

/*
 * The primary's entries: the one server it names, through its pool; each server of a
 * host list (db.c), through a connection of its own, closed after.
 */
static size_t primary_hosts(ztoq_db *db, ztoq_host_status *hosts)
{
	const ztoq__settings *set = &db->set;
	ztoq__conn *c;

	for (size_t i = 0; db->host_targets && i < db->hosts.count; i++) {
		name_host(&hosts[i], &db->hosts.hosts[i]);
		if (ztoq__conn_open(&c, &db->host_targets[i].target) == ZTOQ_OK) {
			describe(&hosts[i], c, NULL);
			ztoq__conn_close(c);
		}
	}
	if (db->host_targets)
		return db->hosts.count;
	/* one server, else what names the database: a DSN or a caller's own string (as
	 * messages show it: without its password), a file */
	if (db->hosts.count) {
		name_host(&hosts[0], &db->hosts.hosts[0]); /* parsed at open; "name:port": its port */
	} else {
		snprintf(hosts[0].host, sizeof(hosts[0].host), "%s",
			 /* ztoq_db_target()'s load: db.c calls this module, not the reverse */
			 set->dsn ? __atomic_load_n(&db->redacted, __ATOMIC_ACQUIRE)
			 : set->db_path);
		hosts[0].port = 0;
	}
	if (ztoq__pool_acquire(db->pool, &c, UINT64_MAX) == ZTOQ_OK) {
		describe(&hosts[0], c, NULL);
		ztoq__pool_release(db->pool, c);
	}
	return 1;
}

ZTOQ_EXTERN(int) ztoq_db_hosts(ztoq_db *db, ztoq_host_status **out, size_t *count)
{
	size_t n, np;
	ztoq_host_status *hosts;
	ztoq__conn *c;

	if (!db || !out || !count)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_hosts: bad arguments");
	n = (db->host_targets ? db->hosts.count : 1) + db->nreplicas;
	if (!(hosts = ztoq__calloc(n, sizeof(*hosts))))
		return ztoq__error_nomem();
	for (size_t i = 0; i < n; i++) {
		hosts[i].role = ZTOQ_HOST_DOWN; /* until a connection says otherwise */
		hosts[i].lag_ms = -1;
		hosts[i].pool = -1;
	}
	ztoq__error_hold(); /* a host that is down is a status, not an error */
	np = primary_hosts(db, hosts);
	for (size_t i = 0; i < db->nreplicas; i++) {
		struct ztoq__replica *r = &db->replicas[i];
		ztoq_host_status *h = &hosts[np + i];

		name_host(h, &r->host);
		h->pool = (int)i;
		if (ztoq__pool_acquire(r->pool, &c, REPLICA_WAIT_NS) == ZTOQ_OK) {
			describe(h, c, r);
			ztoq__replica_release(r, c);
		}
	}
	ztoq__error_release();
	*out = hosts;
	*count = n;
	return ZTOQ_OK;
}
