/*
 * migrate.h - the migration engine's test hook.
 */
#ifndef ZTOQ__MIGRATE_H
#define ZTOQ__MIGRATE_H

#include <stddef.h>

#include "migrations.h"
#include "ztoq/migrate.h"

/*
 * Makes the engine use `list` (`count` entries, versions 1..count in order, in the
 * format of src/migrations.h) instead of the embedded migrations; NULL restores the
 * embedded ones. For tests (a failing or changed migration). Not thread-safe: call it
 * while no migrate function runs.
 */
void ztoq__migrate_use(const ztoq__migration *list, size_t count);

#endif
