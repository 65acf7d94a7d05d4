#!/usr/bin/env bash
# Refreshes the prometheus-operator CRDs (ServiceMonitor, PrometheusRule) that the
# real-apiserver tests install to dry-run the chart's optional monitoring objects.
# They come from the prometheus-operator Go module (through the Go module proxy) and
# are kept in test/fixtures/prometheus-operator/, so the tests need no network.
#
# Usage: bash scripts/vendor-prometheus-crds.sh [VERSION]     (default below)
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-v0.85.0}"
module=github.com/prometheus-operator/prometheus-operator
dest=test/fixtures/prometheus-operator

go_bin="${GO:-$(command -v go || true)}"
[[ -n "$go_bin" ]] || {
  echo "vendor-prometheus-crds: no 'go' on PATH" >&2
  exit 1
}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
dir="$(cd "$scratch" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$go_bin" mod download -json "$module@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[[ -d "$dir/example/prometheus-operator-crd" ]] || {
  echo "vendor-prometheus-crds: $module@$version has no example/prometheus-operator-crd" >&2
  exit 1
}
mkdir -p "$dest"
for crd in servicemonitors prometheusrules; do
  {
    echo "# From $module@$version, example/prometheus-operator-crd (Apache-2.0)."
    echo "# Refresh with scripts/vendor-prometheus-crds.sh; do not edit."
    cat "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml"
  } >"$dest/monitoring.coreos.com_$crd.yaml"
done
echo "vendor-prometheus-crds: $module@$version → $dest" >&2
