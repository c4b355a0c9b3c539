#!/usr/bin/env bash
# Publishes the sample operator (fixtures/sample-operator/src/GreeterOperator) with NativeAOT into
# artifacts/sample-operator and, when Docker answers, imports it as the image harness.local/greeter-operator:dev
# (FROM scratch, non-root, no registry), which the sample manifests run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/artifacts/sample-operator
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) echo "build-sample-operator: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p "$out"
dotnet publish "$root/fixtures/sample-operator/src/GreeterOperator/GreeterOperator.csproj" -c Release -r "$rid" \
  -o "$root/artifacts/obj/greeter-operator" --nologo -v quiet -clp:ErrorsOnly
cp "$root/artifacts/obj/greeter-operator/greeter-operator" "$out/greeter-operator"
echo "build-sample-operator: $out/greeter-operator ready"
if docker info >/dev/null 2>&1; then
  dotnet run --project "$root/src/Harness.Cli" -- build-image --binary "$out/greeter-operator" --image harness.local/greeter-operator:dev
  # The same operator with the probe agent inside: what the direct-exec vehicle probes (tests/Scenarios).
  if [ -x "$root/artifacts/probe/probe-agent" ]; then
    dotnet run --no-build --project "$root/src/Harness.Cli" -- build-image --binary "$out/greeter-operator" \
      --image harness.local/greeter-operator-probed:dev --probe-agent "$root/artifacts/probe"
  fi
fi
