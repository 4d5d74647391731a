/*
 * cli.h - the ztoq command's modules other than ztoq.c.
 */
#ifndef ZTOQ_CLI_H
#define ZTOQ_CLI_H

#include <ztoq/ztoq.h>

/* `ztoq db copy` (src/cli/copy.c): argv[0] is "copy"; returns the exit status. */
int ztoq_cli_copy(int argc, char **argv);

/* 1 when `db` holds the mark of an interrupted copy (`ztoq db status` says so). */
int ztoq_cli_copy_incomplete(ztoq_db *db);

#endif
