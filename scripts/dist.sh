#!/usr/bin/env bash
# `make dist`: the bundle binary to carry across the gap. glibc is linked in statically
# (+crt-static), so it runs on any x86_64 Linux without Rust or matching libraries; it is
# stripped and written with its sha256 to dist/. Then it checks what it built: no dynamic
# section, it runs, and it resolves a host name (glibc's files/dns lookups are part of libc.a).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# Only with --target do RUSTFLAGS stay off the build scripts and proc macros, which must not be
# static.
RUSTFLAGS="-C target-feature=+crt-static" \
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --release --locked --target "$target"
mkdir -p dist
name=bundle-$version-linux-x86_64
cp "${CARGO_TARGET_DIR:-target}/$target/release/bundle" "dist/$name.partial"
mv "dist/$name.partial" "dist/$name"
(cd dist && sha256sum "$name" > "$name.sha256.partial" && mv "$name.sha256.partial" "$name.sha256")

bin=dist/$name
# glibc's ldd says "statically linked" (static-pie) or "not a dynamic executable".
case $(ldd "$bin" 2>&1 || true) in
  *"statically linked"* | *"not a dynamic executable"*) ;;
  *) echo "dist: $bin is dynamically linked" >&2; exit 1 ;;
esac
"$bin" --version >/dev/null
# Port 1 on localhost: "connection refused" shows the name resolved; a lookup failure would not.
out=$("$bin" inventory --from registry://localhost:1 --plain-http -o "$(mktemp -u)" 2>&1 || true)
case $out in
  *"connection refused"*) ;;
  *) echo "dist: $bin could not resolve localhost: $out" >&2; exit 1 ;;
esac
# As root: it runs in an empty root directory, with no library at all beside it.
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  root=$(mktemp -d)
  cp "$bin" "$root/bundle"
  chroot "$root" /bundle --version >/dev/null
  rm -rf "$root"
fi
echo "dist/$name ($(stat -c %s "$bin") bytes, static)"
cat "dist/$name.sha256"
