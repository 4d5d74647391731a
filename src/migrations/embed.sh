#!/bin/sh
# embed.sh OUTPUT.c SRCDIR
#
# Embeds the versioned schema migrations into a C source file.
#
# Reads SRCDIR/src/migrations/{sqlite,postgresql}/NNNN_slug.{up,down}.sql (SRCDIR is the
# top source directory; a SRCDIR that is itself the migrations directory also works) and
# writes OUTPUT.c defining ztoq__migrations[] and ztoq__migration_count, declared in
# src/migrations.h. The SQL text is embedded verbatim, one C string literal per line.
#
# Every version must exist in both dialects with an up and a down file, versions must
# run 1, 2, 3, ... without gaps, and each file must follow the rules the migration
# engine relies on:
#   - first line: "-- ztoq-migration: VERSION NAME ALEMBIC_REVISION" (or "-" for none),
#     with VERSION and NAME matching the file name, the same in all four files;
#   - every statement ends with ";" as the last character of a line, and ";" appears
#     nowhere else (not in comments, not in strings);
#   - comments are whole lines starting with "--";
#   - no transaction control (BEGIN, COMMIT, ROLLBACK, ...): the engine runs each file
#     in one transaction;
#   - LF line endings.
# On any violation the script prints a message naming the file and exits non-zero, and
# OUTPUT.c is left untouched.
#
# POSIX sh, sed and awk only.

set -eu

prog=embed.sh
die() {
    printf '%s: %s\n' "$prog" "$*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: $prog OUTPUT.c SRCDIR"
out=$1
srcdir=$2

if [ -d "$srcdir/src/migrations/sqlite" ] || [ -d "$srcdir/src/migrations/postgresql" ]; then
    mdir=$srcdir/src/migrations
elif [ -d "$srcdir/sqlite" ] || [ -d "$srcdir/postgresql" ]; then
    mdir=$srcdir
else
    die "no migrations under $srcdir (expected $srcdir/src/migrations/sqlite and .../postgresql)"
fi

dialects="sqlite postgresql"

# Every NNNN_slug that appears in any dialect, one per line, sorted by version.
stems=
for d in $dialects; do
    for f in "$mdir/$d"/*.sql; do
        [ -e "$f" ] || continue
        base=${f##*/}
        case $base in
            *.up.sql) stem=${base%.up.sql} ;;
            *.down.sql) stem=${base%.down.sql} ;;
            *) stem= ;;
        esac
        ok=$(printf '%s\n' "$stem" | sed -n '/^[0-9][0-9][0-9][0-9]_[a-z0-9_][a-z0-9_]*$/p')
        [ -n "$ok" ] || die "$f: file name must be NNNN_slug.up.sql or NNNN_slug.down.sql (slug: a-z, 0-9, _)"
        stems="$stems$stem
"
    done
    for f in "$mdir/$d"/*; do
        [ -e "$f" ] || continue
        case $f in
            *.sql) ;;
            *) die "$f: unexpected file in a dialect directory (only .sql files belong there)" ;;
        esac
    done
done
stems=$(printf '%s' "$stems" | sort -u)
[ -n "$stems" ] || die "no migration files found under $mdir"

# Versions must be unique and contiguous from 1.
printf '%s\n' "$stems" | awk -F_ -v mdir="$mdir" '
    {
        v = $1 + 0
        if (v in seen) {
            printf "embed.sh: version %d has two names under %s: %s and %s\n", v, mdir, seen[v], $0 > "/dev/stderr"
            bad = 1
        }
        seen[v] = $0
        if (v != NR && !bad) {
            printf "embed.sh: migration versions must run 1, 2, 3, ... without gaps: expected version %d, found %s\n", NR, $0 > "/dev/stderr"
            bad = 1
        }
    }
    END { exit bad }
' || exit 1

# Every version needs all four files.
files=
for stem in $stems; do
    for d in $dialects; do
        for dir in up down; do
            f=$mdir/$d/$stem.$dir.sql
            [ -f "$f" ] || die "missing migration file: $f"
            files="$files$f
"
        done
    done
done

tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT INT TERM

# The file list is passed on stdin, one path per line, in the order
# version 1: sqlite up, sqlite down, postgresql up, postgresql down; version 2: ...
printf '%s' "$files" | LC_ALL=C awk -v count="$(printf '%s\n' "$stems" | wc -l | sed 's/[^0-9]//g')" '
function fail(file, lineno, msg) {
    if (lineno > 0)
        printf "embed.sh: %s:%d: %s\n", file, lineno, msg > "/dev/stderr"
    else
        printf "embed.sh: %s: %s\n", file, msg > "/dev/stderr"
    failed = 1
    exit 1
}
function cquote(s,    i, c, r) {
    r = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") r = r "\\\\"
        else if (c == "\"") r = r "\\\""
        else if (c == "?") r = r "\\?"
        else if (c == "\t") r = r "\\t"
        else r = r c
    }
    return r
}
# Reads one migration file, checks the format rules and returns its text as C literals.
function embed(file, version, name,    line, n, t, body, open, stmts, hdr, want) {
    n = 0
    body = ""
    open = 0
    stmts = 0
    while ((getline line < file) > 0) {
        n++
        if (index(line, "\r"))
            fail(file, n, "carriage return: use LF line endings")
        t = line
        sub(/^[ \t]+/, "", t)
        if (n == 1) {
            hdr = line
            if (hdr !~ /^-- ztoq-migration: [0-9]+ [a-z0-9_]+ ([0-9a-f]+|-)$/)
                fail(file, 1, "first line must be \"-- ztoq-migration: VERSION NAME ALEMBIC_REVISION\" (\"-\" for none)")
            split(hdr, h, " ")
            if (h[3] + 0 != version || h[4] != name)
                fail(file, 1, "header says version " h[3] " " h[4] ", file name says " version " " name)
            if (version in alembic && alembic[version] != h[5])
                fail(file, 1, "alembic revision " h[5] " differs from " alembic[version] " in the other files of version " version)
            alembic[version] = h[5]
        }
        if (substr(t, 1, 2) == "--") {
            if (index(t, ";"))
                fail(file, n, "\";\" in a comment")
        } else if (t != "") {
            if (index(t, "--"))
                fail(file, n, "comments must be whole lines starting with \"--\"")
            if (index(line, ";") && index(line, ";") != length(line))
                fail(file, n, "\";\" allowed only as the last character of a line, ending a statement")
            if (!open && toupper(t) ~ /^(BEGIN|COMMIT|ROLLBACK|END|START[ \t]+TRANSACTION|SAVEPOINT|RELEASE)([ \t;]|$)/)
                fail(file, n, "no transaction control in migration files: the engine runs each file in one transaction")
            if (substr(line, length(line), 1) == ";") {
                open = 0
                stmts++
            } else {
                open = 1
            }
        }
        body = body "        \"" cquote(line) "\\n\"\n"
    }
    close(file)
    if (n == 0)
        fail(file, 0, "empty file")
    if (open)
        fail(file, n, "last statement does not end with \";\"")
    if (stmts == 0)
        fail(file, 0, "no SQL statement")
    return body
}
BEGIN {
    nf = 0
    while ((getline f) > 0)
        file[++nf] = f
    print "/* Generated by src/migrations/embed.sh from the SQL files under src/migrations."
    print "   Do not edit: edit the SQL files and rebuild. */"
    print ""
    print "#include \"migrations.h\""
    print ""
    print "const ztoq__migration ztoq__migrations[] = {"
    for (i = 1; i <= nf; i += 4) {
        base = file[i]
        sub(/.*\//, "", base)
        version = substr(base, 1, 4) + 0
        name = substr(base, 6)
        sub(/\.up\.sql$/, "", name)
        text[0] = embed(file[i], version, name)
        text[1] = embed(file[i + 1], version, name)
        text[2] = embed(file[i + 2], version, name)
        text[3] = embed(file[i + 3], version, name)
        rev = alembic[version] == "-" ? "NULL" : "\"" alembic[version] "\""
        print "    {"
        printf "        %d, \"%s\", %s,\n", version, name, rev
        split("sqlite up|sqlite down|postgresql up|postgresql down", label, "|")
        for (k = 0; k < 4; k++) {
            rel = file[i + k]
            sub(/.*\/(sqlite|postgresql)\//, "", rel)
            printf "        /* %s: %s */\n", label[k + 1], rel
            sub(/\n$/, "", text[k])
            printf "%s%s\n", text[k], (k < 3 ? "," : "")
        }
        print "    },"
    }
    print "};"
    print ""
    printf "const size_t ztoq__migration_count = %d;\n", count
}
' > "$tmp" || exit 1

mv "$tmp" "$out"
trap - EXIT INT TERM
