/*
 * bulk.h - the bulk writer every bulk write of the library goes through (bulk.c):
 * ztoq_bulk_insert(), ztoq_bulk_insert_stream() and the copy (copy.c), which keeps
 * one writer open for a whole table.
 *
 * A writer holds the INSERT statements of one table, prepared once when it opens,
 * and writes the rows it is given a savepoint at a time (opts->rows_per_savepoint),
 * finding bad rows by bisection as ztoq/bulk.h describes. It opens no transaction of
 * its own: the caller's transaction (or savepoint) is what a failure rolls back.
 * A writer belongs to its session's thread; it is not thread-safe.
 */
#ifndef ZTOQ__BULK_H
#define ZTOQ__BULK_H

#include "ztoq/bulk.h"

typedef struct ztoq__bulk_writer ztoq__bulk_writer;

/* Checks a bulk write's session, `table` and `opts` (NULL: ZTOQ_BULK_OPTIONS_INIT) as
 * the public API does: ZTOQ_EINVALID (recorded) naming what is wrong. */
int ztoq__bulk_check(ztoq_session *s, const ztoq_bulk_table *table,
		     const ztoq_bulk_options *opts);

/* Prepares the statements of a bulk write of `table` (checked by ztoq__bulk_check) on
 * `s`, in the transaction the caller has open. `res` (the caller's, kept until the
 * writer closes) counts what the writes do. *out is the caller's, freed with
 * ztoq__bulk_close(). */
int ztoq__bulk_open(ztoq__bulk_writer **out, ztoq_session *s, const ztoq_bulk_table *table,
		    const ztoq_bulk_options *opts, ztoq_bulk_result *res);

/* Writes `nrows` rows (`rows`: values of the table's types or NULL, row after row; the
 * caller checked them) a savepoint at a time; rows are numbered after those of the
 * writer's earlier writes. A bad row under ZTOQ_BULK_ABORT returns its error; what
 * the caller's transaction holds is then for the caller to roll back. */
int ztoq__bulk_write(ztoq__bulk_writer *w, const ztoq_value *rows, size_t nrows);

/* Finalizes the writer's statements and frees it; NULL is ignored. */
void ztoq__bulk_close(ztoq__bulk_writer *w);

#endif
