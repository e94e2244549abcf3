#!/usr/bin/env bash
# Installs what `npm test` and `npm run demo` need and a fresh clone lacks: Debian's openssl and
# postgresql (and lua5.1 for the tests of the Argo CD health checks) with apt-get when running as
# root, and the npm dependencies (npm ci) when node_modules is missing or older than the lockfile.
# Go (for the local control plane, built and cached on first use) must be there already.
# Usage: scripts/setup.sh [--demo]   (--demo: without the test-only packages)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
# Any layout: PG_BIN_DIR, pg_config --bindir, Debian's, Homebrew's, the PGDG RPMs' (find-postgres.sh).
if [[ -n "${PG_BIN_DIR:-}" ]]; then
  pg_bin="$(bash scripts/find-postgres.sh)" || exit 1 # yours: nothing to install
else
  pg_bin="$(bash scripts/find-postgres.sh 2>/dev/null)" || need_apt+=(postgresql)
fi
[[ "${1:-}" == "--demo" ]] || command -v lua5.1 >/dev/null || need_apt+=(lua5.1)
if (( ${#need_apt[@]} )); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing: ${need_apt[*]} (on Debian: sudo apt-get install -y ${need_apt[*]})" >&2
    [[ " ${need_apt[*]} " == *" postgresql "* ]] && bash scripts/find-postgres.sh >/dev/null || true
    exit 1
  fi
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The Debian package starts a cluster of its own; the tests and the demo start their own servers.
  command -v pg_ctlcluster >/dev/null && (service postgresql stop >/dev/null 2>&1 || true)
  pg_bin="$(bash scripts/find-postgres.sh)"
fi
echo "PostgreSQL server binaries: ${pg_bin} (set PG_BIN_DIR to use others)"

command -v node >/dev/null || { echo "Node.js >= 20.19 is needed" >&2; exit 1; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
