/*
 * stmt_cache.h - the prepared statements a connection keeps, as a container.
 *
 * The cache knows its entries only by their SQL text, whether they are in use and
 * when they were last used; it frees an entry through the function the entry carries
 * (the statement module's). So the connection holds its cache and frees it on close
 * without calling the statement module: the cache sits below the connection.
 * A cache belongs to one connection and, like it, is used by one thread at a time.
 */
#ifndef ZTOQ__STMT_CACHE_H
#define ZTOQ__STMT_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ztoq__cache_entry ztoq__cache_entry;

/* Frees the object an entry is embedded in (it is no longer in any cache). */
typedef void (*ztoq__cache_free_fn)(ztoq__cache_entry *e);

/* Embedded in a cached object; filled by its owner before ztoq__stmt_cache_add. */
struct ztoq__cache_entry {
	const char *sql;          /* the key (owned by the object) */
	unsigned long hash;       /* ztoq__stmt_cache_hash(sql) */
	int in_use;               /* lent out: never found, never evicted */
	uint64_t last_used;       /* the cache's tick when it was last given back */
	ztoq__cache_free_fn free; /* how the cache frees it */
	ztoq__cache_entry *next;
};

/* Zero-initialised is an empty cache. */
typedef struct {
	ztoq__cache_entry *head;
	uint64_t tick;            /* counts give-backs: the order of last use */
} ztoq__stmt_cache;

/* The object of type `type` whose member `member` is the entry `e`. */
#define ZTOQ__CACHE_OBJECT(e, type, member) ((type *)((char *)(e) - offsetof(type, member)))

/* The key's hash (djb2). Pure function. */
unsigned long ztoq__stmt_cache_hash(const char *sql);

/* An idle entry for `sql` (its hash `hash`), or NULL. */
ztoq__cache_entry *ztoq__stmt_cache_find(ztoq__stmt_cache *c, const char *sql,
					 unsigned long hash);

/*
 * Adds `e` (owned by the cache from now on); first frees the least recently used idle
 * entry when `idle_max` or more are idle, so the cache stays bounded.
 */
void ztoq__stmt_cache_add(ztoq__stmt_cache *c, ztoq__cache_entry *e, unsigned idle_max);

/* Gives `e` back (idle again), the most recently used. */
void ztoq__stmt_cache_release(ztoq__stmt_cache *c, ztoq__cache_entry *e);

/* Takes `e` out of the cache and frees it. */
void ztoq__stmt_cache_drop(ztoq__stmt_cache *c, ztoq__cache_entry *e);

/* Frees every entry, in use or not (the connection is closing). */
void ztoq__stmt_cache_free(ztoq__stmt_cache *c);

#endif
