#!/usr/bin/env bash
# The run command: sets up everything on a fresh Debian 12 machine with PostgreSQL 15 and
# starts the pg_slo API in the foreground (Ctrl-C stops it gracefully).
#   - installs what the build needs (Debian packages, the pinned cargo-pgrx), skipping what is there;
#   - builds the extension (release) and installs it into the local PostgreSQL, preloaded so its
#     background worker runs slo.evaluate() every 30 seconds in database pg_slo;
#   - creates database pg_slo (override with PG_SLO_DB) with the extension, and applies the
#     brief's definitions (examples/foxfire.toml, or PG_SLO_DEFINITIONS) with `pg-slo apply`;
#   - serves the API on 127.0.0.1:8080 (override with PG_SLO_LISTEN).
#
# Usage: scripts/run.sh [--demo] [--history] [SERVE FLAGS...]
#   --demo     once the API answers, a simulated scheduler (`pg-slo demo`) posts the brief's day
#              (a restart after a failure, a late job, a job never started) and the report shows it
#   --history  the same, after 60 days of generated history (for the trend views)
#   other flags go to `pg-slo serve`.
# When the API requires a token, set PG_SLO_TOKEN (see demo_token below).
source "$(dirname "$0")/lib.sh"
DB=${PG_SLO_DB:-pg_slo}
DEFINITIONS=${PG_SLO_DEFINITIONS:-$ROOT/examples/foxfire.toml}
DEMO=0
HISTORY_DAYS=0
SERVE_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --demo) DEMO=1 ;;
    --history) DEMO=1; HISTORY_DAYS=60 ;;
    *) SERVE_ARGS+=("$arg") ;;
  esac
done

# The token the demo sends as `Authorization: Bearer`: PG_SLO_TOKEN when set. A deployment with
# authentication issues one here (for example with `pg-slo token ...`) and prints it.
demo_token() {
  printf '%s' "${PG_SLO_TOKEN:-}"
}

ensure_prerequisites
install_extension --release
configure_evaluator
ensure_database "$DB"
log "building the API"
(cd "$ROOT" && cargo build --release --locked -p api)
BIN=$ROOT/target/release/pg-slo
export DATABASE_URL=${DATABASE_URL:-"host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"}
log "applying the definitions ($DEFINITIONS)"
"$BIN" apply "$DEFINITIONS"

export PG_SLO_LISTEN=${PG_SLO_LISTEN:-127.0.0.1:8080}
if ((DEMO == 0)); then
  log "starting pg-slo serve (DATABASE_URL=$DATABASE_URL)"
  exec "$BIN" serve "${SERVE_ARGS[@]}"
fi

log "starting pg-slo serve (DATABASE_URL=$DATABASE_URL)"
"$BIN" serve "${SERVE_ARGS[@]}" &
SERVER=$!
trap 'kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER"; exit 0' INT TERM
for _ in $(seq 1 50); do
  curl -fsS "http://$PG_SLO_LISTEN/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { echo "pg-slo serve stopped" >&2; exit 1; }
  sleep 0.2
done
log "simulating the scheduler (pg-slo demo --history-days $HISTORY_DAYS)"
PG_SLO_TOKEN=$(demo_token) "$BIN" demo --api-url "http://$PG_SLO_LISTEN" \
  --definitions "$DEFINITIONS" --history-days "$HISTORY_DAYS" || true
log "serving on $PG_SLO_LISTEN; try: $BIN report    (Ctrl-C stops the API)"
wait "$SERVER"
