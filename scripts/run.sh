#!/usr/bin/env bash
# The run command: sets up everything on a fresh Debian 12 machine with PostgreSQL 15 and
# starts the pg_slo API in the foreground (Ctrl-C stops it gracefully).
#   - installs what the build needs (Debian packages, the pinned cargo-pgrx), skipping what is there;
#   - builds the extension (release) and installs it into the local PostgreSQL, preloaded so its
#     background worker runs slo.evaluate() every 30 seconds in database pg_slo;
#   - creates database pg_slo (override with PG_SLO_DB) with the extension and the brief's
#     example definitions (examples/foxfire.sql);
#   - serves the API on 127.0.0.1:8080 (override with PG_SLO_LISTEN).
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
log "starting pg-slo serve (DATABASE_URL=$DATABASE_URL)"
exec "$ROOT/target/release/pg-slo" serve "$@"
