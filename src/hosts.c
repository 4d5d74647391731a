/*
 * hosts.c - a list of PostgreSQL servers: parsing "host[:port],..." and composing the
 * connection string of one of them (the primary pool's walk in db.c, replica pools).
 */
#include "hosts.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "ztoq/connstr.h"

/* The port text `p` (`len` bytes): ZTOQ_OK with *port, else ZTOQ_EINVALID recorded. */
static int parse_port(long *port, const char *p, size_t len, const char *option,
		      size_t item, const char *text)
{
	long n = 0;

	for (size_t i = 0; i < len && n <= 65535; i++) {
		if (!isdigit((unsigned char)p[i])) {
			n = -1;
			break;
		}
		n = n * 10 + (p[i] - '0');
	}
	if (len == 0 || n < 1 || n > 65535)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "%s: item %zu \"%s\" has a bad port \"%.*s\" "
				       "(expected 1-65535)",
				       option, item, text, (int)(len > 16 ? 16 : len), p);
	*port = n;
	return ZTOQ_OK;
}

/*
 * Parses one item (`text`, trimmed, NUL-ended) into `h`: number `item` (1-based) of
 * `option`, for messages.
 */
static int parse_item(ztoq__host *h, const char *text, const char *option, size_t item,
		      long default_port)
{
	const char *name = text, *port = NULL, *colon = strchr(text, ':');
	size_t nlen;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close == text + 1 || (close[1] && close[1] != ':'))
			return ztoq__error_set(ZTOQ_EINVALID,
					       "%s: item %zu \"%s\" is not [address] or "
					       "[address]:port",
					       option, item, text);
		name = text + 1;
		nlen = (size_t)(close - name);
		port = close[1] ? close + 2 : NULL;
	} else if (colon && !strchr(colon + 1, ':')) {
		nlen = (size_t)(colon - text);
		port = colon + 1;
	} else {
		nlen = strlen(text); /* a name, or a bare IPv6 address */
	}
	/* what psqlODBC cannot be given (';', a leading '{') is refused when composed */
	if (nlen == 0 || nlen > ZTOQ__HOST_NAME_MAX)
		return ztoq__error_set(ZTOQ_EINVALID,
				       "%s: item %zu \"%s\" is not a host name or address%s",
				       option, item, text, nlen ? " (too long)" : "");
	memcpy(h->name, name, nlen);
	h->name[nlen] = '\0';
	h->port = default_port;
	return port ? parse_port(&h->port, port, strlen(port), option, item, text) : ZTOQ_OK;
}

int ztoq__hosts_parse(ztoq__host_list *out, const char *list, const char *option,
		      long default_port)
{
	const char *p = list;
	size_t item = 0;

	out->count = 0;
	for (;;) {
		size_t len = strcspn(p, ","), lead = 0;
		char text[ZTOQ__HOST_NAME_MAX + 16];
		int code;

		item++;
		while (lead < len && isspace((unsigned char)p[lead]))
			lead++;
		while (len > lead && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == lead)
			return ztoq__error_set(ZTOQ_EINVALID,
					       "%s: item %zu of \"%.*s%s\" is empty "
					       "(expected host[:port],host[:port]...)",
					       option, item, ZTOQ__CLIP(list));
		if (out->count == ZTOQ__MAX_HOSTS)
			return ztoq__error_set(ZTOQ_EINVALID,
					       "%s: more than %d hosts in \"%.*s%s\"", option,
					       ZTOQ__MAX_HOSTS, ZTOQ__CLIP(list));
		if (len - lead >= sizeof(text))
			return ztoq__error_set(ZTOQ_EINVALID,
					       "%s: item %zu is longer than %d bytes", option,
					       item, ZTOQ__HOST_NAME_MAX);
		snprintf(text, sizeof(text), "%.*s", (int)(len - lead), p + lead);
		if ((code = parse_item(&out->hosts[out->count], text, option, item,
				       default_port)) < 0)
			return code;
		out->count++;
		p += strcspn(p, ",");
		if (!*p)
			return ZTOQ_OK;
		p++;
	}
}

void ztoq__hosts_format(char *buf, size_t size, const ztoq__host *h)
{
	int v6 = strchr(h->name, ':') != NULL;

	snprintf(buf, size, "%s%s%s:%ld", v6 ? "[" : "", h->name, v6 ? "]" : "", h->port);
}

int ztoq__hosts_compose(char **connstr, char **redacted, const ztoq__settings *set,
			const struct ztoq__dialect *d, const char *password, const ztoq__host *h)
{
	ztoq__settings one = *set;
	int code;

	*redacted = NULL;
	one.host = h->name;
	one.port = h->port;
	if ((code = ztoq__connstr_compose(connstr, &one, d, password)) < 0)
		return code;
	if ((code = ztoq_connstr_redact(redacted, *connstr)) < 0) {
		ztoq__free_secret(*connstr);
		*connstr = NULL;
	}
	return code;
}

int ztoq__host_target_make(struct ztoq__host_target *out, const ztoq__conn_target *base,
			   const ztoq__settings *set, const struct ztoq__dialect *d,
			   const char *password, const ztoq__host *h)
{
	int code = ztoq__hosts_compose(&out->connstr, &out->redacted, set, d, password, h);

	if (code < 0)
		return code;
	out->target = *base;
	out->target.connstr = out->connstr;
	out->target.redacted = out->redacted;
	out->target.port = (int)h->port;
	return ZTOQ_OK;
}

void ztoq__host_target_free(struct ztoq__host_target *t)
{
	ztoq__free_secret(t->connstr);
	ztoq__free(t->redacted);
	t->connstr = t->redacted = NULL;
}
