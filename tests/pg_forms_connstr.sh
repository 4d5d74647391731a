#!/bin/sh
# The PostgreSQL cases through db_type odbc and a whole connection string
# (tests/pg_forms.sh): a test of its own, so that make -j runs the two forms side by side.
ZTOQ_TEST_PG_FORMS=connstr exec ${SHELL:-/bin/sh} "$(dirname "$0")/pg_forms.sh"
