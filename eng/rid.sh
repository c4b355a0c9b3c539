#!/usr/bin/env bash
# Prints this machine's .NET runtime identifier for the NativeAOT builds (linux-x64, linux-arm64), or fails naming the architecture.
case "$(uname -m)" in
  x86_64) echo linux-x64 ;;
  aarch64) echo linux-arm64 ;;
  *) echo "unsupported architecture $(uname -m) for the NativeAOT builds" >&2; exit 1 ;;
esac
