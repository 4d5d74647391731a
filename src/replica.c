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
#include "stmt.h"
#include "ztoq/connstr.h"

/* How long a replica is skipped after a failed connect or a broken connection. */
#define REPLICA_DOWN_NS 1000000000u
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
	size_t index;
	char *host;                    /* as the list gives it (brackets of IPv6 removed) */
	long port;
	char *connstr;                 /* contains the password */
	char *redacted;
	ztoq__conn_target target;      /* the primary's, with this host's strings and port */
	ztoq__pool *pool;
	_Atomic uint64_t down_until_ns; /* skipped until then (0: up) */
	_Atomic uint64_t lag_at_ns;    /* when the lag was last measured (or claimed to be) */
	_Atomic long lag_ms;           /* the last measurement, or LAG_UNKNOWN */
};

/* Marks `r` down for REPLICA_DOWN_NS from now. Thread-safe. */
static void mark_down(struct ztoq__replica *r)
{
	atomic_store(&r->down_until_ns, ztoq__now_ns() + REPLICA_DOWN_NS);
}

/* The replica pools' open function: a connect that fails marks the replica down. */
static int open_conn(ztoq__conn **out, void *ctx)
{
	struct ztoq__replica *r = ctx;
	int code = ztoq__conn_open(out, &r->target);

	if (code < 0)
		mark_down(r);
	return code;
}

/*
 * Splits the next item of the comma-separated `list` at *pos into `r`'s host and port
 * (`default_port` when the item has none): host, host:port, [v6] or [v6]:port.
 */
static int parse_item(struct ztoq__replica *r, const char **pos, long default_port)
{
	const char *item = *pos, *end = strchr(item, ','), *colon, *host = item, *host_end;
	size_t len;

	if (!end)
		end = item + strlen(item);
	*pos = *end ? end + 1 : end;
	len = (size_t)(end - item);
	if (*item == '[' && (host_end = memchr(item, ']', len)) != NULL) {
		host = item + 1;
		colon = host_end + 1 < end && host_end[1] == ':' ? host_end + 1 : NULL;
	} else {
		colon = memchr(item, ':', len);
		host_end = colon ? colon : end;
	}
	r->port = default_port;
	if (colon) {
		char *stop;

		r->port = strtol(colon + 1, &stop, 10);
		if (stop != end || colon + 1 == end || r->port < 1 || r->port > 65535)
			return ztoq__error_set(ZTOQ_EINVALID, "replica_hosts: bad port in \"%.*s\" "
							      "(expected host[:port], port 1-65535)",
					       (int)len, item);
	}
	if (host_end == host)
		return ztoq__error_set(ZTOQ_EINVALID, "replica_hosts: empty host in \"%s\" "
						      "(expected host[:port],...)",
				       r->db->set.replica_hosts);
	r->host = ztoq__strndup(host, (size_t)(host_end - host));
	return r->host ? ZTOQ_OK : ztoq__error_nomem();
}

/* Composes `r`'s connection string (the primary's settings, this host and port). */
static int compose(struct ztoq__replica *r)
{
	ztoq_db *db = r->db;
	ztoq__settings set = db->set;
	int code;

	set.host = r->host;
	set.port = r->port;
	if ((code = ztoq__connstr_compose(&r->connstr, &set, db->target.dialect,
					  db->secret_given ? db->secret : NULL)) < 0 ||
	    (code = ztoq_connstr_redact(&r->redacted, r->connstr)) < 0)
		return code;
	r->target = db->target;
	r->target.connstr = r->connstr;
	r->target.redacted = r->redacted;
	r->target.port = (int)r->port;
	return ZTOQ_OK;
}

int ztoq__replicas_open(ztoq_db *db, const ztoq__pool_settings *like)
{
	const char *pos = db->set.replica_hosts;
	size_t n = 1;
	int code;

	if (!pos)
		return ZTOQ_OK;
	for (const char *c = pos; *c; c++)
		n += *c == ',';
	if (!(db->replicas = ztoq__calloc(n, sizeof(*db->replicas))))
		return ztoq__error_nomem();
	for (; db->nreplicas < n; db->nreplicas++) {
		struct ztoq__replica *r = &db->replicas[db->nreplicas];
		ztoq__pool_settings ps = *like;

		r->db = db;
		r->index = db->nreplicas;
		atomic_init(&r->lag_ms, LAG_UNKNOWN);
		ps.lazy = 1; /* a replica that is down must not fail the open */
		ps.open = open_conn;
		ps.open_ctx = r;
		if ((code = parse_item(r, &pos, db->set.port)) < 0 || (code = compose(r)) < 0 ||
		    (code = ztoq__pool_new(&r->pool, &ps)) < 0) {
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
		ztoq__free_secret(r->connstr);
		ztoq__free(r->redacted);
		ztoq__free(r->host);
	}
	ztoq__free(db->replicas);
	db->replicas = NULL;
	db->nreplicas = 0;
}

/*
 * Runs the dialect's lag query on `c` (bounded by LAG_QUERY_NS) and stores the result
 * in `r`: the lag in ms, -1 for a server not in recovery. Returns ZTOQ_OK or the
 * query's code (then the lag is LAG_UNKNOWN). The caller holds errors.
 */
static int measure(struct ztoq__replica *r, ztoq__conn *c, long *lag)
{
	ztoq_session probe = {.db = r->db, .conn = c};
	int64_t value = 0;
	int code;

	ztoq__conn_watch(c, ztoq__now_ns() + LAG_QUERY_NS);
	code = ztoq__stmt_scalar(&probe, c->dialect->replica_lag_sql, NULL, 0, &value, NULL);
	ztoq__conn_unwatch(c, code < 0 ? SQL_ERROR : SQL_SUCCESS);
	*lag = code < 0 ? LAG_UNKNOWN : (long)value;
	atomic_store(&r->lag_ms, *lag);
	return code;
}

/*
 * Claims the next lag measurement of `r` when the last one is older than LAG_FRESH_NS:
 * 1 for the one thread that wins it, 0 for the others (they use the last value).
 */
static int claim_measurement(struct ztoq__replica *r, uint64_t now)
{
	uint64_t at = atomic_load(&r->lag_at_ns);

	return now - at >= LAG_FRESH_NS &&
	       atomic_compare_exchange_strong(&r->lag_at_ns, &at, now);
}

/* A connection of `r` fit for a read-only transaction, or NULL. Errors held. */
static ztoq__conn *try_replica(struct ztoq__replica *r, long limit)
{
	uint64_t now = ztoq__now_ns();
	int due = limit > 0 && claim_measurement(r, now);
	ztoq__conn *c;
	long lag;

	if (now < atomic_load(&r->down_until_ns) ||
	    (!due && limit > 0 && atomic_load(&r->lag_ms) > limit))
		return NULL;
	if (ztoq__pool_acquire(r->pool, &c, REPLICA_WAIT_NS) < 0)
		return NULL;
	if (due && (measure(r, c, &lag) < 0 || lag > limit)) {
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

/*
 * Fills the role and lag of `h` from a connection of `pool` (`r` is the replica it
 * belongs to, NULL for the primary's pool), waiting at most `wait_ns` for one.
 */
static void probe_host(ztoq_host_status *h, ztoq__pool *pool, struct ztoq__replica *r,
		       ztoq_db *db, uint64_t wait_ns)
{
	struct ztoq__replica scratch = {.db = db};
	ztoq__conn *c;
	long lag = -1;
	int code;

	h->role = ZTOQ_HOST_DOWN;
	h->lag_ms = -1;
	if (ztoq__pool_acquire(pool, &c, wait_ns) < 0)
		return;
	if (!c->dialect->replica_lag_sql)
		code = ztoq__conn_ping(c, ztoq__now_ns() + LAG_QUERY_NS);
	else
		code = measure(r ? r : &scratch, c, &lag);
	if (code == ZTOQ_OK) {
		h->role = lag < 0 ? ZTOQ_HOST_PRIMARY : ZTOQ_HOST_REPLICA;
		h->lag_ms = lag;
	}
	if (r)
		ztoq__replica_release(r, c);
	else
		ztoq__pool_release(pool, c);
}

ZTOQ_EXTERN(int) ztoq_db_hosts(ztoq_db *db, ztoq_host_status **out, size_t *count)
{
	const ztoq__settings *set;
	ztoq_host_status *hosts;

	if (!db || !out || !count)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_hosts: bad arguments");
	set = &db->set;
	if (!(hosts = ztoq__calloc(db->nreplicas + 1, sizeof(*hosts))))
		return ztoq__error_nomem();
	/* the primary: its host, else what names the database: a DSN or a caller's own
	 * string (as messages show it: without its password), a file */
	snprintf(hosts[0].host, sizeof(hosts[0].host), "%s",
		 set->dsn ? __atomic_load_n(&db->redacted, __ATOMIC_ACQUIRE)
		 : set->db_type->replica_lag_sql ? set->host : set->db_path);
	hosts[0].port = set->dsn ? 0 : (int)set->port;
	hosts[0].pool = -1;
	ztoq__error_hold(); /* a host that is down is a status, not an error */
	probe_host(&hosts[0], db->pool, NULL, db, UINT64_MAX);
	for (size_t i = 0; i < db->nreplicas; i++) {
		struct ztoq__replica *r = &db->replicas[i];
		ztoq_host_status *h = &hosts[i + 1];

		snprintf(h->host, sizeof(h->host), "%s", r->host);
		h->port = (int)r->port;
		h->pool = (int)i;
		probe_host(h, r->pool, r, db, REPLICA_WAIT_NS);
	}
	ztoq__error_release();
	*out = hosts;
	*count = db->nreplicas + 1;
	return ZTOQ_OK;
}
