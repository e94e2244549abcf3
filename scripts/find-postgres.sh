#!/usr/bin/env bash
# Prints the directory of the PostgreSQL server binaries (initdb, pg_ctl, postgres) that the tests
# and the demo start, on any layout: $PG_BIN_DIR, else `pg_config --bindir`, else Debian's newest
# /usr/lib/postgresql/N/bin, else Homebrew's and the PGDG RPMs' usual places. Exit 1 (and a hint on
# stderr) when there is none. test/support/postgres.ts looks in the same order.
set -euo pipefail

has_server() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]; }

if [[ -n "${PG_BIN_DIR:-}" ]]; then
  has_server "$PG_BIN_DIR" && { echo "$PG_BIN_DIR"; exit 0; }
  echo "PG_BIN_DIR=$PG_BIN_DIR has no initdb, pg_ctl and postgres" >&2
  exit 1
fi
if command -v pg_config >/dev/null 2>&1; then
  dir="$(pg_config --bindir 2>/dev/null || true)"
  [[ -n "$dir" ]] && has_server "$dir" && { echo "$dir"; exit 0; }
fi
shopt -s nullglob
for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r) /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin /usr/pgsql-*/bin; do
  has_server "$dir" && { echo "$dir"; exit 0; }
done
echo "PostgreSQL server binaries not found: install PostgreSQL (Debian: apt-get install postgresql; macOS: brew install postgresql@17; Fedora: dnf install postgresql-server), or set PG_BIN_DIR to the directory holding initdb, pg_ctl and postgres" >&2
exit 1
