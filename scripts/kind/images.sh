# shellcheck shell=bash
# shellcheck disable=SC2154 # work, BIN, CACHE, LOGS and the versions are the caller's
# Image builders of scripts/e2e-provision.sh (legacy builder: DOCKER_BUILDKIT=0).
# Sourced; uses log, die, end, as_root and BIN, CACHE, LOGS, work and the pinned
# versions from the caller.

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Saves image $1 to $2 (gzip when it ends in .gz).
save_image() {
  mkdir -p "$(dirname "$2")"
  case "$2" in
    *.gz) docker save "$1" | gzip -1 >"$2.tmp" ;;
    *) docker save -o "$2.tmp" "$1" ;;
  esac
  mv "$2.tmp" "$2"
}

# Ensures image $1: present in the engine, else loaded from the saved file $2, else
# built by "${@:3}" and saved to $2, so a fresh engine only loads it. An image present
# in the engine but missing from the cache (the cache was cleared under a running
# engine) is saved too. Ends the current step as cached, saved, loaded or built.
ensure_image() {
  local image=$1 saved=$2
  shift 2
  if have_image "$image"; then
    if [[ -s "$saved" ]]; then
      end cached
    else
      save_image "$image" "$saved"
      end saved
    fi
  elif [[ -s "$saved" ]]; then
    docker load -i "$saved" >&2
    end loaded
  else
    "$@"
    have_image "$image" || die "building $image did not produce it"
    save_image "$image" "$saved"
    end built
  fi
}

# docker build, its output in $LOGS/build-<image>.log (shown when it fails).
build_in() { # tag context-dir [docker build args...]
  local tag=$1 dir=$2 out
  shift 2
  out="$LOGS/build-$(tr '/:' '__' <<<"$tag").log"
  if ! nice -n 10 docker build -t "$tag" "$@" "$dir" >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "docker build of $tag failed (see $out)"
  fi
}

# The Debian mirror the host's apt uses (debootstrap needs one).
debian_mirror() {
  if [[ -n "${WSGATE_DEBIAN_MIRROR:-}" ]]; then
    echo "$WSGATE_DEBIAN_MIRROR"
    return
  fi
  local m
  m="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }')"
  [[ -n "$m" ]] || m="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)"
  echo "${m:-http://deb.debian.org/debian}"
}

build_debian() { # tag
  local rootfs="$work/rootfs"
  as_root nice -n 10 debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$(debian_mirror)" \
    >"$LOGS/debootstrap.log" 2>&1 || die "debootstrap failed (see $LOGS/debootstrap.log)"
  # Package lists and caches are refreshed by every image built on it (80 MB saved).
  as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  as_root tar -C "$rootfs" -c . | docker import - "$1" >&2
  as_root rm -rf "$rootfs"
}

# kind's node base: kind's images/base/files ($1) and Debian's containerd, runc and
# CNI plugins on the Debian base image ($2).
build_node_base() { # kind-files base-image tag
  local ctx="$work/node-base"
  mkdir -p "$ctx"
  cp -r "$1" "$ctx/files"
  chmod -R u+w "$ctx"
  # kind's containerd config, adapted: Debian's containerd 1.6 has no fuse-overlayfs
  # snapshotter; the sandbox image is the pause built here; restrict_oom_score_adj,
  # because a node container cannot lower its own oom_score_adj on hosts without
  # CAP_SYS_RESOURCE ("failed to update /proc/self/oom_score_adj: Permission denied").
  awk -v pause="registry.k8s.io/pause:$PAUSE_VERSION" '
    /^\[proxy_plugins/ { skip = 1; next }
    /^\[/ { skip = 0 }
    skip { next }
    /sandbox_image =/ { sub(/"[^"]*"/, "\"" pause "\"") }
    /restrict_oom_score_adj =/ { sub(/false/, "true") }
    { print }
  ' "$1/etc/containerd/config.toml" >"$ctx/containerd.toml"
  cp scripts/kind/node-base.Dockerfile "$ctx/Dockerfile"
  build_in "$3" "$ctx" --build-arg "BASE_IMAGE=$2"
}

# A component image: one static binary on scratch.
scratch_image() { # tag binary path-in-image [user]
  local ctx
  ctx="$(mktemp -d "$work/img.XXXXXX")"
  cp "$BIN/$2" "$ctx/bin"
  {
    echo "FROM scratch"
    echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    echo "COPY bin $3"
    if [[ -n "${4:-}" ]]; then echo "USER $4"; fi
    echo "ENTRYPOINT [\"$3\"]"
  } >"$ctx/Dockerfile"
  build_in "$1" "$ctx"
}

# kube-proxy programs iptables: it needs the tools on a Debian base ($2).
kube_proxy_image() { # tag base-image
  local ctx="$work/kube-proxy"
  mkdir -p "$ctx"
  cp "$BIN/kube-proxy" "$ctx/kube-proxy"
  cat >"$ctx/Dockerfile" <<EOF
FROM $2
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      iptables conntrack ipset kmod && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
ENTRYPOINT ["/usr/local/bin/kube-proxy"]
EOF
  build_in "$1" "$ctx"
}

# The node image, as kind's `build node-image` assembles it
# (pkg/build/nodeimage/buildcontext.go) but from images built here: Kubernetes
# binaries in the node base ($1), /kind/version, the default CNI manifest (the CNI
# daemon image $3), and every component image ($4…) imported into the node's
# containerd and pinned.
build_node() { # base-image tag cni-image component-images...
  local base=$1 tag=$2 cni=$3 b ref _
  shift 3
  node_build="$(docker run -d --entrypoint=sleep --security-opt seccomp=unconfined "$base" infinity)"
  for b in kubeadm kubelet kubectl; do docker cp "$BIN/$b" "$node_build:/usr/bin/$b"; done
  docker cp "$BIN/crictl" "$node_build:/usr/local/bin/crictl"
  docker exec "$node_build" chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl /usr/local/bin/crictl
  printf '%s' "$K8S_VERSION" | docker exec -i "$node_build" cp /dev/stdin /kind/version
  docker exec "$node_build" mkdir -p /kind/manifests
  # No default-storage.yaml: kind then installs a host-path StorageClass, and the e2e
  # needs no volumes (so local-path-provisioner is not built).
  sed "s|__CNI_IMAGE__|$cni|" scripts/kind/cni-daemon.yaml |
    docker exec -i "$node_build" cp /dev/stdin /kind/manifests/default-cni.yaml
  docker exec "$node_build" bash -c 'nohup containerd >/dev/null 2>&1 &'
  for _ in $(seq 1 30); do
    docker exec "$node_build" ctr version >/dev/null 2>&1 && break
    sleep 1
  done
  docker save "$@" | docker exec -i "$node_build" ctr -n k8s.io images import --all-platforms --no-unpack - >&2
  # ctr 1.6 import has no --label: pin afterwards, or kubelet's image GC may remove them.
  for ref in "$@"; do
    docker exec "$node_build" ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
  done
  docker exec "$node_build" pkill containerd
  for _ in $(seq 1 30); do
    docker exec "$node_build" pgrep -x containerd >/dev/null || break
    sleep 1
  done
  docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' "$node_build" "$tag" >/dev/null
  docker rm -f "$node_build" >/dev/null
  node_build=""
}

# The tarball of an npm package, cached under $CACHE/downloads.
npm_package() { # package version
  local dir="$CACHE/downloads" file
  file="$dir/$1-$2.tgz"
  if [[ ! -s "$file" ]]; then
    mkdir -p "$dir"
    (cd "$work" && npm pack --silent "$1@$2" >/dev/null)
    mv "$work/$1-$2.tgz" "$file"
  fi
  echo "$file"
}

# The stand-in for node:24-bookworm-slim: Node from the npm registry's
# node-linux-<arch> package, npm, and the host's extra CA certificates ($3…).
build_node24() { # base-image tag [certificates...]
  local base=$1 tag=$2 ctx="$work/node24"
  shift 2
  mkdir -p "$ctx/certs" "$ctx/npm" "$ctx/node-pkg"
  tar -xzf "$(npm_package "node-linux-$NODE_ARCH" "$NODE_VERSION")" -C "$ctx/node-pkg"
  mv "$ctx/node-pkg/package/bin/node" "$ctx/node"
  # The mode is set here: a RUN chmod in the image would copy the 120 MB binary into
  # another layer.
  chmod 0755 "$ctx/node"
  rm -rf "$ctx/node-pkg"
  tar -xzf "$(npm_package npm "$NPM_VERSION")" -C "$ctx/npm" --strip-components=1
  if (($# > 0)); then cp "$@" "$ctx/certs/"; fi
  cp scripts/kind/node24-base.Dockerfile "$ctx/Dockerfile"
  build_in "$tag" "$ctx" --build-arg "BASE_IMAGE=$base"
}
