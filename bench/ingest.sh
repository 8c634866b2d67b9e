#!/usr/bin/env bash
# HTTP ingest benchmark (issue 10), every figure beside a baseline measured in the same run. One
# release `pg-slo serve` (authentication off: --insecure-no-auth, bench/auth.sh measures what a
# token costs; no rate limit; the default pool) takes every event for jobs that feed SLOs of the
# 2,000-SLO fixture of bench/engine.sql; the baseline inserts the same rows straight into its
# trigger-less copy bench_plain with pgbench. In alternating rounds (BENCH_ROUNDS, default 3, of
# BENCH_SECONDS each, default 10), medians printed:
#  1. single-event POST /v1/job-status from 32 connections (wrk -t 2 -c 32) against single-row
#     INSERT ... ON CONFLICT DO NOTHING into bench_plain from 32 connections (pgbench -M
#     prepared) (goal: ratio >= 0.6);
#  2. batches of 1,000 events per request (8 connections) against the same 1,000 rows as one
#     INSERT ... SELECT FROM generate_series(1, 1000) (8 connections) (goal through the executor, issue 17: ratio >= 0.45);
#     1 and 2 also run, for reference, the same pgbench inserts into slo.job_status itself (the
#     engine's trigger, no HTTP): API/engine is the API's own share of the gap;
#  3. p50 and p99 latency of single events at half the median rate of 1, paced by wrk's delay()
#     (no wrk2 or oha in Debian 12), against direct inserts at the same rate (pgbench -R);
#  4. the API's peak resident memory (VmHWM) after all of it, beside its size at start (goal:
#     < 64 MB).
# Every measurement starts from empty event tables. Needs the extension installed (bench/run.sh
# installs a release build first) and wrk (Debian package, installed here when missing).
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$here/summary.sh"
DB=pg_slo_bench_ingest
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
C1=32 # connections of 1 and 3
CB=8  # connections of 2
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
(cd "$root" && cargo build --release --locked -q -p api)
bin=$root/target/release/pg-slo
url="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
tmp=$(mktemp -d)
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  rm -rf "$tmp"
}
trap cleanup EXIT
# The engine benchmark's fixture without its year of events (a COPY to a file of its own).
awk '/^COPY \(/ {exit} {print}' "$here/engine.sql" | psql -d "$DB" -q -v ON_ERROR_STOP=1 >/dev/null
psql -d "$DB" -q -v ON_ERROR_STOP=1 -c "SELECT 'bench_plain'::regclass" -c "ANALYZE" >/dev/null

flags=(--insecure-no-auth)
if "$bin" serve --help | grep -q -- '--rate-limit-per-sec'; then flags+=(--rate-limit-per-sec 0); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" "${flags[@]}" 2>"$tmp/api.log" &
pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "pg-slo did not start" >&2; cat "$tmp/api.log" >&2; exit 1; }
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
rss_start=$(kb VmRSS)
pool=$("$bin" serve --help | sed -n 's/.*Largest number of database connections.*\[default: \([0-9]*\)\].*/\1/p')

empty() { psql -d "$DB" -qc "TRUNCATE bench_plain, slo.job_status, slo.slo_performance"; }
api() { # batch connections seconds [rate]: one wrk run; prints req/s p50 p99 (ms), warns of errors
  local r p50 p99 bad sock
  read -r r p50 p99 bad sock < <(BATCH=$1 RATE=${4:-0} THREADS=2 ROUND="$(date +%s%N)" \
    wrk -t 2 -c "$2" -d "${3}s" --timeout 30s -s "$here/ingest.lua" "http://127.0.0.1:$port" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}')
  [[ $bad == 0 && $sock == 0 ]] || echo "   (API: $bad answers were not 2xx, $sock socket errors)" >&2
  echo "$r $p50 $p99"
}
direct() { # script connections seconds [pgbench options]: tps of one pgbench run
  local f=$1 c=$2 s=$3; shift 3
  "$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$s" "$@" -f "$here/$f" "$DB" 2>/dev/null | awk '/^tps/ {print $3; exit}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
med() { printf '%s\n' "$@" | median; }
div() { echo "$1 / $2" | bc -l; }

limit=${flags[*]:1}
printf 'release pg-slo serve, authentication OFF (--insecure-no-auth; bench/auth.sh measures its cost),\n'
printf '%s, pool of %s connections (the default). Events for job-0 .. job-1499\n' "${limit:-no rate limit flag}" "${pool:-?}"
printf '(SLOs 0 .. 499 of the 2,000-SLO fixture of bench/engine.sql) into slo.job_status; baseline: the\n'
printf 'same rows into its trigger-less copy bench_plain (pgbench). %s rounds of %s s, alternating\n' "$ROUNDS" "$SECS"

# Warm-up of both paths (connections, prepared statements, caches).
api 1 "$C1" 2 >/dev/null; direct ingest_plain.pgbench "$C1" 2 >/dev/null
api 1000 "$CB" 2 >/dev/null; direct ingest_batch.pgbench "$CB" 2 >/dev/null
direct ingest_engine.pgbench "$C1" 2 >/dev/null; direct ingest_engine_batch.pgbench "$CB" 2 >/dev/null

sides=(api direct engine)
measure() { # section round events-per-request connections single.pgbench engine.pgbench: sets a d e
  local i side
  for i in 0 1 2; do
    # Each round starts with another side, so that none is always measured first or last.
    side=${sides[$(( (i + $2) % 3 ))]}
    empty
    case $side in
      api) read -r a _ < <(api "$3" "$4" "$SECS") ;;
      direct) d=$(direct "$5" "$4" "$SECS") ;;
      engine) e=$(direct "$6" "$4" "$SECS") ;;
    esac
  done
}

echo "1. single events, $C1 connections: POST /v1/job-status (wrk -t 2 -c $C1) against pgbench -M prepared -c $C1"
echo "   of one INSERT ... ON CONFLICT DO NOTHING per transaction into bench_plain (direct, the goal's"
echo "   baseline) and, for reference, into slo.job_status (engine: the same trigger the API meets)"
a1=() d1=() e1=() q1=() k1=()
for r in $(seq 1 "$ROUNDS"); do
  measure 1 "$r" 1 "$C1" ingest_plain.pgbench ingest_engine.pgbench
  a1+=("$a") d1+=("$d") e1+=("$e") q1+=("$(div "$a" "$d")") k1+=("$(div "$a" "$e")")
  printf '   round %d: API %6.0f req/s, direct %6.0f tps, ratio %.2f; engine %6.0f tps, API/engine %.2f\n' \
    "$r" "$a" "$d" "${q1[-1]}" "$e" "${k1[-1]}"
done
max=$(med "${a1[@]}")
printf '   median: API %.0f req/s, direct %.0f tps, ratio %.2f (goal >= 0.6); engine %.0f tps, API/engine %.2f\n' \
  "$max" "$(med "${d1[@]}")" "$(med "${q1[@]}")" "$(med "${e1[@]}")" "$(med "${k1[@]}")"
q=$(med "${q1[@]}")
summary "HTTP ingest: single events, 32 connections, of direct" "$(printf '%.2f' "$q")" ">= 0.6" "$(at_least "$q" 0.6)"

echo "2. batches of 1000 events, $CB connections: a JSON array per POST (wrk -t 2 -c $CB) against pgbench -c $CB of"
echo "   one INSERT ... SELECT FROM generate_series(1, 1000) ... ON CONFLICT DO NOTHING per transaction (the"
echo "   baseline makes equivalent rows in the database: random job and day, a new run_id each), into"
echo "   bench_plain (direct) and, for reference, into slo.job_status (engine)"
a2=() d2=() e2=() q2=() k2=()
for r in $(seq 1 "$ROUNDS"); do
  measure 2 "$r" 1000 "$CB" ingest_batch.pgbench ingest_engine_batch.pgbench
  a=$(echo "$a * 1000" | bc -l) d=$(echo "$d * 1000" | bc -l) e=$(echo "$e * 1000" | bc -l)
  a2+=("$a") d2+=("$d") e2+=("$e") q2+=("$(div "$a" "$d")") k2+=("$(div "$a" "$e")")
  printf '   round %d: API %6.0f events/s, direct %6.0f events/s, ratio %.2f; engine %6.0f events/s, API/engine %.2f\n' \
    "$r" "$a" "$d" "${q2[-1]}" "$e" "${k2[-1]}"
done
printf '   median: API %.0f events/s, direct %.0f events/s, ratio %.2f (goal >= 0.45); engine %.0f events/s, API/engine %.2f\n' \
  "$(med "${a2[@]}")" "$(med "${d2[@]}")" "$(med "${q2[@]}")" "$(med "${e2[@]}")" "$(med "${k2[@]}")"
q=$(med "${q2[@]}")
summary "HTTP ingest: batches of 1,000, 8 connections, of direct" "$(printf '%.2f' "$q")" ">= 0.45" "$(at_least "$q" 0.45)"

half=$(printf '%.0f' "$(div "$max" 2)")
echo "3. latency of single events at $half req/s (half the median API rate of 1), $C1 connections:"
echo "   wrk paced by its delay() (neither wrk2 nor oha is a Debian 12 package) against pgbench -R $half;"
echo "   both measure from the actual send (pgbench: latency minus schedule lag)"
pct() { # p50 and p99 in ms of pgbench's per-transaction logs (latency - lag, in µs)
  cat "$tmp"/lat.* | awk '{print ($3 - $7) / 1000}' | sort -g |
    awk '{a[NR]=$1} END {i=int(NR*0.5); if (i<NR*0.5) i++; j=int(NR*0.99); if (j<NR*0.99) j++; print a[i], a[j]}'
}
ar=() a50=() a99=() dr=() d50=() d99=() q99=()
for r in $(seq 1 "$ROUNDS"); do
  for side in $(if ((r % 2)); then echo api direct; else echo direct api; fi); do
    empty
    if [[ $side == api ]]; then
      read -r x p50 p99 < <(api 1 "$C1" "$SECS" "$half"); ar+=("$x") a50+=("$p50") a99+=("$p99")
    else
      rm -f "$tmp"/lat.*
      x=$(direct ingest_plain.pgbench "$C1" "$SECS" -R "$half" -l --log-prefix="$tmp/lat")
      read -r p50 p99 < <(pct); dr+=("$x") d50+=("$p50") d99+=("$p99")
    fi
  done
  q99+=("$(div "${a99[-1]}" "${d99[-1]}")")
  printf '   round %d: API %5.0f req/s p50 %6.2f ms p99 %6.2f ms; direct %5.0f tps p50 %6.2f ms p99 %6.2f ms; p99 ratio %.1f\n' \
    "$r" "${ar[-1]}" "${a50[-1]}" "${a99[-1]}" "${dr[-1]}" "${d50[-1]}" "${d99[-1]}" "${q99[-1]}"
done
printf '   median: API %.0f req/s p50 %.2f ms p99 %.2f ms; direct %.0f tps p50 %.2f ms p99 %.2f ms; p99 API/direct %.1f\n' \
  "$(med "${ar[@]}")" "$(med "${a50[@]}")" "$(med "${a99[@]}")" "$(med "${dr[@]}")" "$(med "${d50[@]}")" \
  "$(med "${d99[@]}")" "$(med "${q99[@]}")"
summary "HTTP ingest: latency at half rate, p50 / p99 (direct)" \
  "$(printf '%.2f / %.2f ms (%.2f / %.2f)' "$(med "${a50[@]}")" "$(med "${a99[@]}")" "$(med "${d50[@]}")" "$(med "${d99[@]}")")" "measured" "-"

echo "4. memory of the API process after all of the above"
printf '   peak resident (VmHWM) %.1f MB (goal < 64 MB); resident at start %.1f MB, now %.1f MB\n' \
  "$(div "$(kb VmHWM)" 1024)" "$(div "$rss_start" 1024)" "$(div "$(kb VmRSS)" 1024)"
mb=$(div "$(kb VmHWM)" 1024)
summary "HTTP ingest: the API's peak resident memory" "$(printf '%.1f MB' "$mb")" "< 64 MB" "$(below "$mb" 64)"
