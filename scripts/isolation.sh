#!/usr/bin/env bash
# Runs the extension's isolation specs (pg_slo/tests/isolation: specs/*.spec, expected/*.out,
# the order in isolation_schedule) with PostgreSQL's own pg_isolation_regress, which ships in
# postgresql-server-dev-15. Each spec drives several sessions through chosen interleavings of
# open transactions, and checks the rows left behind. Against the system cluster by default;
# honours PG_CONFIG, PGPORT and PG_SLO_SOCKET_DIR as scripts/pg_regress.sh does (and
# PG_SLO_PRIVATE_PG, a private cluster of scripts/dev-cluster.sh). Assumes the extension is
# installed; pg_isolation_regress recreates the database pg_slo_isolation and creates the
# extension in it (--load-extension), and each spec's setup and teardown make and remove its
# own definitions.
# Usage: scripts/isolation.sh [--accept]   (--accept copies results over expected/ files)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/pg_slo/tests/isolation"
if [[ -n "${PG_SLO_PRIVATE_PG:-}" ]]; then
  # shellcheck source=/dev/null
  source "$PG_SLO_PRIVATE_PG/env.sh"
fi
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
pgxs=$(dirname "$("$PG_CONFIG" --pgxs)")
out=$(mktemp -d /tmp/pg_slo_isolation.XXXXXX)
chown postgres: "$out"
mapfile -t tests < <(sed -n 's/^test: *//p' "$dir/isolation_schedule" | tr ' ' '\n' | sed '/^$/d')
status=0
cd "$here"
if [[ "${1:-}" == "--accept" ]]; then
  # A new spec has no expected file yet; pg_isolation_regress stops at a missing one.
  for t in "${tests[@]}"; do [[ -f "$dir/expected/$t.out" ]] || : >"$dir/expected/$t.out"; done
fi
runuser -u postgres -- "$pgxs/../test/isolation/pg_isolation_regress" \
  --bindir="$bindir" --host="${PG_SLO_SOCKET_DIR:-/var/run/postgresql}" --port="${PGPORT:-5432}" \
  --inputdir="$dir" --outputdir="$out" --dbname=pg_slo_isolation --load-extension=pg_slo \
  --schedule="$dir/isolation_schedule" || status=$?
if [[ "${1:-}" == "--accept" ]]; then
  for t in "${tests[@]}"; do
    if [[ -f "$out/results/$t.out" ]]; then cp "$out/results/$t.out" "$dir/expected/$t.out"; fi
  done
  echo "accepted results into $dir/expected"
elif [[ $status -ne 0 ]]; then
  cat "$out/regression.diffs" 2>/dev/null || true
fi
rm -rf "$out"
exit $status
