/*
 * copy_support.h - what the copy tests (test_copy.c, test_copy_fault.c) share: a
 * generated ZTOQ database, a value-by-value comparison of two databases, and the
 * ztoq command run as a child. Not thread-safe: one test thread uses them.
 */
#ifndef ZTOQ_TEST_COPY_SUPPORT_H
#define ZTOQ_TEST_COPY_SUPPORT_H

#include "support.h"

/* Doubles that lose bits in the SQLite driver's 15 digits (generate() stores them). */
extern const double hard_doubles[];
extern const size_t nhard;

/*
 * Fills `db` (schema created here, at head) with a small ZTOQ database: `size`
 * projects, each with a folder tree, custom fields with values (the hard doubles,
 * booleans, dates), test cases with steps, attachments with binary content, entity
 * mappings (serial ids) and migration state.
 */
void generate(ztoq_db *db, int size);

/* A manager on an empty database of `type` (PostgreSQL: schema reset). Caller closes. */
ztoq_db *empty_db(ztoq_db_type type);

/* Every column of every generated table agrees between `a` and `b`, value by value. */
void assert_same(ztoq_db *a, ztoq_db *b);

/* The backend that is not `t`. */
ztoq_db_type other(ztoq_db_type t);

/* Runs `sql` on `db` in a session of its own. */
void exec_on(ztoq_db *db, const char *sql);

/* Closes both managers. */
void close_pair(ztoq_db *src, ztoq_db *dst);

/* A generated source on `from` and an empty target on the other backend. */
void pair(ztoq_db_type from, ztoq_db **src, ztoq_db **dst, int size);

/* Sets ZTOQ_TO_... (or ZTOQ_..., prefix "ZTOQ_") from every explicit value of `cfg`. */
void export_config(const ztoq_config *cfg, const char *prefix);

/* `call` failed with `code` and a message containing `needle`. */
#define expect_error(call, code, needle) \
	do { \
		cr_assert_eq((call), (code), "%s", ztoq_error_last()->message); \
		cr_assert(strstr(ztoq_error_last()->message, (needle)), "%s", \
			  ztoq_error_last()->message); \
	} while (0)

#endif
