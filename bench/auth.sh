#!/usr/bin/env bash
# Authentication benchmark (issue 5): what a token check costs the ingest path. The release
# `pg-slo serve` takes single-event POSTs from wrk (2 threads, 8 connections, BENCH_SECONDS each,
# default 10) in three modes, in alternating rounds (BENCH_ROUNDS, default 3), and prints the
# median of each:
#   - off:   no authentication (--insecure-no-auth), the baseline;
#   - token: a pg_slo token (cached per instance, --auth-cache-secs 10);
#   - jwt:   an RS256 JWT, verified on every request.
# Besides requests per second and the median latency (both shaken by whatever else the machine
# runs), it reports the CPU time each request costs, read from /proc: the pg-slo process, and
# the database backends of its connections. Goal: each authenticated mode within a few percent.
# Each event is a new run of a job without an SLO: the cheapest insert there is, so the share of
# authentication is as large as it gets. Every measurement starts from an empty event table, and
# each round starts with another mode.
# Needs the extension installed (bench/run.sh installs a release build first) and wrk (Debian
# package, installed here when missing).
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/summary.sh"
root=$(cd "$here/.." && pwd)
DB=pg_slo_bench_auth
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
(cd "$root" && cargo build --release --locked -q -p api)
bin=$root/target/release/pg-slo
url="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
}
trap cleanup EXIT
psql -d "$DB" -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_slo" -f "$root/pg_slo/tests/pg_regress/foxfire.sql" >/dev/null
token=$("$bin" token issue --database-url "$url" --client bench --apps overdrafts 2>/dev/null)
psql -d "$DB" -qc "INSERT INTO slo.client (client_id) VALUES ('bench-jwt');
                   INSERT INTO slo.client_application VALUES ('bench-jwt', 'overdrafts')"

# An RS256 JWT signed with the test key (api/tests/fixtures/jwt), valid for an hour.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
keys=$root/api/tests/fixtures/jwt
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"sub":"bench-jwt","aud":"pg-slo","exp":%d}' $(( $(date +%s) + 3600 )) | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$keys/rsa-private.pem" -binary | b64url)
jwt="$header.$payload.$signature"

serve() { # starts pg-slo serve with extra flags; sets pid and port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  RUST_LOG=warn "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --rate-limit-per-sec 0 "$@" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "pg-slo did not start" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
ticks() { # CPU ticks (user + system) of the pg-slo process and of its database backends
  local db=0 p
  for p in $(psql -d postgres -tAc "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg-slo' AND datname = '$DB'"); do
    db=$((db + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$(awk '{print $14 + $15}' "/proc/$pid/stat") $db"
}
hz=$(getconf CLK_TCK)
declare -A rps p50 api_us db_us
run() { # mode auth-header round: empties the event table, warms up, then measures one wrk run
  local a0 d0 a1 d1 r l bad n
  psql -d "$DB" -qc "TRUNCATE slo.job_status"
  AUTH=$2 ROUND="w$3" wrk -t 2 -c 8 -d 2s -s "$here/auth.lua" "http://127.0.0.1:$port" >/dev/null
  read -r a0 d0 < <(ticks)
  read -r r l bad < <(AUTH=$2 ROUND=$3 wrk -t 2 -c 8 -d "${SECS}s" -s "$here/auth.lua" "http://127.0.0.1:$port" | awk '/^RESULT/ {print $2, $3, $4}')
  read -r a1 d1 < <(ticks)
  [[ $bad == 0 ]] || echo "   ($1: $bad answers were not 201)" >&2
  n=$(echo "$r * $SECS" | bc -l)
  rps[$1]+="$r "; p50[$1]+="$l "
  api_us[$1]+="$(echo "($a1 - $a0) * 1000000 / $hz / $n" | bc -l) "
  db_us[$1]+="$(echo "($d1 - $d0) * 1000000 / $hz / $n" | bc -l) "
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # mode round
  case $1 in
    off) serve --insecure-no-auth; run off "" "off$2" ;;
    token) serve; run token "Bearer $token" "tok$2" ;;
    jwt) serve --jwt-rs256-public-key-file "$keys/rsa-public.pem" --jwt-audience pg-slo; run jwt "Bearer $jwt" "jwt$2" ;;
  esac
  stop
}
modes=(off token jwt)
for r in $(seq 1 "$ROUNDS"); do
  # Each round starts with another mode, so that none is always measured first or last.
  for i in 0 1 2; do measure "${modes[$(( (i + r) % 3 ))]}" "$r"; done
done
base_rps=$(echo "${rps[off]}" | median)
base_cpu=$(echo "$(echo "${api_us[off]}" | median) + $(echo "${db_us[off]}" | median)" | bc -l)
printf '   %-6s %9s %8s %12s %12s %12s %10s\n' mode "req/s" "p50 ms" "API µs/req" "DB µs/req" "CPU µs/req" "CPU ratio"
for m in off token jwt; do
  a=$(echo "${api_us[$m]}" | median); d=$(echo "${db_us[$m]}" | median)
  printf '   %-6s %9.0f %8.2f %12.0f %12.0f %12.0f %10.3f\n' "$m" "$(echo "${rps[$m]}" | median)" \
    "$(echo "${p50[$m]}" | median)" "$a" "$d" "$(echo "$a + $d" | bc -l)" "$(echo "($a + $d) / $base_cpu" | bc -l)"
  [[ $m == off ]] || summary "authentication: CPU per request with $m, of none" \
    "$(printf '%.2f' "$(echo "($a + $d) / $base_cpu" | bc -l)")" "timed" "-"
done
printf '   (medians of %s rounds of %s s; req/s of off: %.0f)\n' "$ROUNDS" "$SECS" "$base_rps"
