#!/usr/bin/env bash
# Installs what `npm test` and `npm run demo` need and a fresh clone lacks: Debian's openssl and
# postgresql (and lua5.1 for the tests of the Argo CD health checks) with apt-get when running as
# root, and the npm dependencies (npm ci) when node_modules is missing or older than the lockfile.
# Go (for the local control plane, built and cached on first use) must be there already. Then
# Apache Kafka's jars (Java 17 + Maven: Debian's openjdk-17-jre-headless and maven) are resolved
# from Maven Central into ~/.cache/cell-operator/kafka/<version> (tools/kafka/resolve.sh).
# Usage: scripts/setup.sh [--demo]   (--demo: without the test-only packages)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
[[ "${1:-}" == "--demo" ]] || command -v lua5.1 >/dev/null || need_apt+=(lua5.1)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if (( ${#need_apt[@]} )); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${need_apt[*]} (install them: sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The Debian package starts a cluster of its own; the tests and the demo start their own servers.
  command -v pg_ctlcluster >/dev/null && (service postgresql stop >/dev/null 2>&1 || true)
fi

command -v node >/dev/null || { echo "Node.js >= 20.19 is needed" >&2; exit 1; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# Real Kafka brokers for the tests and the demo: the jars, once per version (a no-op when cached).
bash tools/kafka/resolve.sh >/dev/null
