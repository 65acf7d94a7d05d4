#!/usr/bin/env bash
# End-to-end test of wsgate on a kind cluster, as an admin would run it in CI:
#
#   1. creates a kind cluster (e2e/kind.yaml),
#   2. builds the wsgate image from the Dockerfile and loads it into kind,
#   3. installs the Helm chart (helm/wsgate, e2e/values.yaml) and waits for it,
#   4. deploys the demo echo backend and its WebSocketRoute (e2e/manifests/echo.yaml),
#   5. runs the e2e tests (e2e/*.e2e.test.ts) through the gateway's NodePort,
#   6. on failure prints the cluster's state and the gateway's logs; deletes the
#      cluster unless asked to keep it.
#
# Needs docker, kind, kubectl, helm and Node.js >= 22.12 with `npm ci` done; on a
# machine that reaches no container registry, `npm run e2e:kind` provisions them first
# (scripts/e2e-provision.sh: dockerd, kind, an offline node image, a Node 24 base).
# Usage: bash e2e/run.sh [vitest arguments, e.g. a test-name filter]
#
# Environment:
#   KIND_CLUSTER_NAME   cluster name (default wsgate-e2e)
#   KIND_NODE_IMAGE     node image (default: the kind release's default)
#   E2E_HOST_PORT       host port (on 127.0.0.1) of the gateway's NodePort (default
#                       18080, as in e2e/kind.yaml); another one lets two clusters run
#                       side by side
#   E2E_KEEP_CLUSTER=1  keep the cluster afterwards (and reuse it if it exists)
#   E2E_SKIP_BUILD=1    do not rebuild the image (reuse wsgate-e2e:dev, or
#                       wsgate-e2e:<cluster name> for a cluster not named wsgate-e2e)
#   WSGATE_E2E_PROVISION=1  run scripts/e2e-provision.sh first and use what it
#                       provides (tools on PATH, KIND_NODE_IMAGE, WSGATE_E2E_NODE_IMAGE)
#   WSGATE_E2E_NODE_IMAGE   the Dockerfile's NODE_IMAGE build argument
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${WSGATE_E2E_PROVISION:-}" == 1 ]]; then
  env_file="$(bash scripts/e2e-provision.sh | tail -n 1)"
  # shellcheck source=/dev/null
  source "$env_file"
fi

cluster="${KIND_CLUSTER_NAME:-wsgate-e2e}"
host_port="${E2E_HOST_PORT:-18080}"
# The image is tagged per cluster, so runs side by side on one Docker engine do not
# build over each other's (e2e/values.yaml and the echo manifest say dev; replaced below).
tag=dev
if [[ "$cluster" != wsgate-e2e ]]; then tag="$cluster"; fi
image="wsgate-e2e:$tag"
gateway_ns=wsgate
app_ns=wsgate-e2e
context="kind-$cluster"

# Each step with the seconds since the start: where a run's time goes (CI budget).
log() { printf '\ne2e: [%ss] %s\n' "$SECONDS" "$*" >&2; }
die() {
  printf 'e2e: ERROR: %s\n' "$*" >&2
  exit 1
}

for tool in docker kind kubectl helm node; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH"
done
[[ -x node_modules/.bin/vitest ]] || die "run npm ci first"

kc() { kubectl --context "$context" "$@"; }

diagnostics() {
  log "diagnostics"
  kc get nodes -o wide || true
  kc get all,endpointslices,websocketroutes -n "$gateway_ns" -o wide || true
  kc get all,endpointslices,websocketroutes -n "$app_ns" -o wide || true
  kc describe websocketroutes -n "$app_ns" || true
  kc get events -A --sort-by=.lastTimestamp | tail -n 50 || true
  kc logs -n "$gateway_ns" -l app.kubernetes.io/name=wsgate --tail=200 --prefix || true
  kc logs -n "$app_ns" -l app=echo --tail=50 --prefix || true
  local logs="${E2E_LOGS_DIR:-${TMPDIR:-/tmp}/wsgate-e2e-logs}"
  kind export logs "$logs" --name "$cluster" >/dev/null 2>&1 && log "node logs (kubelet, containerd, Pods) in $logs"
}

cleanup() {
  local status=$?
  if ((status != 0)); then diagnostics; fi
  log "e2e finished with status $status after ${SECONDS}s"
  if [[ "${E2E_KEEP_CLUSTER:-}" == 1 ]]; then
    log "keeping cluster $cluster (kind delete cluster --name $cluster)"
  else
    log "deleting cluster $cluster"
    kind delete cluster --name "$cluster" || true
  fi
  exit "$status"
}

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  [[ "${E2E_KEEP_CLUSTER:-}" == 1 ]] || die "cluster $cluster exists; delete it or set E2E_KEEP_CLUSTER=1 to reuse it"
  log "reusing cluster $cluster"
else
  log "creating cluster $cluster"
  kind_config=e2e/kind.yaml
  if [[ "$host_port" != 18080 ]]; then
    kind_config="$(mktemp)"
    sed "s/hostPort: 18080/hostPort: $host_port/" e2e/kind.yaml >"$kind_config"
  fi
  create=(kind create cluster --name "$cluster" --config "$kind_config" --wait 180s)
  if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then create+=(--image "$KIND_NODE_IMAGE"); fi
  "${create[@]}"
fi
trap cleanup EXIT

if [[ "${E2E_SKIP_BUILD:-}" != 1 ]]; then
  log "building $image"
  build=(docker build -t "$image")
  if [[ -n "${WSGATE_E2E_NODE_IMAGE:-}" ]]; then build+=(--build-arg "NODE_IMAGE=$WSGATE_E2E_NODE_IMAGE"); fi
  "${build[@]}" .
fi
log "loading $image into kind"
kind load docker-image "$image" --name "$cluster"

log "installing the chart"
helm upgrade --install wsgate helm/wsgate --kube-context "$context" \
  --namespace "$gateway_ns" --create-namespace \
  --values e2e/values.yaml --set image.tag="$tag" --wait --timeout 5m

log "deploying the echo backend and its route"
kc create namespace "$app_ns" --dry-run=client -o yaml | kc apply -f -
kc create configmap echo-server -n "$app_ns" --from-file=e2e/echo-server.mjs \
  --dry-run=client -o yaml | kc apply -f -
sed "s|image: wsgate-e2e:dev|image: $image|" e2e/manifests/echo.yaml | kc apply -f -
kc rollout status deployment/echo -n "$app_ns" --timeout 180s
kc wait websocketroute/echo -n "$app_ns" --for=condition=Programmed --timeout 120s
kc get websocketroutes -n "$app_ns"

log "running the e2e tests"
WSGATE_E2E_URL="ws://127.0.0.1:$host_port" \
  WSGATE_E2E_IMAGE="$image" \
  WSGATE_E2E_CONTEXT="$context" \
  WSGATE_E2E_GATEWAY_NAMESPACE="$gateway_ns" \
  WSGATE_E2E_NAMESPACE="$app_ns" \
  node_modules/.bin/vitest run --config e2e/vitest.config.ts "$@"
