#!/usr/bin/env bash
# Entry point of `npm run bench`, `npm run bench:profile` and `npm run bench:tls-floor` / `bench:floor` (after the build):
# raises the open-file limit for 10,000 connections through a proxy (up to the hard
# limit; below 21,500 the harness scales W4 down and says so), then runs the
# harness on CPU 1, next to the load generator and away from the proxy's CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."

# wsgate needs Node >= 22.12 (README); bring Node 24 from the npm registry like .ci/run does.
cache="${WSGATE_CACHE:-$HOME/.cache/wsgate}"
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}
if ! node_ok; then
  if [ ! -x "$cache/node24/node_modules/.bin/node" ]; then
    echo "bench: node $(node --version 2>/dev/null || echo missing) is too old; bringing Node 24 from the npm registry" >&2
    mkdir -p "$cache/node24"
    npm install --prefix "$cache/node24" --no-save --no-audit --no-fund node@24 >&2
  fi
  export PATH="$cache/node24/node_modules/.bin:$PATH"
  node_ok || { echo "bench: could not provide Node >= 22.12" >&2; exit 1; }
fi
# Benchmarks use fixed ports and pin CPUs: two at once would collide and measure each
# other. Wait for any other run on this machine to finish (WSGATE_BENCH_NO_LOCK=1: don't).
if [ -z "${WSGATE_BENCH_NO_LOCK:-}" ] && command -v flock >/dev/null; then
  exec 9>"${TMPDIR:-/tmp}/wsgate-bench.lock"
  if ! flock -n 9; then
    echo "bench: another benchmark is running on this machine; waiting for it" >&2
    flock 9
  fi
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
script=bench/run.mjs
if [ "${1:-}" = "--profile" ]; then
  script=bench/profile.mjs
  shift
elif [ "${1:-}" = "--floor" ]; then
  script=bench/floor.mjs
  shift
fi
if [ "$(nproc --all)" -ge 2 ] && command -v taskset >/dev/null; then
  exec taskset -c 1 node "$script" "$@"
fi
exec node "$script" "$@"
