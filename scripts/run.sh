#!/usr/bin/env bash
# The run command: sets up everything on a fresh Debian 12 machine with PostgreSQL 15 and
# starts the pg_slo API in the foreground (Ctrl-C stops it gracefully).
#   - installs what the build needs (Debian packages, the pinned cargo-pgrx), skipping what is there;
#   - builds the extension (release) and installs it into the local PostgreSQL, preloaded so its
#     background worker runs slo.evaluate() every 30 seconds in database pg_slo;
#   - creates database pg_slo (override with PG_SLO_DB) with the extension and the brief's
#     example definitions (examples/foxfire.sql);
#   - issues a demo token (client demo, the example applications) into
#     ~/.config/pg-slo/demo-token (override with PG_SLO_DEMO_TOKEN_FILE), or reuses the one there
#     while the database still accepts it;
#   - serves the API on 127.0.0.1:8080 (override with PG_SLO_LISTEN), authentication on.
source "$(dirname "$0")/lib.sh"
DB=${PG_SLO_DB:-pg_slo}

ensure_prerequisites
install_extension --release
configure_evaluator
ensure_database "$DB"
log "loading the example definitions (examples/foxfire.sql)"
psql -d "$DB" -v ON_ERROR_STOP=1 -q -f "$ROOT/examples/foxfire.sql" >/dev/null
log "building the API"
(cd "$ROOT" && cargo build --release --locked -p api)
export DATABASE_URL=${DATABASE_URL:-"host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"}
TOKEN_FILE=${PG_SLO_DEMO_TOKEN_FILE:-$HOME/.config/pg-slo/demo-token}
token=$(cat "$TOKEN_FILE" 2>/dev/null || true)
if [[ $token =~ ^pgslo_[0-9a-f]{64}$ ]] && [[ $(printf "SELECT count(*) FROM slo.authenticate(slo.token_hash('%s'))" "$token" \
     | psql -d "$DB" -tA) == 1 ]]; then
  log "reusing the demo token in $TOKEN_FILE"
else
  log "issuing a demo token (client demo: overdrafts, decision_support, deposits) into $TOKEN_FILE"
  mkdir -p "$(dirname "$TOKEN_FILE")"
  (umask 077 && "$ROOT/target/release/pg-slo" token issue --client demo \
     --apps overdrafts,decision_support,deposits --note "scripts/run.sh demo token" >"$TOKEN_FILE.new")
  mv "$TOKEN_FILE.new" "$TOKEN_FILE"
fi
log "post with: -H \"authorization: Bearer \$(cat $TOKEN_FILE)\""
log "starting pg-slo serve (DATABASE_URL=$DATABASE_URL)"
exec "$ROOT/target/release/pg-slo" serve "$@"
