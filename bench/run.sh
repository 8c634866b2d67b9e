#!/usr/bin/env bash
# Runs every benchmark with a release build of the extension and prints each figure beside a
# baseline measured in the same run (these machines are noisy: compare ratios, not times).
# Afterwards the release build stays installed; scripts/test.sh installs its debug build again.
source "$(dirname "$0")/../scripts/lib.sh"
ensure_prerequisites
install_extension --release
(cd "$ROOT" && cargo build --release --locked -p api)
BENCH_SUMMARY=$(mktemp)
export BENCH_SUMMARY
trap 'rm -f "$BENCH_SUMMARY"' EXIT
echo
echo "== calendars (issue 3) =="
"$ROOT/bench/calendar.sh"
echo
echo "== engine (issue 4) =="
"$ROOT/bench/engine.sh"
echo
echo "== authentication (issue 5) =="
"$ROOT/bench/auth.sh"
echo
echo "== trends (issue 7) =="
"$ROOT/bench/trends.sh"
echo
echo "== backfill (issue 8) =="
"$ROOT/bench/backfill.sh"
echo
echo "== HTTP ingest (issue 10) =="
"$ROOT/bench/ingest.sh"
echo
echo "== the benchmark table: each figure as a ratio to its baseline measured in this run, or a time =="
{
  printf 'what\tfigure\tgoal\tverdict\n'
  cat "$BENCH_SUMMARY"
} | if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi
