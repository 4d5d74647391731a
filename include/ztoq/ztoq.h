/*
 * ztoq/ztoq.h - the whole public API of libztoq.
 */
#ifndef ZTOQ_H
#define ZTOQ_H

#include "batch.h"
#include "bulk.h"
#include "common.h"
#include "config.h"
#include "connstr.h"
#include "copy.h"
#include "db.h"
#include "error.h"
#include "health.h"
#include "migrate.h"
#include "pool.h"
#include "schema.h"
#include "session.h"
#include "stmt.h"

#endif
