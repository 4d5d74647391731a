/*
 * ztoq/bulk.h - writing many rows in one call: bulk insert and upsert.
 *
 * The rows are typed values (ztoq_value), row after row. They are written inside one
 * transaction (the session's, as a savepoint, or one the call begins and commits),
 * with the statement form measured fastest for the backend (docs/performance.md):
 *
 *   PostgreSQL  INSERT ... SELECT * FROM unnest(?::bigint[], ?::text[], ...): one
 *               parameter per column holds a whole chunk of rows as an array, so a
 *               chunk of 10,000 rows is one round trip;
 *   SQLite      multi-row INSERT ... VALUES (?,?,?),(?,?,?),... of about 300 values.
 *
 * Bad rows (a constraint violation, a value the column refuses) are found by the
 * database, never by trusting a driver's per-row status array: each chunk runs in a
 * savepoint, and a chunk that fails is rolled back and split in halves until the
 * failing rows stand alone. With ZTOQ_BULK_ABORT (the default) the first bad row
 * rolls back everything the call wrote; with ZTOQ_BULK_SKIP bad rows are left out,
 * reported one by one, and every other row is written.
 *
 * Not thread-safe for one session (a session is used from one thread at a time).
 */
#ifndef ZTOQ_BULK_H
#define ZTOQ_BULK_H

#include "common.h"
#include "error.h"
#include "session.h"
#include "stmt.h"

ZTOQ_BEGIN_DECL

/** What happens to a row the database refuses. */
typedef enum {
	ZTOQ_BULK_ABORT = 0, /* roll back everything the call wrote and return the error */
	ZTOQ_BULK_SKIP = 1   /* leave the row out, report it, write the others */
} ztoq_bulk_policy;

/** What a row whose key already exists does. */
typedef enum {
	ZTOQ_BULK_CONFLICT_ERROR = 0, /* plain INSERT: the row is bad */
	ZTOQ_BULK_CONFLICT_UPDATE,    /* upsert: the other columns are updated */
	ZTOQ_BULK_CONFLICT_IGNORE     /* the row is left as it is (resumable loads) */
} ztoq_bulk_conflict;

/** The table written to: names are quoted as identifiers ("a.b" is schema a, table b). */
typedef struct {
	const char *table;
	const char *const *columns;
	const ztoq_type *types;       /* every value of column i is types[i] or NULL */
	const char *const *sql_types; /* PostgreSQL: the type of each column's array
					 ("jsonb", "integer"); NULL entries or NULL: from types */
	size_t ncolumns;
} ztoq_bulk_table;

/** Called for each bad row, with the database's reason. */
typedef void (*ztoq_bulk_bad_row_fn)(size_t row, const ztoq_error *why, void *payload);

/** Options of a bulk write. Initialise with ZTOQ_BULK_OPTIONS_INIT. */
typedef struct {
	unsigned version;              /* ZTOQ_BULK_OPTIONS_VERSION */
	ztoq_bulk_policy policy;
	ztoq_bulk_conflict conflict;
	const char *const *key_columns; /* the conflict target (UPDATE needs it) */
	size_t nkeys;
	size_t rows_per_statement;     /* 0: the backend's measured best (at most a savepoint) */
	size_t rows_per_savepoint;     /* 0: 10,000 (a multiple of rows_per_statement) */
	ztoq_bulk_bad_row_fn on_bad_row; /* may be NULL */
	void *payload;
} ztoq_bulk_options;

#define ZTOQ_BULK_OPTIONS_VERSION 1
#define ZTOQ_BULK_OPTIONS_INIT \
	{ZTOQ_BULK_OPTIONS_VERSION, ZTOQ_BULK_ABORT, ZTOQ_BULK_CONFLICT_ERROR, NULL, 0, 0, 0, NULL, NULL}

/** What a bulk write did. */
typedef struct {
	uint64_t affected;  /* rows inserted or updated, as the database counted them */
	uint64_t rejected;  /* bad rows (ZTOQ_BULK_ABORT: 1 when it aborted) */
	size_t first_bad;   /* index of the first bad row, SIZE_MAX if none */
} ztoq_bulk_result;

/**
 * Writes `nrows` rows of `table->ncolumns` values each (`rows` holds them row after
 * row; text and blob values are read, not kept) into `table`. Values whose type is
 * neither the column's nor NULL are refused with ZTOQ_EINVALID before anything is
 * written. Returns ZTOQ_OK when every row was written or skipped; with
 * ZTOQ_BULK_ABORT, the bad row's error (ZTOQ_ECONSTRAINT, ...), after rolling back
 * all the call wrote; any other failure (connection lost, ...) rolls back too. `out`
 * may be NULL; `opts` NULL means ZTOQ_BULK_OPTIONS_INIT. On a session with a failed
 * transaction, ZTOQ_ETXFAILED.
 */
ZTOQ_EXTERN(int) ztoq_bulk_insert(ztoq_bulk_result *out, ztoq_session *s,
				  const ztoq_bulk_table *table, const ztoq_value *rows,
				  size_t nrows, const ztoq_bulk_options *opts);

/** When a streamed bulk write commits. */
typedef enum {
	ZTOQ_BULK_COMMIT_AT_END = 0,   /* one transaction for every row (or the session's) */
	ZTOQ_BULK_COMMIT_EACH_CHUNK = 1 /* a transaction per chunk: what is committed stays */
} ztoq_bulk_commit;

/**
 * The rows of a streamed bulk write, pulled a chunk at a time: fills `rows` with up to
 * `max_rows` rows (max_rows * ncolumns values, row after row), sets *nrows to how many
 * it filled, and returns ZTOQ_OK; *nrows 0 ends the stream. Text and blob values must
 * stay readable until the source is called again or the write returns (the caller's
 * buffers: the library copies nothing it does not need). A negative return stops the
 * write, which fails with that code (recorded as is, if the source recorded nothing).
 */
typedef int (*ztoq_bulk_source_fn)(ztoq_value *rows, size_t max_rows, size_t *nrows,
				   void *payload);

/**
 * Writes every row `source` gives into `table`, in chunks of opts->rows_per_savepoint
 * rows (0: 10,000), so memory stays bounded by one chunk whatever the number of rows:
 * the library holds one chunk of values (24 bytes a value, plus what the backend's
 * statement form needs for a chunk), the source holds their text.
 *
 * `commit` ZTOQ_BULK_COMMIT_AT_END: as ztoq_bulk_insert(), one transaction (or a
 * savepoint of the session's): an abort rolls back every row the call wrote.
 * ZTOQ_BULK_COMMIT_EACH_CHUNK: each chunk is its own transaction, committed before the
 * next is pulled; the session must have no transaction open (ZTOQ_ESTATE); an abort
 * rolls back only the chunk that failed, and out->affected counts the committed rows
 * (with ZTOQ_BULK_CONFLICT_IGNORE, running the same load again resumes it).
 *
 * The values of each chunk are type-checked before the chunk is written; a bad type is
 * ZTOQ_EINVALID naming the row (counted from 0 over the whole stream). Bad rows,
 * policies and `out` are as for ztoq_bulk_insert(), rows numbered over the whole
 * stream. Not thread-safe for one session; the source runs on the calling thread.
 */
ZTOQ_EXTERN(int) ztoq_bulk_insert_stream(ztoq_bulk_result *out, ztoq_session *s,
					 const ztoq_bulk_table *table, ztoq_bulk_source_fn source,
					 void *payload, ztoq_bulk_commit commit,
					 const ztoq_bulk_options *opts);

ZTOQ_END_DECL

#endif
