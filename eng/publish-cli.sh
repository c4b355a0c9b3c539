#!/usr/bin/env bash
# Publishes the harness command line into artifacts/cli (or $1): `harness`, the native (NativeAOT) binary that runs
# pre-flight, its benchmark and completions itself, and managed/, the framework-dependent harness it hands the cluster
# and Docker commands to (qualify, sweep, kind-config, build-image, bench). Needs gcc (the native link) and the SDK.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/cli}
rid=$(bash "$root/eng/rid.sh")
command -v gcc >/dev/null || { echo "publish-cli: gcc is missing (apt-get install gcc libc6-dev): NativeAOT links with it" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
dotnet publish "$root/src/Harness.Cli/Harness.Cli.csproj" -c Release -o "$out/managed" --nologo -v quiet -clp:ErrorsOnly
dotnet publish "$root/src/Harness.Cli/Harness.Cli.csproj" -c Release -r "$rid" -p:HarnessNative=true -o "$root/artifacts/obj/cli-native" --nologo -v quiet -clp:ErrorsOnly
cp "$root/artifacts/obj/cli-native/Harness.Cli" "$out/harness"
echo "publish-cli: $out/harness (native) and $out/managed/Harness.Cli.dll ready"
