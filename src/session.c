/*
 * session.c - borrowed connections, and the registry of thread-local sessions.
 *
 * Thread-local sessions: one library-wide pthread key holds, per thread, a list of
 * slots (one per manager the thread used). A slot is also linked into its manager's
 * list, so ztoq_db_close() can reclaim sessions of threads still running, and the
 * key's destructor returns a session when its thread exits. One registry mutex guards
 * both lists and the slots' fields; it is held while a reclaimed session is closed,
 * so a manager is never freed under a thread that is giving its session back.
 */
#include "session.h"

#include <pthread.h>

#include "alloc.h"
#include "error.h"

struct ztoq__thread_slot {
	ztoq_db *db;              /* NULL once the manager reclaimed it */
	ztoq_session *session;    /* NULL once returned */
	struct ztoq__thread_slot *next_in_thread;
	struct ztoq__thread_slot *next_in_db;
};

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static int open_session(ztoq_session **out, ztoq_db *db, uint64_t timeout_ns)
{
	ztoq_session *s;
	int code;

	if (!out || !db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_session_open: bad arguments");
	*out = NULL;
	if (!(s = ztoq__calloc(1, sizeof(*s))))
		return ztoq__error_nomem();
	if ((code = ztoq__pool_acquire(db->pool, &s->conn, timeout_ns)) < 0) {
		ztoq__free(s);
		return code;
	}
	s->db = db;
	*out = s;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_session_open(ztoq_session **out, ztoq_db *db)
{
	return open_session(out, db, UINT64_MAX);
}

ZTOQ_EXTERN(int) ztoq_session_open_timeout(ztoq_session **out, ztoq_db *db, unsigned timeout_ms)
{
	return open_session(out, db, (uint64_t)timeout_ms * 1000000u);
}

/* Ends a session whatever its kind: rollback, reset, back to the pool. */
static int end_session(ztoq_session *s)
{
	int code = ZTOQ_OK, failed = s->failed;

	if (s->depth > 0) {
		ztoq__error_hold(); /* rolling back is cleanup: it records nothing */
		ztoq__tx_abort_all(s);
		ztoq__error_release();
		/* a failed transaction can only be rolled back: its error stays the last one */
		if (!failed)
			code = ztoq__error_set(ZTOQ_ESTATE,
					       "session closed with a transaction open: rolled back");
	}
	ztoq__pool_release(s->db->pool, s->conn);
	ztoq__free(s);
	return code;
}

ZTOQ_EXTERN(int) ztoq_session_close(ztoq_session *s)
{
	if (!s)
		return ZTOQ_OK;
	if (s->thread_owned)
		return ztoq__error_set(ZTOQ_ESTATE, "a thread-local session is closed with "
						    "ztoq_db_close_thread_session()");
	return end_session(s);
}

ZTOQ_EXTERN(ztoq_db *) ztoq_session_db(const ztoq_session *s)
{
	return s->db;
}

int ztoq__session_check(ztoq_session *s)
{
	if (s->failed)
		return ztoq__error_set(ZTOQ_ETXFAILED,
				       "a statement failed earlier in this transaction: roll it "
				       "back before running more");
	return ZTOQ_OK;
}

int ztoq__session_failed(ztoq_session *s, int code)
{
	if (s->depth > 0 && !s->failed)
		s->failed = s->depth;
	return code;
}

/* ---- thread-local sessions ------------------------------------------------------ */

/* Under the registry lock: unlinks `slot` from its manager's list. */
static void unlink_from_db(struct ztoq__thread_slot *slot)
{
	struct ztoq__thread_slot **link = &slot->db->thread_slots;

	while (*link && *link != slot)
		link = &(*link)->next_in_db;
	if (*link)
		*link = slot->next_in_db;
}

/* Key destructor: the thread is exiting; give back every session it still holds. */
static void thread_exit(void *value)
{
	struct ztoq__thread_slot *slot = value;

	while (slot) {
		struct ztoq__thread_slot *next = slot->next_in_thread;

		pthread_mutex_lock(&registry);
		if (slot->session) {
			unlink_from_db(slot);
			slot->session->thread_owned = 0;
			end_session(slot->session);
		}
		pthread_mutex_unlock(&registry);
		ztoq__free(slot);
		slot = next;
	}
}

static void make_key(void)
{
	pthread_key_create(&thread_key, thread_exit);
}

/* The calling thread's live slot for `db`, pruning slots of closed managers. */
static struct ztoq__thread_slot *find_slot(ztoq_db *db)
{
	struct ztoq__thread_slot *head = pthread_getspecific(thread_key), **link = &head, *found = NULL;

	pthread_mutex_lock(&registry);
	while (*link) {
		struct ztoq__thread_slot *slot = *link;

		if (!slot->session) {
			*link = slot->next_in_thread;
			ztoq__free(slot);
			continue;
		}
		if (slot->db == db)
			found = slot;
		link = &slot->next_in_thread;
	}
	pthread_mutex_unlock(&registry);
	pthread_setspecific(thread_key, head);
	return found;
}

ZTOQ_EXTERN(int) ztoq_db_thread_session(ztoq_session **out, ztoq_db *db)
{
	struct ztoq__thread_slot *slot;
	ztoq_session *s;
	int code;

	if (!out || !db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_thread_session: bad arguments");
	pthread_once(&thread_key_once, make_key);
	if ((slot = find_slot(db)) != NULL) {
		*out = slot->session;
		return ZTOQ_OK;
	}
	if (!(slot = ztoq__calloc(1, sizeof(*slot))))
		return ztoq__error_nomem();
	if ((code = ztoq_session_open(&s, db)) < 0) {
		ztoq__free(slot);
		return code;
	}
	s->thread_owned = 1;
	slot->db = db;
	slot->session = s;
	pthread_mutex_lock(&registry);
	slot->next_in_db = db->thread_slots;
	db->thread_slots = slot;
	pthread_mutex_unlock(&registry);
	slot->next_in_thread = pthread_getspecific(thread_key);
	pthread_setspecific(thread_key, slot);
	*out = s;
	return ZTOQ_OK;
}

ZTOQ_EXTERN(int) ztoq_db_close_thread_session(ztoq_db *db)
{
	struct ztoq__thread_slot *slot;
	int code = ZTOQ_OK;

	if (!db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_db_close_thread_session: db is NULL");
	pthread_once(&thread_key_once, make_key);
	if (!(slot = find_slot(db)))
		return ZTOQ_OK; /* nothing held: closing twice is harmless */
	pthread_mutex_lock(&registry);
	unlink_from_db(slot);
	slot->session->thread_owned = 0;
	code = end_session(slot->session);
	slot->session = NULL; /* pruned from the thread's list on its next lookup */
	pthread_mutex_unlock(&registry);
	return code;
}

void ztoq__session_reclaim_threads(ztoq_db *db)
{
	pthread_mutex_lock(&registry);
	while (db->thread_slots) {
		struct ztoq__thread_slot *slot = db->thread_slots;

		db->thread_slots = slot->next_in_db;
		slot->session->thread_owned = 0;
		end_session(slot->session);
		slot->session = NULL;
		slot->db = NULL;
	}
	pthread_mutex_unlock(&registry);
}
