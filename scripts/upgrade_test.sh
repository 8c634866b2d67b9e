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

holiday_rows() {
  psql -d "$1" -XtA -v ON_ERROR_STOP=1 -c "SELECT holiday_set || ' ' || holiday_date || ' ' || name FROM slo.holiday" \
    | LC_ALL=C sort
}

# Issue 17, on a database just upgraded from a release whose Federal Reserve rule listed only the
# observed Monday of a Sunday holiday: no holiday row is lost or changed, the set loaded by the
# rule (2020 to 2035) gains exactly the rule's Sundays (and the set made by hand nothing), the run
# dates follow, and the upgrade names the calendar that runs on Sundays with the recompute calls
# that rebuild its rows, which then drop the Sunday holiday's row.
check_contract_corrections() {
  local db=$1 after_holidays lost added wanted ok=0
  after_holidays=$(holiday_rows "$db")
  lost=$(LC_ALL=C comm -23 <(echo "$before_holidays") <(echo "$after_holidays"))
  added=$(LC_ALL=C comm -13 <(echo "$before_holidays") <(echo "$after_holidays"))
  wanted=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 -c "SELECT 'us_federal_reserve ' || holiday_date || ' ' || name
    FROM slo.holiday_rule_dates('us_federal_reserve', 2020, 2035) WHERE extract(isodow FROM holiday_date) = 7" \
    | LC_ALL=C sort)
  if [[ -n $lost ]]; then
    echo "FAIL: holiday rows lost or changed by the upgrade from $old:" >&2; echo "$lost" >&2; ok=1
  elif [[ -z $wanted || $added != "$wanted" ]]; then
    echo "FAIL: the upgrade from $old should add the rule's Sunday holidays to the set loaded by the rule:" >&2
    diff <(echo "$wanted") <(echo "$added") >&2 || true
    ok=1
  else
    echo "ok: $old -> $VERSION adds the $(echo "$added" | wc -l) Sunday holidays of the Federal Reserve rule" \
         "to the set loaded by the rule, and nothing to the set made by hand"
  fi
  local run_dates stale
  run_dates="SELECT md5(string_agg(calendar_id || run_date, ',' ORDER BY calendar_id, run_date)) FROM slo.run_date"
  stale=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 -c "$run_dates" -c "SELECT slo.refresh_run_dates()" -c "$run_dates" \
          | sed -n '1p;3p' | uniq | wc -l)
  if [[ $stale != 1 ]]; then
    echo "FAIL: after the upgrade from $old, slo.run_date differs from the calendars' run dates" >&2; ok=1
  fi
  local calls="SELECT slo.recompute('2022-12-18', '2022-12-25'); SELECT slo.recompute('2022-12-25', '2023-01-01');"
  if [[ $sunday_rows_before != 1 ]]; then
    echo "FAIL: under $old, od-seven should have had a row on Sunday 25 December 2022 (a run date then)" >&2
    ok=1
  elif [[ $upgrade_warnings != *"calendar seven_days: "*"$calls"* || $upgrade_warnings == *"calendar standard:"* ]]; then
    echo "FAIL: the upgrade from $old should name calendar seven_days (and only it) with: $calls; it said:" >&2
    echo "$upgrade_warnings" >&2
    ok=1
  elif [[ $(psql -d "$db" -XtA -v ON_ERROR_STOP=1 -c "$calls" -c "SELECT count(*) FROM slo.slo_performance
             WHERE slo_id = 'od-seven' AND business_date IN ('2022-12-25', '2023-01-01')" | tail -1) != 0 ]]; then
    echo "FAIL: after the recompute calls the upgrade from $old named, od-seven still has rows on Sunday holidays" >&2
    ok=1
  else
    echo "ok: $old -> $VERSION names the calendar that runs on Sundays; its recompute calls drop the holidays' rows"
  fi
  return $ok
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
-- Issue 17: 0.1.0's library listed a Sunday holiday only on the observed Monday; today's lists
-- the Sunday too, so its Sundays are taken out of the set loaded above, as 0.1.0 left it. A
-- calendar that runs on Sundays and skips those holidays, with an SLO whose row on Sunday
-- 25 December 2022 was a run date under 0.1.0; and a set made by hand the upgrade must leave alone.
DELETE FROM slo.holiday WHERE holiday_set = 'us_federal_reserve' AND extract(isodow FROM holiday_date) = 7;
INSERT INTO slo.calendar (calendar_id, name, run_weekdays, holiday_set, runs_on_holidays)
VALUES ('seven_days', 'Every day but Federal Reserve holidays', '{1,2,3,4,5,6,7}', 'us_federal_reserve', false);
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
VALUES ('od-seven', 'Overdrafts every day but holidays', 'overdrafts', 'seven_days', 'America/New_York');
INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end, day_unit)
VALUES ('od-seven', 'od-calc', '1 day 00:30', '1 day 03:00', 'calendar');
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'od-calc', 'start', '2022-12-26 00:40-05', '2022-12-25', 'r1', 'h1');
INSERT INTO slo.holiday (holiday_set, holiday_date, name) VALUES ('company', '2026-03-02', 'Founders Day (observed)');
SQL
  sums=$(table_sums_sql "$db")
  # Rows the upgrade may change on purpose, checked on their own below: holidays (issue 17 adds
  # the Sundays of the Federal Reserve rule), the run dates derived from them, the generation.
  own_checks=(-e '^slo\.holiday ' -e '^slo\.run_date ' -e '^slo\.definitions_generation ')
  before=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 <<<"$sums" | grep -v "${own_checks[@]}")
  before_holidays=$(holiday_rows "$db")
  sunday_rows_before=$(psql -d "$db" -XtAc "SELECT count(*) FROM slo.slo_performance
                                             WHERE slo_id = 'od-seven' AND business_date = '2022-12-25'")
  upgrade_warnings=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 -c "ALTER EXTENSION pg_slo UPDATE" 2>&1 >/dev/null) \
    || { echo "FAIL: ALTER EXTENSION pg_slo UPDATE from $old: $upgrade_warnings" >&2; exit 1; }
  now=$(psql -d "$db" -XtAc "SELECT extversion FROM pg_extension WHERE extname = 'pg_slo'")
  after=$(psql -d "$db" -XtA -v ON_ERROR_STOP=1 <<<"$sums" | grep -v "${own_checks[@]}")
  check_contract_corrections "$db" || status=1
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
