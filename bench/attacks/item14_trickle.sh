#!/bin/bash
# Issue 31, item 14: a registry that drips a manifest without Content-Length, 4 bytes a second.
# create must give up on it within the read timeout (60 s) plus the time of 64 KiB at 16 KiB/s.
. "$(dirname "$0")/common.sh"
D=$W/i14; rm -rf "$D"; mkdir -p "$D"
PORT=$(python3 -c 'import attacklib;print(attacklib.free_port())')
python3 "$HERE/trickle.py" "$PORT" 4 2> "$D/trickle.log" & TP=$!; trap 'kill $TP' EXIT
sleep 0.5
plain_list "$D/images.yaml" "127.0.0.1:$PORT/attacks/trickle:1"
$M i14-create-trickle --target "$D/x.bundle" -- "$BIN" create "$D/images.yaml" -o "$D/x.bundle" --unsigned --no-cache -q -v
cat "$D/trickle.log"
