#!/usr/bin/env bash
# Provision kube-apiserver, etcd, kubectl and helm for the wsgate tests.
#
# Usage: bash scripts/k8s-bins.sh        (npm run k8s:bins)
#
# The LAST line of stdout is the directory holding the four binaries; all
# progress output goes to stderr. Binaries are cached per version outside the
# clone, in
#   ${WSGATE_CACHE:-$HOME/.cache/wsgate}/k8s/<k8s>-etcd<etcd>-helm<helm>-<os>-<arch>/bin
# and a run that finds all four there prints the directory and exits at once.
#
# Each binary is first downloaded from its official release location
# (dl.k8s.io, github.com/etcd-io/etcd releases, get.helm.sh; checksums are
# verified). When that is not possible (no network), it is built from source
# fetched through the Go module proxy (needs `go` >= the version the modules
# require; GOTOOLCHAIN=local, CGO_ENABLED=0).
#
# Environment:
#   WSGATE_CACHE               cache root (default: $HOME/.cache/wsgate)
#   WSGATE_K8S_BINS_SOURCE     auto (default) | download | build
#   WSGATE_K8S_VERSION, WSGATE_ETCD_VERSION, WSGATE_HELM_VERSION
#                              override the pinned versions below
#   WSGATE_BUILD_PARALLEL      go build -p value (default 2)
#   WSGATE_KEEP_BUILD_DIR=1    keep the temporary build directory
#   GO                         go binary to use (default: `go` on PATH)
set -euo pipefail

# --- Pinned versions ---------------------------------------------------------
# Kubernetes: newest 1.35 patch on the Go module proxy; staging modules are
# published as v0.<minor>.<patch>. etcd 3.6 is the line Kubernetes 1.35 uses
# (its go.mod requires the 3.6 client). helm 3.20 is built against the
# Kubernetes 0.35 client libraries.
K8S_VERSION="${WSGATE_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${WSGATE_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${WSGATE_HELM_VERSION:-v3.20.2}"

# The tools-module build, shared with scripts/e2e-provision.sh.
# shellcheck source=scripts/lib/k8s-tools-module.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/k8s-tools-module.sh"

BINARIES=(kube-apiserver etcd kubectl helm)
SOURCE="${WSGATE_K8S_BINS_SOURCE:-auto}"
BUILD_PARALLEL="${WSGATE_BUILD_PARALLEL:-2}"
CONNECT_TIMEOUT=5

log() { printf 'k8s-bins: %s\n' "$*" >&2; }
die() {
  printf 'k8s-bins: ERROR: %s\n' "$*" >&2
  exit 1
}

case "$SOURCE" in
  auto | download | build) ;;
  *) die "WSGATE_K8S_BINS_SOURCE must be auto, download or build (got '$SOURCE')" ;;
esac
for v in "$K8S_VERSION" "$ETCD_VERSION" "$HELM_VERSION"; do
  [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version '$v' is not of the form vX.Y.Z"
done

# --- Platform ----------------------------------------------------------------
case "$(uname -s)" in
  Linux) OS=linux ;;
  Darwin) OS=darwin ;;
  *) die "unsupported OS: $(uname -s)" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) ARCH=amd64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) die "unsupported architecture: $(uname -m)" ;;
esac

# --- Cache layout ------------------------------------------------------------
CACHE_ROOT="${WSGATE_CACHE:-$HOME/.cache/wsgate}"
KEY="${K8S_VERSION}-etcd${ETCD_VERSION}-helm${HELM_VERSION}-${OS}-${ARCH}"
K8S_CACHE="$CACHE_ROOT/k8s"
FINAL_DIR="$K8S_CACHE/$KEY/bin"

cache_complete() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -f "$FINAL_DIR/$b" && -x "$FINAL_DIR/$b" ]] || return 1
  done
}

# Fast path: nothing to do.
if cache_complete; then
  printf '%s\n' "$FINAL_DIR"
  exit 0
fi

mkdir -p "$K8S_CACHE"

# Serialise concurrent cold runs (e.g. parallel test workers).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$K8S_CACHE/.lock"
  if ! flock -n 9; then
    log "another k8s-bins run holds $K8S_CACHE/.lock; waiting for it"
    flock 9
  fi
  if cache_complete; then
    printf '%s\n' "$FINAL_DIR"
    exit 0
  fi
fi

BUILD_DIR="$(mktemp -d "$K8S_CACHE/.build.XXXXXX")"
STAGE="$BUILD_DIR/bin"
mkdir -p "$STAGE"
cleanup() {
  if [[ "${WSGATE_KEEP_BUILD_DIR:-}" == 1 ]]; then
    log "keeping build directory $BUILD_DIR"
  else
    rm -rf "$BUILD_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "provisioning kube-apiserver/kubectl $K8S_VERSION, etcd $ETCD_VERSION, helm $HELM_VERSION ($OS/$ARCH)"
log "target: $FINAL_DIR"

# Failure reasons ("<binary>: <reason>" lines), reported if nothing works.
# (Plain strings rather than associative arrays: works with bash 3.2 too.)
WHY=""
note_failure() { WHY+="$1: $2"$'\n'; }
reasons_for() { # binary
  local line out=""
  while IFS= read -r line; do
    [[ "$line" == "$1: "* ]] && out+="${out:+; }${line#"$1: "}"
  done <<<"$WHY"
  printf '%s\n' "${out:-unknown error}"
}

# --- Download path -----------------------------------------------------------
HAVE_CURL=0
command -v curl >/dev/null 2>&1 && HAVE_CURL=1
HOSTS_UP=" "
HOSTS_DOWN=" "

host_reachable() {
  local host=$1
  [[ "$HOSTS_UP" == *" $host "* ]] && return 0
  [[ "$HOSTS_DOWN" == *" $host "* ]] && return 1
  # Any HTTP answer counts as reachable; this probe only bounds the time lost
  # when the network silently drops connections (one probe per host).
  if curl -sS -o /dev/null --connect-timeout "$CONNECT_TIMEOUT" --max-time 15 -I "https://$host/" 2>/dev/null; then
    HOSTS_UP+="$host "
    return 0
  fi
  HOSTS_DOWN+="$host "
  return 1
}

fetch() { # url dest
  curl -fsSL --connect-timeout "$CONNECT_TIMEOUT" --retry 2 \
    --speed-limit 1024 --speed-time 30 -o "$2" "$1"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

verify_sha256() { # file expected
  local got
  got="$(sha256_of "$1")"
  [[ -n "$2" && "$got" == "$2" ]] || {
    log "checksum mismatch for $(basename "$1"): expected '${2}', got '$got'"
    return 1
  }
}

can_download() { # binary host
  if [[ "$SOURCE" == build ]]; then
    note_failure "$1" "download skipped (WSGATE_K8S_BINS_SOURCE=build)"
    return 1
  fi
  if [[ "$HAVE_CURL" != 1 ]]; then
    note_failure "$1" "download impossible (no curl)"
    return 1
  fi
  if ! host_reachable "$2"; then
    note_failure "$1" "download failed ($2 unreachable)"
    return 1
  fi
}

download_k8s() { # kube-apiserver | kubectl
  local name=$1 url sum dl="$BUILD_DIR/dl"
  can_download "$name" dl.k8s.io || return 1
  url="https://dl.k8s.io/release/$K8S_VERSION/bin/$OS/$ARCH/$name"
  mkdir -p "$dl"
  log "downloading $url"
  if fetch "$url" "$dl/$name" && fetch "$url.sha256" "$dl/$name.sha256"; then
    sum="$(tr -d '[:space:]' <"$dl/$name.sha256")"
    if verify_sha256 "$dl/$name" "$sum"; then
      install -m 0755 "$dl/$name" "$STAGE/$name" && return 0
    fi
  fi
  note_failure "$name" "download of $url failed"
  return 1
}

download_etcd() {
  local base="https://github.com/etcd-io/etcd/releases/download/$ETCD_VERSION"
  local dir="etcd-$ETCD_VERSION-$OS-$ARCH" ext=tar.gz sum dl="$BUILD_DIR/dl"
  [[ "$OS" == darwin ]] && ext=zip
  can_download etcd github.com || return 1
  mkdir -p "$dl"
  log "downloading $base/$dir.$ext"
  if fetch "$base/$dir.$ext" "$dl/$dir.$ext" && fetch "$base/SHA256SUMS" "$dl/etcd-SHA256SUMS"; then
    sum="$(awk -v f="$dir.$ext" '$2 == f { print $1 }' "$dl/etcd-SHA256SUMS")"
    if verify_sha256 "$dl/$dir.$ext" "$sum"; then
      # (set -e does not apply inside a function called from a condition.)
      if [[ "$ext" == zip ]]; then
        unzip -q -o "$dl/$dir.$ext" "$dir/etcd" -d "$dl" &&
          install -m 0755 "$dl/$dir/etcd" "$STAGE/etcd" && return 0
      else
        tar -xzf "$dl/$dir.$ext" -C "$dl" "$dir/etcd" &&
          install -m 0755 "$dl/$dir/etcd" "$STAGE/etcd" && return 0
      fi
    fi
  fi
  note_failure etcd "download of $base/$dir.$ext failed"
  return 1
}

download_helm() {
  local file="helm-$HELM_VERSION-$OS-$ARCH.tar.gz" sum dl="$BUILD_DIR/dl"
  local url="https://get.helm.sh/$file"
  can_download helm get.helm.sh || return 1
  mkdir -p "$dl"
  log "downloading $url"
  if fetch "$url" "$dl/$file" && fetch "$url.sha256sum" "$dl/$file.sha256sum"; then
    sum="$(awk '{ print $1; exit }' "$dl/$file.sha256sum")"
    if verify_sha256 "$dl/$file" "$sum"; then
      tar -xzf "$dl/$file" -C "$dl" "$OS-$ARCH/helm" &&
        install -m 0755 "$dl/$OS-$ARCH/helm" "$STAGE/helm" && return 0
    fi
  fi
  note_failure helm "download of $url failed"
  return 1
}

# --- Build path (Go module proxy) -------------------------------------------
GO_BIN="${GO:-}"
if [[ -z "$GO_BIN" ]]; then
  GO_BIN="$(command -v go || true)"
  if [[ -z "$GO_BIN" && -x /usr/local/go/bin/go ]]; then
    GO_BIN=/usr/local/go/bin/go
  fi
fi

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-p=$BUILD_PARALLEL -trimpath -buildvcs=false"

gocmd() { # go with low priority; its stdout goes to stderr
  nice -n 19 "$GO_BIN" "$@" >&2
}

can_build() { # binary
  if [[ "$SOURCE" == download ]]; then
    note_failure "$1" "build skipped (WSGATE_K8S_BINS_SOURCE=download)"
    return 1
  fi
  if [[ -z "$GO_BIN" ]]; then
    note_failure "$1" "build impossible (no 'go' on PATH; install Go or set GO=/path/to/go)"
    return 1
  fi
  if ! command -v "$GO_BIN" >/dev/null 2>&1; then
    note_failure "$1" "build impossible (GO=$GO_BIN is not an executable)"
    return 1
  fi
}

# Prints the path of the go.mod of module@version (downloaded via the proxy).
module_gomod() {
  local json
  json="$(cd "$BUILD_DIR" && nice -n 19 "$GO_BIN" mod download -json "$1")" || return 1
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json"
}

# Prints the UTC commit time of module@version in RFC 3339 (used as buildDate).
module_time() {
  (cd "$BUILD_DIR" && "$GO_BIN" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$1")
}

build_k8s() { # binaries...
  local names=("$@") mod="$BUILD_DIR/k8s-tools" gomod build_date pkgs=() ldflags
  local n buildable=1
  for n in "${names[@]}"; do can_build "$n" || buildable=0; done
  ((buildable)) || return 1

  log "building ${names[*]} $K8S_VERSION from the Go module proxy (slow: several minutes)"
  if ! gomod="$(module_gomod "k8s.io/kubernetes@$K8S_VERSION")" || [[ ! -s "$gomod" ]]; then
    for n in "${names[@]}"; do note_failure "$n" "build failed (cannot fetch k8s.io/kubernetes@$K8S_VERSION go.mod)"; done
    return 1
  fi
  if ! k8s_write_tools_module "$mod" "$gomod" "$K8S_VERSION" "${names[@]}"; then
    for n in "${names[@]}"; do note_failure "$n" "build failed (no v0.0.0 staging modules found in $gomod)"; done
    return 1
  fi
  build_date="$(module_time "k8s.io/kubernetes@$K8S_VERSION")" || build_date=1970-01-01T00:00:00Z
  for n in "${names[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  ldflags="$(k8s_version_ldflags "$K8S_VERSION" "$build_date")"

  if (cd "$mod" && gocmd mod tidy && gocmd build -ldflags "$ldflags" -o "$STAGE/" "${pkgs[@]}"); then
    return 0
  fi
  for n in "${names[@]}"; do note_failure "$n" "build from k8s.io/kubernetes@$K8S_VERSION failed (see go output above)"; done
  return 1
}

build_etcd() {
  local mod="$BUILD_DIR/etcd-tools" gomod
  can_build etcd || return 1
  log "building etcd $ETCD_VERSION from the Go module proxy"
  if ! gomod="$(module_gomod "go.etcd.io/etcd/server/v3@$ETCD_VERSION")" || [[ ! -s "$gomod" ]]; then
    note_failure etcd "build failed (cannot fetch go.etcd.io/etcd/server/v3@$ETCD_VERSION go.mod)"
    return 1
  fi
  etcd_write_tools_module "$mod" "$gomod" "$ETCD_VERSION"
  if (cd "$mod" && gocmd mod tidy &&
    gocmd build -ldflags "$(etcd_ldflags)" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3); then
    return 0
  fi
  note_failure etcd "build from go.etcd.io/etcd/server/v3@$ETCD_VERSION failed (see go output above)"
  return 1
}

build_helm() {
  local gomod kver kmajor kminor ldflags v=helm.sh/helm/v3/internal/version
  can_build helm || return 1
  log "building helm $HELM_VERSION from the Go module proxy"
  if ! gomod="$(module_gomod "helm.sh/helm/v3@$HELM_VERSION")" || [[ ! -s "$gomod" ]]; then
    note_failure helm "build failed (cannot fetch helm.sh/helm/v3@$HELM_VERSION go.mod)"
    return 1
  fi
  # Same as helm's Makefile: the default Kubernetes version helm assumes
  # (chartutil/lint) comes from the client-go version it is built with.
  kver="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")"
  kver="${kver#v}"
  kmajor=$((${kver%%.*} + 1))
  kminor="${kver#*.}"
  kminor="${kminor%%.*}"
  ldflags="-s -w -X $v.version=$HELM_VERSION -X $v.gitCommit=unknown -X $v.gitTreeState=clean"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$kmajor"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$kmajor"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor"
  if (cd "$BUILD_DIR" && GOBIN="$STAGE" gocmd install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"); then
    return 0
  fi
  note_failure helm "build of helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (see go output above)"
  return 1
}

# --- Provision ---------------------------------------------------------------
FAILED=()
download_etcd || build_etcd || FAILED+=(etcd)
download_helm || build_helm || FAILED+=(helm)
TO_BUILD=()
for b in kube-apiserver kubectl; do
  download_k8s "$b" || TO_BUILD+=("$b")
done
if ((${#TO_BUILD[@]} > 0)); then
  build_k8s "${TO_BUILD[@]}" || FAILED+=("${TO_BUILD[@]}")
fi

if ((${#FAILED[@]} > 0)); then
  for b in "${FAILED[@]}"; do
    log "cannot provision $b: $(reasons_for "$b")"
  done
  die "failed to provision: ${FAILED[*]} (nothing was cached)"
fi

# --- Sanity-check the staged binaries, then publish atomically ---------------
check_version() { # binary expected-substring command...
  local out
  if ! out="$("${@:3}" 2>&1)"; then
    die "$1 does not run: $out"
  fi
  [[ "$out" == *"$2"* ]] || die "$1 reports an unexpected version (wanted '$2'): $out"
  log "ok: $(head -n 1 <<<"$out")"
}
check_version kube-apiserver "Kubernetes $K8S_VERSION" "$STAGE/kube-apiserver" --version
check_version kubectl "Client Version: $K8S_VERSION" env KUBECONFIG=/dev/null "$STAGE/kubectl" version --client
check_version etcd "etcd Version: ${ETCD_VERSION#v}" "$STAGE/etcd" --version
check_version helm "$HELM_VERSION" env HELM_CONFIG_HOME="$BUILD_DIR/helm/config" \
  HELM_CACHE_HOME="$BUILD_DIR/helm/cache" HELM_DATA_HOME="$BUILD_DIR/helm/data" \
  "$STAGE/helm" version --template '{{.Version}}'

mkdir -p "$(dirname "$FINAL_DIR")"
if [[ -e "$FINAL_DIR" ]]; then
  # Incomplete leftover (a complete one was handled above): replace it.
  rm -rf "$FINAL_DIR"
fi
mv "$STAGE" "$FINAL_DIR"
log "cached in $FINAL_DIR"
printf '%s\n' "$FINAL_DIR"
