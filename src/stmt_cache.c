/*
 * stmt_cache.c - the per-connection container of prepared statements (stmt_cache.h).
 */
#include "stmt_cache.h"

#include <string.h>

unsigned long ztoq__stmt_cache_hash(const char *sql)
{
	unsigned long h = 5381;

	while (*sql)
		h = h * 33 + (unsigned char)*sql++;
	return h;
}

ztoq__cache_entry *ztoq__stmt_cache_find(ztoq__stmt_cache *c, const char *sql,
					 unsigned long hash)
{
	ztoq__cache_entry *e;

	for (e = c->head; e; e = e->next)
		if (!e->in_use && e->hash == hash && strcmp(e->sql, sql) == 0)
			break;
	return e;
}

/* Unlinks the entry at `link` and frees it. */
static void unlink_free(ztoq__cache_entry **link)
{
	ztoq__cache_entry *e = *link;

	*link = e->next;
	e->free(e);
}

void ztoq__stmt_cache_add(ztoq__stmt_cache *c, ztoq__cache_entry *e, unsigned idle_max)
{
	ztoq__cache_entry **link, **oldest = NULL;
	unsigned idle = 0;

	for (link = &c->head; *link; link = &(*link)->next) {
		if ((*link)->in_use)
			continue;
		idle++;
		if (!oldest || (*link)->last_used < (*oldest)->last_used)
			oldest = link;
	}
	if (idle >= idle_max && oldest)
		unlink_free(oldest);
	e->next = c->head;
	c->head = e;
}

void ztoq__stmt_cache_release(ztoq__stmt_cache *c, ztoq__cache_entry *e)
{
	e->in_use = 0;
	e->last_used = ++c->tick;
}

void ztoq__stmt_cache_drop(ztoq__stmt_cache *c, ztoq__cache_entry *e)
{
	ztoq__cache_entry **link;

	for (link = &c->head; *link != e; link = &(*link)->next)
		;
	unlink_free(link);
}

void ztoq__stmt_cache_free(ztoq__stmt_cache *c)
{
	while (c->head)
		unlink_free(&c->head);
}
