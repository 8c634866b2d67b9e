#!/usr/bin/env bash
# Engine benchmark (issue 4), every figure beside a baseline measured in the same run:
#  1. single-row inserts into slo.job_status from 16 connections (pgbench) against the same
#     inserts into a trigger-less copy of the table, in alternating rounds (goal through the executor, issue 17: ratio >= 0.6);
#  2. COPY of 1,095,000 events (500 SLOs, 1,500 jobs, a year) against the same COPY into the
#     trigger-less copy (goal through the executor, issue 17: ratio >= 0.5);
#  3. slo.evaluate with 2,000 SLOs (a quarter intraday), and reading a whole day's report.
# Needs the extension installed (bench/run.sh installs a release build first).
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=pg_slo_bench_engine
here=$(cd "$(dirname "$0")" && pwd)
source "$here/summary.sh"
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-5}
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
trap 'psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -f /tmp/pg_slo_bench_events.csv' EXIT
psql -d "$DB" -q -v ON_ERROR_STOP=1 -f "$here/engine.sql" >/dev/null

ms() { # wall time in ms of one SQL statement (psql \timing)
  printf '\\timing on\n%s\n' "$1" | psql -d "$DB" -qAt 2>&1 | grep '^Time:' | tail -n 1 | awk '{print $2}'
}
tps() { # transactions per second of a pgbench script
  "$PGBENCH" -n -M prepared -c 16 -j 2 -T "$SECS" -f "$1" "$DB" 2>/dev/null | awk '/^tps/ {print $3; exit}'
}
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "1. single-row inserts, 16 connections: ${ROUNDS} rounds of ${SECS} s each, alternating"
tps "$here/insert_plain.pgbench" >/dev/null   # warm-up: connections, caches
tps "$here/insert_events.pgbench" >/dev/null
plains=() ourss=() ratios=()
for r in $(seq 1 "$ROUNDS"); do
  p=$(tps "$here/insert_plain.pgbench")
  o=$(tps "$here/insert_events.pgbench")
  plains+=("$p") ourss+=("$o") ratios+=("$(echo "$o / $p" | bc -l)")
  printf '   round %d: engine %6.0f tps, trigger-less %6.0f tps, ratio %.2f\n' "$r" "$o" "$p" "${ratios[-1]}"
done
q=$(printf '%s\n' "${ratios[@]}" | median)
printf '   median: engine %.0f tps, trigger-less %.0f tps, ratio %.2f (goal >= 0.6)\n' \
  "$(printf '%s\n' "${ourss[@]}" | median)" "$(printf '%s\n' "${plains[@]}" | median)" "$q"
summary "engine: single-row inserts, 16 connections, of trigger-less" "$(printf '%.2f' "$q")" ">= 0.6" "$(at_least "$q" 0.6)"

echo "2. COPY of 1,095,000 events (500 SLOs x 3 jobs x 365 days x start+succeed)"
psql -d "$DB" -qc "TRUNCATE bench_plain; TRUNCATE slo.job_status; TRUNCATE slo.slo_performance"
cols="app_id, job_id, status, status_time, business_date, run_id, host_id"
copy_plain=$(ms "COPY bench_plain ($cols) FROM '/tmp/pg_slo_bench_events.csv' WITH (FORMAT csv);")
copy_ours=$(ms "COPY slo.job_status ($cols) FROM '/tmp/pg_slo_bench_events.csv' WITH (FORMAT csv);")
rows=$(psql -d "$DB" -tAc "SELECT count(*) FROM slo.slo_performance")
printf '   %-34s %10.0f ms (%s performance rows)\n   %-34s %10.0f ms\n   ratio (plain time / engine time) %s (goal >= 0.5)\n' \
  "slo.job_status (engine)" "$copy_ours" "$rows" "trigger-less copy" "$copy_plain" "$(ratio "$copy_plain" "$copy_ours")"
q=$(ratio "$copy_plain" "$copy_ours")
summary "engine: COPY of 1,095,000 events, of trigger-less" "$q" ">= 0.5" "$(at_least "$q" 0.5)"

echo "3. slo.evaluate with 2,000 SLOs (500 intraday), as of 2025-07-01 12:00 New York"
first=$(ms "SELECT slo.evaluate('2025-07-01 12:00-04');")
again=$(ms "SELECT slo.evaluate('2025-07-01 12:00-04');")
added=$(psql -d "$DB" -tAc "SELECT count(*) FROM slo.slo_performance WHERE actual_start IS NULL")
printf '   first call %.0f ms (%s instances materialised), next call %.0f ms\n' "$first" "$added" "$again"
summary "engine: slo.evaluate, 2,000 SLOs, first call / next call" "$(printf '%.0f ms / %.0f ms' "$first" "$again")" "timed" "-"
report=$(ms "SELECT count(*), count(*) FILTER (WHERE state = 'late') FROM slo.slo_performance_report WHERE business_date = '2025-06-30';")
table=$(ms "SELECT count(*), count(*) FILTER (WHERE actual_end IS NULL) FROM slo.slo_performance WHERE business_date = '2025-06-30';")
n=$(psql -d "$DB" -tAc "SELECT count(*) FROM slo.slo_performance WHERE business_date = '2025-06-30'")
printf '   a whole day of the report (%s instances): %.1f ms; the bare table: %.1f ms; ratio %s\n' "$n" "$report" "$table" "$(ratio "$report" "$table")"
summary "engine: a whole day of the report, 2,000 SLOs" "$(printf '%.1f ms' "$report")" "< 1000 ms" "$(below "$report" 1000)"
