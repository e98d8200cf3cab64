# grow_referrers.py SRC OUT N KEY: bundle SRC (made by create, its image with some referrers
# of ~4 MiB) written again as OUT with referrers added until its image has N, each a copy of
# the last one with another annotation "n" (so another digest), signed with KEY: what a signed
# bundle.json of N referrers of 4 MiB looks like.
import copy, json, sys
from attacklib import *
src, out, n, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
index, _ = read_index(src)
doc = json.loads(member_bytes(src, index, "bundle.json"))
refs = doc["images"][0]["referrers"]
last = refs[-1]
base = json.loads(member_bytes(src, index, "blobs/sha256/" + last["digest"][7:]))
new = []
for i in range(len(refs), n):
    m = copy.deepcopy(base)
    m["annotations"]["n"] = str(i)
    m["annotations"]["pad"] = m["annotations"]["pad"][: len(m["annotations"]["pad"]) - len(str(i)) + len(base["annotations"]["n"])]
    new.append(json.dumps(m).encode())
def edit(d):
    r = d["images"][0]["referrers"]
    at = next(k for k, b in enumerate(d["blobs"]) if b["digest"] == last["digest"])
    for k, b in enumerate(new):
        e = dict(last, digest="sha256:" + sha(b), size=len(b))
        r.append(e)
        d["blobs"].insert(at + 1 + k, {"digest": e["digest"], "size": len(b),
                                       "mediaType": OCI_MANIFEST, "encoding": "zstd-frame"})
repack(src, out, edit_doc=edit, key=key,
       insert_after=("blobs/sha256/" + last["digest"][7:],
                     [("blobs/sha256/" + sha(b), b) for b in new]))
print(len(new), "referrers added")
