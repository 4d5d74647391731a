#!/bin/bash
# bench/copy.sh [ROWS] - `ztoq db copy` of a generated ZTOQ database of about ROWS rows
# (default 1,000,000: test steps, and a tenth as many custom field values with
# doubles) from SQLite to the fixture's PostgreSQL and back to a new SQLite file:
# rows/s and peak RSS; then the same SQLite file through pgloader, if installed.
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
/usr/bin/time -f 'peak RSS %M KiB, %e s wall, %U s user' \
	"$ztoq" db copy --replace ${COPY_FLAGS:-} --db-path "$db" | grep -E 'test_steps .*verified|custom_field_values .*verified|^copied'
# And back: PostgreSQL -> a new SQLite file.
rm -f "$db.back"
ZTOQ_PG_PASSWORD=$ZTOQ_TEST_PG_PASSWORD /usr/bin/time -f 'back: peak RSS %M KiB, %e s wall, %U s user' \
	"$ztoq" db copy ${COPY_FLAGS:-} --db-type postgresql --host "$ZTOQ_TEST_PG_HOST" \
	--port "$ZTOQ_TEST_PG_PORT" --username "$ZTOQ_TEST_PG_USER" --database "$ZTOQ_TEST_PG_DATABASE" \
	--to-db-type sqlite --to-db-path "$db.back" | grep -E 'test_steps .*verified|^copied'
# The same database through pgloader (Debian's pgloader 3.6), into a fresh database
# (its default: tables created from SQLite's column types), when it is installed.
if command -v pgloader >/dev/null; then
	export PGPASSWORD=$ZTOQ_TEST_PG_SUPERPASSWORD PGOPTIONS='-c client_min_messages=warning'
	psql -q -h "$ZTOQ_TEST_PG_HOST" -p "$ZTOQ_TEST_PG_PORT" -U "$ZTOQ_TEST_PG_SUPERUSER" \
		-d postgres -c 'DROP DATABASE IF EXISTS pgloader_bench' -c 'CREATE DATABASE pgloader_bench'
	/usr/bin/time -f 'pgloader: peak RSS %M KiB, %e s wall, %U s user' \
		pgloader --quiet "sqlite://$db" \
		"postgresql://$ZTOQ_TEST_PG_SUPERUSER@$ZTOQ_TEST_PG_HOST:$ZTOQ_TEST_PG_PORT/pgloader_bench" \
		2>&1 | grep -E 'peak RSS|Total import time|ERROR|FATAL' || true
fi
