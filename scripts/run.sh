#!/usr/bin/env bash
# The run command: sets up everything on a fresh Debian 12 machine with PostgreSQL 15 and
# starts the pg_slo API in the foreground (Ctrl-C stops it gracefully).
#   - installs what the build needs (Debian packages, the pinned cargo-pgrx), skipping what is there;
#   - builds the extension (release) and installs it into the local PostgreSQL, preloaded so its
#     background worker runs slo.evaluate() every 30 seconds in database pg_slo;
#   - creates database pg_slo (override with PG_SLO_DB) with the extension, and applies the
#     brief's definitions (examples/foxfire.toml, or PG_SLO_DEFINITIONS) with `pg-slo apply`;
#   - issues a demo token (client demo, the example applications) into
#     ~/.config/pg-slo/demo-token (override with PG_SLO_DEMO_TOKEN_FILE), or reuses the one there
#     while the database still accepts it;
#   - serves the API on 127.0.0.1:8080 (override with PG_SLO_LISTEN), authentication on.
#
# Usage: scripts/run.sh [--demo] [--history] [SERVE FLAGS...]
#   --demo     once the API answers, a simulated scheduler (`pg-slo demo`) posts the brief's day
#              (a restart after a failure, a late job, a job never started) and the report shows it
#   --history  the same, after 60 days of generated history (for the trend views)
#   other flags go to `pg-slo serve`.
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

TOKEN_FILE=${PG_SLO_DEMO_TOKEN_FILE:-$HOME/.config/pg-slo/demo-token}
token=$(cat "$TOKEN_FILE" 2>/dev/null || true)
if [[ $token =~ ^pgslo_[0-9a-f]{64}$ ]] && [[ $(printf "SELECT count(*) FROM slo.authenticate(slo.token_hash('%s'))" "$token" \
     | psql -d "$DB" -tA) == 1 ]]; then
  log "reusing the demo token in $TOKEN_FILE"
else
  log "issuing a demo token (client demo: overdrafts, decision_support, deposits) into $TOKEN_FILE"
  mkdir -p "$(dirname "$TOKEN_FILE")"
  (umask 077 && "$BIN" token issue --client demo \
     --apps overdrafts,decision_support,deposits --note "scripts/run.sh demo token" >"$TOKEN_FILE.new")
  mv "$TOKEN_FILE.new" "$TOKEN_FILE"
fi
log "post with: -H \"authorization: Bearer \$(cat $TOKEN_FILE)\""

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
PG_SLO_TOKEN=$(cat "$TOKEN_FILE") "$BIN" demo --api-url "http://$PG_SLO_LISTEN" \
  --definitions "$DEFINITIONS" --history-days "$HISTORY_DAYS" || true
log "serving on $PG_SLO_LISTEN; try: $BIN report    (Ctrl-C stops the API)"
wait "$SERVER"
