#!/usr/bin/env bash
# Trends benchmark (issue 7): each trend view for all jobs or SLOs over two years of history
# (2,000 jobs, about 3,000,000 runs and 6,000,000 events; bench/trends.sql), beside a baseline
# measured in the same run on the same data: a plain scan of the events (for the job views) or of
# slo.slo_performance (for the SLO views). Each figure is the median of 5 runs after a warm-up;
# ratios are ours / baseline. Goal: a few seconds at most for each view.
# Needs the extension installed (bench/run.sh installs a release build first). Building the data
# takes several minutes (every event goes through the engine trigger); BENCH_KEEP=1 keeps the
# database for the next run and reuses it.
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=pg_slo_bench_trends
here=$(cd "$(dirname "$0")" && pwd)
source "$here/summary.sh"
if [[ "${BENCH_KEEP:-}" == 1 ]] && psql -d "$DB" -tAc "SELECT 1 FROM slo.job_run LIMIT 1" >/dev/null 2>&1; then
  echo "reusing database $DB (BENCH_KEEP=1)"
else
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
  started=$(date +%s)
  psql -d "$DB" -q -v ON_ERROR_STOP=1 -f "$here/trends.sql" >/dev/null
  echo "data built in $(( $(date +%s) - started )) s"
fi
if [[ "${BENCH_KEEP:-}" != 1 ]]; then
  trap 'psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
fi
# The latest business date of the data, and an instant after every instance of it is due.
AS_OF=2026-06-30
AS_OF_TIME="2026-07-02 12:00-04"

# Median wall time in ms of a query over 5 runs (after one warm-up); output is discarded.
time_ms() {
  local sql=$1 out
  out=$(for _ in 1 2 3 4 5 6; do echo '\timing on'; echo '\o /dev/null'; echo "$sql"; done \
    | psql -d "$DB" -qAt 2>&1 | grep '^Time:' | tail -n 5 | awk '{print $2}' | sort -n)
  echo "$out" | sed -n 3p
}
row() {
  printf '%-58s %9.0f ms %9.0f ms %7.2f\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"
  summary "scale, two years: $1" "$(printf '%.0f ms / %.0f ms = %.2f' "$2" "$3" "$(echo "$2 / $3" | bc -l)")" "timed" "-"
}

psql -d "$DB" -qAt -F ' ' -c "SELECT 'events', count(*) FROM slo.job_status" \
  -c "SELECT 'runs', count(*) FROM slo.job_run" \
  -c "SELECT 'jobs', count(*) FROM slo.job" \
  -c "SELECT 'performance rows', count(*) FROM slo.slo_performance" \
  -c "SELECT 'business dates', min(business_date) || ' to ' || max(business_date) FROM slo.slo_performance" \
  | awk '{ printf "   %s\n", $0 }'
echo

events=$(time_ms "SELECT count(*), max(status_time) FROM slo.job_status;")
perf=$(time_ms "SELECT count(*), max(actual_end) FROM slo.slo_performance;")
printf '%-58s %12s %12s %7s\n' "all jobs or SLOs, window of 60 business dates" "pg_slo" "baseline" "ratio"
row "slo.job_duration_trend vs a scan of the events" \
  "$(time_ms "SELECT * FROM slo.job_duration_trend(as_of => '$AS_OF');")" "$events"
row "slo.job_duration_effect vs a scan of the events" \
  "$(time_ms "SELECT * FROM slo.job_duration_effect(as_of => '$AS_OF');")" "$events"
row "slo.host_duration vs a scan of the events" \
  "$(time_ms "SELECT * FROM slo.host_duration(as_of => '$AS_OF');")" "$events"
row "slo.host_effect vs a scan of the events" \
  "$(time_ms "SELECT * FROM slo.host_effect(as_of => '$AS_OF');")" "$events"
row "slo.job_runs_in_window (every run of the windows)" \
  "$(time_ms "SELECT count(*), max(duration), count(host_id) FROM slo.job_runs_in_window(60, '$AS_OF');")" "$events"
row "slo.slo_punctuality vs a scan of slo_performance" \
  "$(time_ms "SELECT * FROM slo.slo_punctuality(as_of => '$AS_OF_TIME');")" "$perf"
row "slo.slo_recommendation vs a scan of slo_performance" \
  "$(time_ms "SELECT * FROM slo.slo_recommendation(as_of => '$AS_OF_TIME');")" "$perf"
echo
printf '%-58s %12s %12s %7s\n' "the whole history" "pg_slo" "baseline" "ratio"
row "slo.job_run, every run of two years, vs a scan of the events" \
  "$(time_ms "SELECT count(*), max(duration), count(host_id) FROM slo.job_run;")" "$events"
row "slo.job_run, one job's two years, vs a scan of the events" \
  "$(time_ms "SELECT count(*), max(duration) FROM slo.job_run WHERE job_id = 'job-1900';")" "$events"
echo
printf '%-58s %12s %12s %7s\n' "the report view at this scale (issue 10)" "pg_slo" "baseline" "ratio"
day=$(time_ms "SELECT count(*) FROM slo.slo_performance WHERE business_date = '$AS_OF';")
row "today's report: every SLO of the latest date, vs its rows" \
  "$(time_ms "SELECT count(*), count(*) FILTER (WHERE state = 'late'), max(end_delay) FROM slo.slo_performance_report WHERE business_date = '$AS_OF';")" "$day"
year=$(time_ms "SELECT count(*) FROM slo.slo_performance WHERE slo_id = 'slo-7' AND business_date > date '$AS_OF' - 365;")
row "one SLO's year of the report, vs its rows" \
  "$(time_ms "SELECT count(*), count(*) FILTER (WHERE state = 'missed'), avg(end_delay) FROM slo.slo_performance_report WHERE slo_id = 'slo-7' AND business_date > date '$AS_OF' - 365;")" "$year"
