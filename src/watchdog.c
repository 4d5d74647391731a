/*
 * watchdog.c - a thread per manager that makes overrun driver calls return.
 *
 * Only the list of watched connections is guarded, by the watchdog's own mutex; a
 * watched call itself runs without it. The thread's action on an overrun never waits:
 * sqlite3_interrupt() through SQLCancel, or shutdown() of a socket.
 */
#include "watchdog.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "alloc.h"
#include "clock.h"
#include "conn.h"
#include "error.h"

struct ztoq__watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int stop;
	uint64_t wake_ns;       /* when the thread wakes next; UINT64_MAX: when signalled */
	ztoq__conn *watched;    /* connections in a watched call (watch_next/watch_prev) */
};

/* Under the lock: unlinks `c` from the watched list. */
static void unlink_conn(ztoq__watchdog *w, ztoq__conn *c)
{
	if (c->watch_prev)
		c->watch_prev->watch_next = c->watch_next;
	else
		w->watched = c->watch_next;
	if (c->watch_next)
		c->watch_next->watch_prev = c->watch_prev;
	c->watch_next = c->watch_prev = NULL;
	c->watch_deadline = 0;
}

/* Under the lock: makes the overrun call on `c` return, without waiting for anything. */
static void fire(ztoq__conn *c)
{
	if (c->sock >= 0 && shutdown(c->sock, SHUT_RDWR) == 0) {
		c->timed_out = ZTOQ__TIMED_OUT_CLOSED;
	} else if (c->dialect->type == ZTOQ_DB_SQLITE && c->watch_handle) {
		SQLCancel(c->watch_handle); /* sqlite3_interrupt: the call fails with code 9 */
		c->timed_out = ZTOQ__TIMED_OUT_CANCELLED;
	}
	/* otherwise nothing can be done from outside: the driver's own bounds apply */
}

static void *run(void *arg)
{
	ztoq__watchdog *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		uint64_t now = ztoq__now_ns(), next = UINT64_MAX;
		ztoq__conn *c = w->watched;

		while (c) {
			ztoq__conn *following = c->watch_next;

			if (c->watch_deadline <= now) {
				fire(c);
				unlink_conn(w, c);
			} else if (c->watch_deadline < next) {
				next = c->watch_deadline;
			}
			c = following;
		}
		w->wake_ns = next;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&w->cond, &w->lock);
		} else {
			struct timespec ts = ztoq__timespec(next);
			pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int ztoq__watchdog_new(ztoq__watchdog **out)
{
	ztoq__watchdog *w;
	pthread_condattr_t attr;

	*out = NULL;
	if (!(w = ztoq__calloc(1, sizeof(*w))))
		return ztoq__error_nomem();
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	w->wake_ns = UINT64_MAX;
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		ztoq__free(w);
		return ztoq__error_set(ZTOQ_ENOMEM, "cannot start the watchdog thread");
	}
	*out = w;
	return ZTOQ_OK;
}

void ztoq__watchdog_free(ztoq__watchdog *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	ztoq__free(w);
}

void ztoq__watchdog_arm(ztoq__watchdog *w, ztoq__conn *c, SQLHSTMT handle, uint64_t deadline_ns)
{
	pthread_mutex_lock(&w->lock);
	c->watch_handle = handle;
	c->watch_deadline = deadline_ns ? deadline_ns : 1;
	c->watch_prev = NULL;
	c->watch_next = w->watched;
	if (w->watched)
		w->watched->watch_prev = c;
	w->watched = c;
	if (deadline_ns < w->wake_ns)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void ztoq__watchdog_disarm(ztoq__watchdog *w, ztoq__conn *c)
{
	pthread_mutex_lock(&w->lock);
	if (c->watch_deadline) /* still on the list: the watchdog did not fire */
		unlink_conn(w, c);
	c->watch_handle = SQL_NULL_HSTMT;
	pthread_mutex_unlock(&w->lock);
}

/* Connections whose socket is known, so that no two claim the same one. */
static pthread_mutex_t sockets_lock = PTHREAD_MUTEX_INITIALIZER;
static ztoq__conn *claimed;

/* Under sockets_lock: whether `fd` is a connected TCP socket to `port` nobody claimed. */
static int is_candidate(int fd, int port)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
	    getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return 0;
	if (peer.ss_family == AF_INET) {
		if (port && ntohs(((struct sockaddr_in *)&peer)->sin_port) != port)
			return 0;
	} else if (peer.ss_family == AF_INET6) {
		if (port && ntohs(((struct sockaddr_in6 *)&peer)->sin6_port) != port)
			return 0;
	} else {
		return 0;
	}
	for (ztoq__conn *c = claimed; c; c = c->sock_next)
		if (c->sock == fd)
			return 0;
	return 1;
}

/* Under sockets_lock: the unclaimed candidate sockets, into fds (at most max). */
static size_t list_candidates(int port, int *fds, size_t max)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	while (dir && (e = readdir(dir)) != NULL && n < max) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end == '\0' && end != e->d_name && fd != dirfd(dir) && is_candidate((int)fd, port))
			fds[n++] = (int)fd;
	}
	if (dir)
		closedir(dir);
	return n;
}

void ztoq__watchdog_socket_snapshot(ztoq__socket_snapshot *before, int port)
{
	pthread_mutex_lock(&sockets_lock);
	before->n = list_candidates(port, before->fds, ZTOQ__MAX_SOCKETS);
	pthread_mutex_unlock(&sockets_lock);
}

void ztoq__watchdog_claim_socket(ztoq__conn *c, int port, const ztoq__socket_snapshot *before)
{
	ztoq__socket_snapshot after;
	int found = -1, count = 0;

	c->sock = -1;
	pthread_mutex_lock(&sockets_lock);
	after.n = list_candidates(port, after.fds, ZTOQ__MAX_SOCKETS);
	for (size_t i = 0; i < after.n; i++) {
		size_t k = 0;

		while (k < before->n && before->fds[k] != after.fds[i])
			k++;
		if (k == before->n) {
			found = after.fds[i];
			count++;
		}
	}
	/* two connections opened at the same moment cannot be told apart: claim neither */
	if (count == 1) {
		c->sock = found;
		c->sock_next = claimed;
		claimed = c;
	}
	pthread_mutex_unlock(&sockets_lock);
}

void ztoq__watchdog_release_socket(ztoq__conn *c)
{
	pthread_mutex_lock(&sockets_lock);
	for (ztoq__conn **link = &claimed; *link; link = &(*link)->sock_next) {
		if (*link == c) {
			*link = c->sock_next;
			break;
		}
	}
	c->sock = -1;
	pthread_mutex_unlock(&sockets_lock);
}
