#!/usr/bin/env bash
# A private PostgreSQL server for one test run: a fresh directory of its own (mktemp), no TCP
# port (a Unix socket in that directory), trust authentication, started and stopped by
# `make test`. Two runs at once get two servers; stopping one leaves the other alone.
#   url=$(scripts/test-postgres.sh start)   -> the SQLAlchemy URL of the admin database
#   scripts/test-postgres.sh stop "$url"    -> stops that server and removes its directory
# CCBOX_TEST_PG_DIR=/some/dir keeps the server in that directory instead (kept by stop, and
# reused by the next start: quicker when running pytest by hand).
set -euo pipefail

BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/initdb" ] || { echo "test-postgres: no PostgreSQL server found (run scripts/system-deps.sh)" >&2; exit 1; }
MARK=.ccbox-test-pg  # in every directory this script made: stop removes nothing else

# PostgreSQL refuses to run as root: as root, run it as the postgres user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir
  if [ -n "${CCBOX_TEST_PG_DIR:-}" ]; then
    dir="$CCBOX_TEST_PG_DIR"
    mkdir -p "$dir"
  else
    dir="$(mktemp -d "${TMPDIR:-/tmp}/ccbox-test-pg.XXXXXX")"
  fi
  touch "$dir/$MARK"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
  fi
  echo "postgresql+psycopg://postgres@/postgres?host=$dir"
}

stop() {
  # the URL start printed (its host= is the directory), or the directory itself
  local dir="${1:-${CCBOX_TEST_PG_DIR:-}}"
  dir="${dir##*host=}"
  dir="${dir%%&*}"
  [ -n "$dir" ] || { echo "usage: $0 stop URL-or-directory" >&2; exit 2; }
  [ -f "$dir/$MARK" ] || { echo "test-postgres: $dir is not a server of this script" >&2; exit 1; }
  as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  if [ "$dir" != "${CCBOX_TEST_PG_DIR:-}" ]; then
    rm -rf "$dir"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop URL-or-directory" >&2; exit 2 ;;
esac
