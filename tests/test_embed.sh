#!/bin/sh
# test_embed.sh - src/migrations/embed.sh on small migration folders: one source file
# per version and direction expands into each dialect's text ({{NAME}} substitutions,
# "-- ztoq-dialect:" blocks), and every malformed source is refused with a message
# naming the file and line, leaving the output file untouched.
# (make check runs it inside tests/fixture/with-env.sh, which gives it its deadline.)

set -u
embed=${srcdir:-.}/src/migrations/embed.sh
work=$(mktemp -d) || exit 99
trap 'rm -rf "$work"' EXIT INT TERM
failed=0

# A folder with one migration whose up file uses a substitution and both block kinds.
make_folder() {
    rm -rf "$work/m" && mkdir "$work/m" || exit 99
    printf '%s\n' '# a comment' 'serial|INTEGER|SERIAL' >"$work/m/substitutions.txt"
    printf '%s\n' '-- ztoq-migration: 1 first -' \
        'CREATE TABLE t (' \
        '    id {{serial}} NOT NULL,' \
        '-- ztoq-dialect: sqlite' \
        '    x DATETIME' \
        '-- ztoq-dialect: postgresql' \
        '    x TIMESTAMP' \
        '-- ztoq-dialect: end' \
        ');' >"$work/m/0001_first.up.sql"
    printf '%s\n' '-- ztoq-migration: 1 first -' 'DROP TABLE t;' >"$work/m/0001_first.down.sql"
}

# expect_error WHAT NEEDLE: embed.sh fails on the folder, says NEEDLE, keeps the output.
expect_error() {
    echo untouched >"$work/out.c"
    if sh "$embed" "$work/out.c" "$work/m" 2>"$work/err"; then
        echo "FAIL: $1: embed.sh succeeded"; failed=1
    elif ! grep -F -q -- "$2" "$work/err"; then
        echo "FAIL: $1: \"$2\" not in: $(cat "$work/err")"; failed=1
    elif [ "$(cat "$work/out.c")" != untouched ]; then
        echo "FAIL: $1: the output file changed"; failed=1
    else
        echo "ok: $1"
    fi
}

# Each dialect gets the common lines, its own block and its substitution, no marker.
make_folder
if sh "$embed" "$work/out.c" "$work/m"; then
    printf '%s\n' \
        '        /* sqlite up: 0001_first.up.sql */' \
        '        "-- ztoq-migration: 1 first -\n"' \
        '        "CREATE TABLE t (\n"' \
        '        "    id INTEGER NOT NULL,\n"' \
        '        "    x DATETIME\n"' \
        '        ");\n",' >"$work/want_sqlite"
    printf '%s\n' \
        '        /* postgresql up: 0001_first.up.sql */' \
        '        "-- ztoq-migration: 1 first -\n"' \
        '        "CREATE TABLE t (\n"' \
        '        "    id SERIAL NOT NULL,\n"' \
        '        "    x TIMESTAMP\n"' \
        '        ");\n",' >"$work/want_pg"
    sed -n '/sqlite up:/,/;\\n",$/p' "$work/out.c" >"$work/got_sqlite"
    sed -n '/postgresql up:/,/;\\n",$/p' "$work/out.c" >"$work/got_pg"
    if cmp -s "$work/want_sqlite" "$work/got_sqlite" && cmp -s "$work/want_pg" "$work/got_pg" &&
        ! grep -q ztoq-dialect "$work/out.c"; then
        echo "ok: both dialects expanded"
    else
        echo "FAIL: expansion:"; cat "$work/out.c"; failed=1
    fi
else
    echo "FAIL: embed.sh refused a valid folder"; failed=1
fi

make_folder
sed -i 's/{{serial}}/{{bigserial}}/' "$work/m/0001_first.up.sql"
expect_error "unknown substitution" "0001_first.up.sql:3: {{bigserial}} is not in"

make_folder
sed -i 's/{{serial}}/{{serial/' "$work/m/0001_first.up.sql"
expect_error "unclosed substitution" "0001_first.up.sql:3: \"{{\" without \"}}\""

make_folder
sed -i '/ztoq-dialect: end/d' "$work/m/0001_first.up.sql"
expect_error "block not ended" "the postgresql block is not ended"

make_folder
sed -i '2i -- ztoq-dialect: end' "$work/m/0001_first.up.sql"
expect_error "end without a block" "0001_first.up.sql:2: \"-- ztoq-dialect: end\" without"

make_folder
sed -i 's/ztoq-dialect: postgresql/ztoq-dialect: mysql/' "$work/m/0001_first.up.sql"
expect_error "unknown dialect" "0001_first.up.sql:6: dialect marker must be"

make_folder
sed -i 's/ztoq-dialect: postgresql/ztoq-dialect: sqlite/' "$work/m/0001_first.up.sql"
expect_error "same dialect twice" "0001_first.up.sql:6: already in a sqlite block"

make_folder
printf '%s\n' '-- ztoq-migration: 1 first -' '-- ztoq-dialect: sqlite' 'DROP TABLE t;' \
    '-- ztoq-dialect: end' >"$work/m/0001_first.down.sql"
expect_error "a dialect left with nothing" "0001_first.down.sql: no SQL statement (postgresql)"

make_folder
echo 'serial|BIGINT|BIGSERIAL' >>"$work/m/substitutions.txt"
expect_error "substitution defined twice" "substitutions.txt:3: \"serial\" is defined twice"

make_folder
mkdir "$work/m/sqlite"
expect_error "a leftover dialect folder" "m/sqlite: unexpected file"

make_folder
rm "$work/m/0001_first.down.sql"
expect_error "missing direction" "missing migration file"

exit "$failed"
