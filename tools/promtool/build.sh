#!/usr/bin/env bash
# Builds promtool from the Prometheus Go module (github.com/prometheus/prometheus) into the same cache
# as the local control plane (tools/kube-local/build.sh) and helm (tools/helm/build.sh); a warm cache
# makes this a no-op. Prints the path of the promtool binary on its last line of stdout; progress goes
# to stderr. PROMTOOL_BIN set to an existing promtool skips the build and prints it.
set -euo pipefail

# Prometheus 3.x publishes its Go module as v0.3MM.P for release 3.MM.P.
PROMETHEUS_MODULE_VERSION="v0.316.0"
PROMETHEUS_VERSION="3.16.0"

if [[ -n "${PROMTOOL_BIN:-}" ]]; then
  [[ -x "$PROMTOOL_BIN" ]] || { echo "PROMTOOL_BIN=$PROMTOOL_BIN is not an executable" >&2; exit 1; }
  echo "$PROMTOOL_BIN"
  exit 0
fi

cache_root="${CELL_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cell-operator}"
out="$cache_root/promtool/$PROMETHEUS_MODULE_VERSION"
promtool="$out/promtool"

log() { printf '[promtool %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The cache is valid while it was built by this very script (its flags, its version).
key="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
if [[ -x "$promtool" && -f "$out/.complete" && "$(cat "$out/.complete")" == "$key" ]]; then
  log "cached build $PROMETHEUS_VERSION is up to date"
  echo "$promtool"
  exit 0
fi

command -v go >/dev/null || { log "Go is needed to build promtool (or set PROMTOOL_BIN)"; exit 1; }
# Only one build at a time per cache: parallel test runs wait for the first one instead of racing it.
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [[ -x "$promtool" && -f "$out/.complete" && "$(cat "$out/.complete")" == "$key" ]]; then
  log "built meanwhile by another run"
  echo "$promtool"
  exit 0
fi

# The same version stamp as Prometheus' own release build, so `promtool --version` tells the truth.
ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.BuildUser=cell-operator"
start=$(date +%s)
log "building promtool $PROMETHEUS_VERSION from github.com/prometheus/prometheus (cold: several minutes on 2 cores)"
# remove_all_sd leaves out Prometheus' cloud service discoveries (AWS, Azure, GCE, ...: most of the
# compile time); promtool's rule tests and checks do not use them. Kubernetes and file SD stay.
GOBIN="$out" GOFLAGS="${GOFLAGS:-} -trimpath" go install -tags remove_all_sd -ldflags "$ldflags" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
printf '%s' "$key" > "$out/.complete"
log "done in $(( $(date +%s) - start ))s -> $promtool"
echo "$promtool"
