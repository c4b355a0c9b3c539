#!/usr/bin/env bash
# The main job: a kind cluster with PodSecurity enforcing `restricted` and Calico for NetworkPolicy, then the live
# scenarios against it. Needs Docker and internet access (kind, kubectl, node image, Calico manifests).
# HARNESS_KEEP_CLUSTER=1 keeps the cluster for debugging; otherwise the harness deletes it on success and failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. eng/setup.sh

# Versions and checksums: eng/versions.env, the one place they are pinned (the C# kind provider embeds the same file).
. eng/versions.env
cache=${XDG_CACHE_HOME:-$HOME/.cache}/harness/bin
mkdir -p "$cache"
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) echo "e2e: unsupported architecture" >&2; exit 2 ;; esac
declare -A KIND_SHA=([amd64]=$KIND_SHA256_LINUX_AMD64 [arm64]=$KIND_SHA256_LINUX_ARM64)
declare -A KUBECTL_SHA=([amd64]=$KUBECTL_SHA256_LINUX_AMD64)

fetch() { # name url sha256
  local target="$cache/$1-$arch"
  if [ ! -x "$target" ]; then
    echo "e2e: downloading $1 from $2"
    curl -fsSL --retry 3 -o "$target.part" "$2" || { echo "e2e: cannot download $1 from $2 (no internet?). Install $1 on PATH instead." >&2; exit 2; }
    if [ -z "$3" ]; then
      echo "e2e: no pinned SHA-256 for $1 on $arch; refusing to run an unverified binary. Install $1 on PATH instead." >&2
      rm -f "$target.part"; exit 2
    fi
    echo "$3  $target.part" | sha256sum -c --quiet - || { echo "e2e: checksum mismatch for $1; refusing to run it" >&2; rm -f "$target.part"; exit 2; }
    chmod +x "$target.part" && mv "$target.part" "$target"
  fi
  echo "$target"
}
kind=$(command -v kind || fetch kind "https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-linux-$arch" "${KIND_SHA[$arch]}")
# helm renders the sample's chart (fixtures/scenarios/greeter-chart.yaml); the workflow installs it (azure/setup-helm).
command -v helm >/dev/null || { echo "e2e: helm is not on PATH; install helm (https://helm.sh/docs/intro/install/): greeter-chart.yaml deploys a chart" >&2; exit 2; }
kubectl=$(command -v kubectl || fetch kubectl "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl" "${KUBECTL_SHA[$arch]:-}")

# The harness's own kind provider does the rest: it renders the kind and PodSecurity configs, creates the cluster,
# installs Calico (with kubectl), waits for readiness, loads the probe image, verifies that PodSecurity rejects a
# privileged pod and that a deny-all NetworkPolicy really blocks, and deletes the cluster afterwards (exporting its
# logs to artifacts/cluster-logs). HARNESS_KEEP_CLUSTER=1 keeps it.
bin="$cache/path"
mkdir -p "$bin"
ln -sf "$kind" "$bin/kind"
ln -sf "$kubectl" "$bin/kubectl"
export PATH="$bin:$PATH"
sysctl -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 >/dev/null 2>&1 || true

export HARNESS_CLUSTER=kind HARNESS_REQUIRE_CLUSTER=1 HARNESS_EXPORT_LOGS=1 HARNESS_LOG_DIR="$root/artifacts/cluster-logs"
dotnet test --project tests/Scenarios --results-directory "$root/artifacts/scenarios" --report-junit --report-xunit-html
