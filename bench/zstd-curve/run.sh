#!/bin/sh
# The size/CPU curve of zstd at the settings --compact uses for a layer's tar (one thread,
# window log 26 with long-distance matching: src/format/frames.rs), over a tar of real files,
# with gzip -6 of the same tar as the producers' yardstick. CPU is user+sys of each process
# alone, so the figures hold on a busy machine; sizes are exact.
#   bench/zstd-curve/run.sh [TAR | small | medium]
#     TAR: any file. small, medium: the bench's own layers (bench/work/SIZE/layout, made by
#     bench/run.py or bench/gen.py), inflated one after another in digest order up to 768 MiB.
#     Default: the first 768 MiB of a tar of /usr, sorted by name. Either is made once in $TMPDIR.
set -eu
cap=805306368
case "${1:-}" in
  small|medium)
    layout=$(dirname "$0")/../work/$1/layout
    tar=${TMPDIR:-/tmp}/zstd-curve-$1.tar
    if [ ! -f "$tar" ]; then
      python3 -c 'import json,sys; print("\n".join(sorted(json.load(open(sys.argv[1])))))' \
        "$layout/producers.json" | while read -r d; do
          zcat "$layout/blobs/sha256/${d#sha256:}"
        done | head -c $cap > "$tar" || true
    fi ;;
  '')
    tar=${TMPDIR:-/tmp}/zstd-curve-usr.tar
    if [ ! -f "$tar" ]; then
      tar --sort=name --mtime=@0 --owner=0 --group=0 -cf - -C / usr 2>/dev/null | head -c $cap > "$tar" || true
    fi ;;
  *) tar=$1 ;;
esac
raw=$(stat -c %s "$tar")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# CPU seconds of one compression of the tar into $out.
cpu() { /usr/bin/time -f '%U %S' sh -c "$1 < '$tar' > '$out'" 2>&1 | tail -1 | awk '{printf "%.1f", $1 + $2}'; }
echo "tar: $tar, $raw bytes"
echo "level  bytes  ratio_to_tar  cpu_s"
for l in 1 3 6 7 9 10 12 15; do
  t=$(cpu "zstd -q -c -T1 -$l --long=26")
  size=$(stat -c %s "$out")
  echo "zstd-$l  $size  $(echo "scale=4; $size / $raw" | bc)  $t"
done
t=$(cpu "gzip -6 -c")
size=$(stat -c %s "$out")
echo "gzip-6  $size  $(echo "scale=4; $size / $raw" | bc)  $t"
