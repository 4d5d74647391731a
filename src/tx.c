/*
 * tx.c - the public names of a session's transaction levels (ztoq/session.h).
 *
 * The levels are session state and live in session.c; these wrappers only give them
 * their ztoq_tx_* names, so that session.c never calls tx.c and tx.c only calls it.
 */
#include "session.h"

ZTOQ_EXTERN(int) ztoq_tx_begin(ztoq_session *s, const ztoq_tx_options *opts)
{
	return ztoq__session_begin(s, opts);
}

ZTOQ_EXTERN(int) ztoq_tx_commit(ztoq_session *s)
{
	return ztoq__session_commit(s);
}

ZTOQ_EXTERN(int) ztoq_tx_rollback(ztoq_session *s)
{
	return ztoq__session_rollback(s);
}

ZTOQ_EXTERN(int) ztoq_tx_depth(const ztoq_session *s)
{
	return s ? s->depth : 0;
}
