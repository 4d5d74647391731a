#!/bin/sh
# Runs the PostgreSQL cases (*/*_postgresql) of every test program again with the
# server named in the two other forms of tests/support.c's test_config(): the
# fixture's DSN without db_type (ZTOQ_TEST_PG_FORM=dsn) and db_type odbc with a whole
# connection string (connstr). One fixture (one PostgreSQL server) per form; the
# programs come from ZTOQ_TEST_UNITS (set by make check). Run by make check.
here=$(cd "$(dirname "$0")" && pwd) || exit 99
status=0
for form in ${ZTOQ_TEST_PG_FORMS:-dsn connstr}; do
    ZTOQ_TEST_PG_FORM=$form ZTOQ_TEST_DEADLINE_S=${ZTOQ_TEST_DEADLINE_S:-1200} \
        ${SHELL:-/bin/sh} "$here/fixture/with-env.sh" sh -c '
        status=0
        for t in $ZTOQ_TEST_UNITS; do
            case $t in */test_faults) continue ;; esac # fault drivers: options only
            start=$(date +%s)
            "./$t" --filter "*/*_postgresql" >"$ZTOQ_TEST_TMPDIR/log" 2>&1 ||
                { cat "$ZTOQ_TEST_TMPDIR/log"; echo "pg_forms: FAILED: $t ($ZTOQ_TEST_PG_FORM)"; status=1; }
            echo "$t ($ZTOQ_TEST_PG_FORM): $(($(date +%s) - start)) s, $(grep -h Synthesis "$ZTOQ_TEST_TMPDIR/log")"
        done
        exit $status' || status=1
done
exit $status
