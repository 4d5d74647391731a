/*
 * pool.c - bounded, thread-safe connection pool with FIFO hand-off.
 *
 * One mutex guards the lists and counters. Physical work (connect, disconnect, the
 * validation round trip) happens outside it. A thread that must wait puts a waiter on
 * a FIFO queue; release hands the connection straight to the head waiter (or, when a
 * connection was evicted, hands it the right to open a new one), so a waiter is never
 * overtaken by a thread that arrived later.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>

#include "alloc.h"
#include "clock.h"
#include "db.h"
#include "error.h"

struct ztoq__pool_waiter {
	pthread_cond_t cond;
	ztoq__conn *conn; /* handed over by release */
	int may_open;     /* handed a free slot instead: open a connection */
	struct ztoq__pool_waiter *next;
};

struct ztoq__pool {
	pthread_mutex_t lock;
	ztoq__pool_settings set;
	ztoq__conn *idle;            /* most recently released first */
	struct ztoq__pool_waiter *head, *tail;  /* FIFO of waiting threads */
	size_t total, idle_count, waiting;
	uint64_t breaks;             /* evictions seen (recheck_on_break): a connection
					opened or validated before the last is checked */
	uint64_t created, closed, evicted, timeouts, acquires, wait_total, wait_max;
	int precise_ages;            /* an age limit is too short for the coarse clock */
};

/*
 * Connection ages (idle, lifetime, validation due) are read on the coarse clock, a
 * tick (4 ms here) at a time, which costs a seventh of a precise read (clock.h);
 * unless the pool has an age limit under PRECISE_AGES_BELOW_NS, where a tick would
 * matter: then on the precise one.
 */
#define PRECISE_AGES_BELOW_NS (100 * 1000000ull)

static int is_short(uint64_t limit_ns)
{
	return limit_ns && limit_ns < PRECISE_AGES_BELOW_NS;
}

static uint64_t age_clock(const ztoq__pool *p)
{
	return p->precise_ages ? ztoq__now_ns() : ztoq__now_coarse_ns();
}

/*
 * Under the lock: gives a free slot (counted in total) to the longest waiter, so it
 * opens a connection itself; with nobody waiting the slot is returned.
 */
static void pass_slot(ztoq__pool *p)
{
	struct ztoq__pool_waiter *w = p->head;

	if (!w) {
		p->total--;
		return;
	}
	p->head = w->next;
	if (!p->head)
		p->tail = NULL;
	w->may_open = 1;
	pthread_cond_signal(&w->cond);
}

/* Opens a connection in a slot reserved under the lock (total already counts it). */
static int open_reserved(ztoq__pool *p, ztoq__conn **out)
{
	int code = p->set.open(out, p->set.open_ctx);

	pthread_mutex_lock(&p->lock);
	if (code < 0) {
		pass_slot(p);
	} else {
		p->created++;
		(*out)->pool_breaks = p->breaks;
		(*out)->created_ns = (*out)->released_ns = age_clock(p);
	}
	pthread_mutex_unlock(&p->lock);
	return code;
}

/*
 * Under the lock: counts an evicted connection (broken, dead or stale) and gives its
 * slot to the longest waiter. With recheck_on_break, the idle connections opened or
 * validated before it are due for validation.
 */
static void note_eviction(ztoq__pool *p)
{
	p->evicted++;
	if (p->set.recheck_on_break)
		p->breaks++;
	pass_slot(p);
}

/* Closes a list of connections (outside the lock). */
static void close_all(ztoq__conn *list)
{
	while (list) {
		ztoq__conn *next = list->next;
		ztoq__conn_close(list);
		list = next;
	}
}

/*
 * Under the lock: unlinks idle connections past their idle timeout or lifetime, never
 * going below the minimum, and returns them for closing.
 */
static ztoq__conn *collect_expired(ztoq__pool *p, uint64_t now)
{
	ztoq__conn **link = &p->idle, *expired = NULL;

	while (*link && p->total > p->set.min) {
		ztoq__conn *c = *link;
		int idle_out = p->set.idle_timeout_ns && now - c->released_ns > p->set.idle_timeout_ns;
		int too_old = p->set.max_lifetime_ns && now - c->created_ns > p->set.max_lifetime_ns;

		if (idle_out || too_old) {
			*link = c->next;
			c->next = expired;
			expired = c;
			p->total--;
			p->idle_count--;
			p->closed++;
		} else {
			link = &c->next;
		}
	}
	return expired;
}


int ztoq__pool_new(ztoq__pool **out, const ztoq__pool_settings *settings)
{
	ztoq__pool *p;
	int code;

	if (!(p = ztoq__calloc(1, sizeof(*p))))
		return ztoq__error_nomem();
	pthread_mutex_init(&p->lock, NULL);
	p->set = *settings;
	p->precise_ages = is_short(p->set.idle_timeout_ns) || is_short(p->set.max_lifetime_ns) ||
			  is_short(p->set.validate_after_ns);
	*out = p;
	code = ztoq__pool_maintain(p);
	if (code < 0) {
		ztoq__pool_free(p);
		*out = NULL;
	}
	return code;
}

void ztoq__pool_free(ztoq__pool *p)
{
	if (!p)
		return;
	close_all(p->idle);
	pthread_mutex_destroy(&p->lock);
	ztoq__free(p);
}

int ztoq__pool_maintain(ztoq__pool *p)
{
	ztoq__conn *expired;
	int code = ZTOQ_OK;

	pthread_mutex_lock(&p->lock);
	expired = collect_expired(p, age_clock(p));
	pthread_mutex_unlock(&p->lock);
	close_all(expired);
	for (;;) {
		ztoq__conn *c;

		pthread_mutex_lock(&p->lock);
		if (p->set.lazy || p->total >= p->set.min) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		p->total++;
		pthread_mutex_unlock(&p->lock);
		if ((code = open_reserved(p, &c)) < 0)
			break;
		ztoq__pool_release(p, c);
	}
	return code;
}

/* Under the lock: removes `w` from the waiter queue if it is still there. */
static void unlink_waiter(ztoq__pool *p, struct ztoq__pool_waiter *w)
{
	struct ztoq__pool_waiter **link = &p->head, *prev = NULL;

	while (*link && *link != w) {
		prev = *link;
		link = &(*link)->next;
	}
	if (!*link)
		return;
	*link = w->next;
	if (p->tail == w)
		p->tail = prev;
}

/* Under the lock: queues the caller and waits for a hand-off or the deadline. */
static int wait_for_turn(ztoq__pool *p, struct ztoq__pool_waiter *w, uint64_t deadline)
{
	struct timespec ts = ztoq__timespec(deadline);
	pthread_condattr_t attr;
	int rc = 0;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	w->conn = NULL;
	w->may_open = 0;
	w->next = NULL;
	if (p->tail)
		p->tail->next = w;
	else
		p->head = w;
	p->tail = w;
	p->waiting++;
	/* Spurious wake-ups loop back; the deadline is absolute, so they cost no time. */
	while (!w->conn && !w->may_open && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cond, &p->lock, &ts);
	p->waiting--;
	if (!w->conn && !w->may_open)
		unlink_waiter(p, w);
	pthread_cond_destroy(&w->cond);
	return (w->conn || w->may_open) ? 0 : -1;
}

static int timeout_error(ztoq__pool *p, uint64_t waited_ns)
{
	p->timeouts++;
	return ztoq__error_set(ZTOQ_ETIMEOUT,
			       "no pooled connection free after %llu ms (total %zu, idle %zu, "
			       "in use %zu, waiting %zu, max %zu)",
			       (unsigned long long)(waited_ns / 1000000u), p->total,
			       p->idle_count, p->total - p->idle_count, p->waiting, p->set.max);
}

/* Under the lock: records a successful acquire and its wait. */
static void count_acquire(ztoq__pool *p, uint64_t waited)
{
	p->acquires++;
	p->wait_total += waited;
	if (waited > p->wait_max)
		p->wait_max = waited;
}

/*
 * An idle connection unused for longer than validate_after, or older than the last
 * eviction (recheck_on_break), must prove it is alive.
 */
static int needs_check(const ztoq__pool *p, const ztoq__conn *c, uint64_t now)
{
	return (p->set.validate_after_ns && now > c->released_ns &&
		now - c->released_ns > p->set.validate_after_ns) ||
	       c->pool_breaks != p->breaks;
}

/*
 * The least acquire time a validation ping is started with. With less, a healthy
 * connection would be timed out and evicted (on SQLite :memory:, the last one takes
 * the database with it), and refusing the acquire would refuse every later one too (the
 * connection stays due): it is handed out unvalidated, and a dead one shows at its
 * first statement, which evicts it.
 */
#define MIN_VALIDATE_NS 50000000u

int ztoq__pool_acquire(ztoq__pool *p, ztoq__conn **out, uint64_t timeout_ns)
{
	/* ages are read on the pool's age clock; the precise one only once there is a
	 * wait, a validation or a connect to bound (`start` 0 until then) */
	uint64_t now = age_clock(p), start = 0, deadline = 0;
	struct ztoq__pool_waiter w;
	ztoq__conn *c;
	int code;

	if (timeout_ns == UINT64_MAX)
		timeout_ns = p->set.acquire_timeout_ns;
	*out = NULL;
	for (;;) {
		int open_new = 0, check = 0;

		pthread_mutex_lock(&p->lock);
		if ((c = p->idle) != NULL) {
			p->idle = c->next;
			p->idle_count--;
			check = needs_check(p, c, now);
		} else if (p->total < p->set.max) {
			p->total++;
			open_new = 1;
		}
		if (check || !c || open_new) {
			/* something to bound: the precise clock, once per pass */
			uint64_t t = ztoq__now_ns();

			if (!start) {
				start = t;
				deadline = t + timeout_ns;
			}
			check = check && t + MIN_VALIDATE_NS <= deadline;
		}
		if (!c && !open_new) {
			if (wait_for_turn(p, &w, deadline) < 0) {
				code = timeout_error(p, ztoq__now_ns() - start);
				pthread_mutex_unlock(&p->lock);
				return code;
			}
			if ((c = w.conn) == NULL)
				open_new = 1; /* handed a slot: already counted in total */
		}
		if (!open_new && !check) {
			/* the common case, finished under this one lock */
			count_acquire(p, start ? ztoq__now_ns() - start : 0);
			pthread_mutex_unlock(&p->lock);
			c->next = NULL;
			*out = c;
			return ZTOQ_OK;
		}
		pthread_mutex_unlock(&p->lock);

		if (open_new) {
			if ((code = open_reserved(p, &c)) < 0)
				return code;
		} else if (ztoq__conn_ping(c, deadline) < 0) {
			/* Stale, dead or silent: drop it and try again within the same deadline. */
			int late = ztoq__now_ns() >= deadline;

			pthread_mutex_lock(&p->lock);
			note_eviction(p);
			if (late) {
				p->timeouts++;
				ztoq__error_reclassify(ZTOQ_ETIMEOUT);
			}
			pthread_mutex_unlock(&p->lock);
			ztoq__conn_close(c);
			if (late)
				return ztoq__error_append(" (validating an idle connection within the "
							  "acquire deadline; it was evicted)");
			now = age_clock(p);
			continue;
		}
		c->next = NULL;
		pthread_mutex_lock(&p->lock);
		c->pool_breaks = p->breaks; /* opened or validated now */
		count_acquire(p, ztoq__now_ns() - start);
		pthread_mutex_unlock(&p->lock);
		*out = c;
		return ZTOQ_OK;
	}
}

void ztoq__pool_release(ztoq__pool *p, ztoq__conn *c)
{
	ztoq__conn *expired = NULL;
	struct ztoq__pool_waiter *w;
	uint64_t now;

	if (ztoq__conn_reset(c) < 0) {
		/* Evicted: close it, and give its slot to the longest waiter. */
		pthread_mutex_lock(&p->lock);
		note_eviction(p);
		pthread_mutex_unlock(&p->lock);
		ztoq__conn_close(c);
		return;
	}
	now = age_clock(p);
	c->released_ns = now;
	pthread_mutex_lock(&p->lock);
	if ((w = p->head) != NULL) {
		p->head = w->next;
		if (!p->head)
			p->tail = NULL;
		w->conn = c;
		pthread_cond_signal(&w->cond);
	} else {
		c->next = p->idle;
		p->idle = c;
		p->idle_count++;
		expired = collect_expired(p, now);
	}
	pthread_mutex_unlock(&p->lock);
	close_all(expired);
}

void ztoq__pool_stats(ztoq__pool *p, ztoq_pool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	out->total = p->total;
	out->idle = p->idle_count;
	out->in_use = p->total - p->idle_count;
	out->waiting = p->waiting;
	out->min = p->set.min;
	out->max = p->set.max;
	out->created = p->created;
	out->closed = p->closed;
	out->evicted = p->evicted;
	out->timeouts = p->timeouts;
	out->acquires = p->acquires;
	out->wait_ns_total = p->wait_total;
	out->wait_ns_max = p->wait_max;
	pthread_mutex_unlock(&p->lock);
}

/* ---- the public face (ztoq/pool.h): a manager's pool ------------------------- */

ZTOQ_EXTERN(int) ztoq_pool_stats_get(ztoq_db *db, ztoq_pool_stats *out)
{
	if (!db || !out)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_pool_stats_get: bad arguments");
	ztoq__pool_stats(db->pool, out);
	return ZTOQ_OK;
}
