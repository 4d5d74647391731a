/*
 * connstr.c - compose and redact ODBC connection strings.
 */
#include "ztoq/connstr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"
#include "config_int.h"
#include "error.h"

/*
 * Appends ";Key=value", or ";Key={value}" with '}' doubled when the value holds a
 * character the parser would take as syntax (';', braces, spaces at either end).
 * psqlODBC takes braces literally in most attributes, so plain values stay plain;
 * the driver name is always braced, as the driver manager expects.
 */
static void put_value(ztoq__buf *b, const char *key, const char *value, int always_quote)
{
	size_t len = strlen(value);
	int quote = always_quote || strpbrk(value, ";{}") ||
		    (len && (value[0] == ' ' || value[len - 1] == ' '));

	ztoq__buf_printf(b, "%s%s=%s", b->len ? ";" : "", key, quote ? "{" : "");
	if (quote) {
		ztoq__buf_append_doubling(b, value, '}');
		ztoq__buf_puts(b, "}");
	} else {
		ztoq__buf_puts(b, value);
	}
}

/* Appends ";Key=value" for values that need no quoting (numbers, our own constants). */
static void put_plain(ztoq__buf *b, const char *key, const char *value)
{
	ztoq__buf_printf(b, "%s%s=%s", b->len ? ";" : "", key, value);
}

/*
 * Appends ";Key=value" for a driver that cannot take the value braced: the SQLite
 * driver splits its connection string on ';' and understands no quoting, and psqlODBC
 * keeps the braces of Server, Database and Uid as part of the name (measured: Database=
 * {semi;colon} reaches the server as "{semi;colon}"). A ';', a leading '{' (which
 * unixODBC takes as quoting) or surrounding spaces cannot be expressed: refused.
 */
static int put_unquotable_value(ztoq__buf *b, const char *key, const char *option,
				const char *value, const char *driver)
{
	if (strchr(value, ';') || value[0] == '{' || value[0] == ' ' ||
	    value[strlen(value) - 1] == ' ')
		return ztoq__error_set(ZTOQ_EINVALID,
				       "%s \"%.*s%s\" cannot be passed to the %s ODBC driver, "
				       "which cannot quote a ';', a leading '{' or surrounding spaces",
				       option, ZTOQ__CLIP(value), driver);
	put_plain(b, key, value);
	return ZTOQ_OK;
}

/* Reads the first line of the password file into a new string. */
static int read_password_file(const char *path, char **out)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	size_t len;

	if (!f)
		return ztoq__error_set(ZTOQ_EINVALID, "password_file: cannot open %s: %s", path,
				       strerror(errno));
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	len = strcspn(line, "\r\n");
	*out = ztoq__strndup(line, len);
	memset(line, 0, sizeof(line));
	return *out ? ZTOQ_OK : ztoq__error_nomem();
}

int ztoq__config_password(const ztoq_config *cfg, char **out)
{
	const char *pwfile = ztoq__config_str(cfg, "password_file");
	const char *password = ztoq_config_get(cfg, "password");

	*out = NULL;
	if (pwfile)
		return read_password_file(pwfile, out);
	if (!password)
		return ZTOQ_OK;
	*out = ztoq__strdup(password);
	return *out ? ZTOQ_OK : ztoq__error_nomem();
}

/* Appends Uid and Pwd when they are configured. */
static int put_credentials(ztoq__buf *b, const ztoq_config *cfg, const char *password)
{
	const char *user = ztoq__config_str(cfg, "username");
	int rc;

	if (user && (rc = put_unquotable_value(b, "Uid", "username", user, "PostgreSQL")) < 0)
		return rc;
	/* always braced: psqlODBC URL-decodes %XX and + in a bare password */
	if (password)
		put_value(b, "Pwd", password, 1);
	return ZTOQ_OK;
}

static int build_sqlite(ztoq__buf *b, const ztoq_config *cfg)
{
	const char *path = ztoq__config_str(cfg, "db_path");
	long busy, statement;
	int rc;

	put_value(b, "Driver", ztoq__config_driver(cfg), 1);
	if ((rc = put_unquotable_value(b, "Database", "db_path", path, "SQLite")) < 0)
		return rc;
	/* the driver waits twice its Timeout for a lock (measured: 1000 waits 2.08 s), and
	 * Timeout=0 means 1000 s: 0 asks for 1, the shortest wait it has */
	busy = ztoq__config_long(cfg, "busy_timeout_ms");
	/* the watchdog's interrupt does not end a lock wait: a shorter statement timeout
	 * bounds it here (the call then fails with SQLITE_BUSY, ZTOQ_EBUSY) */
	statement = ztoq__config_long(cfg, "statement_timeout_ms");
	if (statement > 0 && busy > statement)
		busy = statement;
	ztoq__buf_printf(b, ";Timeout=%ld", busy ? (busy + 1) / 2 : 1);
	put_plain(b, "FKSupport", "1");
	if (ztoq__config_long(cfg, "create_if_missing") == 0)
		put_plain(b, "NoCreat", "1");
	/* rows are produced as they are stepped, not materialised (see docs/drivers.md) */
	put_plain(b, "StepAPI", "1");
	if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0)
		put_plain(b, "JournalMode", "WAL");
	return ZTOQ_OK;
}

/*
 * libpq options psqlODBC passes through: keepalives and tcp_user_timeout notice a peer
 * that is gone within about a minute, and the server's own statement_timeout cancels
 * a statement that runs too long (statement_timeout_ms, exact to the millisecond).
 */
static void put_pqopt(ztoq__buf *b, const ztoq_config *cfg)
{
	long timeout_ms = ztoq__config_long(cfg, "statement_timeout_ms");
	char opt[256];

	snprintf(opt, sizeof(opt), "keepalives=1 keepalives_idle=30 keepalives_interval=10 "
		 "keepalives_count=3 tcp_user_timeout=60000");
	if (timeout_ms > 0)
		snprintf(opt + strlen(opt), sizeof(opt) - strlen(opt),
			 " options='-c statement_timeout=%ld'", timeout_ms);
	put_value(b, "pqopt", opt, 1);
}

static int build_postgresql(ztoq__buf *b, const ztoq_config *cfg, const char *password)
{
	int rc;

	put_value(b, "Driver", ztoq__config_driver(cfg), 1);
	if ((rc = put_unquotable_value(b, "Server", "host", ztoq__config_str(cfg, "host"),
				       "PostgreSQL")) < 0)
		return rc;
	put_plain(b, "Port", ztoq_config_get(cfg, "port"));
	if ((rc = put_unquotable_value(b, "Database", "database",
				       ztoq__config_str(cfg, "database"), "PostgreSQL")) < 0)
		return rc;
	/* 7.4-0: an error aborts the whole transaction, with no per-statement savepoint */
	put_plain(b, "Protocol", "7.4-0");
	put_pqopt(b, cfg);
	return put_credentials(b, cfg, password);
}

static int build_dsn(ztoq__buf *b, const ztoq_config *cfg, const char *dsn,
		     const char *password)
{
	if (ztoq_config_db_type(cfg) == ZTOQ_DB_ODBC && strchr(dsn, '=')) {
		ztoq__buf_puts(b, dsn); /* a full connection string, the caller's own */
	} else {
		put_value(b, "DSN", dsn, 0);
	}
	return put_credentials(b, cfg, password);
}

int ztoq__connstr_compose(char **out, const ztoq_config *cfg, const char *password)
{
	ztoq__buf b = ZTOQ__BUF_INIT;
	const char *dsn;
	int rc;

	*out = NULL;
	if ((rc = ztoq_config_validate(cfg)) < 0)
		return rc;
	dsn = ztoq__config_str(cfg, "dsn");
	if (dsn)
		rc = build_dsn(&b, cfg, dsn, password);
	else if (ztoq_config_db_type(cfg) == ZTOQ_DB_POSTGRESQL)
		rc = build_postgresql(&b, cfg, password);
	else
		rc = build_sqlite(&b, cfg);
	if (rc < 0) {
		ztoq__buf_dispose(&b);
		return rc;
	}
	return ztoq__buf_detach(&b, out);
}

ZTOQ_EXTERN(int) ztoq_connstr_build(char **out, const ztoq_config *cfg)
{
	char *password;
	int rc;

	if (!out || !cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_connstr_build: bad arguments");
	*out = NULL;
	if ((rc = ztoq__config_password(cfg, &password)) < 0)
		return rc;
	rc = ztoq__connstr_compose(out, cfg, password);
	ztoq__free_secret(password);
	return rc;
}

/*
 * Length of the value starting at `p`: to the next ';', or white space then a {...}
 * with '}}' escapes.
 */
static size_t value_length(const char *p)
{
	const char *q = p;

	while (isspace((unsigned char)*q))
		q++;
	if (*q != '{')
		return strcspn(p, ";");
	for (q++; *q; q++) {
		if (*q == '}') {
			if (q[1] != '}')
				return (size_t)(q + 1 - p);
			q++;
		}
	}
	return (size_t)(q - p);
}

/* 1 when the `len` bytes at `s` contain `word` (lower case), whatever their case. */
static int contains_nocase(const char *s, size_t len, const char *word)
{
	size_t wlen = strlen(word);

	for (size_t i = 0; i + wlen <= len; i++)
		if (strncasecmp(s + i, word, wlen) == 0)
			return 1;
	return 0;
}

/* The key at `*key` without the white space around it (which drivers ignore). */
static void trim_key(const char **key, size_t *len)
{
	while (*len && isspace((unsigned char)(*key)[0]))
		(*key)++, (*len)--;
	while (*len && isspace((unsigned char)(*key)[*len - 1]))
		(*len)--;
}

/* A key naming a password: Pwd, Password, and any other that contains one of them. */
static int is_password_key(const char *key, size_t len)
{
	trim_key(&key, &len);
	return contains_nocase(key, len, "pwd") || contains_nocase(key, len, "password");
}

/*
 * Attributes whose value can carry a secret: those of is_password_key(), any other
 * whose key contains secret, token or key (AccessToken, ClientSecret, SSLKey: a masked
 * key path is harmless), psqlODBC's pqopt (libpq options such as password=...) and
 * ConnSettings (SQL run at connect), with their abbreviations D5 and A6. Case and
 * white space around the key do not matter, as they do not to the drivers.
 */
static int is_secret_key(const char *key, size_t len)
{
	static const char *const keys[] = {"pqopt", "d5", "connsettings", "a6"};

	if (is_password_key(key, len))
		return 1;
	trim_key(&key, &len);
	if (contains_nocase(key, len, "secret") || contains_nocase(key, len, "token") ||
	    contains_nocase(key, len, "key"))
		return 1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (len == strlen(keys[i]) && strncasecmp(key, keys[i], len) == 0)
			return 1;
	return 0;
}

ZTOQ_EXTERN(int) ztoq_connstr_redact(char **out, const char *connstr)
{
	ztoq__buf b = ZTOQ__BUF_INIT;
	const char *p = connstr;

	if (!out || !connstr)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_connstr_redact: bad arguments");
	while (*p) {
		size_t klen = strcspn(p, "=;"), vlen;

		ztoq__buf_append(&b, p, klen);
		p += klen;
		if (*p != '=') { /* a bare word or an empty segment */
			if (*p == ';')
				ztoq__buf_append(&b, p++, 1);
			continue;
		}
		p++;
		vlen = value_length(p);
		ztoq__buf_puts(&b, "=");
		if (is_secret_key(p - klen - 1, klen))
			ztoq__buf_puts(&b, "***");
		else
			ztoq__buf_append(&b, p, vlen);
		p += vlen;
		if (*p == ';')
			ztoq__buf_append(&b, p++, 1);
	}
	if (!b.data)
		ztoq__buf_puts(&b, "");
	return ztoq__buf_detach(&b, out);
}

/*
 * The value of the first password attribute (is_password_key()) of `connstr`, braces
 * and their '}}' escapes undone, in *out (the caller frees it with
 * ztoq__free_secret()); NULL when there is none or it is empty. Thread-safe.
 */
int ztoq__connstr_password(char **out, const char *connstr)
{
	const char *p = connstr;

	*out = NULL;
	while (*p) {
		size_t klen = strcspn(p, "=;"), vlen;
		const char *v, *end;
		char *w;

		p += klen;
		if (*p != '=') {
			p += *p == ';';
			continue;
		}
		v = ++p;
		vlen = value_length(v);
		p += vlen;
		p += *p == ';';
		if (!is_password_key(v - klen - 1, klen))
			continue;
		for (end = v + vlen; v < end && isspace((unsigned char)*v); v++)
			;
		if (v == end)
			return ZTOQ_OK;
		if (!(*out = w = ztoq__malloc((size_t)(end - v) + 1)))
			return ztoq__error_nomem();
		if (*v != '{') {
			memcpy(w, v, (size_t)(end - v));
			w[end - v] = '\0';
			return ZTOQ_OK;
		}
		for (v++; v < end && !(*v == '}' && v[1] != '}'); v += 1 + (*v == '}'))
			*w++ = *v;
		*w = '\0';
		if (!**out) {
			ztoq__free_secret(*out);
			*out = NULL;
		}
		return ZTOQ_OK;
	}
	return ZTOQ_OK;
}
