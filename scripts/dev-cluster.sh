#!/usr/bin/env bash
# A private PostgreSQL 15 for development, beside the system one.
#
# The extension installs into PostgreSQL's own directories, so two checkouts that build different
# versions of it cannot test against one server at once. This makes a relocated copy of the
# system's PostgreSQL 15 (binaries, libraries, share directory; headers linked) under DIR, with its
# own cluster listening on 127.0.0.1:PORT, and writes DIR/env.sh. Then:
#
#   PG_SLO_PRIVATE_PG=DIR scripts/test.sh      # every step uses the private server
#
# CI and the README's commands do not use this; they use the system cluster.
# Usage: scripts/dev-cluster.sh DIR PORT      (again on an existing DIR: just starts it)
#        scripts/dev-cluster.sh --stop DIR
set -euo pipefail
if [[ "${1:-}" == "--stop" ]]; then
  runuser -u postgres -- "$2/lib/postgresql/15/bin/pg_ctl" -D "$2/data" -m fast stop
  exit 0
fi
DIR=${1:?usage: scripts/dev-cluster.sh DIR PORT}
PORT=${2:?usage: scripts/dev-cluster.sh DIR PORT}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BIN=$DIR/lib/postgresql/15/bin

if [[ ! -x $BIN/postgres ]]; then
  # PostgreSQL finds its share and library directories relative to its binaries, so a copy
  # laid out like /usr (lib/postgresql/15, share/postgresql/15) is self-contained.
  mkdir -p "$DIR/lib/postgresql" "$DIR/share/postgresql" "$DIR/include"
  cp -a /usr/lib/postgresql/15 "$DIR/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$DIR/share/postgresql/"
  ln -sfn /usr/include/postgresql "$DIR/include/postgresql"
fi
if [[ ! -f $DIR/data/PG_VERSION ]]; then
  install -d -o postgres -g postgres "$DIR/data" "$DIR/run"
  runuser -u postgres -- "$BIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
  install -d -o postgres -g postgres "$DIR/data/conf.d"
  cat >>"$DIR/data/postgresql.conf" <<EOF
# scripts/dev-cluster.sh
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/run'
include_dir = 'conf.d'
EOF
fi
cat >"$DIR/env.sh" <<EOF
# Written by scripts/dev-cluster.sh; read by scripts/lib.sh when PG_SLO_PRIVATE_PG=$DIR.
PG_CONFIG=$BIN/pg_config
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
PG_SLO_SOCKET_DIR=$DIR/run
PG_SLO_CONF_DIR=$DIR/data/conf.d
PG_SLO_PG_CTL="runuser -u postgres -- $BIN/pg_ctl -D $DIR/data -l $DIR/data/server.log -w"
export PG_SLO_TEST_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
EOF
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/data/server.log" -w start >/dev/null
fi
echo "private PostgreSQL 15 on 127.0.0.1:$PORT; use it with PG_SLO_PRIVATE_PG=$DIR"
