#!/bin/bash
# Issue 31, item 6: referrer manifests of 4 MiB each (their annotations). 7 of them (28 MiB,
# under the 32 MiB manifest budget): create, load into oci: and a registry, verify, serve with 20
# parallel referrers GETs. 60 of them (240 MiB): create from the registry, and a signed bundle of
# 60 made by adding 53 to the 7-referrer bundle and signing bundle.json again (what the original
# attack's bundle was): load into oci: and a registry, verify, serve.
. "$(dirname "$0")/common.sh"
D=$W/i6; rm -rf "$D"; mkdir -p "$D"
reg_start "$D/src"; SRCPID=$REGPID; trap 'kill $SRCPID' EXIT
S7=$(python3 "$HERE/push_referrers.py" "$REG" attacks/app7 7)
S60=$(python3 "$HERE/push_referrers.py" "$REG" attacks/app60 60)
plain_list "$D/seven.yaml" "$REG/attacks/app7:1"
plain_list "$D/sixty.yaml" "$REG/attacks/app60:1"
K="--key $W/site.key"; P="--key $W/site.pub"
$M i6-create-7 --target "$D/r7.bundle" -- "$BIN" create "$D/seven.yaml" -o "$D/r7.bundle" $K --no-cache -q
$M i6-create-60 --target "$D/r60c.bundle" -- "$BIN" create "$D/sixty.yaml" -o "$D/r60c.bundle" $K --no-cache -q
python3 "$HERE/grow_referrers.py" "$D/r7.bundle" "$D/r60.bundle" 60 "$W/site.key"
ls -l "$D"/*.bundle
reg_start "$D/dst"; DSTPID=$REGPID; DST=$REG; trap 'kill $SRCPID $DSTPID' EXIT
for n in 7 60; do
  $M i6-verify-$n -- "$BIN" verify "$D/r$n.bundle" $P
  $M i6-load-oci-$n --target "$D/oci$n" -- "$BIN" load "$D/r$n.bundle" $P --to "oci:$D/oci$n" -q
  $M i6-load-registry-$n --target "$D/dst" -- "$BIN" load "$D/r$n.bundle" $P --to "registry://$DST/n$n" --plain-http -q
  PORT=$(python3 -c 'import attacklib;print(attacklib.free_port())')
  S=$S7; [ $n = 60 ] && S=$S60
  # 20 referrers GETs at once: status, bytes, seconds of each
  $M i6-serve-$n --wait-url "http://127.0.0.1:$PORT/v2/" \
    --during "for i in \$(seq 20); do curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' http://127.0.0.1:$PORT/v2/attacks/app$n/referrers/$S & done; wait" \
    -- "$BIN" serve "$D/r$n.bundle" $P --listen "127.0.0.1:$PORT" -q
done
