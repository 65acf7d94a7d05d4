#!/usr/bin/env bash
# Copies the CRDs from crds/ (their single source) into the Helm chart's crds/
# directory, byte for byte. test/packaging/chart.test.ts fails when they differ.
#
# Usage: bash scripts/sync-chart-crds.sh
set -euo pipefail
cd "$(dirname "$0")/.."

dest=helm/wsgate/crds
mkdir -p "$dest"
# Drop copies of CRDs that no longer exist in crds/.
for f in "$dest"/*.yaml; do
  [[ -e "$f" ]] || continue
  [[ -e "crds/$(basename "$f")" ]] || rm -v -- "$f"
done
for f in crds/*.yaml; do
  cp -- "$f" "$dest/"
done
echo "synced $(find crds -maxdepth 1 -name '*.yaml' | wc -l) CRD file(s) into $dest"
