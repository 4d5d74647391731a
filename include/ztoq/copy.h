/*
 * ztoq/copy.h - copying a ZTOQ database to another one, across backends (SQLite to
 * PostgreSQL and back), verified.
 *
 * The source is read in one read-only transaction (PostgreSQL: REPEATABLE READ READ
 * ONLY, one snapshot; SQLite: one read transaction), never changed. The target is
 * brought to the source's schema version by the migration engine, then every table of
 * ZTOQ's schema is copied in foreign-key order, a batch at a time (bounded memory:
 * ztoq_batch_stream on the source, ztoq_bulk_insert on the target), each table in one
 * target transaction. The tracking tables (ztoq_schema_migrations, alembic_version)
 * are made equal to the source's; on PostgreSQL every serial sequence is set past the
 * copied ids.
 *
 * Values are carried exactly: integers, booleans, text and blobs byte for byte,
 * timestamps to the microsecond, and doubles to the last bit (SQLite's REAL is read as
 * printf('%!.18e'), 19 significant digits, parsed with strtod: lossless on 320,000
 * random doubles in a one-off run (docs/design.md; not part of the tests), and on the
 * hard values test_copy checks (0.1+0.2, 1e-310, 5e-324, DBL_MAX...), where the
 * driver's own 15 digits and even '%!.17g' are not). Known loss: SQLite stores no negative zero, so
 * a PostgreSQL -0.0 arrives in SQLite as 0.0 (verification counts zeros as equal).
 *
 * While the copy runs, the target holds a table ztoq_copy_state (the "copy in
 * progress" mark), dropped once the copy is verified. A copy that finds the mark (an
 * earlier copy interrupted) starts the target over. ztoq_copy_incomplete() reports it.
 *
 * Verification (on by default): per table, the row count and an order-independent
 * checksum (sum and xor of a 64-bit hash of each row's canonical encoding), computed
 * by the same client code over the rows read from each side.
 */
#ifndef ZTOQ_COPY_H
#define ZTOQ_COPY_H

#include "common.h"
#include "db.h"

ZTOQ_BEGIN_DECL

/** What a copy event reports. */
typedef enum {
	ZTOQ_COPY_PLAN = 1,      /* a table to copy, with its row count (rows_total) */
	ZTOQ_COPY_PROGRESS = 2,  /* rows_done of rows_total copied so far */
	ZTOQ_COPY_TABLE_DONE = 3, /* a table is copied (and verified when verified is 1) */
	ZTOQ_COPY_MISMATCH = 4   /* verification of a table failed */
} ztoq_copy_event_kind;

/** One event; valid only during the callback. */
typedef struct {
	ztoq_copy_event_kind kind;
	const char *table;
	uint64_t rows_done;
	uint64_t rows_total;
	uint64_t bytes;      /* bytes of values copied so far in this table */
	int64_t elapsed_ms;  /* since the table started */
	int verified;        /* ZTOQ_COPY_TABLE_DONE: 1 when its checksum matched */
} ztoq_copy_event;

/** Receives copy events; runs in the caller's thread. */
typedef void (*ztoq_copy_progress_fn)(const ztoq_copy_event *event, void *payload);

/** Options of a copy. Initialise with ZTOQ_COPY_OPTIONS_INIT. */
typedef struct {
	unsigned version;            /* ZTOQ_COPY_OPTIONS_VERSION */
	const char *const *tables;   /* copy only these (NULL: every table) */
	size_t ntables;
	int replace;                 /* drop what the target holds first */
	int dry_run;                 /* report the plan only: nothing written or created */
	int no_verify;               /* skip the verification */
	size_t batch_size;           /* rows per batch (0: 5000; at most 100,000) */
	ztoq_copy_progress_fn progress; /* may be NULL */
	void *payload;
} ztoq_copy_options;

#define ZTOQ_COPY_OPTIONS_VERSION 1
#define ZTOQ_COPY_OPTIONS_INIT {ZTOQ_COPY_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, NULL, NULL}

/** What a copy did. */
typedef struct {
	int schema_version;   /* the source's schema version */
	size_t tables;        /* tables copied (or planned) */
	uint64_t rows;        /* rows copied (or planned) */
	uint64_t bytes;       /* bytes of values copied */
	int64_t elapsed_ms;
	int verified;         /* 1 when every table was verified */
	char target_state[256]; /* dry run: what the target holds ("empty", ...) */
} ztoq_copy_result;

/**
 * Copies `source` into `target` (distinct managers, both owned by the caller, neither
 * closed; with opts->dry_run `target` may be NULL: a database not created yet). A target that holds rows in a ZTOQ table, or a schema at another version,
 * is refused with ZTOQ_ESTATE naming what is there, unless opts->replace. A
 * verification mismatch is ZTOQ_ESTATE naming the table (the target keeps its copy
 * mark). A connection lost on either side fails the copy with the statement's error
 * (ZTOQ_EDISCONNECTED, or ZTOQ_ETIMEOUT after statement_timeout_ms on a silent network)
 * naming the table; the target keeps its mark and the next copy starts it over.
 * Returns ZTOQ_OK or the first error; `out` (filled as far as the copy went)
 * and `opts` may be NULL. Thread-safe in that it opens its own sessions on both
 * managers; two copies into one target at once are not supported.
 */
ZTOQ_EXTERN(int) ztoq_copy(ztoq_copy_result *out, ztoq_db *source, ztoq_db *target,
			   const ztoq_copy_options *opts);

/**
 * Verifies a copy: compares, table by table, the row count and checksum of `source`
 * and `target` (both at the same schema version), as ztoq_copy() does after copying.
 * Returns ZTOQ_ESTATE naming the first table that differs. `out` and `opts` may be
 * NULL (opts->tables restricts). Changes nothing.
 */
ZTOQ_EXTERN(int) ztoq_copy_verify(ztoq_copy_result *out, ztoq_db *source, ztoq_db *target,
				  const ztoq_copy_options *opts);

/** Sets *out to 1 when `db` holds the mark of a copy that did not finish. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_copy_incomplete(ztoq_db *db, int *out);

ZTOQ_END_DECL

#endif
