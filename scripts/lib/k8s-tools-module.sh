# shellcheck shell=bash
# The "tools module" build of Kubernetes and etcd binaries from the Go module proxy,
# shared by scripts/k8s-bins.sh (the real-apiserver tier) and scripts/e2e-provision.sh
# (the offline kind node image). Sourced; defines functions only.
#
# Why a tools module: `go install k8s.io/kubernetes/cmd/x@v` refuses a module with
# `replace` directives, and k8s.io/kubernetes requires its staging modules
# (k8s.io/api, k8s.io/client-go, …) at v0.0.0 replaced with ./staging paths. A small
# module that requires k8s.io/kubernetes and maps each staging module to its published
# v0.<minor>.<patch> builds the same sources. The version ldflags matter: kubeadm
# compares its own version with the control plane's and refuses "v0.0.0-master".

# Prints the staging modules' published version for a Kubernetes version:
# v1.34.4 → v0.34.4.
k8s_staging_version() {
  local v="${1#v}"
  local minor="${v#*.}"
  printf 'v0.%s.%s\n' "${minor%%.*}" "${v##*.}"
}

# Writes DIR/go.mod: a module requiring k8s.io/kubernetes VERSION with every staging
# module of GOMOD (k8s.io/kubernetes' own go.mod) replaced by its published version,
# and `tool` lines for the named commands under k8s.io/kubernetes/cmd/.
# Usage: k8s_write_tools_module DIR GOMOD VERSION NAME...
k8s_write_tools_module() {
  local dir=$1 gomod=$2 version=$3 staging staging_version m n
  shift 3
  staging="$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$gomod" | sort -u)"
  [[ -n "$staging" ]] || return 1
  staging_version="$(k8s_staging_version "$version")"
  mkdir -p "$dir"
  {
    echo "module wsgate.local/k8s-tools"
    echo
    # The same language version and GODEBUG defaults as the upstream build.
    awk '$1 == "go" || $1 == "godebug" { print }' "$gomod"
    echo
    echo "tool ("
    for n in "$@"; do echo "	k8s.io/kubernetes/cmd/$n"; done
    echo ")"
    echo
    echo "require k8s.io/kubernetes $version"
    echo
    echo "replace ("
    while read -r m; do echo "	$m => $m $staging_version"; done <<<"$staging"
    echo ")"
  } >"$dir/go.mod"
}

# Prints the -ldflags value that stamps VERSION (built at BUILD_DATE, RFC 3339) into
# Kubernetes binaries, as Kubernetes' own build does (hack/lib/version.sh).
k8s_version_ldflags() {
  local version=$1 build_date=$2 major minor p flags="-s -w"
  major="${version#v}"
  minor="${major#*.}"
  major="${major%%.*}"
  minor="${minor%%.*}"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    flags+=" -X $p.gitCommit=unknown -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
  done
  printf '%s\n' "$flags"
}

# Writes DIR/go.mod: a module requiring go.etcd.io/etcd/server/v3 VERSION. The
# server's go.mod (GOMOD) replaces its sibling modules (api, client, pkg) with ../
# paths, which is ignored in a dependency; they are pinned to the same release so
# `etcd --version` matches.
# Usage: etcd_write_tools_module DIR GOMOD VERSION
etcd_write_tools_module() {
  local dir=$1 gomod=$2 version=$3 siblings m
  siblings="$(awk '$1 ~ /^go\.etcd\.io\/etcd\// && $2 == "=>" && $3 ~ /^\.\.\// { print $1 }' "$gomod" | sort -u)"
  mkdir -p "$dir"
  {
    echo "module wsgate.local/etcd-tools"
    echo
    awk '$1 == "go" || $1 == "godebug" { print }' "$gomod"
    echo
    echo "tool go.etcd.io/etcd/server/v3"
    echo
    echo "require ("
    echo "	go.etcd.io/etcd/server/v3 $version"
    while read -r m; do [[ -n "$m" ]] && echo "	$m $version"; done <<<"$siblings"
    echo ")"
  } >"$dir/go.mod"
}

# Prints etcd's -ldflags value: its version string is a constant; only the git SHA
# is an ldflag.
etcd_ldflags() {
  printf '%s\n' "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=unknown"
}
