/*
 * stmt_cache.h - prepared statements kept per connection.
 */
#ifndef ZTOQ_STMT_CACHE_H
#define ZTOQ_STMT_CACHE_H

#include "conn.h"

/* Frees every statement cached on `c` (called when the connection closes). */
void ztoq__stmt_cache_free(ztoq__conn *c);

#endif
