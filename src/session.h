/*
 * session.h - a session's internals, shared by the tx and stmt modules.
 */
#ifndef ZTOQ_SESSION_INTERNAL_H
#define ZTOQ_SESSION_INTERNAL_H

#include "conn.h"
#include "db.h"
#include "ztoq/session.h"

struct ztoq_session {
	ztoq_db *db;
	ztoq__conn *conn;
	int depth;                /* open transaction levels */
	int failed;               /* the level a statement failed in (0: none) */
	ztoq_isolation isolation; /* in force for the open transaction */
	int read_only;            /* the open transaction is read-only */
	int thread_owned;         /* a thread-local session (session.c registry) */
};

/* Refuses statements in a failed transaction: ZTOQ_OK or ZTOQ_ETXFAILED. */
int ztoq__session_check(ztoq_session *s);

/* Records a failed statement: fails the innermost open level. Returns `code`. */
int ztoq__session_failed(ztoq_session *s, int code);

/*
 * Rolls back the innermost level after a failure whose error is the last error; the
 * rollback's own failure records nothing (the first error wins). Returns `code`.
 */
int ztoq__tx_rollback_after(ztoq_session *s, int code);

/* Rolls back every open level (used on close and on thread exit). */
int ztoq__tx_abort_all(ztoq_session *s);

#endif
