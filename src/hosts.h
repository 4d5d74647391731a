/*
 * hosts.h - a list of PostgreSQL servers, "host[:port],...", and the connection
 * string of one of them.
 */
#ifndef ZTOQ__HOSTS_H
#define ZTOQ__HOSTS_H

#include "config.h"
#include "conn.h"

/* The most servers one list may name. */
#define ZTOQ__MAX_HOSTS 16

/* The longest host name or address (DNS: 253 bytes; an IPv6 address fits). */
#define ZTOQ__HOST_NAME_MAX 255

/* One server of a list: its name or address (an IPv6 one without brackets) and port. */
typedef struct {
	char name[ZTOQ__HOST_NAME_MAX + 1];
	long port;
} ztoq__host;

/* A parsed list, in the order given. Plain data: copy it, share it read-only. */
typedef struct {
	size_t count;
	ztoq__host hosts[ZTOQ__MAX_HOSTS];
} ztoq__host_list;

/*
 * Parses `list`, libpq's comma-separated form: `name`, `name:port`, `[v6]`, `[v6]:port`
 * or a bare IPv6 address (more than one ':', no port); a missing port is `default_port`.
 * Spaces around an item are dropped. An empty item or name, a bad or out-of-range
 * port, an unclosed '[', a name longer than ZTOQ__HOST_NAME_MAX or more than
 * ZTOQ__MAX_HOSTS items is ZTOQ_EINVALID (recorded), naming `option` and the item. A
 * name psqlODBC cannot be given (a ';', a leading '{') is refused when composed
 * (ztoq__connstr_put_unquotable). Thread-safe.
 */
int ztoq__hosts_parse(ztoq__host_list *out, const char *list, const char *option,
		      long default_port);

/*
 * The connection string of server `h` alone: `set` (a configuration without a DSN)
 * with its host and port replaced, composed by ztoq__connstr_compose() for backend `d`
 * with `password` (may be NULL), and its redacted form for messages. On success the
 * caller owns both (ztoq__free_secret() for *connstr, ztoq__free() for *redacted); on
 * failure both are NULL and the error is recorded. Thread-safe.
 */
int ztoq__hosts_compose(char **connstr, char **redacted, const ztoq__settings *set,
			const struct ztoq__dialect *d, const char *password, const ztoq__host *h);

/* One server's way in: a base target with that server's strings and port. */
struct ztoq__host_target {
	ztoq__conn_target target; /* the base's, with connstr, redacted and port replaced */
	char *connstr;            /* contains the password */
	char *redacted;
};

/*
 * Fills `out` for server `h`: its strings as ztoq__hosts_compose() makes them, and
 * `base` (a manager's target) with those strings and h's port. The caller owns *out
 * and frees it with ztoq__host_target_free(), also after a failure (which leaves
 * nothing to free and the error recorded). Thread-safe.
 */
int ztoq__host_target_make(struct ztoq__host_target *out, const ztoq__conn_target *base,
			   const ztoq__settings *set, const struct ztoq__dialect *d,
			   const char *password, const ztoq__host *h);

/* Frees the strings of a target made by ztoq__host_target_make(); the struct stays. */
void ztoq__host_target_free(struct ztoq__host_target *t);

/* Room for ztoq__hosts_format(): brackets, ':', five digits and the NUL. */
#define ZTOQ__HOST_TEXT_SIZE (ZTOQ__HOST_NAME_MAX + 10)

/*
 * Writes "name:port" ("[v6]:port" for an IPv6 address) into `buf` (`size` bytes,
 * ZTOQ__HOST_TEXT_SIZE for any host). Thread-safe.
 */
void ztoq__hosts_format(char *buf, size_t size, const ztoq__host *h);

#endif
