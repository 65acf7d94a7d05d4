#!/usr/bin/env bash
# Entry point of `npm run bench` and `npm run bench:profile` (after the build):
# raises the open-file limit for 10,000 connections through a proxy (up to the hard
# limit; below 21,500 the harness scales W4 down and says so), then runs the
# harness on CPU 1, next to the load generator and away from the proxy's CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
script=bench/run.mjs
if [ "${1:-}" = "--profile" ]; then
  script=bench/profile.mjs
  shift
fi
if [ "$(nproc --all)" -ge 2 ] && command -v taskset >/dev/null; then
  exec taskset -c 1 node "$script" "$@"
fi
exec node "$script" "$@"
