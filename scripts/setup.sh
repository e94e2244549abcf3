#!/usr/bin/env bash
# Installs what `npm test` and `npm run demo` need and a fresh clone lacks: Debian's openssl and
# postgresql (and lua5.1 for the tests of the Argo CD health checks) with apt-get when running as
# root, the packages Citus builds with (postgresql-server-dev-N and the headers it includes), then
# builds Citus into the cache (tools/citus/build.sh: about 3 minutes cold, a no-op warm), and the
# npm dependencies (npm ci) when node_modules is missing or older than the lockfile.
# Go (for the local control plane, built and cached on first use) must be there already. Then
# Apache Kafka's jars (Java 17 + Maven: Debian's openjdk-17-jre-headless and maven) are resolved
# from Maven Central into ~/.cache/cell-operator/kafka/<version> (tools/kafka/resolve.sh).
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
# Citus builds against the server headers of the installed major version (15 on Debian 12).
pg_major="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
pg_major="${pg_major:-15}"
[[ -f "/usr/include/postgresql/$pg_major/server/postgres.h" ]] || need_apt+=("postgresql-server-dev-$pg_major")
for header in gssapi/gssapi.h:libkrb5-dev lz4.h:liblz4-dev zstd.h:libzstd-dev openssl/ssl.h:libssl-dev; do
  [[ -f "/usr/include/${header%%:*}" ]] || need_apt+=("${header##*:}")
done
command -v make >/dev/null && command -v gcc >/dev/null || need_apt+=(build-essential)
[[ "${1:-}" == "--demo" ]] || command -v lua5.1 >/dev/null || need_apt+=(lua5.1)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
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

# Citus (cached in ~/.cache/cell-operator/citus, keyed by version, patch and server build).
bash tools/citus/build.sh >/dev/null

command -v node >/dev/null || { echo "Node.js >= 20.19 is needed" >&2; exit 1; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# Real Kafka brokers for the tests and the demo: the jars, once per version (a no-op when cached).
bash tools/kafka/resolve.sh >/dev/null
