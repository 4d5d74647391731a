/*
 * connstr.c - compose and redact ODBC connection strings.
 */
#include "ztoq/connstr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <odbcinst.h>

#include "alloc.h"
#include "buf.h"
#include "dialect.h"
#include "error.h"

void ztoq__connstr_put_value(ztoq__buf *b, const char *key, const char *value, int always_quote)
{
	size_t len = strlen(value);
	int quote = always_quote || strpbrk(value, ";{}") ||
		    (len && (value[0] == ' ' || value[len - 1] == ' '));

	/* psqlODBC takes braces literally in most attributes, so plain values stay
	 * plain; the driver name is always braced, as the driver manager expects */
	ztoq__buf_printf(b, "%s%s=%s", b->len ? ";" : "", key, quote ? "{" : "");
	if (quote) {
		ztoq__buf_append_doubling(b, value, '}');
		ztoq__buf_puts(b, "}");
	} else {
		ztoq__buf_puts(b, value);
	}
}

void ztoq__connstr_put_plain(ztoq__buf *b, const char *key, const char *value)
{
	ztoq__buf_printf(b, "%s%s=%s", b->len ? ";" : "", key, value);
}

/*
 * The SQLite driver splits its connection string on ';' and understands no quoting,
 * and psqlODBC keeps the braces of Server, Database and Uid as part of the name
 * (measured: Database={semi;colon} reaches the server as "{semi;colon}"). A ';', a
 * leading '{' (which unixODBC takes as quoting) or surrounding spaces cannot be
 * expressed: refused.
 */
int ztoq__connstr_put_unquotable(ztoq__buf *b, const char *key, const char *option,
				 const char *value, const char *driver)
{
	if (strchr(value, ';') || value[0] == '{' || value[0] == ' ' ||
	    value[strlen(value) - 1] == ' ')
		return ztoq__error_set(ZTOQ_EINVALID,
				       "%s \"%.*s%s\" cannot be passed to the %s ODBC driver, "
				       "which cannot quote a ';', a leading '{' or surrounding spaces",
				       option, ZTOQ__CLIP(value), driver);
	ztoq__connstr_put_plain(b, key, value);
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

int ztoq__settings_password(const ztoq__settings *set, char **out)
{
	*out = NULL;
	if (set->password_file)
		return read_password_file(set->password_file, out);
	if (!set->password)
		return ZTOQ_OK;
	*out = ztoq__strdup(set->password);
	return *out ? ZTOQ_OK : ztoq__error_nomem();
}

/* Appends Uid and Pwd when they are configured. */
static int put_credentials(ztoq__buf *b, const ztoq__settings *set, const char *password)
{
	int rc;

	if (set->username && (rc = ztoq__connstr_put_unquotable(b, "Uid", "username",
								  set->username, "PostgreSQL")) < 0)
		return rc;
	/* always braced: psqlODBC URL-decodes %XX and + in a bare password */
	if (password)
		ztoq__connstr_put_value(b, "Pwd", password, 1);
	return ZTOQ_OK;
}

static int find_attribute(const char *connstr, const char *key, const char **value,
			  size_t *len);

/* 1 when the DSN's section of odbc.ini (user's or system's) sets `key`. */
static int dsn_sets(const char *dsn, const char *key)
{
	char value[8];

	return key && SQLGetPrivateProfileString(dsn, key, "", value, sizeof(value),
						 "odbc.ini") > 0;
}

/* Narrows `*value` (`*len` bytes) to what stands inside its spaces and braces. */
static void unbrace(const char **value, size_t *len)
{
	while (*len && (**value == ' ' || **value == '{'))
		(*value)++, (*len)--;
	while (*len && ((*value)[*len - 1] == ' ' || (*value)[*len - 1] == '}'))
		(*len)--;
}

/* 1 when `value` (`len` bytes, perhaps braced) is `want`, whatever the case. */
static int same_value(const char *value, size_t len, const char *want)
{
	unbrace(&value, &len);
	return len == strlen(want) && strncasecmp(value, want, len) == 0;
}

/* Copies `value` (`len` bytes, perhaps braced) unbraced into `out` (`size` bytes). */
static void copy_value(char *out, size_t size, const char *value, size_t len)
{
	unbrace(&value, &len);
	snprintf(out, size, "%.*s", (int)len, value);
}

/*
 * 1 when `str` (a caller's string or odbc_options, perhaps NULL) sets attribute `a`
 * (by key or alias), with its raw value at `*value` (`*len` bytes).
 */
static int sets_attribute(const char *str, const ztoq__attribute *a, const char **value,
			  size_t *len)
{
	return str && (find_attribute(str, a->key, value, len) ||
		       (a->alias && find_attribute(str, a->alias, value, len)));
}

/*
 * Appends the attributes `d` relies on after a DSN (`dsn`), a caller's whole string
 * (`own`) or a target of its own: a required one always after a DSN, whose values it
 * overrides, and refused when the caller's string or odbc_options sets it otherwise; a
 * tunable only when none of them sets it.
 */
static int put_attributes(ztoq__buf *b, const ztoq__settings *set, const ztoq__dialect *d,
			  const char *dsn, const char *own)
{
	ztoq__attribute attrs[ZTOQ__MAX_ATTRIBUTES];
	size_t n = d->attributes ? d->attributes(attrs, set, dsn || own) : 0;

	for (size_t i = 0; i < n; i++) {
		const ztoq__attribute *a = &attrs[i];
		const char *value, *who = "the connection string";
		size_t len;
		int given = sets_attribute(own, a, &value, &len);

		if (!given && (given = sets_attribute(set->odbc_options, a, &value, &len)))
			who = "odbc_options";
		if (given) {
			if (a->required && !same_value(value, len, a->value))
				return ztoq__error_set(ZTOQ_EINVALID,
						       "%s sets %s=%.*s, but libztoq relies on "
						       "%s=%s with %s (docs/backends.md)",
						       who, a->key, (int)(len > 40 ? 40 : len),
						       value, a->key, a->value, d->dbms_name);
			continue;
		}
		if (dsn && !a->required && (dsn_sets(dsn, a->key) || dsn_sets(dsn, a->alias)))
			continue;
		if (a->braced)
			ztoq__connstr_put_value(b, a->key, a->value, 1);
		else
			ztoq__connstr_put_plain(b, a->key, a->value);
	}
	return ZTOQ_OK;
}

static int put_odbc_options(ztoq__buf *b, const char *opts);
static char *unescape_value(const char *v, size_t len);

/*
 * The caller's whole connection string, or NULL: a dialect that composes no target of
 * its own (db_type odbc) takes one in place of a DSN name.
 */
static const char *own_string(const ztoq__settings *set)
{
	return set->dsn && !set->db_type->compose_target && strchr(set->dsn, '=') ? set->dsn
										    : NULL;
}

int ztoq__connstr_compose(char **out, const ztoq__settings *set, const ztoq__dialect *d,
			  const char *password)
{
	ztoq__buf b = ZTOQ__BUF_INIT;
	const char *own = own_string(set);
	const char *dsn = set->dsn && !own ? set->dsn : NULL;
	int rc = ZTOQ_OK;

	*out = NULL;
	if (own)
		ztoq__buf_puts(&b, own);
	else if (dsn)
		ztoq__connstr_put_value(&b, "DSN", dsn, 0);
	else
		rc = (d = set->db_type)->compose_target(&b, set);
	if (rc == ZTOQ_OK && d && (rc = ztoq__settings_check_pooler(set, d)) == ZTOQ_OK)
		rc = put_attributes(&b, set, d, dsn, own);
	if (rc == ZTOQ_OK && set->odbc_options)
		rc = put_odbc_options(&b, set->odbc_options);
	if (rc == ZTOQ_OK && (set->dsn || d->credentials))
		rc = put_credentials(&b, set, password);
	if (rc < 0) {
		ztoq__buf_dispose(&b);
		return rc;
	}
	return ztoq__buf_detach(&b, out);
}

const ztoq__dialect *ztoq__connstr_guess(const ztoq__settings *set)
{
	const char *own = own_string(set), *value;
	char driver[256] = "", file[512] = "";
	size_t len;

	if (!set->dsn)
		return NULL;
	if (!own)
		SQLGetPrivateProfileString(set->dsn, "Driver", "", driver, sizeof(driver),
					   "odbc.ini");
	else if (find_attribute(own, "Driver", &value, &len))
		copy_value(driver, sizeof(driver), value, len);
	if (!driver[0])
		return NULL;
	/* a driver's name in odbcinst.ini, or its library's path itself */
	if (SQLGetPrivateProfileString(driver, "Driver", "", file, sizeof(file),
				       "odbcinst.ini") <= 0)
		snprintf(file, sizeof(file), "%s", driver);
	return ztoq__dialect_of_driver_file(file);
}

ZTOQ_EXTERN(int) ztoq_connstr_build(char **out, const ztoq_config *cfg)
{
	ztoq__settings set;
	char *password;
	int rc;

	if (!out || !cfg)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_connstr_build: bad arguments");
	*out = NULL;
	if ((rc = ztoq__settings_resolve(&set, cfg)) < 0 ||
	    (rc = ztoq__settings_password(&set, &password)) < 0)
		return rc;
	/* with a DSN the backend is known only once connected: nothing is added */
	rc = ztoq__connstr_compose(out, &set, NULL, password);
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
 * Reads the segment of a connection string at *p and moves *p past it: 0 at the end;
 * else 1 with its key (`*klen` bytes, white space around it dropped, as the drivers
 * do) and its raw value (`*vlen` bytes, braces kept), or *value NULL for a segment
 * without '='. Thread-safe.
 */
static int next_attribute(const char **p, const char **key, size_t *klen, const char **value,
			  size_t *vlen)
{
	if (!**p)
		return 0;
	*key = *p;
	*klen = strcspn(*p, "=;");
	*p += *klen;
	*value = NULL;
	*vlen = 0;
	if (**p == '=') {
		*value = ++*p;
		*vlen = value_length(*p);
		*p += *vlen;
	}
	*p += **p == ';';
	trim_key(key, klen);
	return 1;
}

/*
 * The value of the first password attribute (is_password_key()) of `connstr`, braces
 * and their '}}' escapes undone, in *out (the caller frees it with
 * ztoq__free_secret()); NULL when there is none or it is empty. Thread-safe.
 */
/* 1 when `key` is the login password's own: PWD or Password (any case, spaces). */
static int is_login_password_key(const char *key, size_t len)
{
	trim_key(&key, &len);
	return (len == 3 && strncasecmp(key, "pwd", 3) == 0) ||
	       (len == 8 && strncasecmp(key, "password", 8) == 0);
}

int ztoq__connstr_password(char **out, const char *connstr)
{
	const char *p = connstr, *k, *v, *found = NULL;
	size_t klen, vlen, flen = 0;

	*out = NULL;
	/* the login password; failing that, the first other password-like value */
	while (next_attribute(&p, &k, &klen, &v, &vlen)) {
		int login;

		if (!v || !is_password_key(k, klen))
			continue;
		if ((login = is_login_password_key(k, klen)) || !found) {
			found = v;
			flen = vlen;
		}
		if (login)
			break;
	}
	if (!found)
		return ZTOQ_OK;
	if (!(*out = unescape_value(found, flen)))
		return ztoq__error_nomem();
	if (!**out) {
		ztoq__free_secret(*out);
		*out = NULL;
	}
	return ZTOQ_OK;
}

/*
 * A new string (free with ztoq__free_secret(), NULL when out of memory) holding the raw
 * value `v` (`len` bytes, from value_length()) as the driver reads it: white space
 * before it dropped, braces and their '}}' escapes undone. Thread-safe.
 */
static char *unescape_value(const char *v, size_t len)
{
	const char *end = v + len;
	char *out, *w;

	while (v < end && isspace((unsigned char)*v))
		v++;
	if (!(out = w = ztoq__malloc((size_t)(end - v) + 1)))
		return NULL;
	if (v < end && *v == '{')
		for (v++; v < end && !(*v == '}' && v[1] != '}'); v += 1 + (*v == '}'))
			*w++ = *v;
	else
		while (v < end)
			*w++ = *v++;
	*w = '\0';
	return out;
}

/*
 * Finds attribute `key` (case and surrounding white space ignored, as the drivers do)
 * in `connstr`: 1 with its raw value (`*len` bytes, braces kept) at `*value`, else 0.
 */
static int find_attribute(const char *connstr, const char *key, const char **value,
			  size_t *len)
{
	const char *p = connstr, *k;
	size_t klen;

	while (next_attribute(&p, &k, &klen, value, len))
		if (*value && klen == strlen(key) && strncasecmp(k, key, klen) == 0)
			return 1;
	return 0;
}

/*
 * Appends the attributes of odbc_options ("Key=Value;Key2={Value;2}"), each parsed and
 * written again escaped like every value (a braced one stays braced, white space
 * around a key or a bare value is dropped). A segment that is
 * no Key=Value, or a password (which belongs in password or password_file), is
 * ZTOQ_EINVALID (recorded); no message shows a value.
 */
static int put_odbc_options(ztoq__buf *b, const char *opts)
{
	const char *p = opts, *k, *v;
	size_t klen, vlen;

	while (next_attribute(&p, &k, &klen, &v, &vlen)) {
		char key[64], *value;

		if (!v && !klen)
			continue; /* an empty segment */
		if (!v)
			return ztoq__error_set(ZTOQ_EINVALID,
					       "odbc_options: an attribute without '=' "
					       "(expected Key=Value;Key2=Value2)");
		if (!klen || klen >= sizeof(key))
			return ztoq__error_set(ZTOQ_EINVALID, "odbc_options: an attribute has %s key",
					       klen ? "too long a" : "an empty");
		if (is_password_key(k, klen))
			return ztoq__error_set(ZTOQ_EINVALID,
					       "odbc_options sets the password attribute %.*s: "
					       "use password or password_file",
					       (int)klen, k);
		snprintf(key, sizeof(key), "%.*s", (int)klen, k);
		trim_key(&v, &vlen); /* a bare value's spaces would be braced: SQLite cannot */
		if (!(value = unescape_value(v, vlen)))
			return ztoq__error_nomem();
		ztoq__connstr_put_value(b, key, value, vlen && *v == '{');
		ztoq__free_secret(value);
	}
	return ZTOQ_OK;
}
