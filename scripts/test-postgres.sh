#!/usr/bin/env bash
# A private PostgreSQL server for the test suite: its own data directory, no TCP port
# (a Unix socket in that directory), trust authentication, started and stopped by `make test`.
#   scripts/test-postgres.sh start   -> prints the SQLAlchemy URL of the admin database
#   scripts/test-postgres.sh stop
set -euo pipefail

DIR="${CCBOX_TEST_PG_DIR:-/tmp/ccbox-test-pg-$(id -u)}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/initdb" ] || { echo "test-postgres: no PostgreSQL server found (run scripts/system-deps.sh)" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run it as the postgres user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
      rm -rf "$DIR"
      mkdir -p "$DIR"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
      as_pg "$BIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-k $DIR -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null \
        || { cat "$DIR/server.log" >&2; exit 1; }
    fi
    echo "postgresql+psycopg://postgres@/postgres?host=$DIR"
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
