#!/usr/bin/env bash
# Backfill benchmark (issue 8), every figure beside baselines measured in the same run, on the
# same file: 1,095,000 events (500 SLOs x 3 jobs x 365 days x start and succeed, bench/engine.sql's
# definitions) as CSV with a header and RFC 3339 times, the format `pg-slo backfill` reads.
#   a. plain COPY of the file into a trigger-less copy of slo.job_status (no engine, no keys);
#   b. plain COPY of the file into slo.job_status (the engine's trigger, one statement);
#   c. pg-slo backfill of the file (release build): parsing and validating every line with the
#      API's rules, the ownership check, COPY into staging and INSERT ... ON CONFLICT DO NOTHING
#      in batches of 50,000; without slo.recompute;
#   d. slo.recompute over the loaded year, as the backfill runs it at the end by default, and
#      on its own the part of it the trigger did not do: adding the due instances with no event.
# Prints c / a (the goal: about the time of a plain COPY plus the engine's cost, that is near
# b / a) and c / b. Needs the extension installed (bench/run.sh installs a release build) and
# target/release/pg-slo (bench/run.sh builds it).
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=pg_slo_bench_backfill
here=$(cd "$(dirname "$0")" && pwd)
source "$here/summary.sh"
BIN=${PG_SLO_BIN:-$here/../target/release/pg-slo}
FILE=/tmp/pg_slo_bench_backfill.csv
[[ -x $BIN ]] || { echo "$BIN is missing: cargo build --release -p api" >&2; exit 1; }
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
trap 'psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -f $FILE /tmp/pg_slo_bench_events.csv /tmp/pg_slo_bench_rejects.ndjson' EXIT
psql -d "$DB" -q -v ON_ERROR_STOP=1 -f "$here/engine.sql" >/dev/null
psql -d "$DB" -q -v ON_ERROR_STOP=1 <<SQL
-- The client the history is posted as (pg-slo backfill --client-id), allowed the bench application.
INSERT INTO slo.client (client_id) VALUES ('bench-history');
INSERT INTO slo.client_application (client_id, app_id) VALUES ('bench-history', 'bench');
COPY (
  SELECT 'bench' AS app_id, 'job-' || j AS job_id, s.status,
         to_char(((d + interval '1 day' + make_interval(mins => 30 + 60 * (j % 3) + s.offset_min))::timestamp
                   AT TIME ZONE 'America/New_York') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS status_time,
         d::date AS business_date, 'r1' AS run_id, 'host-' || (j % 7) AS host_id
  FROM generate_series(0, 1499) AS j,
       generate_series('2025-01-01'::date, '2025-12-31', '1 day') AS d,
       (VALUES ('start', 0), ('succeed', 50)) AS s(status, offset_min)
) TO '$FILE' WITH (FORMAT csv, HEADER);
SQL
rows=$(($(wc -l < "$FILE") - 1))
mb=$(du -m "$FILE" | cut -f1)

ms() { # wall time in ms of one SQL statement (psql \timing)
  printf '\\timing on\n%s\n' "$1" | psql -d "$DB" -qAt 2>&1 | grep '^Time:' | tail -n 1 | awk '{print $2}'
}
empty() { psql -d "$DB" -qc "TRUNCATE bench_plain; TRUNCATE slo.job_status; TRUNCATE slo.slo_performance"; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
cols="app_id, job_id, status, status_time, business_date, run_id, host_id"

echo "backfill of $rows events ($mb MB of CSV)"
empty
plain=$(ms "COPY bench_plain ($cols) FROM '$FILE' WITH (FORMAT csv, HEADER);")
engine=$(ms "COPY slo.job_status ($cols) FROM '$FILE' WITH (FORMAT csv, HEADER);")
empty
start=$(date +%s%N)
"$BIN" backfill "$FILE" --no-recompute --client-id bench-history --reject-file /tmp/pg_slo_bench_rejects.ndjson \
  --database-url "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB" | sed 's/^/   /'
backfill=$(( ($(date +%s%N) - start) / 1000000 ))
perf=$(psql -d "$DB" -tAc "SELECT count(*) FROM slo.slo_performance")
# What slo.recompute adds to the trigger's rows: the due instances that received no event
# (the 1,500 SLOs without events here, 500 of them intraday). Timed on its own first.
materialize=$(ms "SELECT slo.materialize_due('2025-01-01', '2025-12-31', now(), '-infinity');")
perf_all=$(psql -d "$DB" -tAc "SELECT count(*) FROM slo.slo_performance")
recompute=$(ms "SELECT slo.recompute('2025-01-01', '2025-12-31');")
printf '   %-52s %8.0f ms\n' "a. COPY into a trigger-less copy of the table" "$plain" \
  "b. COPY into slo.job_status (engine trigger)" "$engine" \
  "c. pg-slo backfill (validated, batches of 50,000)" "$backfill" \
  "d. slo.recompute of the year" "$recompute" \
  "   of which adding the instances without events" "$materialize"
printf '   performance rows: %s after the backfill (days with events), %s with every due instance\n' "$perf" "$perf_all"
printf '   ratio c / a (backfill / trigger-less COPY) %s; b / a (engine COPY / trigger-less COPY) %s; c / b %s\n' \
  "$(ratio "$backfill" "$plain")" "$(ratio "$engine" "$plain")" "$(ratio "$backfill" "$engine")"
summary "backfill: pg-slo backfill / engine COPY of the same file" "$(ratio "$backfill" "$engine")" "timed" "-"
summary "backfill: slo.recompute of the year" "$(printf '%.0f ms' "$recompute")" "timed" "-"
