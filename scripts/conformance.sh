#!/usr/bin/env bash
# Runs the upstream Gateway API conformance suite (Go module
# sigs.k8s.io/gateway-api/conformance, the version of crds/gateway-api/VERSION) against
# wsgate on a kind cluster, and writes its report to conformance-report/ (gitignored).
#
#   1. builds the suite (`go test -c` of scripts/conformance/) and its echo backend
#      (echo-basic, static) with the host's Go, cached under
#      ${WSGATE_CACHE:-~/.cache/wsgate}/conformance/<version>/;
#   2. creates the kind cluster wsgate-conformance (one node, scripts/conformance/kind.yaml),
#      builds the wsgate image from the Dockerfile, and loads into kind every image the
#      suite's manifests name: registry.k8s.io/gateway-api/echo-basic under each tag they
#      use (all built from the pinned module's source) and registry.k8s.io/coredns/coredns
#      (the UDP backend of the base manifests, not used by GATEWAY-HTTP: the provisioned
#      coredns image is tagged with that name, offline only);
#   3. helm installs wsgate (scripts/conformance/values.yaml: Gateway API CRDs from the
#      chart, a ClusterIP Service) and the GatewayClass `wsgate`;
#   4. runs the suite INSIDE the kind node (docker exec, the node's admin kubeconfig):
#      the suite sends its requests to the Gateway's status address, the Service's
#      cluster IP, which the node's kube-proxy serves. No host port, no host route, no
#      traffic off the machine.
#
# Profile GATEWAY-HTTP; supported features: the core ones (Gateway, HTTPRoute,
# ReferenceGrant) and the extended ones wsgate passes, HTTPRouteBackendProtocolWebSocket
# first (CONFORMANCE_FEATURES overrides). Tests wsgate does not pass are skipped by name,
# each with why, from scripts/conformance/skip-tests.txt.
# The suite's exit status is this script's: a failing test fails the run, and the report
# is written either way.
#
# On a machine that reaches no container registry, WSGATE_E2E_PROVISION=1 (the default
# here) provisions docker, kind and the node image first (scripts/e2e-provision.sh, as
# e2e/run.sh does). In GitHub Actions, set WSGATE_E2E_PROVISION=0 and have kind, kubectl,
# helm and Go on PATH (.github/workflows/conformance.yml).
#
# Usage: bash scripts/conformance.sh [extra suite flags, e.g. --run-test=HTTPRouteSimpleSameNamespace]
#        npm run conformance
#
# Environment:
#   KIND_CLUSTER_NAME        cluster name (default wsgate-conformance)
#   CONFORMANCE_KEEP_CLUSTER=1  keep the cluster afterwards (and reuse it if it exists)
#   CONFORMANCE_REPORT_DIR   where the report goes (default conformance-report)
#   CONFORMANCE_FEATURES     --supported-features value
#   CONFORMANCE_SKIP_TESTS   --skip-tests value (comma-separated test names; default: the
#                            tests listed in scripts/conformance/skip-tests.txt, with why)
#   WSGATE_E2E_PROVISION     1 (default): run scripts/e2e-provision.sh first
#   WSGATE_E2E_NODE_IMAGE    the Dockerfile's NODE_IMAGE build argument
#   CONFORMANCE_URL, CONFORMANCE_CONTACT  the report's implementation url and contact
#   GO                       go binary (default: `go` on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

log() { printf '\nconformance: [%ss] %s\n' "$SECONDS" "$*" >&2; }
die() {
  printf 'conformance: ERROR: %s\n' "$*" >&2
  exit 1
}

if [[ "${WSGATE_E2E_PROVISION:-1}" == 1 ]]; then
  log "provisioning (scripts/e2e-provision.sh)"
  env_file="$(bash scripts/e2e-provision.sh | tail -n 1)"
  # shellcheck source=/dev/null
  source "$env_file"
fi

version="$(tr -d '[:space:]' <crds/gateway-api/VERSION)"
grep -q "sigs.k8s.io/gateway-api/conformance $version\$" scripts/conformance/go.mod ||
  die "scripts/conformance/go.mod does not require sigs.k8s.io/gateway-api/conformance $version (crds/gateway-api/VERSION)"
cluster="${KIND_CLUSTER_NAME:-wsgate-conformance}"
context="kind-$cluster"
node="$cluster-control-plane"
image=wsgate-conformance:dev
report_dir="${CONFORMANCE_REPORT_DIR:-conformance-report}"
# The core features and the extended ones wsgate passes (README "Gateway API" → Conformance).
features="${CONFORMANCE_FEATURES:-Gateway,HTTPRoute,ReferenceGrant,HTTPRouteBackendProtocolWebSocket,HTTPRouteMethodMatching,HTTPRouteQueryParamMatching,HTTPRouteResponseHeaderModification,HTTPRouteHostRewrite,HTTPRoutePathRewrite,HTTPRouteSchemeRedirect,HTTPRoutePathRedirect,HTTPRoutePortRedirect,BackendTLSPolicy}"
cache="${WSGATE_CACHE:-$HOME/.cache/wsgate}/conformance/$version"
go_bin="${GO:-$(command -v go || true)}"

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH"
done
[[ -n "$go_bin" ]] || die "no 'go' on PATH"
kc() { kubectl --context "$context" "$@"; }

# --- 1. the suite and its echo backend, built once per version and go.sum ----------
stamp="$(cat scripts/conformance/go.mod scripts/conformance/go.sum scripts/conformance/conformance_test.go | sha256sum | cut -c1-12)"
bin="$cache/$stamp"
if [[ ! -x "$bin/conformance.test" || ! -x "$bin/echo-basic" ]]; then
  log "building the suite and echo-basic ($version) into $bin"
  mkdir -p "$bin"
  (
    cd scripts/conformance
    export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
    nice "$go_bin" test -c -vet=off -trimpath -p "${WSGATE_BUILD_PARALLEL:-2}" -o "$bin/conformance.test.tmp" .
    nice "$go_bin" build -trimpath -ldflags='-buildid= -s -w' -p "${WSGATE_BUILD_PARALLEL:-2}" \
      -o "$bin/echo-basic.tmp" sigs.k8s.io/gateway-api/conformance/echo-basic
  )
  mv "$bin/conformance.test.tmp" "$bin/conformance.test"
  mv "$bin/echo-basic.tmp" "$bin/echo-basic"
fi

# Every image the suite's manifests name, from the module source the binary embeds.
suite_dir="$(cd scripts/conformance && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go_bin" list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api/conformance)"
mapfile -t suite_images < <(grep -rhoE 'image: *[^ ]+' "$suite_dir/base" "$suite_dir/tests" | awk '{print $2}' | sort -u)
log "images the suite's manifests name: ${suite_images[*]}"

# --- 2. cluster and images ------------------------------------------------------------
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local status=$?
  if ((status != 0)); then
    log "diagnostics"
    kc get gatewayclasses,gateways,httproutes -A -o wide || true
    kc get pods -A -o wide || true
    kc logs -n wsgate -l app.kubernetes.io/name=wsgate --tail=100 --prefix || true
  fi
  log "conformance finished with status $status after ${SECONDS}s"
  if [[ "${CONFORMANCE_KEEP_CLUSTER:-}" == 1 ]]; then
    log "keeping cluster $cluster (kind delete cluster --name $cluster)"
  else
    kind delete cluster --name "$cluster" || true
  fi
  exit "$status"
}

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  [[ "${CONFORMANCE_KEEP_CLUSTER:-}" == 1 ]] || die "cluster $cluster exists; delete it or set CONFORMANCE_KEEP_CLUSTER=1 to reuse it"
  log "reusing cluster $cluster"
else
  log "creating cluster $cluster"
  create=(kind create cluster --name "$cluster" --config scripts/conformance/kind.yaml --wait 180s)
  if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then create+=(--image "$KIND_NODE_IMAGE"); fi
  "${create[@]}"
fi
trap cleanup EXIT

log "building $image"
build=(docker build -q -t "$image")
if [[ -n "${WSGATE_E2E_NODE_IMAGE:-}" ]]; then build+=(--build-arg "NODE_IMAGE=$WSGATE_E2E_NODE_IMAGE"); fi
"${build[@]}" . >/dev/null

# Provisioned offline (a wsgate.local node image): no registry to pull from, so no pull is tried.
pull() { [[ "${KIND_NODE_IMAGE:-}" != wsgate.local/* ]] && docker pull -q "$1" >/dev/null 2>&1; }

log "building echo-basic images"
ctx="$(mktemp -d)"
cp "$bin/echo-basic" scripts/conformance/echo-basic.Dockerfile "$ctx/"
load=("$image")
for ref in "${suite_images[@]}"; do
  case "$ref" in
    registry.k8s.io/gateway-api/echo-basic:*)
      DOCKER_BUILDKIT=0 docker build -q -f "$ctx/echo-basic.Dockerfile" -t "$ref" "$ctx" >/dev/null
      load+=("$ref")
      ;;
    registry.k8s.io/coredns/coredns:*)
      # Used only by UDPRoute tests (not in GATEWAY-HTTP), but its Deployment is in the
      # base manifests. Offline, the provisioned coredns stands in under the name.
      if ! docker image inspect "$ref" >/dev/null 2>&1 && ! pull "$ref"; then
        stand_in="$(docker images --format '{{.Repository}}:{{.Tag}}' registry.k8s.io/coredns/coredns | head -n 1)"
        [[ -n "$stand_in" ]] || die "no image for $ref"
        log "$ref not pullable: tagging $stand_in as it"
        docker tag "$stand_in" "$ref"
      fi
      load+=("$ref")
      ;;
    *)
      if ! docker image inspect "$ref" >/dev/null 2>&1; then
        pull "$ref" || die "the suite names $ref, which is neither built here nor pullable"
      fi
      load+=("$ref")
      ;;
  esac
done
rm -rf "$ctx"
log "loading into kind: ${load[*]}"
kind load docker-image --name "$cluster" "${load[@]}"

# --- 3. wsgate and its GatewayClass --------------------------------------------------
log "installing the chart"
helm upgrade --install wsgate helm/wsgate --kube-context "$context" \
  --namespace wsgate --create-namespace \
  --values scripts/conformance/values.yaml --wait --timeout 5m
kc apply -f scripts/conformance/gatewayclass.yaml
kc wait gatewayclass/wsgate --for=condition=Accepted --timeout 120s

# --- 4. the suite, inside the node ----------------------------------------------------
log "running the suite (profile GATEWAY-HTTP; features $features)"
docker cp "$bin/conformance.test" "$node:/usr/local/bin/gateway-conformance.test"
mkdir -p "$report_dir"
wsgate_version="$(node -p 'require("./package.json").version' 2>/dev/null || echo dev)"
suite_flags=(
  -test.v -test.timeout=60m
  --gateway-class=wsgate
  --conformance-profiles=GATEWAY-HTTP
  --supported-features="$features"
  --report-output=/tmp/conformance-report.yaml
  --organization=wsgate --project=wsgate --url="${CONFORMANCE_URL:-https://wsgate.io}"
  --version="v$wsgate_version" --contact="${CONFORMANCE_CONTACT:-@wsgate/maintainers}"
  --cleanup-base-resources=false
)
# The tests wsgate is known not to pass, each with why (scripts/conformance/skip-tests.txt).
skip_tests="${CONFORMANCE_SKIP_TESTS-$(grep -vE '^[[:space:]]*(#|$)' scripts/conformance/skip-tests.txt | paste -sd, -)}"
if [[ -n "$skip_tests" ]]; then suite_flags+=(--skip-tests="$skip_tests"); fi
status=0
docker exec -e KUBECONFIG=/etc/kubernetes/admin.conf "$node" \
  gateway-conformance.test "${suite_flags[@]}" "$@" 2>&1 | tee "$report_dir/conformance.log" || status=$?
# cat, not docker cp: the node's /tmp is a tmpfs, which docker cp does not read.
docker exec "$node" cat /tmp/conformance-report.yaml >"$report_dir/conformance-report.yaml" ||
  log "no report written (see $report_dir/conformance.log)"
grep -E '^(--- |    --- )(PASS|FAIL|SKIP)' "$report_dir/conformance.log" >"$report_dir/summary.txt" || true
log "report: $root/$report_dir/conformance-report.yaml; per-test lines: $report_dir/summary.txt"
exit "$status"
