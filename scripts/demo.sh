#!/usr/bin/env bash
# The main job end to end on this machine: a local registry seeded with sample images made from
# local files, then `bundle keygen`, `bundle create` and `bundle inspect`. Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/bundle-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

free_port() {
  for p in $(seq "$1" "$(($1 + 99))"); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port from $1" >&2; exit 1
}

# start_registry NAME PORT: a distribution registry on 127.0.0.1 storing under $work/NAME
start_registry() {
  cat > "$work/$1.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/$1}}
http: {addr: 127.0.0.1:$2}
YML
  docker-registry serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return; sleep 0.1; done
  echo "registry $1 did not start" >&2; exit 1
}

port=$(free_port 5100); start_registry connected "$port"; reg=127.0.0.1:$port
port2=$(free_port $((port + 1))); start_registry airgapped "$port2"; reg2=127.0.0.1:$port2

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

echo; echo "== across the air gap: bundle verify, then bundle load into a second registry ($reg2)"
$bin verify "$work/site.bundle" --key "$work/demo.pub"
$bin load "$work/site.bundle" --key "$work/demo.pub" --to "registry://$reg2" --plain-http
echo; echo "== digests on both sides, as skopeo sees them"
for repo in demo/base:1.0 demo/web:1.0 demo/tools:1.0 charts/demo:0.1.0; do
  a=$(skopeo inspect --raw --tls-verify=false "docker://$reg/$repo" | sha256sum | cut -c1-20)
  b=$(skopeo inspect --raw --tls-verify=false "docker://$reg2/$repo" | sha256sum | cut -c1-20)
  if [ "$a" = "$b" ]; then verdict=same
  elif [ "$repo" = demo/tools:1.0 ]; then verdict="linux/amd64 manifest (only that platform was bundled; see the note above)"
  else echo "digest of $repo changed" >&2; exit 1; fi
  printf '%-20s %s %s %s\n' "$repo" "$a" "$b" "$verdict"
done

echo; echo "== smaller: bundle create --compact carries each layer it can rebuild byte for byte as its tar"
$bin create "$work/images.yaml" -o "$work/site-compact.bundle" --key "$work/demo.key" --cache-dir "$work/cache" --compact -q > /dev/null
$bin inspect "$work/site-compact.bundle" | grep -E '^(size|layers):'
printf 'site.bundle %s bytes, site-compact.bundle %s bytes\n' "$(stat -c %s "$work/site.bundle")" "$(stat -c %s "$work/site-compact.bundle")"
$bin load "$work/site-compact.bundle" --key "$work/demo.pub" --to "registry://$reg2/compact" --plain-http -q
a=$(skopeo inspect --raw --tls-verify=false "docker://$reg/demo/web:1.0" | sha256sum | cut -c1-20)
b=$(skopeo inspect --raw --tls-verify=false "docker://$reg2/compact/demo/web:1.0" | sha256sum | cut -c1-20)
[ "$a" = "$b" ] || { echo "the compact bundle loaded another digest for demo/web:1.0" >&2; exit 1; }
printf '%-20s %s %s %s\n' demo/web:1.0 "$a" "$b" "same (loaded from the compact bundle, gzip rebuilt)"

echo; echo "== or no registry at all: bundle serve answers pulls straight from the file"
port3=$(free_port $((port2 + 1)))
$bin serve "$work/site.bundle" --key "$work/demo.pub" --listen "127.0.0.1:$port3" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port3") 2>/dev/null && break; sleep 0.05; done
a=$(skopeo inspect --raw --tls-verify=false "docker://$reg/demo/web:1.0" | sha256sum | cut -c1-20)
b=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port3/demo/web:1.0" | sha256sum | cut -c1-20)
[ "$a" = "$b" ] || { echo "bundle serve gave another digest for demo/web:1.0" >&2; exit 1; }
skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port3/demo/web:1.0" "oci:$work/pulled:web"
printf '%-20s %s %s %s\n' demo/web:1.0 "$a" "$b" "same (skopeo pulled it from bundle serve)"
echo; echo "demo files are in $work"
