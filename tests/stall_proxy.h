/*
 * stall_proxy.h - a TCP proxy on 127.0.0.1 that can stop forwarding without closing.
 *
 * It runs in a child process (so none of its sockets are the test's), accepts on an
 * ephemeral port of 127.0.0.1 and forwards every connection to 127.0.0.1:target. When
 * stalled it reads nothing and accepts nothing, but closes nothing: the kernel still
 * completes handshakes, acknowledges data and answers keepalives, as a network that
 * went silent behind a live router would. Not thread-safe: one test thread drives it.
 */
#ifndef ZTOQ_TEST_STALL_PROXY_H
#define ZTOQ_TEST_STALL_PROXY_H

typedef struct stall_proxy stall_proxy;

/* Starts a proxy to 127.0.0.1:`target_port` (fails the test if it cannot). */
stall_proxy *stall_proxy_start(int target_port);

/* The port it listens on, as a string for ztoq_config_set. */
const char *stall_proxy_port(const stall_proxy *p);

/* Stops forwarding (returns once the proxy has stopped), keeping every socket open. */
void stall_proxy_stall(stall_proxy *p);

/*
 * Forwards until a client sends `pattern` (at most 63 bytes, seen within one read),
 * then stalls before forwarding that data: the network goes silent exactly under the
 * statement that contains it. Returns once the proxy is armed.
 */
void stall_proxy_stall_on(stall_proxy *p, const char *pattern);

/* Closes every connection it forwards (each client sees its connection end), keeps
 * listening and forwards new connections (returns once they are closed). */
void stall_proxy_drop(stall_proxy *p);

/* Forwards until a client sends `pattern` (as stall_proxy_stall_on), then closes every
 * connection instead of forwarding that data: the connection is lost exactly under
 * the statement that contains it. Returns once the proxy is armed. */
void stall_proxy_drop_on(stall_proxy *p, const char *pattern);

/* Forwards again. */
void stall_proxy_resume(stall_proxy *p);

/* Closes every connection, ends the child process and frees. NULL is ignored. */
void stall_proxy_stop(stall_proxy *p);

#endif
