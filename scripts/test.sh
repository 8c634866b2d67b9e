#!/usr/bin/env bash
# The test command: installs what the build needs (skipping what is there), installs the
# extension into the local PostgreSQL, and runs every test tier:
#   1. formatting and lints;
#   2. extension tests: pg_regress against the system cluster (pg_slo/tests/pg_regress), and the
#      release checks (scripts/upgrade_test.sh);
#   3. unit tests (slo_core, api), API integration tests (api/tests, one database per test)
#      and end-to-end tests (tests/tests, the real pg-slo binary), with cargo-nextest; the Kafka
#      tests against a test broker (tansu) started here on loopback and stopped at the end.
# PostgreSQL is left running.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_prerequisites
install_extension
configure_evaluator
# The evaluator test's scratch database: always the extension as just built.
ensure_database pg_slo_bgworker_test
psql -d pg_slo_bgworker_test -qc "DROP EXTENSION pg_slo CASCADE" -c "CREATE EXTENSION pg_slo"

log "formatting and lints"
cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked -p pg_slo --all-targets -- -D warnings

log "extension tests (pg_regress)"
"$ROOT/scripts/pg_regress.sh"

log "extension release checks (released scripts unchanged, upgrades keep data)"
"$ROOT/scripts/upgrade_test.sh"

log "unit, integration and end-to-end tests"
drop_stale_test_databases
trap stop_test_broker EXIT
start_test_broker
cargo build --locked -p api --bin pg-slo
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
drop_stale_test_databases
