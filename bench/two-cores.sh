#!/bin/sh
# What running on both cores costs each job on this machine, whatever the program: the same
# single-threaded job on a tar (gzip -6 unless JOB says) alone on core 0, alone on core 1, then
# one on each at once, ROUNDS times. A job's CPU seconds together over alone bounds any 2-core
# speed-up at 2 / that ratio.
#   [JOB="zstd -12 --zstd=wlog=26 -c"] bench/two-cores.sh [TAR] [ROUNDS]
#   TAR: default the first 300 MB of a tar of /usr; JOB: a command that takes the tar last
set -eu
tar=${1:-}
if [ -z "$tar" ]; then
  tar=${TMPDIR:-/tmp}/two-cores.tar
  [ -s "$tar" ] || tar --sort=name --mtime=@0 --owner=0 --group=0 -cf - -C / usr 2>/dev/null \
    | head -c 300000000 > "$tar" || true
fi
job=${JOB:-gzip -6 -c}
# shellcheck disable=SC2086 # JOB is a command and its words
one() { /usr/bin/time -f '%U %S' taskset -c "$1" $job "$tar" 2>&1 >/dev/null | awk '{print $1 + $2}'; }
a=$(mktemp); b=$(mktemp)
trap 'rm -f "$a" "$b"' EXIT
echo "round  alone_core0  alone_core1  together_core0  together_core1  together/alone"
for r in $(seq "${2:-3}"); do
  x=$(one 0); y=$(one 1)
  one 0 > "$a" & one 1 > "$b" & wait
  echo "$r  $x  $y  $(cat "$a")  $(cat "$b")  $(echo "scale=3; ($(cat "$a") + $(cat "$b")) / ($x + $y)" | bc)"
done
