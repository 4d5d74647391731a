#!/bin/sh
# The PostgreSQL cases through the fixture's DSN without db_type (tests/pg_forms.sh):
# a test of its own, so that make -j runs the two forms side by side.
ZTOQ_TEST_PG_FORMS=dsn exec ${SHELL:-/bin/sh} "$(dirname "$0")/pg_forms.sh"
