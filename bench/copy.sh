#!/bin/bash
# bench/copy.sh [ROWS] - `ztoq db copy` of a generated ZTOQ database of about ROWS rows
# (default 1,000,000: test steps, and a tenth as many custom field values with
# doubles) from SQLite to the fixture's PostgreSQL and back to a new SQLite file:
# rows/s and peak RSS; then the same SQLite file through pgloader, if installed.
# With COPY_RATIO=1 (make bench) instead: the copy to PostgreSQL verified and with
# --no-verify, pgloader, and the library's own stream-read and bulk-write rates on the
# same rows (bench/copy_rates, COPY_RATES names it), then a summary with the ratios.
# Run inside the fixture: bash tests/fixture/with-env.sh bash bench/copy.sh 1000000
set -euo pipefail
rows=${1:-1000000}
ztoq=${ZTOQ:-src/cli/ztoq}
db=$ZTOQ_TEST_TMPDIR/copy_bench.db
rm -f "$db"
"$ztoq" db init --db-path "$db" >/dev/null
sqlite3 "$db" <<SQL
PRAGMA foreign_keys = ON;
INSERT INTO projects (id, key, name) VALUES ('P1', 'PK', 'bench');
INSERT INTO custom_field_definitions (id, name, type, project_key) VALUES ('CF', 'n', 'NUMBER', 'PK');
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
INSERT INTO test_cases (id, key, name, project_key, created_on)
SELECT 'TC' || i, 'PK-' || i, 'case ' || i, 'PK', '2024-01-02 03:04:05.123456' FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows - 1)
INSERT INTO test_steps (id, "index", description, expected_result, test_case_id)
SELECT 'S' || i, i % 10, 'step ' || i || ': open the page and check the title',
       'the title reads ' || i, 'TC' || (i % 1000) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows / 10 - 1)
INSERT INTO custom_field_values (id, field_id, entity_type, entity_id, value_numeric, value_boolean)
SELECT 'V' || i, 'CF', 'TEST_CASE', 'E' || i, i / 7.0 + 0.1, i % 2 FROM n;
SQL
export ZTOQ_TO_DB_TYPE=postgresql ZTOQ_TO_PG_HOST=$ZTOQ_TEST_PG_HOST
export ZTOQ_TO_PG_PORT=$ZTOQ_TEST_PG_PORT ZTOQ_TO_PG_USER=$ZTOQ_TEST_PG_USER
export ZTOQ_TO_PG_DATABASE=$ZTOQ_TEST_PG_DATABASE ZTOQ_TO_PG_PASSWORD=$ZTOQ_TEST_PG_PASSWORD
# The same database through pgloader (Debian's pgloader 3.6), into a fresh database
# (its default: tables created from SQLite's column types); `time` writes "wall peak-RSS
# user" to "$1". Fails, saying so, when pgloader does (it once died at start with
# "Failed to start the monitor thread"): its figures are then not taken.
pgloader_run() {
	local log=$ZTOQ_TEST_TMPDIR/pgloader.log status=0
	PGPASSWORD=$ZTOQ_TEST_PG_SUPERPASSWORD PGOPTIONS='-c client_min_messages=warning' \
		psql -q -h "$ZTOQ_TEST_PG_HOST" -p "$ZTOQ_TEST_PG_PORT" -U "$ZTOQ_TEST_PG_SUPERUSER" \
		-d postgres -c 'DROP DATABASE IF EXISTS pgloader_bench' -c 'CREATE DATABASE pgloader_bench'
	PGPASSWORD=$ZTOQ_TEST_PG_SUPERPASSWORD /usr/bin/time -o "$1" -f '%e %M %U' \
		pgloader --quiet "sqlite://$db" \
		"postgresql://$ZTOQ_TEST_PG_SUPERUSER@$ZTOQ_TEST_PG_HOST:$ZTOQ_TEST_PG_PORT/pgloader_bench" \
		>"$log" 2>&1 || status=$?
	grep -E 'Total import time|ERROR|FATAL' "$log" || true
	[ "$status" -eq 0 ] || echo "pgloader failed (exit $status): its figures are left out"
	return "$status"
}
times=$ZTOQ_TEST_TMPDIR/copy_bench.time
if [ -z "${COPY_RATIO:-}" ]; then
	/usr/bin/time -f 'peak RSS %M KiB, %e s wall, %U s user' \
		"$ztoq" db copy --replace ${COPY_FLAGS:-} --db-path "$db" | grep -E 'test_steps .*verified|custom_field_values .*verified|^copied'
	# And back: PostgreSQL -> a new SQLite file.
	rm -f "$db.back"
	ZTOQ_PG_PASSWORD=$ZTOQ_TEST_PG_PASSWORD /usr/bin/time -f 'back: peak RSS %M KiB, %e s wall, %U s user' \
		"$ztoq" db copy ${COPY_FLAGS:-} --db-type postgresql --host "$ZTOQ_TEST_PG_HOST" \
		--port "$ZTOQ_TEST_PG_PORT" --username "$ZTOQ_TEST_PG_USER" --database "$ZTOQ_TEST_PG_DATABASE" \
		--to-db-type sqlite --to-db-path "$db.back" | grep -E 'test_steps .*verified|^copied'
	if command -v pgloader >/dev/null && pgloader_run "$times"; then
		read -r wall rss user <"$times"
		echo "pgloader: peak RSS $rss KiB, $wall s wall, $user s user"
	fi
	exit 0
fi

# ---- COPY_RATIO=1 (make bench) ----------------------------------------------------------
rates=${COPY_RATES:-bench/copy_rates}
total=$(sqlite3 "$db" "SELECT (SELECT COUNT(*) FROM projects) + (SELECT COUNT(*) FROM
	custom_field_definitions) + (SELECT COUNT(*) FROM test_cases) + (SELECT COUNT(*) FROM
	test_steps) + (SELECT COUNT(*) FROM custom_field_values)")
# "name rows seconds rss_kib" lines, one per measurement
results=$ZTOQ_TEST_TMPDIR/copy_bench.results
: >"$results"
# The library's rates: its own timing of the work, peak RSS from `time`.
rate() {
	local out
	out=$(/usr/bin/time -o "$times" -f '%M' "$rates" "$2" "$3")
	echo "$1 $(echo "$out" | awk '{print $2, $4}') $(cat "$times")" >>"$results"
}
rate stream-read read "$db"
rate bulk-write write "$rows"
# The copy: the whole command's wall time (plan, schema, copy, sequences, verification).
copy() {
	/usr/bin/time -o "$times" -f '%e %M' "$ztoq" db copy --replace "${@:2}" --db-path "$db" >/dev/null
	read -r wall rss <"$times"
	echo "$1 $total $wall $rss" >>"$results"
}
copy copy-verified
copy copy-no-verify --no-verify
if ! command -v pgloader >/dev/null; then
	echo "pgloader is not installed: its comparison is skipped (.ci/install-deps installs it)"
elif pgloader_run "$times"; then
	read -r wall rss user <"$times"
	echo "pgloader $total $wall $rss" >>"$results"
fi
awk -v rows="$total" '
	{ rate[$1] = $2 / $3; rss[$1] = $4; printf "%-16s %9d rows %8.2f s %10.0f rows/s %7.1f MiB peak RSS\n", $1, $2, $3, $2 / $3, $4 / 1024 }
	END {
		slower = rate["stream-read"] < rate["bulk-write"] ? rate["stream-read"] : rate["bulk-write"]
		printf "\nztoq db copy of %d rows, SQLite -> PostgreSQL:\n", rows
		split("copy-verified copy-no-verify", copies, " ")
		for (k = 1; k <= 2; k++) {
			m = copies[k]
			printf "  %-15s %9.0f rows/s, peak RSS %.1f MiB; / min(read, write) = %.2f (target >= 0.8)", m, rate[m], rss[m] / 1024, rate[m] / slower
			if ("pgloader" in rate) printf "; / pgloader = %.2f", rate[m] / rate["pgloader"]
			printf "\n"
		}
		if ("pgloader" in rate) printf "  %-15s %9.0f rows/s, peak RSS %.1f MiB\n", "pgloader", rate["pgloader"], rss["pgloader"] / 1024
		printf "  min(read, write) %8.0f rows/s (stream-read %.0f, bulk-write %.0f)\n", slower, rate["stream-read"], rate["bulk-write"]
	}' "$results"
