#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl in one multi-call binary, and kwok) from Go modules into a cache outside the repository,
# keyed by everything that decides the result. A warm cache makes this a no-op.
# Prints the bin directory on its last line of stdout; progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_VERSION="v1.36.3"
KWOK_VERSION="v0.8.0"

cache_root="${CELL_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cell-operator}"
key="$( { cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$here/build.sh"; go version; echo "$KWOK_VERSION"; } | sha256sum | cut -c1-16)"
out="$cache_root/kube-local/$key"
bin="$out/bin"

log() { printf '[kube-local %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -x "$bin/kube-local" && -x "$bin/kwok" && -f "$out/.complete" ]]; then
  log "cached build $key is up to date"
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
# Only one build at a time per cache: a second run (scripts/test.sh's early build beside the e2e
# suite's own call) waits for the first one instead of racing it.
exec 9>"$out/.lock"
flock 9
if [[ -x "$bin/kube-local" && -x "$bin/kwok" && -f "$out/.complete" ]]; then
  log "built meanwhile by another run"
  echo "$bin"
  exit 0
fi
# Print a heartbeat with the number of packages compiled so far: a cold build takes many minutes.
progress() {
  local label="$1" count=0 last
  last=$(date +%s)
  while IFS= read -r line; do
    # `go build -v` prints bare package paths; anything else (a compile error) is shown as is.
    if [[ "$line" == *" "* || "$line" == "#"* ]]; then
      printf '%s\n' "$line" >&2
      continue
    fi
    count=$((count + 1))
    if (( $(date +%s) - last >= 30 )); then
      log "$label: $count packages compiled (latest: $line)"
      last=$(date +%s)
    fi
  done
  log "$label: $count packages compiled"
}

start=$(date +%s)
log "building etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kubectl $KUBE_VERSION (cold: 20-40 min on 2 cores)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=36 -X $pkg.gitTreeState=clean"
done
(cd "$here" && go build -v -trimpath -ldflags "$ldflags" -o "$bin/kube-local.tmp" . 2>&1) | progress "kube-local"
mv "$bin/kube-local.tmp" "$bin/kube-local"
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  ln -sf kube-local "$bin/$c"
done

log "building kwok $KWOK_VERSION"
(GOBIN="$bin" go install -v -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" 2>&1) | progress "kwok"

touch "$out/.complete"
log "done in $(( $(date +%s) - start ))s -> $bin"
echo "$bin"
