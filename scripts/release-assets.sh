#!/usr/bin/env bash
# Builds the files a wsgate release publishes besides the image, and checks that they
# all name the same version and the image the release pushes
# (.github/workflows/release.yml runs it; it also runs here, with no registry).
#
# Usage: bash scripts/release-assets.sh VERSION OUT_DIR IMAGE_REPOSITORY
#   VERSION           the release, without the v (a tag v1.2.3 → 1.2.3)
#   IMAGE_REPOSITORY  where the release pushes the image, e.g. ghcr.io/wsgate/wsgate
#
# Writes to OUT_DIR:
#   wsgate-VERSION.tgz  the Helm chart (pushed as an OCI artifact by the workflow)
#   wsgate.yaml         deploy/wsgate.yaml: `kubectl apply -f` in one file
#   wsgate-crds.yaml    the CustomResourceDefinitions (crds/) in one file
# Fails, changing nothing, when package.json, the chart's appVersion, the chart's
# default image or deploy/ disagree with VERSION and IMAGE_REPOSITORY.
#
# Environment: HELM  helm binary (default: the one npm run k8s:bins provides)
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  printf 'release-assets: ERROR: %s\n' "$*" >&2
  exit 1
}
(($# == 3)) || die "usage: bash scripts/release-assets.sh VERSION OUT_DIR IMAGE_REPOSITORY"
version=$1 out=$2 repository=$3
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "'$version' is not a semantic version"

package_version="$(node -p 'require("./package.json").version')"
app_version="$(awk -F'"' '/^appVersion:/ { print $2 }' helm/wsgate/Chart.yaml)"
default_repository="$(awk '/^image:/ { f = 1; next } f && $1 == "repository:" { print $2; exit }' helm/wsgate/values.yaml)"
[[ "$package_version" == "$version" ]] || die "package.json says $package_version, the release is $version"
[[ "$app_version" == "$version" ]] || die "helm/wsgate/Chart.yaml appVersion is $app_version, the release is $version"
[[ "$default_repository" == "$repository" ]] ||
  die "the chart's default image is $default_repository but the release pushes $repository: change helm/wsgate/values.yaml and re-render deploy/ (scripts/render-deploy.sh)"
grep -q "image: \"$repository:$version\"" deploy/wsgate.yaml ||
  die "deploy/wsgate.yaml does not run $repository:$version: re-render it (scripts/render-deploy.sh)"

helm="${HELM:-}"
if [[ -z "$helm" ]]; then helm="$(bash scripts/k8s-bins.sh | tail -n 1)/helm"; fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export HELM_CONFIG_HOME="$scratch/config" HELM_CACHE_HOME="$scratch/cache" HELM_DATA_HOME="$scratch/data"

mkdir -p "$out"
"$helm" lint helm/wsgate >&2
"$helm" package helm/wsgate --version "$version" --app-version "$version" --destination "$out" >&2
cp deploy/wsgate.yaml "$out/wsgate.yaml"
{
  echo "# wsgate $version CustomResourceDefinitions: kubectl apply --server-side -f wsgate-crds.yaml"
  for crd in crds/*.yaml; do
    echo "---"
    grep -v '^---$' "$crd"
  done
} >"$out/wsgate-crds.yaml"
ls -l "$out" >&2
