#!/usr/bin/env bash
# Packs the NuGet packages into a feed folder ($1, default artifacts/packages): the libraries, and the harness tool as
# three packages: OperatorHarness.Cli (a pointer the .NET CLI resolves by platform), OperatorHarness.Cli.linux-x64 (the
# native harness with the managed one beside it) and OperatorHarness.Cli.any (the managed harness, framework-dependent,
# for every other platform). Extra arguments go to every `dotnet pack` (-p:Version=...). Needs gcc for the native link.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
feed=${1:-$root/artifacts/packages}
shift || true
command -v gcc >/dev/null || { echo "pack: gcc is missing (apt-get install gcc libc6-dev): the native tool package links with it" >&2; exit 1; }
mkdir -p "$feed"
dotnet pack "$root/Harness.sln" -c Release -o "$feed" --nologo -v quiet -clp:ErrorsOnly "$@"
dotnet pack "$root/src/Harness.Cli/Harness.Cli.csproj" -c Release -r any -o "$feed" --nologo -v quiet -clp:ErrorsOnly "$@"
dotnet pack "$root/src/Harness.Cli/Harness.Cli.csproj" -c Release -r linux-x64 -p:HarnessNative=true -o "$feed" --nologo -v quiet -clp:ErrorsOnly "$@"
echo "pack: $(ls "$feed"/*.nupkg | wc -l) packages in $feed"
