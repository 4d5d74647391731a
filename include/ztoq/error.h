/*
 * ztoq/error.h - return codes and the thread-local last error.
 *
 * Every function that can fail returns an int: 0 (ZTOQ_OK) on success, one of the
 * negative codes below on failure. The details of the most recent failure on the
 * calling thread are kept by ztoq_error_last().
 */
#ifndef ZTOQ_ERROR_H
#define ZTOQ_ERROR_H

#include "common.h"

ZTOQ_BEGIN_DECL

/** Return codes. Anything negative is a failure. */
typedef enum {
	ZTOQ_OK = 0,
	ZTOQ_ERROR = -1,         /* anything not listed below */
	ZTOQ_EINVALID = -2,      /* bad argument or configuration value */
	ZTOQ_ENOMEM = -3,        /* out of memory */
	ZTOQ_ENOTFOUND = -4,     /* no such database, driver, DSN, file, row or version */
	ZTOQ_EBUSY = -5,         /* SQLite locked/busy: retryable */
	ZTOQ_ETIMEOUT = -6,      /* pool acquire deadline, statement or lock timeout */
	ZTOQ_ECONSTRAINT = -7,   /* unique, foreign key, not null or check violation */
	ZTOQ_ERETRY = -8,        /* serialization failure or deadlock: retryable */
	ZTOQ_EDISCONNECTED = -9, /* the connection broke (08xxx, 57P01...) */
	ZTOQ_EREADONLY = -10,    /* write attempted in a read-only transaction or database */
	ZTOQ_ECONNECT = -11,     /* the server could not be reached or the file opened */
	ZTOQ_EAUTH = -12,        /* authentication failed */
	ZTOQ_ETXFAILED = -13,    /* an earlier statement failed; the transaction must end */
	ZTOQ_ESTATE = -14,       /* call out of order (commit with no transaction, ...) */
	ZTOQ_EDRIFT = -15,       /* an applied migration no longer matches its checksum */
	ZTOQ_ECOMMITUNKNOWN = -16 /* the connection broke during COMMIT: the transaction
				     may or may not have committed (see below) */
} ztoq_error_code;

/*
 * ZTOQ_EDISCONNECTED and ZTOQ_ECOMMITUNKNOWN. A connection that breaks (the server
 * stopped, failed over, or the network went) inside a transaction before its COMMIT
 * was sent ends the transaction with ZTOQ_EDISCONNECTED: the server rolls it back, so
 * nothing of it is committed and it can be run again (ztoq_db_transaction does so).
 * One that breaks while the COMMIT is on its way, or its answer is, ends it with
 * ZTOQ_ECOMMITUNKNOWN: the server may have committed it before the break, or not, and
 * the library cannot know; it never retries nor guesses (a transaction the server said
 * it had ended before the COMMIT came, SQLSTATE 25P03 of
 * idle_in_transaction_session_timeout, is ZTOQ_EDISCONNECTED: certainly rolled back;
 * a backend terminated during a synchronous-replication wait, 57P01, stays unknown:
 * it has committed locally). The caller decides, e.g. by
 * looking for the transaction's own rows on the server it reaches next
 * (docs/reliability.md). A disconnect of a statement run outside a transaction
 * (autocommit) is ZTOQ_EDISCONNECTED and may likewise have taken effect. A read-only
 * transaction (ztoq_tx_options.read_only) wrote nothing: a break during its COMMIT is
 * ZTOQ_EDISCONNECTED, and ztoq_db_transaction runs it again.
 */

/** One ODBC diagnostic record, as the driver reported it (password scrubbed). */
typedef struct {
	char sqlstate[6];  /* five characters and a NUL */
	int32_t native;    /* driver-specific code: the SQLite result code, ... */
	const char *message;
} ztoq_diag;

/** The last error of the calling thread. */
typedef struct {
	int code;               /* a ztoq_error_code */
	char sqlstate[6];       /* SQLSTATE of the first diagnostic record, "" if none */
	int32_t native;         /* native code of the first record, 0 if none */
	const char *message;    /* one line: what failed, and the driver's words */
	size_t diag_count;      /* number of ODBC diagnostic records kept */
	const ztoq_diag *diags; /* the records themselves */
} ztoq_error;

/** Most ODBC diagnostic records kept per error; later ones are dropped. */
#define ZTOQ_ERROR_MAX_DIAGS 8

/**
 * The details of the last failure on the calling thread. Never NULL: with no error it
 * describes ZTOQ_OK with an empty message. The storage is thread-local and preallocated
 * (it works when memory is exhausted); it stays valid until the next ztoq call on this
 * thread that fails or calls ztoq_error_clear(). Thread-safe.
 */
ZTOQ_EXTERN(const ztoq_error *) ztoq_error_last(void);

/** Resets the calling thread's last error to ZTOQ_OK. Thread-safe. */
ZTOQ_EXTERN(void) ztoq_error_clear(void);

/** The constant's name of a code ("ZTOQ_EBUSY"); "ZTOQ_UNKNOWN" for others. Static storage. */
ZTOQ_EXTERN(const char *) ztoq_error_name(int code);

/** True (1) for codes worth retrying the whole transaction for: ZTOQ_ERETRY, ZTOQ_EBUSY. */
ZTOQ_EXTERN(int) ztoq_error_is_retryable(int code);

ZTOQ_END_DECL

#endif
