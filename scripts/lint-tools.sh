#!/usr/bin/env bash
# Provision actionlint (GitHub workflow linter) and promtool (Prometheus rule checker)
# for the packaging tests, built from the Go module proxy and cached per version.
#
# Usage: bash scripts/lint-tools.sh
#
# The LAST line of stdout is the directory holding both binaries; progress goes to
# stderr. Cache: ${WSGATE_CACHE:-$HOME/.cache/wsgate}/tools/<key>/bin. A run that finds
# both there prints the directory at once. Needs `go` >= the version the modules
# require (GOTOOLCHAIN=local: no toolchain download; CGO_ENABLED=0).
#
# Environment:
#   WSGATE_CACHE                                  cache root
#   WSGATE_ACTIONLINT_VERSION, WSGATE_PROMETHEUS_VERSION
#                                                 override the pinned versions below
#   GO                                            go binary (default: `go` on PATH)
set -euo pipefail

# actionlint: newest release on the Go module proxy. Prometheus publishes its Go
# module as v0.<major><minor>.<patch>: v0.316.0 is Prometheus 3.16.0's promtool.
ACTIONLINT_VERSION="${WSGATE_ACTIONLINT_VERSION:-v1.7.12}"
PROMETHEUS_VERSION="${WSGATE_PROMETHEUS_VERSION:-v0.316.0}"

log() { printf 'lint-tools: %s\n' "$*" >&2; }
die() {
  printf 'lint-tools: ERROR: %s\n' "$*" >&2
  exit 1
}

for v in "$ACTIONLINT_VERSION" "$PROMETHEUS_VERSION"; do
  [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version '$v' is not of the form vX.Y.Z"
done

os="$(uname -s | tr '[:upper:]' '[:lower:]')"
arch="$(uname -m)"
case "$arch" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
esac
cache_root="${WSGATE_CACHE:-$HOME/.cache/wsgate}/tools"
final_dir="$cache_root/actionlint-$ACTIONLINT_VERSION-promtool-$PROMETHEUS_VERSION-$os-$arch/bin"

complete() { [[ -x "$final_dir/actionlint" && -x "$final_dir/promtool" ]]; }
if complete; then
  printf '%s\n' "$final_dir"
  exit 0
fi

mkdir -p "$cache_root"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_root/.lock"
  flock 9
  if complete; then
    printf '%s\n' "$final_dir"
    exit 0
  fi
fi

go_bin="${GO:-$(command -v go || true)}"
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then go_bin=/usr/local/go/bin/go; fi
[[ -n "$go_bin" ]] || die "no 'go' on PATH (install Go, or set GO=/path/to/go)"

stage="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" GOBIN="$stage/bin"

install_tool() { # package@version ldflags [build tags]
  log "building $1 (GOTOOLCHAIN=local, $("$go_bin" env GOVERSION))"
  (cd "$stage" && nice -n 19 "$go_bin" install -tags "${3:-}" -ldflags "$2" "$1" >&2) ||
    die "go install $1 failed (see above); a newer Go may be needed"
}

install_tool "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
  "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
# promtool reports the Prometheus version it belongs to. remove_all_sd leaves out the
# service-discovery plugins (cloud SDKs): rule checks do not use them, and the build
# takes a fraction of the time.
prom_minor="${PROMETHEUS_VERSION#v0.}"
prom_patch="${prom_minor#*.}"
prom_minor="${prom_minor%%.*}"
prom_version="${prom_minor:0:1}.${prom_minor:1}.$prom_patch"
install_tool "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" \
  "-s -w -X github.com/prometheus/common/version.Version=$prom_version" remove_all_sd

"$stage/bin/actionlint" -version >&2 || die "the built actionlint does not run"
"$stage/bin/promtool" --version >&2 || die "the built promtool does not run"

mkdir -p "$(dirname "$final_dir")"
rm -rf "$final_dir"
mv "$stage/bin" "$final_dir"
log "cached in $final_dir"
printf '%s\n' "$final_dir"
