#!/bin/bash
# Issue 31, item 8: create --verify-images against a .sig manifest of 17,000 signature layers
# (each a 1 MiB payload; before the fix every one was fetched: 17 GB), a signed payload with a
# duplicated key, and a valid signature (the control). Requests are counted from -v.
. "$(dirname "$0")/common.sh"
D=$W/i8; rm -rf "$D"; mkdir -p "$D"
reg_start "$D/src"; trap 'kill $REGPID' EXIT
python3 "$LIB" >/dev/null 2>&1; python3 -c "import attacklib; attacklib.ec_keypair('$D/cosign')"
python3 "$HERE/push_signatures.py" "$REG" "$D/cosign.key"
for r in many dupkey good; do
  plain_list "$D/$r.yaml" "$REG/attacks/$r:1"
  $M i8-create-$r --target "$D/$r.bundle" -- "$BIN" create "$D/$r.yaml" -o "$D/$r.bundle" --unsigned --no-cache -v --verify-images "$D/cosign.pub"
  E=$W/out/i8-create-$r/stderr
  echo "$r: $(grep -c '^[A-Z]* http' "$E") registry requests, $(grep -c '^GET .*/blobs/' "$E") blob GETs;" \
       "most asked: $(grep '^GET .*/blobs/' "$E" | cut -d' ' -f2 | sort | uniq -c | sort -rn | head -1)"
  grep -v '^[A-Z]* http' "$E" | tail -3 | cut -c1-400
done
