#!/usr/bin/env bash
# Regenerate the bundle seeds in fuzz/corpus from a real, small `bundle create` run: a tiny
# two-platform image built here from /etc files, pushed with skopeo to a registry on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d /tmp/bundle-seeds.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid; rm -rf "$work"' EXIT

port=$((20000 + RANDOM % 20000))
cat > "$work/reg.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/reg}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 & pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# A hand-made OCI layout: one gzip layer, two configs (amd64, arm64), two manifests, an index.
L=$work/layout; mkdir -p "$L/blobs/sha256"
put() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$L/blobs/sha256/$d"; echo "$d"; }
tar -C / --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/layer.tar" etc/hostname etc/debian_version
gzip -n -9 "$work/layer.tar"
diff_id=$(gzip -dc "$work/layer.tar.gz" | sha256sum | cut -d' ' -f1)
lsize=$(stat -c %s "$work/layer.tar.gz"); layer=$(put "$work/layer.tar.gz")
entries=
for arch in amd64 arm64; do
  printf '{"architecture":"%s","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$arch" "$diff_id" > "$work/c"
  csize=$(stat -c %s "$work/c"); config=$(put "$work/c")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$config" "$csize" "$layer" "$lsize" > "$work/m"
  msize=$(stat -c %s "$work/m"); m=$(put "$work/m")
  entries="$entries${entries:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$m\",\"size\":$msize,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}"
done
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" > "$work/i"
isize=$(stat -c %s "$work/i"); idx=$(put "$work/i")
echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}' "$idx" "$isize" > "$L/index.json"
skopeo copy -q --all --dest-tls-verify=false "oci:$L:1.0" "docker://127.0.0.1:$port/seed/tiny:1.0"

printf 'images:\n  - 127.0.0.1:%s/seed/tiny:1.0\n  - name: 127.0.0.1:%s/seed/tiny:1.0\n    platforms: [linux/arm64]\nregistries:\n  127.0.0.1:%s:\n    plain-http: true\n' "$port" "$port" "$port" > "$work/images.yaml"
(cd .. && cargo build -q --release)
SOURCE_DATE_EPOCH=0 ../target/release/bundle create "$work/images.yaml" -o "$work/tiny.bundle" --unsigned --no-cache --quiet
cargo run -q --example seeds -- "$work/tiny.bundle" corpus
ls -l corpus/bundle_file corpus/bundle_members
