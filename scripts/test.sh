#!/usr/bin/env bash
# The test command: installs what the build needs (skipping what is there), installs the
# extension into the local PostgreSQL, and runs every test tier:
#   1. formatting and lints;
#   2. extension tests: pg_regress against the system cluster (pg_slo/tests/pg_regress), the
#      isolation specs (pg_slo/tests/isolation, pg_isolation_regress: sessions interleaved in
#      open transactions), and the release checks (scripts/upgrade_test.sh);
#   3. schema-driven fuzzing of the HTTP API (scripts/api_fuzz.sh: schemathesis, no 5xx);
#   4. unit and property tests (slo_core, api; hostile input included), API integration tests
#      (api/tests, one database per test) and end-to-end tests (tests/tests, the real pg-slo
#      binary; reliability: SIGKILL of the API, two instances, an immediate restart of a
#      scratch PostgreSQL), with cargo-nextest; the Kafka tests against a test broker (tansu)
#      started here on loopback and stopped at the end;
#   5. the newest PostgreSQL too (scripts/test-matrix.sh 18: the extension built for 18 and
#      tiers 2 and the engine's property test run on a cluster of 18 of its own, stopped at the
#      end; the system cluster, 15, is the oldest and is what the steps above cover).
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

log "extension concurrency tests (pg_isolation_regress)"
"$ROOT/scripts/isolation.sh"

log "extension release checks (released scripts unchanged, upgrades keep data)"
"$ROOT/scripts/upgrade_test.sh"

cargo build --locked -p api --bin pg-slo
log "schema-driven fuzzing of the HTTP API (schemathesis against /openapi.json: no 5xx)"
"$ROOT/scripts/api_fuzz.sh"

log "unit, integration and end-to-end tests"
drop_stale_test_databases
trap stop_test_broker EXIT
start_test_broker
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
drop_stale_test_databases

log "PostgreSQL 18: pg_regress, isolation, upgrade and the engine's property test (scripts/test-matrix.sh 18)"
"$ROOT/scripts/test-matrix.sh" 18
