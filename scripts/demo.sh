#!/usr/bin/env bash
# The main job end to end on this machine: a local registry seeded with sample images made from
# local files, then `bundle keygen`, `bundle create` and `bundle inspect`. Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/bundle-demo.XXXXXX)
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

port=""
for p in $(seq 5100 5199); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port in 5100-5199" >&2; exit 1; }
reg=127.0.0.1:$port

cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $reg}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

echo "== building sample images from local files and pushing them to $reg with skopeo"
cargo run -q --release --example sample-images -- "$work/layout"
for tag in base runtime web worker tools chart; do
  repo=demo/$tag:1.0
  [ "$tag" = chart ] && repo=charts/demo:0.1.0
  skopeo copy -q --all --dest-tls-verify=false "oci:$work/layout:$tag" "docker://$reg/$repo"
done

cat > "$work/images.yaml" <<YML
# Everything the demo site needs. Images share their base layers: each is bundled once.
images:
  - $reg/demo/base:1.0
  - $reg/demo/runtime:1.0
  - $reg/demo/web:1.0
  - $reg/demo/worker:1.0
  - name: $reg/demo/tools:1.0
    platforms: [linux/amd64]
  - $reg/charts/demo:0.1.0
registries:
  $reg:
    plain-http: true
YML

bin=target/release/bundle
echo; echo "== bundle keygen"
$bin keygen --out "$work/demo"
echo; echo "== bundle create"
$bin create "$work/images.yaml" -o "$work/site.bundle" --key "$work/demo.key" --cache-dir "$work/cache"
echo; echo "== bundle inspect"
$bin inspect "$work/site.bundle"
echo; echo "== standard tools read it too: zstd -dc site.bundle | tar -t | head"
zstd -dc "$work/site.bundle" | tar -t > "$work/listing.txt"
head -n 6 "$work/listing.txt"
echo; echo "demo files are in $work"
