#!/usr/bin/env bash
# Builds the harness CLI image (default harness.local/harness-cli:VERSION, or $1), the image the CronJob of
# `harness rights install` runs: the managed harness published self-contained for Linux, on scratch, with the libraries
# its runtime loads, CA certificates and a non-root user (65532). Its root filesystem can be read-only. Needs Docker,
# ldd and the .NET SDK. Push it where your cluster pulls from, and pin it by digest in the CronJob (--image).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/.*public const string Version = "\(.*\)";/\1/p' "$root/src/Harness/Qualification/Qualifier.cs")
image=${1:-harness.local/harness-cli:$version}
rid=$(bash "$root/eng/rid.sh")
for tool in docker ldd dotnet; do
  command -v "$tool" >/dev/null || { echo "build-cli-image: '$tool' is missing (Docker, libc-bin, the .NET 10 SDK)" >&2; exit 1; }
done
ctx=$root/artifacts/obj/cli-image
rm -rf "$ctx" && mkdir -p "$ctx/rootfs/app" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp"
dotnet publish "$root/src/Harness.Cli/Harness.Cli.csproj" -c Release -r "$rid" --self-contained -p:InvariantGlobalization=true \
  -o "$ctx/rootfs/app" --nologo -v quiet -clp:ErrorsOnly
# The libraries the runtime's native parts link (their closure, as ldd resolves it), and OpenSSL, which it dlopens for HTTPS.
libs=$(for f in "$ctx/rootfs/app/Harness.Cli" "$ctx/rootfs/app"/*.so; do ldd "$f" 2>/dev/null || true; done \
  | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u)
for name in libssl.so.3 libcrypto.so.3; do
  # awk reads to the end (no early exit): under pipefail, ldconfig must not die of SIGPIPE.
  found=$(ldconfig -p | awk -v n="$name" '$1 == n && $NF ~ /^\// && !seen {print $NF; seen = 1}')
  [ -n "$found" ] || { echo "build-cli-image: $name is missing (apt-get install libssl3): the harness reaches the API server over HTTPS" >&2; exit 1; }
  libs="$libs"$'\n'"$found"$'\n'"$(ldd "$found" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')"
done
for lib in $(echo "$libs" | sort -u); do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
USER 65532:65532
ENV DOTNET_EnableDiagnostics=0 DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_gcServer=0
LABEL io.harness.owner=harness
ENTRYPOINT ["/app/Harness.Cli"]
DOCKERFILE
if ! out=$(docker build -q -t "$image" "$ctx" 2>&1); then echo "$out" >&2; exit 1; fi
echo "build-cli-image: $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1000000}'))"
