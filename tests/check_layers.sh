#!/bin/sh
# check_layers.sh - the library's modules call each other without a cycle.
#
# Builds the module call graph from the library's objects (X -> Y: X's object calls a
# function that Y's object defines), prints it, and fails naming the first cycle
# found. Data is not a call: a backend's operations table (src/dialect_*.c) is reached
# through a pointer, as SQLite reaches a VFS, and its functions call down into the
# shared helpers of src/dialect.c. Run by `make check` in the build tree; the objects are found under
# $ZTOQ_LAYERS_OBJDIR (default: src/.libs, else src). docs/design.md draws the layers.
set -eu

dir=${ZTOQ_LAYERS_OBJDIR:-}
if [ -z "$dir" ]; then
	dir=src/.libs
	[ -e "$dir/libztoq_core_la-conn.o" ] || dir=src
fi
set -- "$dir"/libztoq_core_la-*.o
if [ ! -e "$1" ]; then
	echo "check_layers: no library objects under $dir (build the library first)" >&2
	exit 1
fi

for o in "$@"; do
	m=${o##*/libztoq_core_la-}
	# `nm -P`: name type [value size]; one "module name type" line per symbol
	nm -P "$o" | awk -v m="${m%.o}" '{ print m, $1, $2 }'
done | awk '
	$3 == "U" { und[$1, $2] = 1; mods[$1] = 1; next }
	$3 == "T" { def[$2] = $1; mods[$1] = 1 }
	END {
		for (k in und) {
			split(k, p, SUBSEP)
			y = def[p[2]]
			if (y != "" && y != p[1])
				edge[p[1], y] = 1
		}
		n = 0
		for (x in mods)
			name[++n] = x
		# sorted, so the output (and the cycle named) is the same on every run
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && name[j - 1] > name[j]; j--) {
				t = name[j]; name[j] = name[j - 1]; name[j - 1] = t
			}
		for (i = 1; i <= n; i++) {
			line = name[i] " ->"
			for (j = 1; j <= n; j++)
				if ((name[i], name[j]) in edge)
					line = line " " name[j]
			print line
		}
		# depth-first search without recursion; colour 1: on the path, 2: done
		for (r = 1; r <= n; r++) {
			if (colour[name[r]])
				continue
			depth = 1; path[1] = name[r]; next_j[1] = 1; colour[name[r]] = 1
			while (depth > 0) {
				x = path[depth]
				for (j = next_j[depth]; j <= n; j++)
					if ((x, name[j]) in edge && colour[name[j]] != 2)
						break
				if (j > n) {
					colour[x] = 2; depth--
					continue
				}
				next_j[depth] = j + 1
				y = name[j]
				if (colour[y] == 1) {
					cycle = y
					for (k = depth; path[k] != y; k--)
						;
					for (k++; k <= depth; k++)
						cycle = cycle " -> " path[k]
					print "check_layers: FAIL: the modules call each other in a cycle: " \
					      cycle " -> " y > "/dev/stderr"
					exit 1
				}
				colour[y] = 1; path[++depth] = y; next_j[depth] = 1
			}
		}
		print "check_layers: no cycle among " n " modules"
	}'
