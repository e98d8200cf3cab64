# Release 2 of bench/app: layer 0's tar with every tenth file changed, as a second image.
import hashlib, io, json, os, subprocess, tarfile, sys
W = os.environ.get("W", "/tmp/s31"); L = W + "/layout"
d = json.load(open(W + "/digests.json"))
idx = json.load(open(L + "/index.json"))
man = json.load(open(L + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
cfg = json.load(open(L + "/blobs/sha256/" + man["config"]["digest"][7:]))
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{L}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
gz0 = open(L + "/blobs/sha256/" + d["layers"][0][7:], "rb").read()
tar0 = subprocess.run(["gzip", "-dc"], input=gz0, capture_output=True, check=True).stdout
src = tarfile.open(fileobj=io.BytesIO(tar0))
buf = io.BytesIO(); out = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
for i, m in enumerate(src.getmembers()):
    data = src.extractfile(m).read()
    if i % 10 == 3:
        data += b"\n# release 2\n"; m.size = len(data)
    out.addfile(m, io.BytesIO(data))
out.close(); tar = buf.getvalue()
gz = subprocess.run(["gzip", "-6", "-n", "-c"], input=tar, capture_output=True, check=True).stdout
l = blob(gz); l["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
man["layers"][0] = l
cfg["rootfs"]["diff_ids"][0] = "sha256:" + hashlib.sha256(tar).hexdigest()
c = blob(json.dumps(cfg).encode()); c["mediaType"] = man["config"]["mediaType"]; man["config"] = c
m = blob(json.dumps(man).encode()); m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
m["annotations"] = {"org.opencontainers.image.ref.name": "app2"}
idx["manifests"].append(m)
open(L + "/index.json", "w").write(json.dumps(idx))
json.dump({"layer": l["digest"], "size": l["size"]}, open(W + "/delta.json", "w"))
print(l["digest"], len(tar), len(gz))
