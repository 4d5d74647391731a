/*
 * ztoq.c - the ztoq command: ztoq db init | migrate | downgrade | status | history |
 * check | stats, on libztoq's public API.
 *
 * Connection options come from the library's option table (ztoq_config_options()),
 * so every option has the flag, environment variable and default that the library
 * documents. Exit status: 0 success, 1 failure, 2 bad usage or configuration. Errors
 * are one line on stderr; the only connection string printed is the redacted one.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ztoq/ztoq.h>

#include "cli.h"

#define EXIT_USAGE 2

/* getopt_long values of the commands' own options; the option table's start at OPT_CONFIG. */
enum {
	OPT_HELP = 'h',
	OPT_DROP = 1000,
	OPT_NO_DROP,
	OPT_TO,
	OPT_STEPS,
	OPT_JSON,
	OPT_PROJECT_KEY,
	OPT_CONFIG = 2000
};

struct args {
	const char *command; /* "ztoq db init", for messages */
	int drop_existing;
	const char *to;
	const char *steps;
	int json;
	const char *project_key;
};

struct own_option {
	int id;
	const char *flag;
	const char *value; /* NULL for a flag without value */
	const char *help;
};

static const struct own_option own_options[] = {
	{OPT_DROP, "drop-existing", NULL,
	 "first drop every table of the database (on PostgreSQL: of the current schema, and "
	 "the entitytype type), tracking tables included"},
	{OPT_NO_DROP, "no-drop-existing", NULL, "keep the existing tables (the default)"},
	{OPT_TO, "to", "V",
	 "target version: a number, an Alembic revision id (3da7f9236c51), head or base"},
	{OPT_STEPS, "steps", "N", "revert the N newest migrations (default 1)"},
	{OPT_JSON, "json", NULL, "print the status as one JSON object"},
	{OPT_PROJECT_KEY, "project-key", "KEY", "the project to count rows for (required)"},
};

#define NOWN (sizeof(own_options) / sizeof(own_options[0]))

struct command {
	const char *name;
	const char *synopsis;
	const char *summary;
	int options[3]; /* own option ids, 0-terminated */
	int (*run)(ztoq_db *db, const struct args *a);
	int must_exist; /* 1: never creates the database (a missing SQLite file fails) */
};

static int cmd_init(ztoq_db *db, const struct args *a);
static int cmd_migrate(ztoq_db *db, const struct args *a);
static int cmd_downgrade(ztoq_db *db, const struct args *a);
static int cmd_status(ztoq_db *db, const struct args *a);
static int cmd_history(ztoq_db *db, const struct args *a);
static int cmd_check(ztoq_db *db, const struct args *a);
static int cmd_stats(ztoq_db *db, const struct args *a);

static const struct command commands[] = {
	{"init", "[--drop-existing]", "create ZTOQ's schema (upgrade to head); idempotent",
	 {OPT_DROP, OPT_NO_DROP, 0}, cmd_init, 0},
	{"migrate", "[--to V]", "apply the pending migrations, up to head or version V",
	 {OPT_TO, 0}, cmd_migrate, 0},
	{"downgrade", "[--to V | --steps N]", "revert migrations, newest first (default: one)",
	 {OPT_TO, OPT_STEPS, 0}, cmd_downgrade, 1},
	{"status", "[--json]", "current version, pending migrations, drift", {OPT_JSON, 0},
	 cmd_status, 1},
	{"history", "", "the chain of migrations, and when each was applied", {0}, cmd_history,
	 1},
	{"check", "", "connectivity, server version and pool figures", {0}, cmd_check, 1},
	{"stats", "--project-key KEY", "row counts per entity for one project",
	 {OPT_PROJECT_KEY, 0}, cmd_stats, 1},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ---- output ------------------------------------------------------------------------ */

/* Prints "PREFIX: message" as one line on stderr (line breaks of driver texts become
 * spaces) and returns `status`. */
static int fail(int status, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(int status, const char *prefix, const char *fmt, ...)
{
	char message[4096];
	va_list ap;
	char *p, *q;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	for (p = q = message; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			if (q > message && q[-1] != ' ')
				*q++ = ' ';
		} else {
			*q++ = *p;
		}
	}
	while (q > message && q[-1] == ' ')
		q--;
	*q = '\0';
	fprintf(stderr, "%s: %s\n", prefix, message);
	return status;
}

/*
 * Reports the library's last error: exit 2 when it refused a value the user gave (a bad
 * --to target), 1 otherwise.
 */
static int fail_lib(const struct args *a, int code)
{
	return fail(code == ZTOQ_EINVALID && a->to ? EXIT_USAGE : EXIT_FAILURE, a->command,
		    "%s", ztoq_error_last()->message);
}

static const char *own_flag(int id)
{
	for (size_t i = 0; i < NOWN; i++)
		if (own_options[i].id == id)
			return own_options[i].flag;
	return "";
}

static void print_main_help(void)
{
	printf("usage: ztoq db COMMAND [OPTIONS]\n"
	       "       ztoq --help | --version\n"
	       "\n"
	       "ZTOQ's database: its schema and its connection.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf("  db %-10s %s\n", commands[i].name, commands[i].summary);
	printf("  db %-10s %s\n", "copy", "copy the database into another one (--to-...), verified");
	printf("\n'ztoq db COMMAND --help' lists the command's options, and the connection "
	       "options every command takes.\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage or configuration.\n");
}

static void print_connection_help(void)
{
	size_t n;
	const ztoq_config_option *opt = ztoq_config_options(&n);

	printf("\nConnection options (each also read from its environment variable; an "
	       "option wins):\n");
	for (size_t i = 0; i < n; i++) {
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s VALUE", opt[i].cli_flag);
		printf("  %-28s %s\n", flag, opt[i].help);
		printf("  %-28s [%s%s%s%s%s]\n", "", opt[i].env,
		       opt[i].env_alias ? ", " : "", opt[i].env_alias ? opt[i].env_alias : "",
		       opt[i].default_val ? "; default " : "",
		       opt[i].default_val ? opt[i].default_val : "");
	}
	printf("\nThe password: a --password on the command line is visible to other users of "
	       "this machine\n(in ps and /proc). Prefer --password-file FILE or the environment "
	       "variable ZTOQ_PG_PASSWORD.\n");
}

static void print_command_help(const struct command *c)
{
	printf("usage: ztoq db %s %s [CONNECTION OPTIONS]\n\n%s.\n", c->name, c->synopsis,
	       c->summary);
	printf("\nOptions:\n");
	for (const int *id = c->options; *id; id++) {
		for (size_t i = 0; i < NOWN; i++) {
			char flag[64];

			if (own_options[i].id != *id)
				continue;
			snprintf(flag, sizeof(flag), "--%s%s%s", own_options[i].flag,
				 own_options[i].value ? " " : "",
				 own_options[i].value ? own_options[i].value : "");
			printf("  %-28s %s\n", flag, own_options[i].help);
		}
	}
	printf("  %-28s %s\n", "-h, --help", "show this help");
	print_connection_help();
}

/* ---- the commands ------------------------------------------------------------------- */

static void print_progress(const ztoq_migrate_event *ev, void *payload)
{
	(void)payload;
	if (ev->kind == ZTOQ_MIGRATE_DROPPED)
		printf("dropped %zu tables (%lld ms)\n", ev->tables, (long long)ev->duration_ms);
	else
		printf("%s %04d %s%s%s%s (%lld ms)\n",
		       ev->kind == ZTOQ_MIGRATE_APPLIED ? "applied" : "reverted", ev->version,
		       ev->name, ev->revision ? " [" : "", ev->revision ? ev->revision : "",
		       ev->revision ? "]" : "", (long long)ev->duration_ms);
	fflush(stdout);
}

/* Prints where the schema stands after a change. */
static int print_version(ztoq_db *db, const struct args *a)
{
	ztoq_migration_status *s;
	int code;

	if ((code = ztoq_migrate_status(&s, db)) < 0)
		return fail_lib(a, code);
	if (s->current == 0)
		printf("schema at version 0 (empty)\n");
	else
		printf("schema at version %d %s%s\n", s->current, s->current_name,
		       s->current == s->head ? " (head)" : "");
	ztoq_migrate_status_free(s);
	return EXIT_SUCCESS;
}

static int cmd_init(ztoq_db *db, const struct args *a)
{
	ztoq_migrate_options opts = ZTOQ_MIGRATE_OPTIONS_INIT;
	int code;

	opts.drop_existing = a->drop_existing;
	opts.progress = print_progress;
	if ((code = ztoq_migrate_init(db, &opts)) < 0)
		return fail_lib(a, code);
	return print_version(db, a);
}

static int cmd_migrate(ztoq_db *db, const struct args *a)
{
	ztoq_migrate_options opts = ZTOQ_MIGRATE_OPTIONS_INIT;
	int code;

	opts.progress = print_progress;
	if ((code = ztoq_migrate_upgrade(db, a->to, &opts)) < 0)
		return fail_lib(a, code);
	return print_version(db, a);
}

static int cmd_downgrade(ztoq_db *db, const struct args *a)
{
	ztoq_migrate_options opts = ZTOQ_MIGRATE_OPTIONS_INIT;
	/* --steps is checked to be 1-6 digits when the arguments are read */
	unsigned steps = a->steps ? (unsigned)strtoul(a->steps, NULL, 10) : 1;
	int code;

	opts.progress = print_progress;
	code = a->to ? ztoq_migrate_downgrade(db, a->to, &opts)
		     : ztoq_migrate_downgrade_steps(db, steps, &opts);
	if (code < 0)
		return fail_lib(a, code);
	return print_version(db, a);
}

static void print_json_list(const char *key, const int *v, size_t n)
{
	printf(",\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", v[i]);
	printf("]");
}

/* Versions as "0004 0005", or "none". */
static void print_list(const char *label, const int *v, size_t n)
{
	printf("%-16s", label);
	if (!n)
		printf("none");
	for (size_t i = 0; i < n; i++)
		printf("%s%04d", i ? " " : "", v[i]);
	printf("\n");
}

/* Names, version numbers and Alembic ids are [a-z0-9_]: they need no JSON escaping. */
static int cmd_status(ztoq_db *db, const struct args *a)
{
	ztoq_migration_status *s;
	int code, bad;

	if ((code = ztoq_migrate_status(&s, db)) < 0)
		return fail_lib(a, code);
	if (a->json) {
		printf("{\"current\":%d,\"current_name\":\"%s\",\"head\":%d,\"at_head\":%s,"
		       "\"tracked\":%s,\"alembic_version\":\"%s\",\"applied\":%zu",
		       s->current, s->current_name, s->head,
		       s->current == s->head ? "true" : "false", s->tracked ? "true" : "false",
		       s->alembic_version, s->applied);
		print_json_list("pending", s->pending, s->npending);
		print_json_list("drift", s->drift, s->ndrift);
		print_json_list("unknown", s->unknown, s->nunknown);
		printf(",\"copy_incomplete\":%s}\n", ztoq_cli_copy_incomplete(db) ? "true" : "false");
	} else {
		printf("%-16s%d %s%s\n", "current:", s->current,
		       s->current ? s->current_name : "(empty)",
		       s->current == s->head ? " (head)" : "");
		printf("%-16s%d\n", "head:", s->head);
		printf("%-16s%s\n", "alembic_version:",
		       s->alembic_version[0] ? s->alembic_version : "none");
		printf("%-16s%zu\n", "applied:", s->applied);
		print_list("pending:", s->pending, s->npending);
		print_list("drift:", s->drift, s->ndrift);
		if (s->nunknown)
			print_list("unknown:", s->unknown, s->nunknown);
		if (ztoq_cli_copy_incomplete(db))
			printf("%-16s%s\n", "copy:", "copy incomplete (an interrupted ztoq db copy: "
			       "run it again)");
	}
	bad = s->ndrift || s->nunknown;
	ztoq_migrate_status_free(s);
	if (bad)
		return fail(EXIT_FAILURE, a->command,
			    "the schema has drifted or was migrated by a newer ztoq: upgrades "
			    "stop until it is repaired");
	return EXIT_SUCCESS;
}

static int cmd_history(ztoq_db *db, const struct args *a)
{
	ztoq_migration_history *h;
	int code;

	if ((code = ztoq_migrate_history(&h, db)) < 0)
		return fail_lib(a, code);
	printf("%-8s %-7s %-12s  %-24s %s\n", "VERSION", "PARENT", "REVISION", "NAME",
	       "APPLIED (UTC)");
	for (size_t i = 0; i < h->count; i++) {
		const ztoq_migration *m = &h->items[i];
		char parent[16] = "-";

		if (m->parent)
			snprintf(parent, sizeof(parent), "%04d", m->parent);
		printf("%04d     %-7s %-12s  %-24s ", m->version, parent,
		       m->revision[0] ? m->revision : "-", m->name);
		if (m->applied)
			printf("%s (%lld ms)", m->applied_at, (long long)m->duration_ms);
		else
			printf("pending");
		if (m->drift)
			printf("  DRIFT: applied with checksum %s, the SQL now has %s",
			       m->applied_checksum, m->checksum);
		if (!m->shipped)
			printf("  (unknown to this ztoq)");
		printf("\n");
	}
	ztoq_migrate_history_free(h);
	return EXIT_SUCCESS;
}

/* One line of pool figures, headed `label`. */
static void print_pool(const char *label, const ztoq_pool_stats *ps)
{
	printf("%-12s%zu open (%zu idle, %zu in use), min %zu, max %zu; %llu opened, "
	       "%llu closed, %llu evicted, %llu acquire timeouts\n",
	       label, ps->total, ps->idle, ps->in_use, ps->min, ps->max,
	       (unsigned long long)ps->created, (unsigned long long)ps->closed,
	       (unsigned long long)ps->evicted, (unsigned long long)ps->timeouts);
}

/* One line per host (ztoq_db_hosts): where it is, its role, its lag, the pool it feeds. */
static int print_hosts(ztoq_db *db)
{
	ztoq_host_status *hosts;
	size_t n;
	int code;

	if ((code = ztoq_db_hosts(db, &hosts, &n)) < 0)
		return code;
	for (size_t i = 0; i < n; i++) {
		const ztoq_host_status *h = &hosts[i];
		char lag[32] = "", pool[32] = "the primary pool";

		if (h->port && strchr(h->host, ':')) /* IPv6: [::1]:5433 */
			printf("%-12s[%s]:%d %s", "host:", h->host, h->port,
			       ztoq_host_role_name(h->role));
		else if (h->port)
			printf("%-12s%s:%d %s", "host:", h->host, h->port, ztoq_host_role_name(h->role));
		else
			printf("%-12s%s %s", "host:", h->host, ztoq_host_role_name(h->role));
		if (h->lag_ms >= 0)
			snprintf(lag, sizeof(lag), ", lag %ld ms", h->lag_ms);
		if (h->pool >= 0)
			snprintf(pool, sizeof(pool), "replica pool %d", h->pool);
		printf("%s, feeds %s\n", lag, pool);
	}
	ztoq_free(hosts);
	return ZTOQ_OK;
}

/* The replica pools' figures and where read-only transactions went. */
static int print_replicas(ztoq_db *db)
{
	ztoq_route_stats rs;
	ztoq_pool_stats ps;
	char label[32];
	int code;

	for (size_t i = 0; i < ztoq_db_replica_count(db); i++) {
		if ((code = ztoq_pool_stats_get_replica(db, i, &ps)) < 0)
			return code;
		snprintf(label, sizeof(label), "replica %zu:", i);
		print_pool(label, &ps);
	}
	if (ztoq_db_replica_count(db) && (code = ztoq_route_stats_get(db, &rs)) == ZTOQ_OK)
		printf("%-12s%llu read-only transactions on a replica, %llu fell back to the "
		       "primary\n", "routing:", (unsigned long long)rs.routed,
		       (unsigned long long)rs.fallbacks);
	return ZTOQ_OK;
}

static int cmd_check(ztoq_db *db, const struct args *a)
{
	ztoq_server_info info;
	ztoq_pool_stats ps;
	ztoq_migration_status *s;
	int code;

	if ((code = ztoq_db_check(db)) < 0 || (code = ztoq_db_server_info(db, &info)) < 0 ||
	    (code = ztoq_pool_stats_get(db, &ps)) < 0 || (code = ztoq_migrate_status(&s, db)) < 0)
		return fail_lib(a, code);
	printf("%-12s%s\n", "target:", ztoq_db_target(db));
	/* the driver's, whatever db_type said */
	printf("%-12s%s\n", "backend:", ztoq_db_type_name(ztoq_db_backend(db)));
	printf("%-12s%s %s\n", "server:", info.dbms_name, info.dbms_version);
	printf("%-12s%s %s\n", "driver:", info.driver_name, info.driver_version);
	print_pool("pool:", &ps);
	if ((code = print_hosts(db)) < 0 || (code = print_replicas(db)) < 0) {
		ztoq_migrate_status_free(s);
		return fail_lib(a, code);
	}
	printf("%-12sversion %d of %d%s\n", "schema:", s->current, s->head,
	       s->current == s->head ? " (head)" : ": run 'ztoq db migrate'");
	ztoq_migrate_status_free(s);
	printf("ok\n");
	return EXIT_SUCCESS;
}

/* Prints the library's row counts per entity for one project (ztoq_schema_count). */
static int cmd_stats(ztoq_db *db, const struct args *a)
{
	ztoq_entity_counts *counts;
	int code;

	if ((code = ztoq_schema_count(&counts, db, a->project_key)) < 0)
		return fail_lib(a, code);
	printf("project %s\n", a->project_key);
	for (size_t i = 0; i < counts->count; i++)
		printf("  %-26s %lld\n", counts->items[i].entity, (long long)counts->items[i].rows);
	ztoq_schema_counts_free(counts);
	return EXIT_SUCCESS;
}

/* ---- options and dispatch ----------------------------------------------------------- */

/* getopt_long's table: the command's own options, the connection options, --help. */
static struct option *long_options(const struct command *c)
{
	size_t n, k = 0;
	const ztoq_config_option *opt = ztoq_config_options(&n);
	struct option *lo = calloc(NOWN + n + 2, sizeof(*lo));

	if (!lo)
		return NULL;
	for (const int *id = c->options; *id; id++)
		for (size_t i = 0; i < NOWN; i++)
			if (own_options[i].id == *id)
				lo[k++] = (struct option){own_options[i].flag,
							  own_options[i].value ? required_argument
									       : no_argument,
							  NULL, *id};
	for (size_t i = 0; i < n; i++)
		lo[k++] = (struct option){opt[i].cli_flag, required_argument, NULL,
					  OPT_CONFIG + (int)i};
	lo[k] = (struct option){"help", no_argument, NULL, OPT_HELP};
	return lo;
}

/*
 * Reports the option getopt refused, named as the user wrote it: `arg` is the argument
 * it was in (getopt has moved past it). A known long option given a value it does not
 * take ("--json=1") and an unknown one differ; a short one is named by optopt.
 */
static int bad_option(const struct args *a, const struct command *c, const char *arg)
{
	if (strncmp(arg, "--", 2) != 0)
		return fail(EXIT_USAGE, a->command, "unknown option -%c (see 'ztoq db %s --help')",
			    optopt > ' ' && optopt < 127 ? optopt : '?', c->name);
	if (optopt && strchr(arg, '='))
		return fail(EXIT_USAGE, a->command, "option %.*s takes no value",
			    (int)strcspn(arg, "="), arg);
	return fail(EXIT_USAGE, a->command, "unknown option %.*s (see 'ztoq db %s --help')",
		    (int)strcspn(arg, "="), arg, c->name);
}

/* Parses a command's options into `a` and `cfg`; returns -1 to go on, or an exit status. */
static int parse_options(const struct command *c, int argc, char **argv, struct args *a,
			 ztoq_config *cfg)
{
	const ztoq_config_option *opt = ztoq_config_options(NULL);
	struct option *lo = long_options(c);
	int ch, status = -1;

	if (!lo)
		return fail(EXIT_FAILURE, a->command, "out of memory");
	opterr = 0;
	optind = 1;
	while (status < 0 && (ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_HELP:
			print_command_help(c);
			status = EXIT_SUCCESS;
			break;
		case OPT_DROP:
		case OPT_NO_DROP:
			a->drop_existing = ch == OPT_DROP;
			break;
		case OPT_TO:
			a->to = optarg;
			break;
		case OPT_STEPS:
			a->steps = optarg;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_PROJECT_KEY:
			a->project_key = optarg;
			break;
		case ':':
			status = fail(EXIT_USAGE, a->command, "option %s needs a value",
				      argv[optind - 1]);
			break;
		case '?':
			status = bad_option(a, c, argv[optind - 1]);
			break;
		default:
			if (ztoq_config_set_from(cfg, ZTOQ_SOURCE_CLI, opt[ch - OPT_CONFIG].key,
						 optarg, strlen(optarg)) < 0)
				status = fail(EXIT_USAGE, a->command, "%s",
					      ztoq_error_last()->message);
			break;
		}
	}
	free(lo);
	if (status < 0 && optind < argc)
		status = fail(EXIT_USAGE, a->command, "unexpected argument \"%s\"", argv[optind]);
	return status;
}

/* Checks what getopt cannot: required and exclusive options, numbers. */
static int check_args(const struct args *a, const struct command *c)
{
	if (c->run == cmd_stats && (!a->project_key || !*a->project_key))
		return fail(EXIT_USAGE, a->command, "--%s KEY is required",
			    own_flag(OPT_PROJECT_KEY));
	if (a->to && a->steps)
		return fail(EXIT_USAGE, a->command, "give --to or --steps, not both");
	if (a->steps && (strspn(a->steps, "0123456789") != strlen(a->steps) || !*a->steps ||
			 strlen(a->steps) > 6))
		return fail(EXIT_USAGE, a->command, "--steps: \"%s\" is not a whole number",
			    a->steps);
	if (a->to && !*a->to)
		return fail(EXIT_USAGE, a->command, "--to needs a version");
	return -1;
}

/* Completes the configuration from the environment and the command's defaults. */
static int configure(const struct args *a, const struct command *c, ztoq_config *cfg)
{
	if (ztoq_config_load_env(cfg) < 0)
		return fail(EXIT_USAGE, a->command, "%s", ztoq_error_last()->message);
	/* One connection is all a command needs, unless the user says otherwise. */
	if (ztoq_config_source_of(cfg, "min_connections") == ZTOQ_SOURCE_DEFAULT &&
	    ztoq_config_set(cfg, "min_connections", "1") < 0)
		return fail_lib(a, ZTOQ_ERROR);
	/* Reading a database that is not there must not create an empty one. */
	if (c->must_exist && ztoq_config_set(cfg, "create_if_missing", "0") < 0)
		return fail_lib(a, ZTOQ_ERROR);
	if (ztoq_config_validate(cfg) < 0)
		return fail(EXIT_USAGE, a->command, "%s", ztoq_error_last()->message);
	return -1;
}

static int run_command(const struct command *c, int argc, char **argv)
{
	char name[64];
	struct args a = {0};
	ztoq_config *cfg = NULL;
	ztoq_db *db = NULL;
	int status;

	snprintf(name, sizeof(name), "ztoq db %s", c->name);
	a.command = name;
	if (ztoq_config_new(&cfg) < 0)
		return fail(EXIT_FAILURE, name, "out of memory");
	if ((status = parse_options(c, argc, argv, &a, cfg)) < 0 &&
	    (status = check_args(&a, c)) < 0 && (status = configure(&a, c, cfg)) < 0) {
		int code = ztoq_db_open(&db, cfg);

		/* ZTOQ_EINVALID: a value the driver cannot take, an unreadable password file */
		if (code < 0)
			status = fail(code == ZTOQ_EINVALID ? EXIT_USAGE : EXIT_FAILURE, name, "%s",
				      ztoq_error_last()->message);
		else
			status = c->run(db, &a);
	}
	ztoq_db_close(db);
	ztoq_config_free(cfg);
	return status;
}

int main(int argc, char **argv)
{
	const char *sub = argc > 2 ? argv[2] : NULL;

	if (argc < 2)
		return fail(EXIT_USAGE, "ztoq", "missing command (see 'ztoq --help')");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_main_help();
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ztoq %s (libztoq %s)\n", ZTOQ_VERSION, ztoq_version());
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "db") != 0)
		return fail(EXIT_USAGE, "ztoq", "unknown command \"%s\" (see 'ztoq --help')",
			    argv[1]);
	if (!sub)
		return fail(EXIT_USAGE, "ztoq db", "missing command (see 'ztoq --help')");
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		print_main_help();
		return EXIT_SUCCESS;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(sub, commands[i].name) == 0)
			return run_command(&commands[i], argc - 2, argv + 2);
	if (strcmp(sub, "copy") == 0)
		return ztoq_cli_copy(argc - 2, argv + 2);
	return fail(EXIT_USAGE, "ztoq db",
		    "unknown command \"%s\" (expected init, migrate, downgrade, status, history, "
		    "check, stats or copy)",
		    sub);
}
