/*
 * stall_proxy.c - see stall_proxy.h. The child runs one poll() loop over its control
 * pipe, the listening socket and every connection pair; the parent sends one byte per
 * command ('s' stall, 'r' resume, 'd' drop, 'p' / 'q' followed by a NUL-terminated
 * pattern: stall / drop on it) and waits for the child's one-byte answer.
 */
#define _GNU_SOURCE /* memmem */
#include "stall_proxy.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define MAX_PATTERN 64

struct stall_proxy {
	pid_t pid;
	int command, answer; /* pipes to and from the child */
	char port[8];
};

/* A connected socket to 127.0.0.1:port, or -1. */
static int dial(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Copies what `from` has to `to`; returns 0 when either side is done. When `pattern`
 * is set and in what was read, forwards nothing, clears it and sets *seen.
 */
static int pump(int from, int to, char *pattern, int *seen)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n > 0 && *pattern && memmem(buf, (size_t)n, pattern, strlen(pattern))) {
		*pattern = '\0';
		*seen = 1;
		return 1;
	}
	for (ssize_t off = 0; n > 0 && off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w <= 0)
			return 0;
		off += w;
	}
	return n > 0;
}

/* Closes both sockets of every pair: each client sees its connection end. */
static void drop_all(int fds[][2], int *npairs)
{
	for (int i = 0; i < *npairs; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	*npairs = 0;
}

/* The child: forwards until told to stall, stalls until told to resume, for ever. */
static void serve(int listener, int command, int answer, int target)
{
	int fds[MAX_PAIRS][2], npairs = 0, stalled = 0, seen = 0;
	char pattern[MAX_PATTERN] = "", action = 'p';

	for (;;) {
		struct pollfd pf[2 + 2 * MAX_PAIRS];
		int n = 0;

		pf[n++] = (struct pollfd){.fd = command, .events = POLLIN};
		if (!stalled) {
			pf[n++] = (struct pollfd){.fd = listener, .events = POLLIN};
			for (int i = 0; i < npairs; i++)
				for (int k = 0; k < 2; k++)
					pf[n++] = (struct pollfd){.fd = fds[i][k], .events = POLLIN};
		}
		if (poll(pf, (nfds_t)n, -1) < 0)
			continue;
		if (pf[0].revents) {
			char c;
			if (read(command, &c, 1) != 1)
				_exit(0); /* the parent is gone */
			stalled = c == 's';
			if (c == 'd')
				drop_all(fds, &npairs);
			if (c == 'p' || c == 'q')
				action = c;
			for (size_t i = 0; (c == 'p' || c == 'q') && i < sizeof(pattern); i++)
				if (read(command, &pattern[i], 1) != 1 || !pattern[i])
					break;
			pattern[sizeof(pattern) - 1] = '\0';
			if (write(answer, &c, 1) != 1)
				_exit(1);
			continue;
		}
		if (pf[1].revents && npairs < MAX_PAIRS) {
			int in = accept(listener, NULL, NULL), out = in >= 0 ? dial(target) : -1;
			if (out >= 0) {
				fds[npairs][0] = in;
				fds[npairs][1] = out;
				npairs++;
			} else if (in >= 0) {
				close(in);
			}
		}
		for (int i = 0, slot = 2; i < npairs; i++, slot += 2) {
			char none[1] = "";
			int done = (pf[slot].revents &&
				    !pump(fds[i][0], fds[i][1], pattern, &seen)) ||
				   (pf[slot + 1].revents &&
				    !pump(fds[i][1], fds[i][0], none, &seen));
			if (seen) {
				seen = 0;
				if (action == 'q') {
					drop_all(fds, &npairs);
					break;
				}
				stalled = 1;
			}
			if (done) {
				close(fds[i][0]);
				close(fds[i][1]);
				fds[i][0] = fds[npairs - 1][0];
				fds[i][1] = fds[npairs - 1][1];
				npairs--;
				break; /* the poll slots no longer match: poll again */
			}
		}
	}
}

stall_proxy *stall_proxy_start(int target_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int to_child[2], from_child[2], listener;
	stall_proxy *p = calloc(1, sizeof(*p));

	cr_assert(p);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(listener >= 0 && bind(listener, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  listen(listener, 16) == 0 &&
		  getsockname(listener, (struct sockaddr *)&a, &len) == 0, "proxy: cannot listen");
	snprintf(p->port, sizeof(p->port), "%d", ntohs(a.sin_port));
	cr_assert(pipe(to_child) == 0 && pipe(from_child) == 0);
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (p->pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		signal(SIGPIPE, SIG_IGN);
		serve(listener, to_child[0], from_child[1], target_port);
	}
	close(listener);
	close(to_child[0]);
	close(from_child[1]);
	/* a child the test starts (popen) must not keep the pipe, so that the proxy ends
	 * when the test does */
	fcntl(to_child[1], F_SETFD, FD_CLOEXEC);
	fcntl(from_child[0], F_SETFD, FD_CLOEXEC);
	p->command = to_child[1];
	p->answer = from_child[0];
	return p;
}

const char *stall_proxy_port(const stall_proxy *p)
{
	return p->port;
}

/* Sends one command and waits for the child to have acted on it. */
static void command(stall_proxy *p, char c)
{
	char echo = 0;

	cr_assert(write(p->command, &c, 1) == 1 && read(p->answer, &echo, 1) == 1 && echo == c,
		  "proxy: no answer to '%c'", c);
}

void stall_proxy_stall(stall_proxy *p)
{
	command(p, 's');
}

/* Arms `action` ('p' stall, 'q' drop) on `pattern`. */
static void command_on(stall_proxy *p, char action, const char *pattern)
{
	char echo = 0;
	size_t len = strlen(pattern);

	cr_assert(len > 0 && len < MAX_PATTERN, "proxy: a pattern of %zu bytes", len);
	cr_assert(write(p->command, &action, 1) == 1 &&
		  write(p->command, pattern, len + 1) == (ssize_t)(len + 1) &&
		  read(p->answer, &echo, 1) == 1 && echo == action, "proxy: no answer to '%c'",
		  action);
}

void stall_proxy_stall_on(stall_proxy *p, const char *pattern)
{
	command_on(p, 'p', pattern);
}

void stall_proxy_drop(stall_proxy *p)
{
	command(p, 'd');
}

void stall_proxy_drop_on(stall_proxy *p, const char *pattern)
{
	command_on(p, 'q', pattern);
}

void stall_proxy_resume(stall_proxy *p)
{
	command(p, 'r');
}

void stall_proxy_stop(stall_proxy *p)
{
	if (!p)
		return;
	close(p->command);
	close(p->answer);
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	free(p);
}
