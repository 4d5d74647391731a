/*
 * ztoq/migrate.h - ZTOQ's schema as versioned migrations: init, upgrade, downgrade,
 * status and history.
 *
 * The migrations are embedded in the library (one SQL text per version, direction and
 * dialect). Versions run 1, 2, 3, ...; versions 1-3 are the three Alembic revisions of
 * the Python original (a16c4721be8a, 2af75c826b91, 3da7f9236c51), later ones are
 * ZTOQ-for-C's own. A database records what was applied in the table
 * ztoq_schema_migrations (version, name, checksum of the applied SQL, applied_at in
 * UTC, duration_ms) and, for the Python original, keeps alembic_version holding the
 * revision id of the highest original revision applied.
 *
 * Each migration runs in its own transaction: if a statement fails, the migration is
 * rolled back entirely, the tracking tables are unchanged, and the error names the
 * migration and the statement. Concurrent migrators (threads or processes) are safe:
 * on PostgreSQL an advisory lock is held for the whole run, on SQLite every migration
 * runs in an exclusive transaction that first re-reads what is applied, so each
 * migration is applied exactly once and the others find nothing to do.
 *
 * A migration target is a string: a version number ("3" or "0003"), an Alembic
 * revision id ("3da7f9236c51"), "head" (or NULL), "base" (version 0: no schema), or a
 * relative step: "+N" for upgrade, "-N" for downgrade.
 */
#ifndef ZTOQ_MIGRATE_H
#define ZTOQ_MIGRATE_H

#include "common.h"
#include "db.h"

ZTOQ_BEGIN_DECL

/** What a progress event reports. */
typedef enum {
	ZTOQ_MIGRATE_APPLIED = 1,  /* a migration was applied and committed */
	ZTOQ_MIGRATE_REVERTED = 2, /* a migration was reverted and committed */
	ZTOQ_MIGRATE_DROPPED = 3   /* init --drop-existing dropped the existing tables */
} ztoq_migrate_event_kind;

/** One progress event; valid only during the callback. */
typedef struct {
	ztoq_migrate_event_kind kind;
	int version;         /* the migration (0 for ZTOQ_MIGRATE_DROPPED) */
	const char *name;    /* its name ("initial_schema"); "" for ZTOQ_MIGRATE_DROPPED */
	const char *revision; /* its Alembic revision id, or NULL */
	int64_t duration_ms; /* time spent in the migration's (or the drop's) transaction */
	size_t tables;       /* ZTOQ_MIGRATE_DROPPED: how many tables were dropped */
} ztoq_migrate_event;

/** Receives a progress event per migration; runs in the caller's thread. */
typedef void (*ztoq_migrate_progress_fn)(const ztoq_migrate_event *event, void *payload);

/** Options of init, upgrade and downgrade. Initialise with ZTOQ_MIGRATE_OPTIONS_INIT. */
typedef struct {
	unsigned version;                  /* ZTOQ_MIGRATE_OPTIONS_VERSION */
	int drop_existing;                 /* init only: drop every table first (see init) */
	ztoq_migrate_progress_fn progress; /* may be NULL */
	void *payload;                     /* passed to progress */
} ztoq_migrate_options;

#define ZTOQ_MIGRATE_OPTIONS_VERSION 1
#define ZTOQ_MIGRATE_OPTIONS_INIT {ZTOQ_MIGRATE_OPTIONS_VERSION, 0, NULL, NULL}

/** The state of a database's schema. Returned by ztoq_migrate_status(). */
typedef struct {
	int current;              /* highest applied version; 0 for none */
	int head;                 /* highest version this library ships */
	int tracked;              /* 1 when the tracking table exists */
	char current_name[64];    /* name of the current version, "" for none */
	char alembic_version[33]; /* the alembic_version row, "" when none */
	size_t applied;           /* number of applied migrations */
	size_t npending;          /* shipped migrations not applied */
	int *pending;             /* their versions, ascending */
	size_t ndrift;            /* applied migrations whose SQL no longer matches */
	int *drift;               /* their versions, ascending */
	size_t nunknown;          /* applied versions this library does not ship */
	int *unknown;             /* their versions, ascending (a newer ztoq applied them) */
} ztoq_migration_status;

/** One migration of the chain, with what the database recorded about it. */
typedef struct {
	int version;               /* 1, 2, 3, ... */
	int parent;                /* the version it upgrades from; 0 for the first */
	char name[64];             /* "recommendation_history" */
	char revision[33];         /* Alembic revision id, "" for ztoq's own */
	char parent_revision[33];  /* the parent's Alembic revision id, "" for none */
	char checksum[17];         /* FNV-1a 64 of the shipped up SQL, 16 hex digits */
	int applied;               /* 1 when recorded as applied */
	char applied_checksum[17]; /* the checksum recorded when applied, "" if not */
	int drift;                 /* applied, and applied_checksum != checksum */
	char applied_at[20];       /* "YYYY-MM-DD HH:MM:SS" UTC, "" if not applied */
	int64_t duration_ms;       /* how long applying took; -1 if not applied */
	int shipped;               /* 0 for a version applied by a newer ztoq */
} ztoq_migration;

/** The chain of migrations, oldest first. Returned by ztoq_migrate_history(). */
typedef struct {
	size_t count;
	ztoq_migration *items;
} ztoq_migration_history;

/** The highest version this library ships. Thread-safe. */
ZTOQ_EXTERN(int) ztoq_migrate_head(void);

/**
 * Creates ZTOQ's schema: upgrades to head (a no-op when already there). With
 * opts->drop_existing, first drops every table of the database (the current schema on
 * PostgreSQL), the tracking tables included, and on PostgreSQL the entitytype type,
 * in one transaction. `opts` may be NULL. Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_migrate_init(ztoq_db *db, const ztoq_migrate_options *opts);

/**
 * Applies the pending migrations up to `target` (NULL: head), each in its own
 * transaction. Returns ZTOQ_EDRIFT (nothing applied) when an applied migration no
 * longer matches its checksum, ZTOQ_ESTATE when the database is past the target or
 * was migrated by a newer ztoq, ZTOQ_EINVALID for a bad target; a failing migration
 * is rolled back and its error names the migration and the statement. `opts` may be
 * NULL. Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_migrate_upgrade(ztoq_db *db, const char *target,
				      const ztoq_migrate_options *opts);

/**
 * Reverts applied migrations, newest first, each in its own transaction, down to
 * `target` ("-N" for N steps, "base" for all). Errors as for ztoq_migrate_upgrade().
 * `opts` may be NULL. Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_migrate_downgrade(ztoq_db *db, const char *target,
					const ztoq_migrate_options *opts);

/**
 * Reverts the `steps` newest applied migrations, newest first, each in its own
 * transaction: ztoq_migrate_downgrade() with a typed count instead of the "-N" string.
 * 0 reverts nothing; more steps than applied migrations is ZTOQ_EINVALID, naming the
 * current version, with nothing reverted. Errors otherwise as for
 * ztoq_migrate_upgrade(). `opts` may be NULL. Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_migrate_downgrade_steps(ztoq_db *db, unsigned steps,
					      const ztoq_migrate_options *opts);

/**
 * Reads the schema state of `db` without changing anything. The caller owns *out and
 * frees it with ztoq_migrate_status_free(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_migrate_status(ztoq_migration_status **out, ztoq_db *db);

/** Frees a status. NULL is ignored. */
ZTOQ_EXTERN(void) ztoq_migrate_status_free(ztoq_migration_status *status);

/**
 * The chain of migrations (every shipped one, and any applied version this library
 * does not ship) with what `db` recorded about each. The caller owns *out and frees it
 * with ztoq_migrate_history_free(). Thread-safe.
 */
ZTOQ_EXTERN(int) ztoq_migrate_history(ztoq_migration_history **out, ztoq_db *db);

/** Frees a history. NULL is ignored. */
ZTOQ_EXTERN(void) ztoq_migrate_history_free(ztoq_migration_history *history);

ZTOQ_END_DECL

#endif
