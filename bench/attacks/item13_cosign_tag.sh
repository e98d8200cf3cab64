#!/bin/bash
# Issue 31, item 13: a signed bundle.json whose cosign signature of image A is recorded under
# the tag sha256-<B's hex>.sig (B another image of the bundle): before the fix load pushed it
# into B's tag. The bundle is made by create (A signed with cosign, B not), then bundle.json's
# tag is changed and signed again with the site key.
. "$(dirname "$0")/common.sh"
D=$W/i13; rm -rf "$D"; mkdir -p "$D"
reg_start "$D/src"; SRCPID=$REGPID; trap 'kill $SRCPID' EXIT
python3 -c "import attacklib; attacklib.ec_keypair('$D/cosign')"
python3 - "$REG" "$D/cosign.key" > "$D/digests" <<'PY'
import json, sys
from attacklib import *
addr, key = sys.argv[1], sys.argv[2]
a = push_image(addr, "attacks/a", "1", "a"); b = push_image(addr, "attacks/b", "1", "b")
p = simple_signing(f"{addr}/attacks/a", a["digest"]); upload(addr, "attacks/a", p)
cfg = json.dumps({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(p)]}}).encode()
upload(addr, "attacks/a", cfg)
m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, cfg),
                "layers": [desc(SIMPLE_SIGNING, p, annotations={"dev.cosignproject.cosign/signature": ec_sign_b64(key, p)})]}).encode()
put_manifest(addr, "attacks/a", "sha256-%s.sig" % a["digest"][7:], OCI_MANIFEST, m)
print(a["digest"], b["digest"])
PY
read -r A B < "$D/digests"
plain_list "$D/images.yaml" "$REG/attacks/a:1" "$REG/attacks/b:1"
"$BIN" create "$D/images.yaml" -o "$D/good.bundle" --key "$W/site.key" --no-cache -q
python3 - "$D/good.bundle" "$D/moved.bundle" "$W/site.key" "$B" <<'PY'
import sys
from attacklib import repack
def edit(d):
    r = d["images"][0]["referrers"][0]
    print("referrer", r["digest"], "of", r["subject"], "tag", r["tag"], "->", "sha256-%s.sig" % sys.argv[4][7:])
    r["tag"] = "sha256-%s.sig" % sys.argv[4][7:]
repack(sys.argv[1], sys.argv[2], edit_doc=edit, key=sys.argv[3])
PY
reg_start "$D/dst"; DST=$REG; DSTPID=$REGPID; trap 'kill $SRCPID $DSTPID' EXIT
P="--key $W/site.pub"
$M i13-verify -- "$BIN" verify "$D/moved.bundle" $P
$M i13-load-registry --target "$D/dst" -- "$BIN" load "$D/moved.bundle" $P --to "registry://$DST" --plain-http -q
$M i13-load-oci --target "$D/oci" -- "$BIN" load "$D/moved.bundle" $P --to "oci:$D/oci" -q
PORT=$(python3 -c 'import attacklib;print(attacklib.free_port())')
$M i13-serve --wait-url "http://127.0.0.1:$PORT/v2/" --during "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/v2/attacks/b/manifests/sha256-${B#sha256:}.sig" \
  -- "$BIN" serve "$D/moved.bundle" $P --listen "127.0.0.1:$PORT" -q
echo "B's tags at the target registry: $(curl -s http://$DST/v2/attacks/b/tags/list)"
$M i13-load-registry-control --target "$D/dst" -- "$BIN" load "$D/good.bundle" $P --to "registry://$DST/control" --plain-http -q
