# A compact bundle of 3 GNU gzip layers of ~40 MB of tar each, for measuring serve under load.
import hashlib, io, json, os, subprocess, tarfile, time, socket, sys
W = os.environ.get("W", "/tmp/s31")
L = W + "/layout"
os.makedirs(L + "/blobs/sha256", exist_ok=True)
open(L + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{L}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
def files(root):
    for d, _, fs in sorted(os.walk(root)):
        for f in sorted(fs):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p
def tar_of(roots, budget, salt):
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    data = salt.encode()
    ti = tarfile.TarInfo("etc/layer-id"); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    total = 0
    for r in roots:
        for p in files(r):
            try:
                b = open(p, "rb").read()
            except Exception:
                continue
            if total + len(b) > budget:
                continue
            ti = tarfile.TarInfo(p.lstrip("/")); ti.size = len(b); ti.mtime = 0; ti.mode = 0o644
            t.addfile(ti, io.BytesIO(b)); total += len(b)
            if total >= budget - 4096:
                break
    t.close()
    return buf.getvalue()
layers, diff_ids = [], []
for roots, salt in [(["/usr/lib/x86_64-linux-gnu"], "a"), (["/usr/share"], "b"), (["/usr/bin", "/usr/lib/python3"], "c")]:
    tar = tar_of(roots, 40_000_000, salt)
    gz = subprocess.run(["gzip", "-6", "-n", "-c"], input=tar, capture_output=True, check=True).stdout
    d = blob(gz); d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    layers.append(d); diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    print("layer", d["digest"], len(tar), len(gz), file=sys.stderr)
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
m = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": layers}).encode())
m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
m["annotations"] = {"org.opencontainers.image.ref.name": "app"}
open(L + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [m]}))
json.dump({"layers": [l["digest"] for l in layers], "config": cfg["digest"]}, open(W + "/digests.json", "w"))
