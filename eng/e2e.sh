#!/usr/bin/env bash
# The main job: a kind cluster with PodSecurity enforcing `restricted` and Calico for NetworkPolicy, then the live
# scenarios against it. Needs Docker and internet access (kind, kubectl, node image, Calico manifests).
# HARNESS_KEEP_CLUSTER=1 keeps the cluster for debugging; otherwise it is deleted on success, failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. eng/setup.sh

KIND_VERSION=v0.30.0
KUBECTL_VERSION=v1.34.1
CALICO_VERSION=v3.30.3
cache=${XDG_CACHE_HOME:-$HOME/.cache}/harness/bin
mkdir -p "$cache"
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) echo "e2e: unsupported architecture" >&2; exit 2 ;; esac
declare -A KIND_SHA=([amd64]=517ab7fc89ddeed5fa65abf71530d90648d9638ef0c4cde22c2c11f8097b8889 [arm64]=7ea2de9d2d190022ed4a8a4e3ac0636c8a455e460b9a13ccf19f15d07f4f00eb)
declare -A KUBECTL_SHA=([amd64]=7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3)

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
kubectl=$(command -v kubectl || fetch kubectl "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl" "${KUBECTL_SHA[$arch]:-}")

cluster=harness-e2e-$$
kubeconfig=$(mktemp)
cleanup() {
  if [ "${HARNESS_KEEP_CLUSTER:-}" = 1 ]; then
    echo "e2e: keeping cluster $cluster (kubeconfig $kubeconfig)"
  else
    "$kind" delete cluster --name "$cluster" >/dev/null 2>&1 || true
    rm -f "$kubeconfig"
  fi
}
trap cleanup EXIT
sysctl -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 >/dev/null 2>&1 || true

"$kind" create cluster --name "$cluster" --config kind-config.yaml --kubeconfig "$kubeconfig" --wait 120s
export KUBECONFIG=$kubeconfig
"$kubectl" create -f "https://raw.githubusercontent.com/projectcalico/calico/$CALICO_VERSION/manifests/tigera-operator.yaml"
"$kubectl" create -f "https://raw.githubusercontent.com/projectcalico/calico/$CALICO_VERSION/manifests/custom-resources.yaml"
echo "e2e: waiting for calico-node"
for _ in $(seq 1 60); do "$kubectl" get ns calico-system >/dev/null 2>&1 && break; sleep 5; done
"$kubectl" -n calico-system rollout status ds/calico-node --timeout=300s
"$kubectl" wait --for=condition=Ready nodes --all --timeout=300s

export HARNESS_KUBECONFIG=$kubeconfig
set +e
dotnet test --project tests/Scenarios
status=$?
set -e
[ $status -eq 0 ] || "$kind" export logs --name "$cluster" "$root/artifacts/kind-logs" >/dev/null 2>&1 || true
exit $status
