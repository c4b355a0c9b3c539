#!/usr/bin/env bash
# Builds the probe image's inputs into artifacts/probe: the NativeAOT agent and the static kernel helper.
# The harness turns them into an image itself (Harness.Images.ProbeImage), FROM scratch, no registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/probe}
rid=$(bash "$root/eng/rid.sh")
for tool in gcc dotnet; do
  command -v "$tool" >/dev/null || { echo "build-probe: '$tool' is missing (apt-get install gcc libc6-dev; the .NET 10 SDK)" >&2; exit 1; }
done
mkdir -p "$out"
gcc -static -O2 -Wall -Wextra -Werror -o "$out/kprobe" "$root/src/ProbeAgent/native/kprobe.c"
dotnet publish "$root/src/ProbeAgent/ProbeAgent.csproj" -c Release -r "$rid" -o "$root/artifacts/obj/probe-agent" --nologo -v quiet -clp:ErrorsOnly
cp "$root/artifacts/obj/probe-agent/probe-agent" "$out/probe-agent"
echo "build-probe: $out/probe-agent and $out/kprobe ready"
