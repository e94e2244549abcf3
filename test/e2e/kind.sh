#!/usr/bin/env bash
# The e2e suite on kind, for a machine with Docker: creates the kind cluster of kind-config.yaml
# (or reuses it), installs the Strimzi cluster operator from its release manifest (watching all
# namespaces), builds the operator image and loads it into the nodes, then runs the same e2e suite
# as the local control plane does, with KUBECONFIG set. Extra arguments go to jest.
#
#   test/e2e/kind.sh                       # create/reuse the cluster, run the whole e2e suite
#   KIND_DELETE=1 test/e2e/kind.sh         # delete the cluster afterwards
#   KIND_NODE_IMAGE=kindest/node:v1.36.x   # pin the node image (default: the kind release's)
#
# It cannot run on the development machine of this repository (no Docker there): it is kept
# correct by reading.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-cell-operator}"
strimzi_version="${STRIMZI_VERSION:-0.51.0}"
strimzi_namespace="${STRIMZI_NAMESPACE:-strimzi}"
image="${E2E_IMAGE:-cell-operator:e2e}"

log() { printf '[kind-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
need() {
  command -v "$1" >/dev/null 2>&1 || { echo "kind.sh: $1 is required but not installed ($2)" >&2; exit 1; }
}
need docker "https://docs.docker.com/engine/install/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation (>= 0.15)"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need curl "Debian package curl"
need npm "Node.js >= 20.19"
docker info >/dev/null 2>&1 || { echo "kind.sh: docker is installed but the daemon is not reachable" >&2; exit 1; }

mkdir -p "$root/.local"
kubeconfig="$root/.local/kind-kubeconfig"

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "reusing kind cluster $cluster"
else
  log "creating kind cluster $cluster"
  kind create cluster --name "$cluster" --config "$root/kind-config.yaml" --wait 180s ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
fi
kind get kubeconfig --name "$cluster" >"$kubeconfig"
export KUBECONFIG="$kubeconfig"

if [[ "${KIND_DELETE:-}" == 1 ]]; then
  trap 'log "deleting kind cluster $cluster"; kind delete cluster --name "$cluster"' EXIT
fi

log "installing Strimzi $strimzi_version into namespace $strimzi_namespace (watching all namespaces)"
kubectl create namespace "$strimzi_namespace" --dry-run=client -o yaml | kubectl apply -f -
# The release manifest names namespace `myproject`; Strimzi's docs rewrite it with this sed.
# Server-side apply: the Kafka CRD is too large for the last-applied annotation of client-side apply.
curl -fsSL "https://github.com/strimzi/strimzi-kafka-operator/releases/download/${strimzi_version}/strimzi-cluster-operator-${strimzi_version}.yaml" \
  | sed -E "s/namespace: .*/namespace: ${strimzi_namespace}/" \
  | kubectl apply --server-side --force-conflicts -n "$strimzi_namespace" -f -
# Watch all namespaces: STRIMZI_NAMESPACE="*" (replacing its fieldRef) and cluster-wide bindings.
kubectl -n "$strimzi_namespace" patch deployment strimzi-cluster-operator --type=strategic -p \
  '{"spec":{"template":{"spec":{"containers":[{"name":"strimzi-cluster-operator","env":[{"name":"STRIMZI_NAMESPACE","value":"*","valueFrom":null}]}]}}}}'
for binding in namespaced:strimzi-cluster-operator-namespaced watched:strimzi-cluster-operator-watched entity-operator-delegation:strimzi-entity-operator; do
  kubectl create clusterrolebinding "strimzi-cluster-operator-${binding%%:*}" --clusterrole="${binding#*:}" \
    --serviceaccount "${strimzi_namespace}:strimzi-cluster-operator" --dry-run=client -o yaml | kubectl apply -f -
done
kubectl -n "$strimzi_namespace" rollout status deployment/strimzi-cluster-operator --timeout=300s

log "building $image and loading it into the kind nodes"
docker build -t "$image" "$root"
kind load docker-image "$image" --name "$cluster"

log "running the e2e suite against kind"
cd "$root"
E2E_IMAGE="$image" npm run test:e2e -- "$@"
