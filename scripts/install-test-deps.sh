#!/usr/bin/env bash
# Installs what the tests and the demo use, from Debian packages, when it is missing:
# the distribution registry, skopeo (independent client), zstd and tar (standard readers of the
# bundle), openssl (independent signature check), podman and containerd (independent loaders of
# docker-archive output), GNU time (the peak RSS of a bundle process in the attack tests), Go
# 1.19 (golang-go: the judge of goflate, whose gzip must match Go's byte for byte).
set -euo pipefail

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v zstd >/dev/null || need+=(zstd)
command -v openssl >/dev/null || need+=(openssl)
command -v tar >/dev/null || need+=(tar)
command -v podman >/dev/null || need+=(podman)
command -v containerd >/dev/null || need+=(containerd)
[ -x /usr/bin/time ] || need+=(time)
command -v go >/dev/null || need+=(golang-go)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]} from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: bundle needs a stable Rust toolchain (1.89 or newer), e.g. from rustup" >&2
  exit 1
fi
