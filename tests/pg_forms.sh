#!/bin/sh
# Runs the PostgreSQL cases (*/*_postgresql, the TEST_BOTH ones) of every test program
# again with the server named in the two other forms of tests/support.c's
# test_config(): the fixture's DSN without db_type (ZTOQ_TEST_PG_FORM=dsn) and db_type
# odbc with a whole connection string (connstr). One fixture (one PostgreSQL server)
# per form; the programs come from ZTOQ_TEST_UNITS (set by make check). A form in which
# no case passed fails, so that the script cannot pass by running nothing. Run by make
# check.
here=$(cd "$(dirname "$0")" && pwd) || exit 99
if [ -z "$ZTOQ_TEST_UNITS" ]; then
    echo "pg_forms: ZTOQ_TEST_UNITS is empty: no program to run" >&2
    exit 99
fi
status=0
for form in ${ZTOQ_TEST_PG_FORMS:-dsn connstr}; do
    ZTOQ_TEST_PG_FORM=$form ZTOQ_TEST_DEADLINE_S=${ZTOQ_TEST_DEADLINE_S:-1200} \
        ${SHELL:-/bin/sh} "$here/fixture/with-env.sh" sh -c '
        status=0 passed=0
        for t in $ZTOQ_TEST_UNITS; do
            case $t in */test_faults) continue ;; esac # fault drivers: options only
            start=$(date +%s)
            "./$t" --filter "*/*_postgresql" >"$ZTOQ_TEST_TMPDIR/log" 2>&1 ||
                { cat "$ZTOQ_TEST_TMPDIR/log"; echo "pg_forms: FAILED: $t ($ZTOQ_TEST_PG_FORM)"; status=1; }
            synthesis=$(grep -h Synthesis "$ZTOQ_TEST_TMPDIR/log")
            n=$(echo "$synthesis" | sed -n "s/.*Passing: \([0-9]*\).*/\1/p")
            passed=$((passed + ${n:-0}))
            echo "$t ($ZTOQ_TEST_PG_FORM): $(($(date +%s) - start)) s, ${synthesis:-no synthesis}"
        done
        if [ "$passed" -eq 0 ]; then
            echo "pg_forms: no PostgreSQL case passed in form $ZTOQ_TEST_PG_FORM"
            status=1
        fi
        exit $status' || status=1
done
exit $status
