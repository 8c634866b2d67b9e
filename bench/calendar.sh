#!/usr/bin/env bash
# Calendar benchmark (issue 3): the calendar functions called per row over a year of dates for
# 1,000 SLOs (365,000 calls), against a plain lookup of the same answers in slo.run_date, and the
# expected-time computation against the naive `(date + offset) AT TIME ZONE` of the same rows.
# Each figure is the median of 5 runs, all measured in this run; ratios are ours / baseline.
# Needs the extension installed (scripts/test.sh or scripts/run.sh does it).
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=pg_slo_bench_calendar
here=$(cd "$(dirname "$0")" && pwd)
source "$here/summary.sh"
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
trap 'psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
psql -d "$DB" -q -v ON_ERROR_STOP=1 -f "$here/calendar.sql" >/dev/null

# Median wall time in ms of a query over 5 runs (after one warm-up).
time_ms() {
  local sql=$1 out
  out=$(for _ in 1 2 3 4 5 6; do echo '\timing on'; echo "$sql"; done | psql -d "$DB" -qAt 2>&1 | grep '^Time:' | tail -n 5 | awk '{print $2}' | sort -n)
  echo "$out" | sed -n 3p
}
row() {
  printf '%-44s %10s ms %10s ms %8.2f\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"
  summary "calendars: $1" "$(printf '%.0f ms / %.0f ms = %.2f' "$2" "$3" "$(echo "$2 / $3" | bc -l)")" "timed" "-"
}

printf '%-44s %13s %13s %8s\n' "365,000 calls (1,000 SLOs x 2027)" "pg_slo" "baseline" "ratio"
ours=$(time_ms "SELECT count(*) FILTER (WHERE slo.is_run_date(s.calendar_id, b.d)) FROM slo.slo s CROSS JOIN bench_dates b;")
base=$(time_ms "SELECT count(*) FILTER (WHERE (SELECT true FROM slo.run_date r WHERE r.calendar_id = s.calendar_id AND r.run_date = b.d)) FROM slo.slo s CROSS JOIN bench_dates b;")
row "is_run_date vs per-row index lookup" "$ours" "$base"
join=$(time_ms "SELECT count(*) FROM slo.slo s CROSS JOIN bench_dates b WHERE EXISTS (SELECT 1 FROM slo.run_date r WHERE r.calendar_id = s.calendar_id AND r.run_date = b.d);")
row "is_run_date vs set-based join on run_date" "$ours" "$join"
ours=$(time_ms "SELECT count(slo.next_run_date(s.calendar_id, b.d)) FROM slo.slo s CROSS JOIN bench_dates b;")
base=$(time_ms "SELECT count((SELECT min(r.run_date) FROM slo.run_date r WHERE r.calendar_id = s.calendar_id AND r.run_date > b.d)) FROM slo.slo s CROSS JOIN bench_dates b;")
row "next_run_date vs min() on slo.run_date" "$ours" "$base"
ours=$(time_ms "SELECT count(slo.prev_run_date(s.calendar_id, b.d)) FROM slo.slo s CROSS JOIN bench_dates b;")
base=$(time_ms "SELECT count((SELECT max(r.run_date) FROM slo.run_date r WHERE r.calendar_id = s.calendar_id AND r.run_date < b.d)) FROM slo.slo s CROSS JOIN bench_dates b;")
row "prev_run_date vs max() on slo.run_date" "$ours" "$base"

echo
printf '%-44s %13s %13s %8s\n' "1,000 SLOs x 30 business dates" "pg_slo" "baseline" "ratio"
ours=$(time_ms "SELECT count(e.expected_end) FROM slo.slo s CROSS JOIN (SELECT d FROM bench_dates LIMIT 30) b CROSS JOIN LATERAL slo.expected_times(s.slo_id, b.d) e;")
base=$(time_ms "SELECT count((b.d + j.expected_end) AT TIME ZONE s.time_zone) FROM slo.slo s JOIN slo.slo_job j USING (slo_id) CROSS JOIN (SELECT d FROM bench_dates LIMIT 30) b WHERE EXISTS (SELECT 1 FROM slo.run_date r WHERE r.calendar_id = s.calendar_id AND r.run_date = b.d);")
row "expected_times (per instance) vs naive" "$ours" "$base"
set_based=$(time_ms "SELECT count(slo.expected_instant(s.time_zone, s.period, s.window_start, s.window_end, s.calendar_id, b.d, '00:00', j.expected_end, j.day_unit)) FROM slo.slo s JOIN slo.slo_job j USING (slo_id) CROSS JOIN (SELECT d FROM bench_dates LIMIT 30) b WHERE slo.is_run_date(s.calendar_id, b.d);")
row "expected_instant (set-based) vs naive" "$set_based" "$base"
echo
echo "per call: is_run_date $(echo "$(time_ms "SELECT count(*) FILTER (WHERE slo.is_run_date(s.calendar_id, b.d)) FROM slo.slo s CROSS JOIN bench_dates b;") * 1000 / 365000" | bc -l | xargs printf '%.2f') us;" \
  "expected_times $(echo "$ours * 1000 / 30000" | bc -l | xargs printf '%.1f') us per instance;" \
  "expected_instant $(echo "$set_based * 1000 / 60000" | bc -l | xargs printf '%.1f') us per job row"
