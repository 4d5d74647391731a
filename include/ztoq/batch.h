/*
 * ztoq/batch.h - reading large results in batches of bounded size.
 *
 * Three ways to walk a result, all delivering the rows to a process callback one batch
 * at a time:
 *
 *   ztoq_batch_execute  ZTOQ's execute_in_batches: a query callback runs the query for
 *                       (offset, limit); 25 rows with a batch size of 10 give batches
 *                       of 10, 10 and 5, in order. Simple, but each batch re-runs the
 *                       query, and OFFSET gets slower the further it goes.
 *   ztoq_batch_stream   one statement, read in batches: the query runs once and its
 *                       rows arrive through bound column buffers. Memory is bounded by
 *                       the batch size whatever the size of the result (on PostgreSQL
 *                       through a server-side cursor, as psqlODBC would otherwise
 *                       buffer the whole result in client memory).
 *   ztoq_batch_keyset   paging by key: "... WHERE key > ? ORDER BY key LIMIT ?" run
 *                       once per batch with the last key seen; no cursor, no OFFSET.
 *
 * The process callback returns 0 to go on, ZTOQ_BATCH_STOP to stop early (the call
 * then ends cleanly: statement and cursor closed, the connection fit for use, and it
 * returns ZTOQ_OK), or a negative ztoq_error_code, which stops and is returned.
 *
 * A batch and every pointer read from it are valid only during the process callback:
 * the next batch reuses the memory. None of these functions is thread-safe for one
 * session (a session is used from one thread at a time); distinct sessions are
 * independent.
 */
#ifndef ZTOQ_BATCH_H
#define ZTOQ_BATCH_H

#include "common.h"
#include "session.h"
#include "stmt.h"

ZTOQ_BEGIN_DECL

typedef struct ztoq_batch ztoq_batch;

/** Returned by a process callback to stop early and cleanly. */
#define ZTOQ_BATCH_STOP 1

/** Options of a batched read. Initialise with ZTOQ_BATCH_OPTIONS_INIT. */
typedef struct {
	unsigned version;  /* ZTOQ_BATCH_OPTIONS_VERSION */
	size_t batch_size; /* rows per batch (0: 1000) */
	size_t text_width; /* bytes kept in line per text or blob value (0: 128); longer
			      values are still delivered whole, read separately */
} ztoq_batch_options;

#define ZTOQ_BATCH_OPTIONS_VERSION 1
#define ZTOQ_BATCH_OPTIONS_INIT {ZTOQ_BATCH_OPTIONS_VERSION, 1000, 128}

/** What a batched read did. */
typedef struct {
	uint64_t batches; /* process callbacks made */
	uint64_t rows;    /* rows delivered */
	int stopped;      /* 1 when the process callback returned ZTOQ_BATCH_STOP */
} ztoq_batch_stats;

/** Processes one batch: 0 to go on, ZTOQ_BATCH_STOP, or a negative error code. */
typedef int (*ztoq_batch_fn)(const ztoq_batch *batch, void *payload);

/**
 * Runs the query for rows [offset, offset + limit): prepares and executes a statement
 * on `s` and hands it over through *out (the batch module reads at most `limit` rows
 * from it, then finalizes it). Returns 0, or a negative error code to stop.
 */
typedef int (*ztoq_batch_query_fn)(ztoq_stmt **out, ztoq_session *s, int64_t offset,
				   int64_t limit, void *payload);

/**
 * execute_in_batches: calls `query` for offsets 0, batch_size, 2 * batch_size, ...
 * and `process` with each batch of rows it returns, until a query returns fewer rows
 * than the batch size (an empty batch is not processed). `out` may be NULL; `opts`
 * may be NULL for the defaults. Returns ZTOQ_OK (also after ZTOQ_BATCH_STOP), or the
 * first error of the query, the read or the process callback.
 */
ZTOQ_EXTERN(int) ztoq_batch_execute(ztoq_batch_stats *out, ztoq_session *s,
				    ztoq_batch_query_fn query, ztoq_batch_fn process,
				    void *payload, const ztoq_batch_options *opts);

/**
 * Runs `sql` once with `nparams` bound values (copied) and delivers its rows in
 * batches of opts->batch_size, holding no more than one batch in memory. On
 * PostgreSQL the query runs in a server-side cursor, inside the session's transaction,
 * or in one this call begins and ends (committed on success and early stop, rolled
 * back on error). `out` and `opts` may be NULL. Returns as ztoq_batch_execute().
 */
ZTOQ_EXTERN(int) ztoq_batch_stream(ztoq_batch_stats *out, ztoq_session *s, const char *sql,
				   const ztoq_value *params, size_t nparams,
				   ztoq_batch_fn process, void *payload,
				   const ztoq_batch_options *opts);

/**
 * Keyset paging: `sql` takes two parameters, the last key seen and the page size, and
 * returns rows in key order, e.g. "SELECT id, name FROM t WHERE id > ? ORDER BY id
 * LIMIT ?". The first page gets `start` (copied; an int64 or text key); each next one
 * the value of column `key_column` (0-based) in the last row of the page before. Stops
 * after a page shorter than the batch size. `out` and `opts` may be NULL. Returns as
 * ztoq_batch_execute(); a NULL key in the key column is ZTOQ_EINVALID.
 */
ZTOQ_EXTERN(int) ztoq_batch_keyset(ztoq_batch_stats *out, ztoq_session *s, const char *sql,
				   unsigned key_column, const ztoq_value *start,
				   ztoq_batch_fn process, void *payload,
				   const ztoq_batch_options *opts);

/** Rows in the batch (at least 1). */
ZTOQ_EXTERN(size_t) ztoq_batch_rows(const ztoq_batch *b);

/** Position of the batch's first row in the whole read (0-based). */
ZTOQ_EXTERN(uint64_t) ztoq_batch_first_row(const ztoq_batch *b);

/** Number of the batch in the read (0-based). */
ZTOQ_EXTERN(uint64_t) ztoq_batch_index(const ztoq_batch *b);

/** Number of columns. */
ZTOQ_EXTERN(unsigned) ztoq_batch_column_count(const ztoq_batch *b);

/** Name of column `col` (0-based), owned by the batch; NULL if out of range. */
ZTOQ_EXTERN(const char *) ztoq_batch_column_name(const ztoq_batch *b, unsigned col);

/**
 * Value of (row, col), both 0-based, in the column's natural type (as
 * ztoq_stmt_get_value()). Text and blob pointers belong to the batch; text is
 * NUL-terminated. ZTOQ_EINVALID when out of range.
 */
ZTOQ_EXTERN(int) ztoq_batch_get_value(const ztoq_batch *b, size_t row, unsigned col,
				      ztoq_value *out);

/**
 * Typed getters of (row, col): whole numbers and numbers (converted from the other
 * numeric type, or from text that holds one), and text (text and blob columns only).
 * `is_null` may be NULL; a NULL gives 0 / "" and *is_null = 1. ZTOQ_EINVALID when the
 * value cannot be converted or is out of range.
 */
ZTOQ_EXTERN(int) ztoq_batch_get_int64(const ztoq_batch *b, size_t row, unsigned col,
				      int64_t *out, int *is_null);
ZTOQ_EXTERN(int) ztoq_batch_get_double(const ztoq_batch *b, size_t row, unsigned col,
				       double *out, int *is_null);
ZTOQ_EXTERN(int) ztoq_batch_get_text(const ztoq_batch *b, size_t row, unsigned col,
				     const char **out, size_t *len, int *is_null);

ZTOQ_END_DECL

#endif
