#!/usr/bin/env bash
# Schema-driven fuzzing of the HTTP API (issue 10), run by scripts/test.sh: schemathesis (from
# PyPI, pinned, installed into target/schemathesis-venv when missing) reads GET /openapi.json of
# the real `pg-slo serve` (debug build) and sends requests generated from it, valid and invalid,
# to every operation, with a token of a client allowed the brief's applications. The one check
# that must hold: no answer is a 5xx. (A 4xx is the API doing its job; the OpenAPI test in
# api/tests checks the documented shapes against real answers.) Bounded: SCHEMATHESIS_EXAMPLES
# cases per operation (default 150), on loopback, with a database of its own that is dropped.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-150}
venv=$ROOT/target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION (PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

DB=pg_slo_api_fuzz
bin=$ROOT/target/debug/pg-slo
cargo build --locked -q -p api --bin pg-slo # a no-op when scripts/test.sh has just built it
url="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
}
trap cleanup EXIT
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -d "$DB" -qc "CREATE EXTENSION pg_slo"
"$bin" apply --database-url "$url" examples/foxfire.toml >/dev/null
token=$("$bin" token issue --database-url "$url" --client fuzz --apps overdrafts,decision_support,deposits 2>/dev/null)

port=$(free_port)
RUST_LOG=warn "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --rate-limit-per-sec 0 \
  2>"$ROOT/target/api_fuzz.log" &
pid=$!
healthy() { python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; }
for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
healthy || { echo "pg-slo serve did not start" >&2; exit 1; }

log "schemathesis against /openapi.json: $EXAMPLES cases per operation, no 5xx allowed"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --url "http://127.0.0.1:$port" \
  --checks not_a_server_error \
  --header "Authorization: Bearer $token" \
  --max-examples "$EXAMPLES" \
  --seed 20261202 \
  --suppress-health-check all \
  --no-color
stored=$(psql -d "$DB" -tAc "SELECT count(*) FROM slo.job_status")
echo "api fuzz: no 5xx; $stored generated events were valid enough to be stored"
if grep -q '"level":"ERROR"\| ERROR ' "$ROOT/target/api_fuzz.log"; then
  echo "the API logged errors during the fuzz run (target/api_fuzz.log):" >&2
  grep -m 20 'ERROR' "$ROOT/target/api_fuzz.log" >&2
  exit 1
fi
