#!/bin/bash
# Issue 31, item 11: reference spools bounded by the size the signed record promises.
# (a) an oci: target whose reference layer (of a --compact --since delta) is replaced by a gzip
#     bomb of the same size: load of the delta must stop spooling at the reference's rawSize.
# (b) load --base hostile.bundle, hostile.bundle being release 1 with its reference member
#     replaced by a zstd bomb (8 GiB of zeros), unsigned or signed by another key: refused by
#     its signature before anything is spooled.
# Controls: the same loads with the honest layout and the honest base.
. "$(dirname "$0")/common.sh"
D=$W/i11; rm -rf "$D"; mkdir -p "$D"
W=$D python3 "$HERE/../serve-load/make_compact.py"
W=$D python3 "$HERE/../serve-load/make_release2.py"
reg_start "$D/src"; trap 'kill $REGPID' EXIT
skopeo copy -q --dest-tls-verify=false "oci:$D/layout:app" "docker://$REG/bench/app:1"
skopeo copy -q --dest-tls-verify=false "oci:$D/layout:app2" "docker://$REG/bench/app:2"
plain_list "$D/r1.yaml" "$REG/bench/app:1"; plain_list "$D/r2.yaml" "$REG/bench/app:2"
K="--key $W/site.key"; P="--key $W/site.pub"
"$BIN" create "$D/r1.yaml" -o "$D/r1.bundle" $K --compact --no-cache -q
"$BIN" create "$D/r2.yaml" -o "$D/r2.bundle" $K --compact --since "$D/r1.bundle" --no-cache -q
REF=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["layers"][0][7:])' "$D/digests.json")
python3 - "$D/r2.bundle" <<'PY'
import json, sys
from attacklib import *
i, _ = read_index(sys.argv[1]); d = json.loads(member_bytes(sys.argv[1], i, "bundle.json"))
for b in d["blobs"]:
    if "rebuild" in b and "reference" in b["rebuild"]:
        print("delta record:", b["digest"], "reference", b["rebuild"]["reference"])
PY
# (a)
"$BIN" load "$D/r1.bundle" $P --to "oci:$D/oci" -q
cp -a "$D/oci" "$D/oci-honest"
python3 "$HERE/gzbomb.py" "$(stat -c %s "$D/oci/blobs/sha256/$REF")" "$D/oci/blobs/sha256/$REF"
$M i11a-load-delta-honest-oci --target "$D/oci-honest" -- "$BIN" load "$D/r2.bundle" $P --to "oci:$D/oci-honest" -q
$M i11a-load-delta-gzip-bomb-reference --target "$D/oci" -- "$BIN" load "$D/r2.bundle" $P --to "oci:$D/oci" -q
# (b)
head -c 8G /dev/zero | zstd -q -1 -T2 --stream-size=8589934592 -c > "$D/bomb.zst"
ls -l "$D/bomb.zst"
for signer in none other; do
  python3 - "$D/r1.bundle" "$D/hostile-$signer.bundle" "$REF" "$D/bomb.zst" "$signer" "$W/other.key" <<'PY'
import json, sys
from attacklib import *
src, out, ref, bomb, signer, other = sys.argv[1:]
i, _ = read_index(src)
m = next(m for m in i["members"] if m["path"].startswith("raw/sha256/" + ref))
print("replacing", m["path"], "(%d bytes) with a zstd frame of 8 GiB of zeros" % m["size"])
repack(src, out, key=None if signer == "none" else other,
       replace={m["path"]: (open(bomb, "rb").read(), m["size"])})
PY
  $M i11b-load-base-bomb-signed-$signer --target "$D/fresh-$signer" -- "$BIN" load "$D/r2.bundle" $P --base "$D/hostile-$signer.bundle" --to "oci:$D/fresh-$signer" -q
done
$M i11b-load-base-honest --target "$D/fresh-honest" -- "$BIN" load "$D/r2.bundle" $P --base "$D/r1.bundle" --to "oci:$D/fresh-honest" -q
# The unsigned hostile base taken with --allow-unsigned: then its bomb is read, and the spool
# must stop at the 40 MB the record promises.
$M i11b-load-base-bomb-allow-unsigned --target "$D/fresh-allowed" -- "$BIN" load "$D/r2.bundle" $P --allow-unsigned --base "$D/hostile-none.bundle" --to "oci:$D/fresh-allowed" -q
