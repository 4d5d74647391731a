/*
 * copy.c - `ztoq db copy`: the source from the usual connection options, the target
 * from the same options prefixed "--to-" and the same variables prefixed "ZTOQ_TO_"
 * (ztoq_config_load_env_prefixed); the copy itself is ztoq_copy() (ztoq/copy.h).
 *
 * Output: a line per table as it goes (rows done/total, rows/s; at most one a second
 * while a table runs; on a terminal one live line per table with an ETA) and a
 * summary, or with --json one JSON object per event.
 * Exit status: 0 success, 1 failure (refused target, verification mismatch), 2 bad
 * usage (an unknown table, a bad value, the source named as its own target).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ztoq/ztoq.h>

#include "cli.h"

#define EXIT_USAGE 2
#define NAME "ztoq db copy"
#define MAX_TABLES 64

enum { OPT_TABLES = 1000, OPT_DRY_RUN, OPT_REPLACE, OPT_JSON, OPT_NO_VERIFY, OPT_HELP = 'h',
       OPT_SOURCE = 2000, OPT_TARGET = 3000 };

struct copy_args {
	ztoq_copy_options opts;
	const char *tables[MAX_TABLES];
	char *table_list;
	int json;
	int tty;         /* stdout is a terminal: one live line per table */
	int64_t last_ms; /* of the last progress line printed */
};

static const struct {
	int id;
	const char *flag, *value, *help;
} own[] = {
	{OPT_TABLES, "tables", "A,B", "copy only these tables (the tracking tables always)"},
	{OPT_DRY_RUN, "dry-run", NULL, "print the plan (tables, rows, target state); change nothing"},
	{OPT_REPLACE, "replace", NULL, "drop what the target holds first"},
	{OPT_NO_VERIFY, "no-verify", NULL, "skip the per-table row count and checksum"},
	{OPT_JSON, "json", NULL, "print one JSON object per event"},
};
#define NOWN (sizeof(own) / sizeof(own[0]))

/* Prints "ztoq db copy: message" on stderr; returns the usage exit status. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return EXIT_USAGE;
}

static void print_help(void)
{
	printf("usage: ztoq db copy [--tables A,B] [--dry-run] [--replace] [--no-verify] "
	       "[--json]\n"
	       "                    [SOURCE OPTIONS] --to-OPTION VALUE ...\n\n"
	       "Copies a ZTOQ database (SQLite or PostgreSQL) into an empty one, verified.\n\n"
	       "Options:\n");
	for (size_t i = 0; i < NOWN; i++) {
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s%s%s", own[i].flag, own[i].value ? " " : "",
			 own[i].value ? own[i].value : "");
		printf("  %-28s %s\n", flag, own[i].help);
	}
	printf("  %-28s %s\n\nThe source: the connection options of every command "
	       "('ztoq db status --help').\nThe target: the same options prefixed with to- "
	       "(--to-db-type, --to-db-path, --to-host,\n--to-port, --to-database, "
	       "--to-username, --to-password-file, --to-dsn, ...) and\nthe same variables "
	       "with ZTOQ_TO_ in place of ZTOQ_ (ZTOQ_TO_DB_TYPE, ZTOQ_TO_PG_HOST, ...).\n",
	       "-h, --help", "show this help");
}

/* getopt's table: the own options, each connection option plain and with "to-". */
static struct option *long_options(char ***to_flags)
{
	size_t n, k = 0;
	const ztoq_config_option *opt = ztoq_config_options(&n);
	struct option *lo = calloc(NOWN + 2 * n + 2, sizeof(*lo));
	char **flags = calloc(n + 1, sizeof(*flags));

	*to_flags = flags;
	if (!lo || !flags) {
		free(lo);
		return NULL;
	}
	for (size_t i = 0; i < NOWN; i++)
		lo[k++] = (struct option){own[i].flag, own[i].value ? required_argument : no_argument,
					  NULL, own[i].id};
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(opt[i].cli_flag) + 4;

		if (!(flags[i] = malloc(len))) {
			free(lo);
			return NULL;
		}
		snprintf(flags[i], len, "to-%s", opt[i].cli_flag);
		lo[k++] = (struct option){opt[i].cli_flag, required_argument, NULL, OPT_SOURCE + (int)i};
		lo[k++] = (struct option){flags[i], required_argument, NULL, OPT_TARGET + (int)i};
	}
	lo[k] = (struct option){"help", no_argument, NULL, OPT_HELP};
	return lo;
}

static void free_flags(char **flags)
{
	for (size_t i = 0; flags && flags[i]; i++)
		free(flags[i]);
	free(flags);
}

/* Splits "a,b" into a->tables. */
static int split_tables(struct copy_args *a, const char *list)
{
	free(a->table_list);
	if (!(a->table_list = strdup(list)))
		return usage_error("%s", "out of memory");
	a->opts.ntables = 0;
	for (char *save = NULL, *t = strtok_r(a->table_list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (a->opts.ntables == MAX_TABLES)
			return usage_error("--tables: more than %d tables", MAX_TABLES);
		a->tables[a->opts.ntables++] = t;
	}
	if (!a->opts.ntables)
		return usage_error("--tables: no table named");
	a->opts.tables = a->tables;
	return -1;
}

/* Parses argv into `a`, `src` and `dst`; -1 to go on, or an exit status. */
static int parse(int argc, char **argv, struct copy_args *a, ztoq_config *src, ztoq_config *dst)
{
	const ztoq_config_option *opt = ztoq_config_options(NULL);
	char **to_flags = NULL;
	struct option *lo = long_options(&to_flags);
	int ch, status = -1;

	if (!lo) {
		free_flags(to_flags);
		return usage_error("%s", "out of memory");
	}
	opterr = 0;
	optind = 1;
	while (status < 0 && (ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		ztoq_config *cfg = ch >= OPT_TARGET ? dst : src;
		int i = ch - (ch >= OPT_TARGET ? OPT_TARGET : OPT_SOURCE);

		switch (ch) {
		case OPT_HELP:
			print_help();
			status = EXIT_SUCCESS;
			break;
		case OPT_TABLES:
			status = split_tables(a, optarg);
			break;
		case OPT_DRY_RUN:
			a->opts.dry_run = 1;
			break;
		case OPT_REPLACE:
			a->opts.replace = 1;
			break;
		case OPT_NO_VERIFY:
			a->opts.no_verify = 1;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case ':':
			status = usage_error("option %s needs a value", argv[optind - 1]);
			break;
		case '?':
			status = usage_error("unknown option %s (see 'ztoq db copy --help')",
					     argv[optind - 1]);
			break;
		default:
			/* the library names the plain flag: say which database it was for */
			if (ztoq_config_set_from(cfg, ZTOQ_SOURCE_CLI, opt[i].key, optarg,
						 strlen(optarg)) < 0)
				status = usage_error("%s%s", ch >= OPT_TARGET ? "the target's " : "",
						     ztoq_error_last()->message);
			break;
		}
	}
	free(lo);
	free_flags(to_flags);
	if (status < 0 && optind < argc)
		status = usage_error("unexpected argument \"%s\"", argv[optind]);
	return status;
}

/* The environment, one connection each, and what must not be created. */
static int configure(ztoq_config *cfg, const char *prefix, int must_exist)
{
	int code = prefix ? ztoq_config_load_env_prefixed(cfg, prefix) : ztoq_config_load_env(cfg);

	if (code == ZTOQ_OK && ztoq_config_source_of(cfg, "min_connections") == ZTOQ_SOURCE_DEFAULT)
		code = ztoq_config_set(cfg, "min_connections", "1");
	if (code == ZTOQ_OK && must_exist)
		code = ztoq_config_set(cfg, "create_if_missing", "0");
	if (code == ZTOQ_OK)
		code = ztoq_config_validate(cfg);
	return code < 0 ? usage_error("%s", ztoq_error_last()->message) : -1;
}

static double rate(const ztoq_copy_event *ev)
{
	return ev->elapsed_ms > 0 ? (double)ev->rows_done * 1000.0 / (double)ev->elapsed_ms : 0;
}

/* Table names are ZTOQ's ([a-z_]): they need no JSON escaping. */
static void on_event(const ztoq_copy_event *ev, void *payload)
{
	struct copy_args *a = payload;
	static const char *const names[] = {"", "plan", "progress", "table", "mismatch"};

	if (ev->kind == ZTOQ_COPY_PROGRESS && ev->elapsed_ms - a->last_ms < (a->tty ? 100 : 1000))
		return;
	a->last_ms = ev->kind == ZTOQ_COPY_PROGRESS ? ev->elapsed_ms : 0;
	if (a->tty && !a->json && ev->kind == ZTOQ_COPY_PROGRESS) {
		double r = rate(ev);

		printf("\r%-33s %llu/%llu rows, %.0f rows/s, ETA %.0f s\033[K", ev->table,
		       (unsigned long long)ev->rows_done, (unsigned long long)ev->rows_total, r,
		       r > 0 ? (double)(ev->rows_total - ev->rows_done) / r : 0);
	} else if (a->json)
		printf("{\"event\":\"%s\",\"table\":\"%s\",\"rows_done\":%llu,\"rows_total\":%llu,"
		       "\"bytes\":%llu,\"elapsed_ms\":%lld,\"rows_per_s\":%.0f,\"verified\":%s}\n",
		       names[ev->kind], ev->table, (unsigned long long)ev->rows_done,
		       (unsigned long long)ev->rows_total, (unsigned long long)ev->bytes,
		       (long long)ev->elapsed_ms, rate(ev), ev->verified ? "true" : "false");
	else if (ev->kind == ZTOQ_COPY_PLAN)
		printf("plan %-28s %llu rows\n", ev->table, (unsigned long long)ev->rows_total);
	else if (ev->kind == ZTOQ_COPY_MISMATCH)
		printf("%-33s verification FAILED\n", ev->table);
	else
		printf("%s%-33s %llu/%llu rows, %.0f rows/s%s\n", a->tty ? "\r\033[K" : "", ev->table,
		       (unsigned long long)ev->rows_done, (unsigned long long)ev->rows_total,
		       rate(ev), ev->kind == ZTOQ_COPY_TABLE_DONE
					 ? (ev->verified ? ", verified" : ", not verified") : "");
	fflush(stdout);
}

/* The last line of a run: JSON for --json (also after a failure), else for a success.
 * The target's state is the library's words (numbers, table names, no quote): it
 * needs no JSON escaping either. */
static void print_summary(const struct copy_args *a, const ztoq_copy_result *r, int code)
{
	if (a->json)
		printf("{\"event\":\"summary\",\"ok\":%s,\"dry_run\":%s,\"schema_version\":%d,"
		       "\"tables\":%zu,\"rows\":%llu,\"bytes\":%llu,\"elapsed_ms\":%lld,"
		       "\"verified\":%s,\"target_state\":\"%s\"}\n",
		       code == ZTOQ_OK ? "true" : "false", a->opts.dry_run ? "true" : "false",
		       r->schema_version, r->tables, (unsigned long long)r->rows,
		       (unsigned long long)r->bytes, (long long)r->elapsed_ms,
		       r->verified ? "true" : "false", r->target_state);
	else if (a->opts.dry_run)
		printf("dry run: %zu tables, %llu rows at schema version %d; target: %s\n",
		       r->tables, (unsigned long long)r->rows, r->schema_version, r->target_state);
	else
		printf("copied %zu tables, %llu rows, %llu bytes in %.1f s; verification: %s\n",
		       r->tables, (unsigned long long)r->rows, (unsigned long long)r->bytes,
		       (double)r->elapsed_ms / 1000.0, r->verified ? "passed" : "skipped");
}

/* Opens the target; a dry run on a database that is not there (a SQLite file, a
 * PostgreSQL database) plans without one. */
static int open_target(ztoq_db **out, ztoq_config *cfg, int dry_run)
{
	int code = ztoq_db_open(out, cfg);

	if (code == ZTOQ_ENOTFOUND && dry_run) {
		*out = NULL;
		return ZTOQ_OK;
	}
	return code;
}

int ztoq_cli_copy(int argc, char **argv)
{
	struct copy_args a = {.opts = ZTOQ_COPY_OPTIONS_INIT};
	ztoq_config *src_cfg = NULL, *dst_cfg = NULL;
	ztoq_db *src = NULL, *dst = NULL;
	ztoq_copy_result r = {0};
	int status, code;

	a.opts.progress = on_event;
	a.opts.payload = &a;
	a.tty = isatty(STDOUT_FILENO);
	if (ztoq_config_new(&src_cfg) < 0 || ztoq_config_new(&dst_cfg) < 0)
		status = usage_error("%s", "out of memory");
	else if ((status = parse(argc, argv, &a, src_cfg, dst_cfg)) < 0 &&
		 (status = configure(src_cfg, NULL, 1)) < 0 &&
		 (status = configure(dst_cfg, "ZTOQ_TO_", a.opts.dry_run)) < 0) {
		const char *side = "source: ";

		if ((code = ztoq_db_open(&src, src_cfg)) == ZTOQ_OK) {
			side = "target: ";
			code = open_target(&dst, dst_cfg, a.opts.dry_run);
		}
		if (code == ZTOQ_OK) {
			side = "";
			code = ztoq_copy(&r, src, dst, &a.opts);
		}
		/* ZTOQ_EINVALID: what the user named (a table, the source as its own target) */
		status = code == ZTOQ_OK ? EXIT_SUCCESS : code == ZTOQ_EINVALID ? EXIT_USAGE
										  : EXIT_FAILURE;
		if (code < 0)
			fprintf(stderr, "%s: %s%s\n", NAME, side, ztoq_error_last()->message);
		/* --json: a summary ("ok":false) ends every run, a failed one too */
		if (code == ZTOQ_OK || a.json)
			print_summary(&a, &r, code);
	}
	ztoq_db_close(dst);
	ztoq_db_close(src);
	ztoq_config_free(dst_cfg);
	ztoq_config_free(src_cfg);
	free(a.table_list);
	return status;
}

int ztoq_cli_copy_incomplete(ztoq_db *db)
{
	int incomplete = 0;

	return ztoq_copy_incomplete(db, &incomplete) == ZTOQ_OK && incomplete;
}
