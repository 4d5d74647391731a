/*
 * error.c - the thread-local last error.
 *
 * All storage is static and thread-local, so recording an error never allocates and
 * works when memory is exhausted.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


#define DIAG_MESSAGE_SIZE 1024
/* Shortest secret scrubbed from free text (see scrub()). */
#define ZTOQ__SCRUB_MIN 4

struct ztoq__error_state {
	ztoq_error pub;
	char message[ZTOQ__ERROR_MESSAGE_SIZE];
	ztoq_diag diags[ZTOQ_ERROR_MAX_DIAGS];
	char diag_text[ZTOQ_ERROR_MAX_DIAGS][DIAG_MESSAGE_SIZE];
};

static _Thread_local struct ztoq__error_state last;

/* While held, errors go to `discarded`, which nobody reads (see ztoq__error_hold()). */
static _Thread_local struct ztoq__error_state discarded;
static _Thread_local unsigned held;

/*
 * Empties `st` (a thread's own: `last` or `discarded`) to hold a new error of `code`,
 * with no message or diagnostic yet; wires the public view to its buffers. Returns st.
 */
static struct ztoq__error_state *reset_state(struct ztoq__error_state *st, int code)
{
	memset(&st->pub, 0, sizeof(st->pub));
	st->pub.code = code;
	st->pub.message = st->message;
	st->pub.diags = st->diags;
	st->message[0] = '\0';
	return st;
}

/* Where the next error is recorded. */
static struct ztoq__error_state *target(void)
{
	struct ztoq__error_state *st = held ? &discarded : &last;

	return st->pub.message ? st : reset_state(st, ZTOQ_OK);
}

/* The state the next error is recorded in, emptied for one of `code`. */
static struct ztoq__error_state *reset(int code)
{
	return reset_state(target(), code);
}

void ztoq__error_hold(void)
{
	held++;
}

void ztoq__error_release(void)
{
	held--;
}

ZTOQ_EXTERN(const ztoq_error *) ztoq_error_last(void)
{
	if (!last.pub.message)
		reset_state(&last, ZTOQ_OK);
	return &last.pub;
}

ZTOQ_EXTERN(void) ztoq_error_clear(void)
{
	reset(ZTOQ_OK);
}

ZTOQ_EXTERN(const char *) ztoq_error_name(int code)
{
	static const char *const names[] = {
		"ZTOQ_OK",         "ZTOQ_ERROR",    "ZTOQ_EINVALID",  "ZTOQ_ENOMEM",
		"ZTOQ_ENOTFOUND",  "ZTOQ_EBUSY",    "ZTOQ_ETIMEOUT",  "ZTOQ_ECONSTRAINT",
		"ZTOQ_ERETRY",     "ZTOQ_EDISCONNECTED", "ZTOQ_EREADONLY", "ZTOQ_ECONNECT",
		"ZTOQ_EAUTH",      "ZTOQ_ETXFAILED", "ZTOQ_ESTATE",   "ZTOQ_EDRIFT",
		"ZTOQ_ECOMMITUNKNOWN",
	};
	if (code > 0 || -code >= (int)(sizeof(names) / sizeof(names[0])))
		return "ZTOQ_UNKNOWN";
	return names[-code];
}

ZTOQ_EXTERN(int) ztoq_error_is_retryable(int code)
{
	return code == ZTOQ_ERETRY || code == ZTOQ_EBUSY;
}

int ztoq__error_set(int code, const char *fmt, ...)
{
	va_list ap;
	struct ztoq__error_state *st = reset(code);

	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return code;
}

int ztoq__error_reclassify(int code)
{
	target()->pub.code = code;
	return code;
}

int ztoq__error_append(const char *fmt, ...)
{
	struct ztoq__error_state *st = target();
	size_t used = strlen(st->message);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->message + used, sizeof(st->message) - used, fmt, ap);
	va_end(ap);
	return st->pub.code;
}

/* A byte of a word: a secret's edge that is one must not touch another word's byte. */
static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || (c & 0x80);
}

/*
 * Replaces (in place) with "***" every occurrence of `secret` in `text` that stands as
 * a token of its own: where the secret begins (ends) with a word byte, the byte before
 * (after) it must not be one. Secrets shorter than ZTOQ__SCRUB_MIN bytes are left to
 * the redaction of connection strings by attribute: as free text they would match
 * ordinary words ("a" in "cannot"). The text never grows.
 */
static void scrub(char *text, const char *secret)
{
	size_t slen = secret ? strlen(secret) : 0;
	char *from = text, *hit;

	if (slen < ZTOQ__SCRUB_MIN)
		return;
	while ((hit = strstr(from, secret)) != NULL) {
		int alone = (hit == text || !is_word(secret[0]) || !is_word(hit[-1])) &&
			    (!is_word(secret[slen - 1]) || !is_word(hit[slen]));

		if (!alone) {
			from = hit + 1;
			continue;
		}
		memcpy(hit, "***", 3);
		memmove(hit + 3, hit + slen, strlen(hit + slen) + 1);
		from = hit + 3;
	}
}

/* `keep`, or less: a length of `s` (longer than `keep`) not ending inside a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t keep)
{
	while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
		keep--;
	return keep;
}

int ztoq__clip_len(const char *v)
{
	return strlen(v) > ZTOQ__SHOWN ? (int)utf8_cut(v, ZTOQ__SHOWN) : ZTOQ__SHOWN;
}

/*
 * Cuts the context at the start of `message` so that `tail_len` more bytes fit in
 * `size`: the context ends in "..." and is never cut inside a UTF-8 character.
 * Returns the length of what is kept.
 */
static size_t fit_context(char *message, size_t size, size_t tail_len)
{
	size_t used = strlen(message), keep;

	if (used + tail_len < size)
		return used;
	keep = utf8_cut(message, size > tail_len + 4 ? size - tail_len - 4 : 0);
	memcpy(message + keep, "...", 4);
	return keep + 3;
}

/* Warnings (class 01) say nothing about the failure; prefer the first real error. */
static const ztoq_diag *significant_diag(const struct ztoq__error_state *st)
{
	for (size_t i = 0; i < st->pub.diag_count; i++)
		if (strncmp(st->diags[i].sqlstate, "01", 2) != 0)
			return &st->diags[i];
	return st->pub.diag_count ? &st->diags[0] : NULL;
}

int ztoq__error_odbc(ztoq__classify_fn classify, SQLSMALLINT handle_type, SQLHANDLE handle,
		     const char *secret, int fallback, const char *fmt, ...)
{
	struct ztoq__error_state *st = reset(fallback);
	const ztoq_diag *first;
	va_list ap;
	size_t used;
	int code;

	for (SQLSMALLINT rec = 1; handle && rec <= ZTOQ_ERROR_MAX_DIAGS; rec++) {
		ztoq_diag *d = &st->diags[st->pub.diag_count];
		SQLCHAR state[6] = "";
		SQLINTEGER native = 0;
		SQLSMALLINT len = 0;
		SQLRETURN rc = SQLGetDiagRec(handle_type, handle, rec, state, &native,
					     (SQLCHAR *)st->diag_text[st->pub.diag_count],
					     DIAG_MESSAGE_SIZE, &len);
		if (!SQL_SUCCEEDED(rc))
			break;
		memcpy(d->sqlstate, state, sizeof(d->sqlstate));
		d->sqlstate[5] = '\0';
		d->native = native;
		scrub(st->diag_text[st->pub.diag_count], secret);
		d->message = st->diag_text[st->pub.diag_count];
		st->pub.diag_count++;
	}

	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	scrub(st->message, secret);

	first = significant_diag(st);
	code = fallback;
	if (first) {
		memcpy(st->pub.sqlstate, first->sqlstate, sizeof(st->pub.sqlstate));
		st->pub.native = first->native;
		if (fallback == ZTOQ_ERROR && classify)
			code = classify(first->sqlstate, first->native, first->message);
		/* the driver's reason always fits: a long context gives way to it */
		used = fit_context(st->message, sizeof(st->message),
				   strlen(": [] ") + strlen(first->sqlstate) +
					   strlen(first->message));
		snprintf(st->message + used, sizeof(st->message) - used, ": [%s] %s",
			 first->sqlstate, first->message);
	}
	st->pub.code = code;
	return code;
}
