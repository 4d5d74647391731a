#!/bin/sh
# The backend contract (src/dialect.h): only the backend files (src/dialect_*.c) and
# the contract's header (src/dialect.h: the default db_type) may name a backend. Fails, listing the lines, when another source file compares or names
# a backend type (ZTOQ_DB_SQLITE, ZTOQ_DB_POSTGRESQL, ZTOQ_DB_ODBC) or a backend's
# db_type string ("sqlite", "postgresql"); the one lookup of a db_type string goes by
# each dialect's own name (ztoq__dialect_by_name). Run by make check.
srcdir=${srcdir:-.}
found=$(cd "$srcdir" && grep -nE 'ZTOQ_DB_(SQLITE|POSTGRESQL|ODBC)\b|"(sqlite|postgresql|odbc)"' \
    $(find src -name '*.[ch]' ! -name 'dialect_*.c' ! -name dialect.h | sort))
if [ -n "$found" ]; then
    echo "check_backend_branches: a backend is named outside src/dialect_*.c:" >&2
    echo "$found" >&2
    exit 1
fi
echo "check_backend_branches: no backend named outside src/dialect_*.c"
