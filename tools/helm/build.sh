#!/usr/bin/env bash
# Builds helm from its Go module (helm.sh/helm/v3) into the same cache as the local control plane
# (tools/kube-local/build.sh). A warm cache makes this a no-op.
# Prints the path of the helm binary on its last line of stdout; progress goes to stderr.
# HELM_BIN set to an existing helm skips the build and prints it.
set -euo pipefail

HELM_VERSION="v3.22.0"
HELM_COMMIT="144ca65f8501953fa8b41cd1d37c7223051c85b7" # the tag's commit, from the module proxy's .info

if [[ -n "${HELM_BIN:-}" ]]; then
  [[ -x "$HELM_BIN" ]] || { echo "HELM_BIN=$HELM_BIN is not an executable" >&2; exit 1; }
  echo "$HELM_BIN"
  exit 0
fi

cache_root="${CELL_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cell-operator}"
out="$cache_root/helm/$HELM_VERSION"
helm="$out/helm"

log() { printf '[helm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The cache is valid while it was built by this very script (its flags, its version).
key="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
if [[ -x "$helm" && -f "$out/.complete" && "$(cat "$out/.complete")" == "$key" ]]; then
  log "cached build $HELM_VERSION is up to date"
  echo "$helm"
  exit 0
fi

command -v go >/dev/null || { log "Go is needed to build helm (or set HELM_BIN)"; exit 1; }
# Only one build at a time per cache: a second run (scripts/test.sh's early build beside the e2e
# suite's own call) waits for the first one instead of racing it.
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [[ -x "$helm" && -f "$out/.complete" && "$(cat "$out/.complete")" == "$key" ]]; then
  log "built meanwhile by another run"
  echo "$helm"
  exit 0
fi
# helm's idea of the Kubernetes version (.Capabilities.KubeVersion, the deprecation lint) comes from
# ldflags in its Makefile: take it from the k8s.io/client-go of helm's own go.mod, as the Makefile does.
gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
k8s_minor="$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9][0-9]*\)\..*#\1#p' "$gomod" | head -1)"
[[ -n "$k8s_minor" ]] || { log "cannot find k8s.io/client-go in $gomod"; exit 1; }
# The same version stamps as helm's own Makefile, so `helm version` and the capabilities tell the truth.
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitCommit=$HELM_COMMIT -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

mkdir -p "$out"
start=$(date +%s)
log "building helm $HELM_VERSION from helm.sh/helm/v3 (cold: about 3-4 min on 2 cores)"
GOBIN="$out" GOFLAGS="${GOFLAGS:-} -trimpath" go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
printf '%s' "$key" > "$out/.complete"
log "done in $(( $(date +%s) - start ))s -> $helm"
echo "$helm"
