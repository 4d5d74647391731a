/*
 * watchdog.c - a thread per manager that makes overrun driver calls return.
 *
 * The thread starts with the first watched call, not with the manager: a process that
 * never bounds a call (SQLite without a statement timeout) stays single-threaded, where
 * glibc's mutexes are cheaper. The driver manager and the SQLite driver take about 20
 * of them per fetched row, so a second thread, even idle, costs a row-at-a-time read
 * about 9 % of its CPU time (measured: docs/performance.md).
 *
 * Only the list of watched connections is guarded, by the watchdog's own mutex; a
 * watched call itself runs without it, and so does the watchdog's action on an overrun
 * (SQLCancel on an idle handle, or shutdown() of a socket): a `firing` flag, which
 * disarm waits on, keeps the connection alive meanwhile.
 */
#include "watchdog.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "conn.h"
#include "error.h"

struct ztoq__watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* wakes the thread: a new earlier deadline, or stop */
	pthread_cond_t fired;   /* wakes disarm: an action on an overrun call ended */
	pthread_t thread;
	int started;            /* the thread runs (set once, under the lock) */
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

/*
 * Without the lock (c->firing keeps `c` alive): makes the overrun call on `c` return.
 * Never the executing statement's handle: sqliteodbc's SQLCancel frees the rows of the
 * handle it is given, unlocked, under the owner's feet; sqlite3_interrupt, which it
 * calls first, is connection-wide. Returns what was done (ZTOQ__TIMED_OUT_*), or 0.
 */
static int fire(const ztoq__conn *c)
{
	if (c->sock >= 0 && shutdown(c->sock, SHUT_RDWR) == 0)
		return ZTOQ__TIMED_OUT_CLOSED;
	if (c->cancel_handle != SQL_NULL_HSTMT) {
		SQLCancel(c->cancel_handle); /* sqlite3_interrupt: the call fails with code 9 */
		return ZTOQ__TIMED_OUT_CANCELLED;
	}
	return 0; /* nothing can be done from outside: the driver's own bounds apply */
}

/*
 * The watchdog thread (owns nothing; `arg` is its watchdog): sleeps until the earliest
 * deadline, takes each overrun connection off the list and acts on it outside the
 * lock, until ztoq__watchdog_free() sets stop.
 */
static void *run(void *arg)
{
	ztoq__watchdog *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		uint64_t now = ztoq__now_ns(), next = UINT64_MAX;
		ztoq__conn *c = w->watched;

		while (c && c->watch_deadline > now) {
			if (c->watch_deadline < next)
				next = c->watch_deadline;
			c = c->watch_next;
		}
		if (c) {
			int done;

			unlink_conn(w, c);
			c->firing = 1;
			pthread_mutex_unlock(&w->lock);
			done = fire(c);
			pthread_mutex_lock(&w->lock);
			c->fired = done;
			c->firing = 0;
			pthread_cond_broadcast(&w->fired);
			continue; /* the list may have changed meanwhile: scan it again */
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
	pthread_cond_init(&w->fired, NULL);
	w->wake_ns = UINT64_MAX;
	*out = w;
	return ZTOQ_OK;
}

/* Under the lock: starts the thread unless it runs. Returns ZTOQ_OK or ZTOQ_ENOMEM
 * (not recorded: the caller says which call could not be bounded). */
static int start_thread(ztoq__watchdog *w)
{
	sigset_t all, old;
	int rc;

	if (w->started)
		return ZTOQ_OK;
	/* the application's signals go to its own threads, never to ours */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return ZTOQ_ENOMEM;
	w->started = 1;
	return ZTOQ_OK;
}

void ztoq__watchdog_free(ztoq__watchdog *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = 1;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	pthread_cond_destroy(&w->fired);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	ztoq__free(w);
}

int ztoq__watchdog_arm(ztoq__watchdog *w, ztoq__conn *c, uint64_t deadline_ns)
{
	int code;

	pthread_mutex_lock(&w->lock);
	if ((code = start_thread(w)) < 0) {
		pthread_mutex_unlock(&w->lock);
		return code;
	}
	c->fired = 0;
	c->watch_deadline = deadline_ns ? deadline_ns : 1;
	c->watch_prev = NULL;
	c->watch_next = w->watched;
	if (w->watched)
		w->watched->watch_prev = c;
	w->watched = c;
	if (deadline_ns < w->wake_ns)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return ZTOQ_OK;
}

int ztoq__watchdog_disarm(ztoq__watchdog *w, ztoq__conn *c)
{
	int fired;

	pthread_mutex_lock(&w->lock);
	if (c->watch_deadline) /* still on the list: the watchdog did not take it */
		unlink_conn(w, c);
	while (c->firing)
		pthread_cond_wait(&w->fired, &w->lock);
	fired = c->fired;
	c->fired = 0;
	pthread_mutex_unlock(&w->lock);
	return fired;
}

/* Connections whose socket is known (by inode), so that no two claim the same one. */
static pthread_mutex_t sockets_lock = PTHREAD_MUTEX_INITIALIZER;
static ztoq__conn *claimed;

/* The TCP port in `a`, or -1 when it is not an Internet address. */
static int port_of(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return -1;
}

/*
 * Under sockets_lock: whether `fd` is a connected TCP socket to `port` (0: any) that
 * nobody claimed; its inode into *ino. A claimed socket's duplicate is the same socket.
 */
static int is_candidate(int fd, int port, ino_t *ino)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct stat st;
	int type = 0, peer_port;
	socklen_t tlen = sizeof(type);

	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
	    getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return 0;
	peer_port = port_of(&peer);
	if (peer_port < 0 || (port && peer_port != port))
		return 0;
	for (ztoq__conn *c = claimed; c; c = c->sock_next)
		if (c->sock_ino == st.st_ino)
			return 0;
	*ino = st.st_ino;
	return 1;
}

/*
 * Under sockets_lock: the unclaimed candidate sockets; their inodes into inos and,
 * when fds is not NULL, their descriptors into fds (at most max of each).
 */
static size_t list_candidates(int port, ino_t *inos, int *fds, size_t max)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	while (dir && (e = readdir(dir)) != NULL && n < max) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end == '\0' && end != e->d_name && fd != dirfd(dir) &&
		    is_candidate((int)fd, port, &inos[n])) {
			if (fds)
				fds[n] = (int)fd;
			n++;
		}
	}
	if (dir)
		closedir(dir);
	return n;
}

void ztoq__watchdog_socket_snapshot(ztoq__socket_snapshot *before, int port)
{
	pthread_mutex_lock(&sockets_lock);
	before->n = list_candidates(port, before->inos, NULL, ZTOQ__MAX_SOCKETS);
	pthread_mutex_unlock(&sockets_lock);
}

void ztoq__watchdog_claim_socket(ztoq__conn *c, int port, const ztoq__socket_snapshot *before)
{
	ino_t inos[ZTOQ__MAX_SOCKETS], found_ino = 0;
	int fds[ZTOQ__MAX_SOCKETS], found = -1, count = 0;
	size_t n;
	struct stat st;

	c->sock = -1;
	pthread_mutex_lock(&sockets_lock);
	n = list_candidates(port, inos, fds, ZTOQ__MAX_SOCKETS);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < before->n && before->inos[k] != inos[i])
			k++;
		if (k == before->n) {
			found = fds[i];
			found_ino = inos[i];
			count++;
		}
	}
	/* two new sockets cannot be told apart: claim neither. The duplicate must be the
	 * socket listed (its number may have been closed and reused meanwhile). */
	if (count == 1 && (c->sock = fcntl(found, F_DUPFD_CLOEXEC, 0)) >= 0 &&
	    (fstat(c->sock, &st) != 0 || st.st_ino != found_ino)) {
		close(c->sock);
		c->sock = -1;
	}
	if (c->sock >= 0) {
		c->sock_ino = found_ino;
		c->sock_next = claimed;
		claimed = c;
	}
	pthread_mutex_unlock(&sockets_lock);
}

int ztoq__watchdog_socket_port(const ztoq__conn *c)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	if (c->sock < 0 || getsockname(c->sock, (struct sockaddr *)&local, &len) != 0)
		return -1;
	return port_of(&local);
}

uint64_t ztoq__watchdog_socket_segments(const ztoq__conn *c)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (c->sock < 0 || getsockopt(c->sock, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_segs_out) + sizeof(info.tcpi_segs_out))
		return 0;
	return info.tcpi_segs_out;
}

void ztoq__watchdog_release_socket(ztoq__conn *c)
{
	if (c->sock < 0)
		return;
	pthread_mutex_lock(&sockets_lock);
	for (ztoq__conn **link = &claimed; *link; link = &(*link)->sock_next) {
		if (*link == c) {
			*link = c->sock_next;
			break;
		}
	}
	close(c->sock);
	c->sock = -1;
	c->sock_ino = 0;
	pthread_mutex_unlock(&sockets_lock);
}
