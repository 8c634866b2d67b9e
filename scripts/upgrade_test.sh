#!/usr/bin/env bash
# The extension's release checks, run by scripts/test.sh after the extension is installed:
#
#  1. a released version is never edited: when the version being built is a released one, the
#     installed script must equal its frozen copy in pg_slo/sql/releases/;
#  2. every earlier release upgrades to this version with its data intact: for each frozen
#     release older than the version being built, create a database with that version (its
#     frozen install script beside the current library), load definitions, events, performance
#     rows and alerts, run `ALTER EXTENSION pg_slo UPDATE` (through the upgrade scripts of
#     pg_slo/sql/, installed by `cargo pgrx install`), and check that every row is still there
#     (in the columns it had; an upgrade may add columns) and that the schema equals a fresh
#     install of this version.
#
# Releasing version X: copy the installed pg_slo--X.sql to pg_slo/sql/releases/ and never edit it
# again; the next version adds pg_slo/sql/pg_slo--X--NEXT.sql (see README, "Releases").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RELEASES=$ROOT/pg_slo/sql/releases
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
VERSION=$(grep -m1 '^version' "$ROOT/Cargo.toml" | sed -e 's/.*"\(.*\)".*/\1/')
PG_DUMP=$("$PG_CONFIG" --bindir)/pg_dump
status=0

installed=$EXTDIR/pg_slo--$VERSION.sql
if [[ -f $RELEASES/pg_slo--$VERSION.sql ]]; then
  if ! diff -q "$RELEASES/pg_slo--$VERSION.sql" "$installed" >/dev/null; then
    echo "FAIL: version $VERSION is released, and its install script differs from the frozen copy:" >&2
    diff -u "$RELEASES/pg_slo--$VERSION.sql" "$installed" | head -40 >&2
    echo "A released version is never edited: bump the version and add an upgrade script." >&2
    status=1
  else
    echo "ok: the install script of released version $VERSION is unchanged"
  fi
fi

# The statements that checksum the rows of every table of schema slo, one line per table, over
# the columns each table has now (what must survive an upgrade; an upgrade may add columns).
table_sums_sql() {
  psql -d "$1" -XtA -v ON_ERROR_STOP=1 <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(t.r::text, '','' ORDER BY t.r::text)), '''') '
              'FROM (SELECT ROW(%s) AS r FROM %s) t;',
              c.oid::regclass,
              (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
              c.oid::regclass)
FROM pg_class c
WHERE c.relnamespace = 'slo'::regnamespace AND c.relkind = 'r'
ORDER BY 1
SQL
}

# The schema as the catalogs describe it: every object of schema slo with its definition,
# options, privileges and comment (pg_dump does not print an extension's member objects).
schema_of() {
  psql -d "$1" -XtA -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(array_to_string(c.reloptions, ','), '')
       || ' acl=' || coalesce(c.relacl::text, '') || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c WHERE c.relnamespace = 'slo'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text
       || ' acl=' || coalesce(a.attacl::text, '') || ' comment=' || coalesce(col_description(c.oid, a.attnum), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'slo'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'slo'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = 'slo'::regnamespace
UNION ALL
SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid) FROM pg_class c
WHERE c.relnamespace = 'slo'::regnamespace AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
       || ' definer=' || p.prosecdef || ' config=' || coalesce(p.proconfig::text, '')
       || ' acl=' || coalesce(p.proacl::text, '') || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
FROM pg_proc p WHERE p.pronamespace = 'slo'::regnamespace AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' comment=' || coalesce(obj_description(t.oid, 'pg_trigger'), '')
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'slo'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'dumped ' || u.c::regclass::text
FROM pg_extension, unnest(extconfig) AS u(c) WHERE extname = 'pg_slo'
ORDER BY 1
SQL
}

for frozen in "$RELEASES"/pg_slo--*.sql; do
  [[ -e $frozen ]] || continue
  old=$(basename "$frozen" .sql); old=${old#pg_slo--}
  [[ $old == "$VERSION" ]] && continue
  if [[ "$(printf '%s\n%s\n' "$old" "$VERSION" | sort -V | head -1)" != "$old" ]]; then
    continue # a release newer than this build: nothing to upgrade from
  fi
  db=pg_slo_upgrade_from_${old//./_}
  fresh=pg_slo_upgrade_fresh
  log "upgrade test: $old -> $VERSION"
  cp "$frozen" "$EXTDIR/pg_slo--$old.sql"
  for d in "$db" "$fresh"; do
    psql -d postgres -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" -c "CREATE DATABASE $d" >/dev/null
  done
  psql -d "$db" -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_slo VERSION '$old'" >/dev/null
  # Data of every kind: definitions, events (registering a job on the way), performance rows
  # from the trigger and from the evaluator, alerts.
  psql -d "$db" -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
\i pg_slo/tests/pg_regress/foxfire.sql
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'od-calc', 'start', '2025-11-18 00:35-05', '2025-11-17', 'r1', 'h1'),
       ('overdrafts', 'od-calc', 'fail', '2025-11-18 01:10-05', '2025-11-17', 'r1', 'h1'),
       ('overdrafts', 'od-calc', 'start', '2025-11-18 01:20-05', '2025-11-17', 'r2', 'h1'),
       ('overdrafts', 'od-calc', 'succeed', '2025-11-18 02:50-05', '2025-11-17', 'r2', 'h1'),
       ('decision_support', 'dss-load-od', 'start', '2025-11-18 03:05-05', '2025-11-17', 'r1', 'h2'),
       ('overdrafts', 'od-new-job', 'start', '2025-11-18 00:40-05', '2025-11-17', 'r1', 'h1');
SELECT slo.evaluate('2025-11-18 09:00-05');
SQL
  sums=$(table_sums_sql "$db")
  before=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 <<<"$sums")
  psql -d "$db" -q -v ON_ERROR_STOP=1 -c "ALTER EXTENSION pg_slo UPDATE" >/dev/null
  now=$(psql -d "$db" -XtAc "SELECT extversion FROM pg_extension WHERE extname = 'pg_slo'")
  after=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 <<<"$sums")
  psql -d "$fresh" -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_slo" >/dev/null
  if [[ $now != "$VERSION" ]]; then
    echo "FAIL: after ALTER EXTENSION pg_slo UPDATE the version is $now, not $VERSION" >&2
    status=1
  elif [[ $before != "$after" ]]; then
    echo "FAIL: rows changed by the upgrade from $old:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    status=1
  elif ! schema_of "$fresh" >/tmp/pg_slo_schema_fresh || ! schema_of "$db" >/tmp/pg_slo_schema_upgraded; then
    echo "FAIL: reading the schema of the databases" >&2
    status=1
  elif ! diff -u /tmp/pg_slo_schema_fresh /tmp/pg_slo_schema_upgraded >/tmp/pg_slo_upgrade_schema.diff; then
    echo "FAIL: the schema upgraded from $old differs from a fresh install of $VERSION" \
         "(lines - fresh, + upgraded):" >&2
    head -60 /tmp/pg_slo_upgrade_schema.diff >&2
    status=1
  else
    echo "ok: $old -> $VERSION keeps every row ($(echo "$after" | wc -l) tables) and equals a fresh install" \
         "($(wc -l </tmp/pg_slo_schema_fresh) catalog entries)"
  fi
  for d in "$db" "$fresh"; do psql -d postgres -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null; done
  rm -f "$EXTDIR/pg_slo--$old.sql"
done
exit $status
