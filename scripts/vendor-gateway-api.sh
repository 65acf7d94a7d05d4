#!/usr/bin/env bash
# Vendors the Gateway API CRDs (standard channel) of one pinned release into
# crds/gateway-api/, and the same bytes into the Helm chart (installed only with
# gatewayAPI.installCRDs=true). They come from the Go module sigs.k8s.io/gateway-api
# through the Go module proxy: the same module (and version) the conformance suite
# is built from, so the CRDs wsgate is tested against are the ones it claims.
#
# Only CustomResourceDefinitions are vendored: the release's ValidatingAdmissionPolicy
# (safe upgrades between channels) is the cluster admin's choice, not a gateway's.
#
# test/packaging/gateway-api-crds.test.ts runs this script into a scratch directory and
# fails when the vendored files differ (drift) or name another version than VERSION.
#
# Usage: bash scripts/vendor-gateway-api.sh [VERSION]     (default: crds/gateway-api/VERSION)
#        DEST=DIR bash scripts/vendor-gateway-api.sh      (write elsewhere; chart untouched)
set -euo pipefail
cd "$(dirname "$0")/.."

pinned=""
[[ -f crds/gateway-api/VERSION ]] && pinned="$(tr -d '[:space:]' <crds/gateway-api/VERSION)"
version="${1:-${pinned:-v1.6.3}}"
module=sigs.k8s.io/gateway-api
dest="${DEST:-crds/gateway-api}"

go_bin="${GO:-$(command -v go || true)}"
[[ -n "$go_bin" ]] || {
  echo "vendor-gateway-api: no 'go' on PATH" >&2
  exit 1
}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
dir="$(cd "$scratch" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$go_bin" mod download -json "$module@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
src="$dir/config/crd/standard"
[[ -d "$src" ]] || {
  echo "vendor-gateway-api: $module@$version has no config/crd/standard" >&2
  exit 1
}
mkdir -p "$dest"
rm -f -- "$dest"/*.yaml
count=0
for f in "$src"/*.yaml; do
  grep -q '^kind: CustomResourceDefinition$' "$f" || continue
  cp -- "$f" "$dest/"
  chmod 644 "$dest/$(basename "$f")"
  count=$((count + 1))
done
echo "$version" >"$dest/VERSION"
if [[ -z "${DEST:-}" ]]; then
  chart=helm/wsgate/files/gateway-api
  mkdir -p "$chart"
  rm -f -- "$chart"/*.yaml
  cp -- "$dest"/*.yaml "$chart/"
fi
echo "vendor-gateway-api: $count CRDs of $module@$version (standard channel) → $dest" >&2
