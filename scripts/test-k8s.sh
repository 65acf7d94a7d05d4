#!/usr/bin/env bash
# The real-apiserver test tier (npm run test:k8s; part of npm test).
#
# 1. Provisions kube-apiserver, etcd, kubectl and helm (npm run k8s:bins; cached
#    after the first run).
# 2. Runs vitest with vitest.k8s.config.ts inside a new network namespace in which
#    10.244.0.0/16 is a local address range: EndpointSlices reject loopback
#    addresses, so test backends ("pods") listen on 10.244.0.x. The namespace has
#    only a loopback interface; nothing in the tier needs the outside network.
#
# Needs unshare (util-linux) and ip (iproute2); root, or unprivileged user
# namespaces. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in unshare ip openssl; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "test-k8s: '$tool' is missing (Debian: apt-get install util-linux iproute2 openssl)" >&2
    exit 1
  }
done

bins="$(bash scripts/k8s-bins.sh | tail -n 1)"
[[ -x "$bins/kube-apiserver" && -x "$bins/etcd" ]] || {
  echo "test-k8s: scripts/k8s-bins.sh did not provide the binaries (got '$bins')" >&2
  exit 1
}
export WSGATE_K8S_BIN_DIR="$bins"

unshare_args=(--net)
if [[ "$(id -u)" != 0 ]]; then
  # Without root, a user namespace maps us to root inside it (where the kernel allows it).
  unshare_args=(--user --map-root-user --net)
fi

# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare "${unshare_args[@]}" sh -c '
  ip link set lo up &&
  ip addr add 10.244.0.1/16 dev lo &&
  exec node_modules/.bin/vitest run --config vitest.k8s.config.ts "$@"
' test-k8s "$@"
