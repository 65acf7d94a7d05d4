#!/usr/bin/env bash
# Provision the kind e2e (e2e/run.sh) on a machine that reaches no container registry:
# a Docker engine, kind, a kind node image, and a Node 24 base image for the project's
# Dockerfile, all built from Debian's packages, the Go module proxy and the npm
# registry, cached by version. Where the official images are reachable (GitHub
# Actions) it builds nothing.
#
# Usage: bash scripts/e2e-provision.sh        (npm run e2e:provision)
#
# The LAST line of stdout is an env file for `source`: it puts kind, kubectl and helm
# on PATH and sets KIND_NODE_IMAGE, WSGATE_E2E_NODE_IMAGE (the Dockerfile's NODE_IMAGE
# build argument) and DOCKER_BUILDKIT=0. Progress and a timing table go to stderr.
#
# What it does, each step skipped when its result is cached:
#   1. installs docker.io (Debian) and starts dockerd when no engine answers; on hosts
#      whose capability bounding set lacks capabilities Docker grants --privileged
#      containers (kind's nodes), dockerd runs them through scripts/kind/runc-wrapper;
#   2. installs the traffic guard (firewall rules in DOCKER-USER) before any cluster
#      exists: forwarded traffic to private, link-local and shared address ranges
#      that would leave through the host's external interface is rejected, except DNS
#      to the host's resolver, so nothing a cluster does reaches a non-local address;
#   3. builds with Go (GOTOOLCHAIN=local, CGO_ENABLED=0, nice, -p 2): kind, the
#      Kubernetes binaries with version ldflags (the tools module of
#      scripts/lib/k8s-tools-module.sh, shared with scripts/k8s-bins.sh), etcd,
#      coredns, crictl and scripts/kind/cni-daemon (kindnetd's job); pause with gcc;
#   4. builds images with the legacy builder: a Debian base (debootstrap), kind's node
#      base (scripts/kind/node-base.Dockerfile), the component images under the names
#      kubeadm expects, and the node image, assembled as kind's `build node-image`
#      does (which cannot run offline: it always fetches etcd, coredns, pause and
#      kindnetd), saved as a tarball so a fresh Docker engine only loads it;
#   5. builds a Node 24 base image (scripts/kind/node24-base.Dockerfile).
# The base images (apt and disk bound) build in the background while Go compiles.
# Helpers: scripts/kind/host.sh (engine, guard), scripts/kind/images.sh (images).
#
# Cache: ${WSGATE_CACHE:-$HOME/.cache/wsgate}/kind/ — <k8s version>/bin (binaries),
# <k8s version>/images (saved images), base-*.tar (the Debian base image), downloads/
# (npm tarballs), runtime/ (the runc wrapper dockerd runs), logs/ (dockerd, debootstrap,
# every docker build). Image tags carry a hash of their recipe.
#
# Environment:
#   WSGATE_CACHE                 cache root (default: $HOME/.cache/wsgate)
#   WSGATE_E2E_IMAGES            auto (default) | official | offline
#   WSGATE_DEBIAN_MIRROR         Debian mirror for debootstrap (default: the host's)
#   WSGATE_BUILD_PARALLEL        go build -p value (default 2)
#   GO                           go binary (default: `go` on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Pinned versions ---------------------------------------------------------
# Kubernetes 1.34: kubelet >= 1.35 refuses cgroup v1 hosts. The image versions are
# what `kubeadm config images list --kubernetes-version v1.34.4` names (checked below).
K8S_VERSION=v1.34.4
KIND_VERSION=v0.33.0
ETCD_VERSION=v3.6.5
ETCD_TAG=3.6.5-0
COREDNS_VERSION=v1.12.1
PAUSE_VERSION=3.10.1
CRICTL_VERSION=v1.34.0
NODE_VERSION=24.21.0
NPM_VERSION=11.21.2
DEBIAN_SUITE=bookworm
K8S_COMMANDS=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

MODE="${WSGATE_E2E_IMAGES:-auto}"
BUILD_PARALLEL="${WSGATE_BUILD_PARALLEL:-2}"
CACHE="${WSGATE_CACHE:-$HOME/.cache/wsgate}/kind"
KC="$CACHE/$K8S_VERSION"
BIN="$KC/bin"
IMAGES="$KC/images"
TOOLS="$KC/tools"
ENV_FILE="$KC/e2e.env"
LOGS="$CACHE/logs"

log() { printf 'e2e-provision: %s\n' "$*" >&2; }
die() {
  printf 'e2e-provision: ERROR: %s\n' "$*" >&2
  exit 1
}

case "$MODE" in
  auto | official | offline) ;;
  *) die "WSGATE_E2E_IMAGES must be auto, official or offline (got '$MODE')" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) NODE_ARCH=x64 ;;
  aarch64 | arm64) NODE_ARCH=arm64 ;;
  *) die "unsupported architecture: $(uname -m)" ;;
esac
[[ "$(uname -s)" == Linux ]] || die "offline provisioning needs Linux (kind nodes run in Linux containers)"

# --- Timing ------------------------------------------------------------------
START=$SECONDS
STEPS=()
step_start=0
step_name=""
begin() {
  step_name=$1
  step_start=$SECONDS
  log "$step_name"
}
end() { # cached | saved | built | loaded | ready
  STEPS+=("$(printf '%-28s %-7s %5ss' "$step_name" "$1" "$((SECONDS - step_start))")")
}
summary() {
  log "steps:"
  local s
  for s in "${STEPS[@]}"; do log "  $s"; done
  log "total $((SECONDS - START))s"
}

write_env() { # lines...
  mkdir -p "$(dirname "$ENV_FILE")"
  {
    echo "# Written by scripts/e2e-provision.sh; source it before e2e/run.sh."
    printf '%s\n' "$@"
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# --- Official images reachable? ----------------------------------------------
# A container registry answers /v2/ with 401 (or 200) to an anonymous client; a
# proxy's refusal or a DNS failure is not an answer from a registry.
registry_reachable() {
  local code
  code="$(curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 10 \
    https://registry-1.docker.io/v2/ 2>/dev/null || true)"
  [[ "$code" == 401 || "$code" == 200 ]]
}
if [[ "$MODE" == official ]] || { [[ "$MODE" == auto ]] && registry_reachable; }; then
  log "the official kind node image and node:24-bookworm-slim are reachable: nothing to build"
  write_env "# (official images: kind, kubectl and helm come from the machine)"
  printf '%s\n' "$ENV_FILE"
  exit 0
fi

mkdir -p "$CACHE" "$LOGS"
# One provisioning at a time. Not ".lock": engines started by earlier versions of
# this script inherited that one and hold it for as long as they run.
LOCK="$CACHE/provision.lock"
exec 9>"$LOCK"
if ! flock -n 9; then
  log "another e2e-provision run holds $LOCK; waiting for it"
  flock 9
fi

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}
# Installs Debian packages, refreshing the package lists only when needed.
apt_install() {
  local quiet=(-y -qq --no-install-recommends)
  if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install "${quiet[@]}" "$@" >&2; then
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install "${quiet[@]}" "$@" >&2
  fi
}

# --- 1. Host packages, the Docker engine, the traffic guard -------------------------
begin "host packages"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
compgen -G "/usr/lib/*-linux-gnu/libc.a" >/dev/null || missing+=(libc6-dev)
if ((${#missing[@]} > 0)); then
  apt_install "${missing[@]}"
  end built
else
  end cached
fi

GO_BIN="${GO:-$(command -v go || true)}"
if [[ -z "$GO_BIN" && -x /usr/local/go/bin/go ]]; then GO_BIN=/usr/local/go/bin/go; fi
[[ -n "$GO_BIN" ]] || die "no 'go' on PATH (install Go or set GO=/path/to/go)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOMAXPROCS="$BUILD_PARALLEL"
export GOFLAGS="-p=$BUILD_PARALLEL -trimpath -buildvcs=false"
gocmd() { nice -n 10 "$GO_BIN" "$@" >&2; }
mkdir -p "$BIN" "$IMAGES" "$TOOLS"

# shellcheck source=scripts/kind/host.sh
source scripts/kind/host.sh
# shellcheck source=scripts/kind/images.sh
source scripts/kind/images.sh
# shellcheck source=scripts/lib/k8s-tools-module.sh
source scripts/lib/k8s-tools-module.sh

begin "docker engine"
end "$(start_docker)"
export DOCKER_BUILDKIT=0
# Before any cluster or container of this script exists.
begin "traffic guard"
install_traffic_guard
end ready

work="$(mktemp -d "$CACHE/.work.XXXXXX")"
node_build=""
bg=""
cleanup() {
  if [[ -n "$bg" ]]; then kill "$bg" 2>/dev/null || true; fi
  if [[ -n "$node_build" ]]; then docker rm -f "$node_build" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

module_field() { # module@version Field → the field of `go mod download -json`
  local json
  json="$(cd "$work" && "$GO_BIN" mod download -json "$1")"
  sed -n 's/^[[:space:]]*"'"$2"'": "\(.*\)",\{0,1\}$/\1/p' <<<"$json"
}

# --- 2. Base images, in the background ----------------------------------------------
# Each image's tag carries a hash of what it is built from (files, and the builder
# functions themselves): a changed recipe is rebuilt, an unchanged one reused.
recipe_hash() { # function names or files...
  local a
  for a in "$@"; do
    if declare -F "$a" >/dev/null; then declare -f "$a"; else cat "$a"; fi
  done | sha256sum | cut -c1-12
}
DEBIAN_IMAGE="wsgate.local/debian:$DEBIAN_SUITE-$(recipe_hash build_debian)"
kind_files="$(module_field "sigs.k8s.io/kind@$KIND_VERSION" Dir)/images/base/files"
[[ -d "$kind_files" ]] || die "no images/base/files in the kind $KIND_VERSION module"
node_base_hash="$( (echo "$DEBIAN_IMAGE" && recipe_hash scripts/kind/node-base.Dockerfile build_node_base && find "$kind_files" -type f -print0 |
  sort -z | xargs -0 cat) | sha256sum | cut -c1-12)"
NODE_BASE_IMAGE="wsgate.local/kind-node-base:$KIND_VERSION-$node_base_hash"
certs=()
for c in /usr/local/share/ca-certificates/*.crt; do if [[ -f "$c" ]]; then certs+=("$c"); fi; done
node24_hash="$( (echo "$DEBIAN_IMAGE" && recipe_hash scripts/kind/node24-base.Dockerfile build_node24 npm_package &&
  echo "$NODE_VERSION $NPM_VERSION" &&
  cat ${certs[@]+"${certs[@]}"}) | sha256sum | cut -c1-12)"
NODE24_IMAGE="wsgate.local/node:$NODE_VERSION-$DEBIAN_SUITE-$node24_hash"

base_images() {
  local before=${#STEPS[@]}
  begin "debian $DEBIAN_SUITE base"
  ensure_image "$DEBIAN_IMAGE" "$CACHE/base-${DEBIAN_IMAGE##*:}.tar" build_debian "$DEBIAN_IMAGE"
  begin "kind node base"
  ensure_image "$NODE_BASE_IMAGE" "$IMAGES/node-base-$node_base_hash.tar" \
    build_node_base "$kind_files" "$DEBIAN_IMAGE" "$NODE_BASE_IMAGE"
  begin "node $NODE_VERSION base"
  ensure_image "$NODE24_IMAGE" "$IMAGES/node24-$node24_hash.tar" \
    build_node24 "$DEBIAN_IMAGE" "$NODE24_IMAGE" ${certs[@]+"${certs[@]}"}
  printf '%s\n' "${STEPS[@]:before}" >"$work/bg-steps"
}
base_images >"$LOGS/base-images.log" 2>&1 &
bg=$!

# --- 3. Binaries -------------------------------------------------------------------
have_bins() {
  local b
  for b in "$@"; do [[ -x "$BIN/$b" ]] || return 1; done
}
go_install() { # name package@version (a module without replace directives)
  (cd "$work" && GOBIN="$work/gobin" gocmd install -ldflags "-s -w" "$2")
  install -m 0755 "$work/gobin/$1" "$BIN/$1"
}

begin "kind $KIND_VERSION"
if have_bins kind; then end cached; else
  go_install kind "sigs.k8s.io/kind@$KIND_VERSION"
  end built
fi

begin "kubernetes $K8S_VERSION"
if have_bins "${K8S_COMMANDS[@]}"; then end cached; else
  gomod="$(module_field "k8s.io/kubernetes@$K8S_VERSION" GoMod)"
  k8s_write_tools_module "$work/k8s" "$gomod" "$K8S_VERSION" "${K8S_COMMANDS[@]}" ||
    die "no staging modules in $gomod"
  build_date="$(cd "$work" && "$GO_BIN" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' \
    "k8s.io/kubernetes@$K8S_VERSION")"
  pkgs=()
  for c in "${K8S_COMMANDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$work/k8s" && gocmd mod tidy &&
    gocmd build -ldflags "$(k8s_version_ldflags "$K8S_VERSION" "$build_date")" -o "$work/k8s-bin/" "${pkgs[@]}")
  for c in "${K8S_COMMANDS[@]}"; do install -m 0755 "$work/k8s-bin/$c" "$BIN/$c"; done
  end built
fi
[[ "$("$BIN/kubeadm" version -o short)" == "$K8S_VERSION" ]] || die "kubeadm does not report $K8S_VERSION"

begin "etcd $ETCD_VERSION"
if have_bins etcd; then end cached; else
  etcd_write_tools_module "$work/etcd" "$(module_field "go.etcd.io/etcd/server/v3@$ETCD_VERSION" GoMod)" "$ETCD_VERSION"
  (cd "$work/etcd" && gocmd mod tidy &&
    gocmd build -ldflags "$(etcd_ldflags)" -o "$work/etcd-bin" go.etcd.io/etcd/server/v3)
  install -m 0755 "$work/etcd-bin" "$BIN/etcd"
  end built
fi

begin "coredns $COREDNS_VERSION"
if have_bins coredns; then end cached; else
  go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  end built
fi

begin "crictl $CRICTL_VERSION"
if have_bins crictl; then end cached; else
  go_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  end built
fi

begin "pause $PAUSE_VERSION"
if have_bins pause; then end cached; else
  # The C source the pause image is built from, in the k8s.io/kubernetes module.
  src="$(module_field "k8s.io/kubernetes@$K8S_VERSION" Dir)/build/pause/linux/pause.c"
  nice -n 10 gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$work/pause" "$src"
  install -m 0755 "$work/pause" "$BIN/pause"
  end built
fi

# Rebuilt when its source changes: the binary's name and its image's tag carry the hash.
cni_hash="$(cat scripts/kind/cni-daemon/go.mod scripts/kind/cni-daemon/go.sum scripts/kind/cni-daemon/main.go |
  sha256sum | cut -c1-12)"
begin "cni daemon"
if have_bins "cni-daemon-$cni_hash"; then end cached; else
  (cd scripts/kind/cni-daemon && gocmd build -ldflags "-s -w" -o "$BIN/cni-daemon-$cni_hash" .)
  end built
fi

log "waiting for the base images (log: $LOGS/base-images.log)"
wait "$bg" || die "building the base images failed (see $LOGS/base-images.log)"
bg=""
mapfile -t -O "${#STEPS[@]}" STEPS <"$work/bg-steps"

# --- 4. Component images and the node image -------------------------------------------
REG=registry.k8s.io
CNI_IMAGE="wsgate.local/kind-cni-daemon:$cni_hash"
COMPONENTS=(
  "$REG/kube-apiserver:$K8S_VERSION"
  "$REG/kube-controller-manager:$K8S_VERSION"
  "$REG/kube-scheduler:$K8S_VERSION"
  "$REG/kube-proxy:$K8S_VERSION"
  "$REG/etcd:$ETCD_TAG"
  "$REG/coredns/coredns:$COREDNS_VERSION"
  "$REG/pause:$PAUSE_VERSION"
)
# kubeadm names the images it will ask for: they must be exactly the ones built here.
expected="$("$BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | sort)"
[[ "$expected" == "$(printf '%s\n' "${COMPONENTS[@]}" | sort)" ]] ||
  die "kubeadm $K8S_VERSION expects other images:"$'\n'"$expected"
COMPONENTS+=("$CNI_IMAGE")

for image in "${COMPONENTS[@]}"; do
  begin "image ${image#"$REG/"}"
  name="${image##*/}"
  name="${name%%:*}"
  case "$name" in
    kube-proxy) build=(kube_proxy_image "$image" "$DEBIAN_IMAGE") ;;
    etcd) build=(scratch_image "$image" etcd /usr/local/bin/etcd) ;;
    coredns) build=(scratch_image "$image" coredns /coredns) ;;
    pause) build=(scratch_image "$image" pause /pause 65535:65535) ;;
    kind-cni-daemon) build=(scratch_image "$image" "cni-daemon-$cni_hash" /cni-daemon) ;;
    *) build=(scratch_image "$image" "$name" "/usr/local/bin/$name") ;;
  esac
  ensure_image "$image" "$IMAGES/$(tr '/:' '__' <<<"$image").tar" "${build[@]}"
done

node_hash="$( (echo "$node_base_hash" && recipe_hash scripts/kind/cni-daemon.yaml build_node &&
  printf '%s\n' "${COMPONENTS[@]}" && sha256sum "$BIN/kubeadm" "$BIN/kubelet" "$BIN/kubectl" "$BIN/crictl") |
  sha256sum | cut -c1-12)"
NODE_IMAGE="wsgate.local/kind-node:$K8S_VERSION-$node_hash"
begin "kind node image"
ensure_image "$NODE_IMAGE" "$IMAGES/node-$node_hash.tar.gz" \
  build_node "$NODE_BASE_IMAGE" "$NODE_IMAGE" "$CNI_IMAGE" "${COMPONENTS[@]}"

# --- 5. Tools on PATH for e2e/run.sh --------------------------------------------------
begin "helm (scripts/k8s-bins.sh)"
helm_dir="$(bash scripts/k8s-bins.sh | tail -n 1)"
end ready
ln -sf "$BIN/kind" "$TOOLS/kind"
ln -sf "$BIN/kubectl" "$TOOLS/kubectl"
ln -sf "$helm_dir/helm" "$TOOLS/helm"
write_env \
  "export PATH=\"$TOOLS:\$PATH\"" \
  "export KIND_NODE_IMAGE=$NODE_IMAGE" \
  "export WSGATE_E2E_NODE_IMAGE=$NODE24_IMAGE" \
  "export DOCKER_BUILDKIT=0"
summary
log "node image $NODE_IMAGE; Node base $NODE24_IMAGE"
printf '%s\n' "$ENV_FILE"
