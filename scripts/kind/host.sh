# shellcheck shell=bash
# The host side of scripts/e2e-provision.sh: the Docker engine and the traffic guard.
# Sourced; uses log, die, as_root, gocmd and CACHE, LOGS from the caller.

# The OCI runtime name under which dockerd runs scripts/kind/runc-wrapper.
RUNTIME=wsgate-runc

# Docker grants a --privileged container every capability it knows; runc fails when
# one is outside the host's bounding set (seen: a VM without CAP_SYS_RESOURCE). True
# when this host's bounding set is partial.
needs_runc_wrapper() {
  local last bnd
  last="$(cat /proc/sys/kernel/cap_last_cap)"
  bnd="$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)"
  (((16#$bnd) != (1 << (last + 1)) - 1))
}

# Builds the runc wrapper at $1 unless it is there.
ensure_runc_wrapper() {
  [[ -x "$1" ]] && return 0
  mkdir -p "$(dirname "$1")"
  (cd scripts/kind/runc-wrapper && gocmd build -ldflags "-s -w" -o "$1" .)
}

# Starts dockerd unless an engine answers; prints "cached" or "ready". Where the
# wrapper is needed, it is (re)built at the path the engine runs it from: a running
# engine keeps that path even when the cache was cleared under it.
start_docker() {
  if docker info >/dev/null 2>&1; then
    if needs_runc_wrapper; then
      if [[ "$(docker info --format '{{.DefaultRuntime}}')" == "$RUNTIME" ]]; then
        ensure_runc_wrapper "$(docker info --format "{{(index .Runtimes \"$RUNTIME\").Path}}")"
      else
        log "WARNING: this host's capability bounding set is partial and the running dockerd"
        log "does not use $RUNTIME: kind nodes may fail with 'unable to apply caps'"
      fi
    fi
    echo cached
    return
  fi
  local args=() wrapper="$CACHE/runtime/runc-wrapper"
  if needs_runc_wrapper; then
    ensure_runc_wrapper "$wrapper"
    args+=(--add-runtime "$RUNTIME=$wrapper" --default-runtime "$RUNTIME")
    log "capability bounding set is partial: dockerd runs containers through $wrapper"
  fi
  # setsid: the engine outlives this script and the shell that started it. 9>&-: it
  # must not inherit the cache lock (fd 9 of e2e-provision.sh), or every later run
  # waits for the lock as long as the engine runs (seen: a second run waited 20 min).
  as_root setsid dockerd "${args[@]}" >>"$LOGS/dockerd.log" 2>&1 </dev/null 9>&- &
  local _
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || die "dockerd did not start (see $LOGS/dockerd.log)"
  echo ready
}

# The traffic guard. Seen once: right after a Service was created, before kube-proxy
# had synced, a Pod's request to its ClusterIP was not translated and left the machine
# through the default route. Nothing a cluster (or any container) does may reach a
# non-local address: forwarded traffic to private, shared and link-local ranges that
# would leave through the external interface is rejected, except DNS to the host's
# resolver (itself in a private range here). The rules live in their own chain,
# rebuilt in order on every run, and DOCKER-USER (which dockerd keeps across restarts
# and consults before its own rules) jumps to it first.
install_traffic_guard() {
  local ext ns range
  ext="$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"
  ns="$(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ { print $2; exit }' /etc/resolv.conf)"
  [[ -n "$ext" ]] || die "no default route: cannot tell the external interface"
  as_root iptables -L DOCKER-USER -n >/dev/null 2>&1 || die "no DOCKER-USER chain: is dockerd managing iptables?"
  as_root iptables -N WSGATE-GUARD 2>/dev/null || as_root iptables -F WSGATE-GUARD
  if [[ -n "$ns" ]]; then
    as_root iptables -A WSGATE-GUARD -o "$ext" -d "$ns" -p udp --dport 53 -j RETURN
    as_root iptables -A WSGATE-GUARD -o "$ext" -d "$ns" -p tcp --dport 53 -j RETURN
  fi
  for range in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 169.254.0.0/16; do
    as_root iptables -A WSGATE-GUARD -o "$ext" -d "$range" -j REJECT
  done
  as_root iptables -C DOCKER-USER -j WSGATE-GUARD 2>/dev/null || as_root iptables -I DOCKER-USER -j WSGATE-GUARD
  # IPv6: unique-local and link-local destinations (kind's network is fc00::/7).
  if command -v ip6tables >/dev/null 2>&1 && as_root ip6tables -L FORWARD -n >/dev/null 2>&1; then
    as_root ip6tables -N WSGATE-GUARD 2>/dev/null || as_root ip6tables -F WSGATE-GUARD
    for range in fc00::/7 fe80::/10; do
      as_root ip6tables -A WSGATE-GUARD -o "$ext" -d "$range" -j REJECT
    done
    as_root ip6tables -C FORWARD -j WSGATE-GUARD 2>/dev/null || as_root ip6tables -I FORWARD -j WSGATE-GUARD
  fi
  log "traffic guard: forwarded traffic to private ranges via $ext is rejected${ns:+ (DNS to $ns allowed)}"
}
