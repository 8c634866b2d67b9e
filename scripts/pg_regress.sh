#!/usr/bin/env bash
# Runs the extension's pg_regress tests against the system cluster (see shared PGRX.md:
# `cargo pgrx regress` does not work as root). Assumes the extension is installed.
# Usage: scripts/pg_regress.sh [--accept]   (--accept copies results over expected/ files)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/pg_slo/tests/pg_regress"
if [[ -n "${PG_SLO_PRIVATE_PG:-}" ]]; then
  # shellcheck source=/dev/null
  source "$PG_SLO_PRIVATE_PG/env.sh"  # a private cluster of scripts/dev-cluster.sh
fi
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
pgxs=$(dirname "$("$PG_CONFIG" --pgxs)")
out=$(mktemp -d /tmp/pg_slo_regress.XXXXXX)
chown postgres: "$out"
tests=(setup schema_checks duplicates calendars engine dba_rules alerts trends ingest auth comments)
status=0
cd "$here"
runuser -u postgres -- "$pgxs/../test/regress/pg_regress" \
  --bindir="$bindir" --host="${PG_SLO_SOCKET_DIR:-/var/run/postgresql}" --port="${PGPORT:-5432}" \
  --inputdir="$dir" --outputdir="$out" --dbname=pg_slo_regress "${tests[@]}" || status=$?
if [[ "${1:-}" == "--accept" ]]; then
  for t in "${tests[@]}"; do cp "$out/results/$t.out" "$dir/expected/$t.out"; done
  echo "accepted results into $dir/expected"
elif [[ $status -ne 0 ]]; then
  cat "$out/regression.diffs" 2>/dev/null || true
fi
rm -rf "$out"
exit $status
