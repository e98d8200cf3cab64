# Helpers for the issue-31 attack scripts: a docker-registry on 127.0.0.1, pushing blobs and
# manifests over the distribution API, and reading / re-packing / re-signing bundle files
# (docs/FORMAT.md; the same layout tests/it/common/raw_bundle.rs writes). Only 127.0.0.1.
import hashlib, http.client, json, os, socket, struct, subprocess, sys, tempfile, time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- registry -------------------------------------------------------------------------------

def start_registry(d):
    """docker-registry storing under d, on a random port; returns (addr, Popen)."""
    os.makedirs(d, exist_ok=True)
    port = free_port()
    addr = f"127.0.0.1:{port}"
    cfg = os.path.join(d, "config.yml")
    open(cfg, "w").write(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n"
        f"  filesystem:\n    rootdirectory: {d}/data\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {addr}\n")
    log = open(os.path.join(d, "registry.log"), "ab")
    p = subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log)
    for _ in range(200):
        try:
            st, _, _ = request(addr, "GET", "/v2/")
            if st == 200:
                return addr, p
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("docker-registry did not start")


def request(addr, method, path, body=b"", headers=None):
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def upload(addr, repo, data):
    """A blob, POST then PUT; returns its digest. A blob the registry has is not sent again."""
    d = "sha256:" + sha(data)
    st, _, _ = request(addr, "HEAD", f"/v2/{repo}/blobs/{d}")
    if st == 200:
        return d
    st, h, body = request(addr, "POST", f"/v2/{repo}/blobs/uploads/")
    assert st == 202, (st, body)
    loc = h["location"]
    if "://" in loc:
        loc = "/" + loc.split("://", 1)[1].split("/", 1)[1]
    sep = "&" if "?" in loc else "?"
    st, _, body = request(addr, "PUT", f"{loc}{sep}digest={d}", data,
                          {"Content-Type": "application/octet-stream"})
    assert st == 201, (st, body)
    return d


def put_manifest(addr, repo, ref, media_type, data):
    st, _, body = request(addr, "PUT", f"/v2/{repo}/manifests/{ref}", data,
                          {"Content-Type": media_type})
    assert st == 201, (st, body[:300])
    return "sha256:" + sha(data)


def desc(media_type, data, **extra):
    return dict({"mediaType": media_type, "digest": "sha256:" + sha(data), "size": len(data)},
                **extra)


def tar_of(files):
    """A small tar of {name: bytes}."""
    import io, tarfile
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    for n, b in files.items():
        ti = tarfile.TarInfo(n)
        ti.size = len(b)
        t.addfile(ti, io.BytesIO(b))
    t.close()
    return buf.getvalue()


def push_image(addr, repo, tag, salt):
    """A one-layer image (uncompressed tar) under repo:tag; returns its manifest descriptor."""
    layer = tar_of({"etc/id": salt.encode()})
    upload(addr, repo, layer)
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]}}).encode()
    upload(addr, repo, cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": desc(OCI_CONFIG, cfg), "layers": [desc(OCI_LAYER, layer)]}).encode()
    put_manifest(addr, repo, tag, OCI_MANIFEST, m)
    return desc(OCI_MANIFEST, m)


# ---- cosign (ECDSA P-256, as `cosign generate-key-pair`) --------------------------------------

def ec_keypair(stem):
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                    "-out", stem + ".key"], check=True)
    subprocess.run(["openssl", "ec", "-in", stem + ".key", "-pubout", "-out", stem + ".pub"],
                   check=True, capture_output=True)


def ec_sign_b64(keyfile, payload):
    import base64
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keyfile, f.name],
                             check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def simple_signing(reference, digest):
    return json.dumps({"critical": {"identity": {"docker-reference": reference},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": None}).encode()


# ---- bundle files ---------------------------------------------------------------------------

def read_index(path):
    with open(path, "rb") as f:
        f.seek(-16, 2)
        n, magic = struct.unpack("<Q8s", f.read(16))
        assert magic == b"BUNDLEIX", magic
        size = f.seek(0, 2)
        f.seek(size - 16 - 32 - n)
        return json.loads(f.read(n)), size - 16 - 32 - n - 8


def read_frame(path, off, length):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


def unzstd(frame):
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=frame, check=True,
                          capture_output=True).stdout


def member_bytes(path, index, name):
    m = next(m for m in index["members"] if m["path"] == name)
    if "data" not in m:
        return b""
    return unzstd(read_frame(path, m["data"]["offset"], m["data"]["length"]))[: m["size"]]


def zstd_file_frame(data, level=19):
    """One zstd frame holding data, with its content size and checksum."""
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
    try:
        return subprocess.run(["zstd", "-q", f"-{level}", "-c", f.name], check=True,
                              capture_output=True).stdout
    finally:
        os.unlink(f.name)


def tar_header(name, size):
    h = bytearray(512)
    p = name.encode()[:100]
    h[: len(p)] = p
    h[100:107] = b"0000644"
    h[108:115] = b"0000000"
    h[116:123] = b"0000000"
    h[124:135] = b"%011o" % size
    h[136:147] = b"00000000000"
    h[156] = ord("0")
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b"        "
    h[148:155] = b"%06o\0" % sum(h)
    return bytes(h)


class Writer:
    """Writes a bundle member by member: copied frames or new ones."""

    def __init__(self, out):
        self.f = open(out, "wb")
        self.h = hashlib.sha256()
        self.members = []
        self.pos = 0
        self._w(struct.pack("<II", 0x184D2A5A, 8) + b"OCIBNDL\x01")

    def _w(self, b):
        self.f.write(b)
        self.h.update(b)
        self.pos += len(b)

    def copy(self, src, m):
        """Member m (a seek-index entry) of bundle src, its frames as they are."""
        e = {"path": m["path"], "size": m["size"]}
        e["header"] = {"offset": self.pos, "length": m["header"]["length"]}
        self._w(read_frame(src, m["header"]["offset"], m["header"]["length"]))
        if "data" in m:
            e["data"] = {"offset": self.pos, "length": m["data"]["length"]}
            with open(src, "rb") as f:
                f.seek(m["data"]["offset"])
                left = m["data"]["length"]
                while left:
                    b = f.read(min(left, 1 << 22))
                    self._w(b)
                    left -= len(b)
        self.members.append(e)

    def new(self, name, data, level=19, data_frame=None, declared=None):
        """A new member holding data (or the given data frame, declared bytes)."""
        size = len(data) if declared is None else declared
        e = {"path": name, "size": size}
        hf = zstd_file_frame(tar_header(name, size), 3)
        e["header"] = {"offset": self.pos, "length": len(hf)}
        self._w(hf)
        if data_frame is None and data:
            data_frame = zstd_file_frame(data + b"\0" * (-len(data) % 512), level)
        if data_frame is not None:
            e["data"] = {"offset": self.pos, "length": len(data_frame)}
            self._w(data_frame)
        self.members.append(e)

    def finish(self):
        self._w(zstd_file_frame(b"\0" * 1024, 3))
        idx = json.dumps({"formatVersion": 1, "bodySha256": self.h.hexdigest(),
                          "members": self.members}).encode()
        payload = idx + hashlib.sha256(idx).digest() + struct.pack("<Q", len(idx)) + b"BUNDLEIX"
        self.f.write(struct.pack("<II", 0x184D2A5E, len(payload)) + payload)
        self.f.close()


def ed25519_sign(keyfile, data):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    return load_pem_private_key(open(keyfile, "rb").read(), None).sign(data)


def ed25519_fingerprint(keyfile):
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat, load_pem_private_key)
    k = load_pem_private_key(open(keyfile, "rb").read(), None).public_key()
    return "SHA256:" + sha(k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def repack(src, out, edit_doc=None, key=None, replace=None, insert_after=None):
    """Bundle src written again as out: bundle.json changed by edit_doc(doc), signed with key
    (an ed25519 PKCS#8 PEM; None: unsigned), member data replaced by replace[path] =
    (data_frame, declared size), and new members (name, data) placed after the member named by
    insert_after[0] (insert_after = (path, [(name, data), ...]))."""
    index, _ = read_index(src)
    doc = json.loads(member_bytes(src, index, "bundle.json"))
    if edit_doc:
        edit_doc(doc)
    if key:
        doc["signer"] = {"algorithm": "ed25519", "fingerprint": ed25519_fingerprint(key)}
    else:
        doc.pop("signer", None)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    w = Writer(out)
    w.new("bundle.json", raw)
    if key:
        w.new("bundle.json.sig", ed25519_sign(key, raw))
    for m in index["members"]:
        if m["path"] in ("bundle.json", "bundle.json.sig"):
            continue
        if replace and m["path"] in replace:
            frame, declared = replace[m["path"]]
            w.new(m["path"], b"", data_frame=frame, declared=declared)
        else:
            w.copy(src, m)
        if insert_after and m["path"] == insert_after[0]:
            for name, data in insert_after[1]:
                w.new(name, data)
    w.finish()
    return doc


if __name__ == "__main__":
    # python3 attacklib.py registry DIR: start a registry, print its address and pid, detach.
    if sys.argv[1] == "registry":
        addr, p = start_registry(sys.argv[2])
        print(addr, p.pid)
