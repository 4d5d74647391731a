#!/bin/sh
# embed.sh OUTPUT.c SRCDIR
#
# Embeds the versioned schema migrations into a C source file.
#
# Reads SRCDIR/src/migrations/NNNN_slug.{up,down}.sql and SRCDIR/src/migrations/
# substitutions.txt (SRCDIR is the top source directory; a SRCDIR that is itself the
# migrations directory also works) and writes OUTPUT.c defining ztoq__migrations[] and
# ztoq__migration_count, declared in src/migrations.h.
#
# One file per version and direction holds both dialects (sqlite, postgresql): what
# they share is written once, and
#   - "{{NAME}}" stands for the text substitutions.txt gives NAME in each dialect
#     (a type, a default);
#   - a whole-line "-- ztoq-dialect: sqlite" or "-- ztoq-dialect: postgresql" starts
#     lines that only that dialect gets, up to the next marker; "-- ztoq-dialect: end"
#     returns to lines both get. Markers do not nest, every block ends before the end
#     of the file, and the marker lines themselves are not embedded.
# Each dialect's text is embedded verbatim, one C string literal per line, and must
# follow the rules the migration engine relies on:
#   - first line: "-- ztoq-migration: VERSION NAME ALEMBIC_REVISION" (or "-" for none),
#     with VERSION and NAME matching the file name, the same in the up and down file;
#   - every statement ends with ";" as the last character of a line, and ";" appears
#     nowhere else (not in comments, not in strings);
#   - comments are whole lines starting with "--";
#   - no transaction control (BEGIN, COMMIT, ROLLBACK, ...): the engine runs each file
#     in one transaction;
#   - LF line endings.
# Versions run 1, 2, 3, ... without gaps, each with an up and a down file.
# On any violation the script prints a message naming the file (and line and dialect)
# and exits non-zero, and OUTPUT.c is left untouched.
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

if [ -f "$srcdir/src/migrations/substitutions.txt" ]; then
    mdir=$srcdir/src/migrations
elif [ -f "$srcdir/substitutions.txt" ]; then
    mdir=$srcdir
else
    die "no migrations under $srcdir (expected $srcdir/src/migrations/substitutions.txt)"
fi
subst=$mdir/substitutions.txt

# Every NNNN_slug, one per line, sorted by version.
stems=
for f in "$mdir"/*; do
    base=${f##*/}
    case $base in
        embed.sh|substitutions.txt) continue ;;
        *.up.sql) stem=${base%.up.sql} ;;
        *.down.sql) stem=${base%.down.sql} ;;
        *) die "$f: unexpected file (a migration is NNNN_slug.up.sql and NNNN_slug.down.sql, both dialects in one file)" ;;
    esac
    ok=$(printf '%s\n' "$stem" | sed -n '/^[0-9][0-9][0-9][0-9]_[a-z0-9_][a-z0-9_]*$/p')
    [ -n "$ok" ] || die "$f: file name must be NNNN_slug.up.sql or NNNN_slug.down.sql (slug: a-z, 0-9, _)"
    stems="$stems$stem
"
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

# Every version needs both directions.
files=
for stem in $stems; do
    for dir in up down; do
        f=$mdir/$stem.$dir.sql
        [ -f "$f" ] || die "missing migration file: $f"
        files="$files$f
"
    done
done

tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT INT TERM

# The file list is passed on stdin, one path per line, in the order
# version 1: up, down; version 2: up, down; ...
printf '%s' "$files" | LC_ALL=C awk -v subst="$subst" -v count="$(printf '%s\n' "$stems" | wc -l | sed 's/[^0-9]//g')" '
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
# Reads substitutions.txt into text[NAME, DIALECT].
function load_substitutions(    line, n, f, k) {
    n = 0
    while ((getline line < subst) > 0) {
        n++
        if (line == "" || substr(line, 1, 1) == "#")
            continue
        if (split(line, f, "|") != 3 || f[1] !~ /^[a-z0-9_]+$/)
            fail(subst, n, "expected NAME|SQLITE|POSTGRESQL (NAME: a-z, 0-9, _)")
        if ((f[1], "sqlite") in text)
            fail(subst, n, "\"" f[1] "\" is defined twice")
        text[f[1], "sqlite"] = f[2]
        text[f[1], "postgresql"] = f[3]
    }
    close(subst)
}
# Line `line` (line `n` of `file`) with each {{NAME}} replaced by its text in `dialect`.
function expand(file, n, line, dialect,    r, i, j, name) {
    r = ""
    while ((i = index(line, "{{")) > 0) {
        j = index(substr(line, i + 2), "}}")
        if (j == 0)
            fail(file, n, "\"{{\" without \"}}\"")
        name = substr(line, i + 2, j - 1)
        if (!((name, dialect) in text))
            fail(file, n, "{{" name "}} is not in " subst)
        r = r substr(line, 1, i - 1) text[name, dialect]
        line = substr(line, i + j + 3)
    }
    return r line
}
# Reads one migration file, keeps the lines of `dialect`, checks the format rules on
# them and returns its text in that dialect as C literals.
function embed(file, version, name, dialect,    line, n, t, body, open, stmts, hdr, only, mark, where) {
    n = 0
    body = ""
    open = 0
    stmts = 0
    only = ""
    where = " (" dialect ")"
    while ((getline line < file) > 0) {
        n++
        if (index(line, "\r"))
            fail(file, n, "carriage return: use LF line endings")
        if (n == 1) {
            hdr = line
            if (hdr !~ /^-- ztoq-migration: [0-9]+ [a-z0-9_]+ ([0-9a-f]+|-)$/)
                fail(file, 1, "first line must be \"-- ztoq-migration: VERSION NAME ALEMBIC_REVISION\" (\"-\" for none)")
            split(hdr, h, " ")
            if (h[3] + 0 != version || h[4] != name)
                fail(file, 1, "header says version " h[3] " " h[4] ", file name says " version " " name)
            if (version in alembic && alembic[version] != h[5])
                fail(file, 1, "alembic revision " h[5] " differs from " alembic[version] " in the other file of version " version)
            alembic[version] = h[5]
        }
        if (line ~ /^--[ \t]*ztoq-dialect/) {
            mark = line
            sub(/^-- ztoq-dialect: /, "", mark)
            if (mark != "sqlite" && mark != "postgresql" && mark != "end")
                fail(file, n, "dialect marker must be \"-- ztoq-dialect: sqlite\", \"-- ztoq-dialect: postgresql\" or \"-- ztoq-dialect: end\"")
            if (mark == "end" && only == "")
                fail(file, n, "\"-- ztoq-dialect: end\" without a dialect block to end")
            if (mark == only)
                fail(file, n, "already in a " mark " block")
            only = mark == "end" ? "" : mark
            continue
        }
        if (only != "" && only != dialect)
            continue
        line = expand(file, n, line, dialect)
        t = line
        sub(/^[ \t]+/, "", t)
        if (substr(t, 1, 2) == "--") {
            if (index(t, ";"))
                fail(file, n, "\";\" in a comment")
        } else if (t != "") {
            if (index(t, "--"))
                fail(file, n, "comments must be whole lines starting with \"--\"" where)
            if (index(line, ";") && index(line, ";") != length(line))
                fail(file, n, "\";\" allowed only as the last character of a line, ending a statement" where)
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
    if (only != "")
        fail(file, n, "the " only " block is not ended by \"-- ztoq-dialect: end\"")
    if (open)
        fail(file, n, "last statement does not end with \";\"" where)
    if (stmts == 0)
        fail(file, 0, "no SQL statement" where)
    return body
}
BEGIN {
    load_substitutions()
    nf = 0
    while ((getline f) > 0)
        file[++nf] = f
    print "/* Generated by src/migrations/embed.sh from the SQL files under src/migrations."
    print "   Do not edit: edit the SQL files and rebuild. */"
    print ""
    print "#include \"migrations.h\""
    print ""
    print "const ztoq__migration ztoq__migrations[] = {"
    split("sqlite up|sqlite down|postgresql up|postgresql down", label, "|")
    for (i = 1; i <= nf; i += 2) {
        base = file[i]
        sub(/.*\//, "", base)
        version = substr(base, 1, 4) + 0
        name = substr(base, 6)
        sub(/\.up\.sql$/, "", name)
        for (k = 0; k < 4; k++) {
            split(label[k + 1], lk, " ")
            part[k] = file[i + (lk[2] == "down")]
            out[k] = embed(part[k], version, name, lk[1])
        }
        rev = alembic[version] == "-" ? "NULL" : "\"" alembic[version] "\""
        print "    {"
        printf "        %d, \"%s\", %s,\n", version, name, rev
        for (k = 0; k < 4; k++) {
            rel = part[k]
            sub(/.*\//, "", rel)
            printf "        /* %s: %s */\n", label[k + 1], rel
            sub(/\n$/, "", out[k])
            printf "%s%s\n", out[k], (k < 3 ? "," : "")
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
