#!/usr/bin/env python3
"""Builds the benchmark image set as an OCI layout from real files on this machine.

Realistic, compressible, mixed binary/text content (shared libraries, interpreter stdlibs,
toolchains, /usr/share), gzip-compressed by the producers registries get layers from, in about
the shares of layer bytes seen there (PRODUCERS: Go's compress/gzip at the default level as
BuildKit, containerd and moby write it; at BestSpeed as crane, ko and kaniko do; Go 1.27's new
encoder; klauspost's pgzip as podman, buildah and skopeo do; zlib (Python), GNU gzip and pigz,
whose output no encoder in bundle reproduces and preflate-rs's side data carries). Which
producer made each layer is written to producers.json. The layer set:

- three bases: a distro-like base, a language runtime on top of it, a slim variant;
- a dozen apps on those bases, each adding one to three layers, some multi-platform;
- two releases of a few apps whose top layers differ slightly (a realistic upgrade).

Deterministic: files are chosen by a seeded RNG, tars have fixed metadata, no producer writes
a time or a name into its gzip header.
The output is cached: a layout whose stamp matches the parameters is reused.

    bench/gen.py SIZE OUTDIR        SIZE: small (~200 MB distinct), medium (~2 GB), large (~8 GB)
"""

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
from concurrent.futures import ProcessPoolExecutor

SIZES = {"small": 200e6, "medium": 2e9, "large": 8e9}
SEED = 20261123
# Raw tar bytes per distinct compressed byte, roughly, for these sources with gzip -6.
RAW_PER_GZ = 3.4

ROOTS = {
    "distro": ["/usr/share/doc", "/usr/share/common-licenses", "/usr/bin", "/usr/sbin", "/etc", "/usr/share/perl"],
    "runtime": ["/usr/lib/python3.11", "/usr/lib/python3", "/usr/lib/jvm", "/usr/lib/gcc", "/usr/share/perl5",
                os.path.expanduser("~/.rustup/toolchains")],
    "libs": ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/libexec", "/usr/lib/git-core"],
    "data": ["/usr/share/locale", "/usr/share/zoneinfo", "/usr/share/i18n", "/usr/share/mime", "/usr/share/misc",
             "/usr/include"],
}


def files_under(roots):
    out = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if os.path.isfile(p) and not os.path.islink(p) and 0 < st.st_size < 256 << 20 and os.access(p, os.R_OK):
                    out.append((p, st.st_size))
    return out


def pick(files, budget, rng):
    """Seeded choice of files adding up to about `budget` bytes (files may repeat across layers)."""
    chosen, total = [], 0
    order = list(range(len(files)))
    rng.shuffle(order)
    for i in order:
        p, size = files[i]
        if total + size > budget * 1.05:
            continue
        chosen.append(p)
        total += size
        if total >= budget:
            break
    return sorted(chosen)


# Producer → share of layer bytes, roughly as registries hold them.
PRODUCERS = {"go1.26-6": 0.45, "go1.26-1": 0.15, "go1.27-6": 0.10, "pgzip": 0.20, "python-zlib-6": 0.04,
             "gnu-gzip-6": 0.04, "pigz-6": 0.02}
JUDGES = os.environ.get("BUNDLE_JUDGES", "/var/cache/bundle-judges")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def go_build(go, src, out, gopath=None):
    """Build a producer program once (cached by path)."""
    if os.path.exists(out):
        return out
    env = dict(os.environ, GO111MODULE="off", GOTOOLCHAIN="local", GOCACHE=out + ".gocache",
               GOPATH=gopath or out + ".gopath")
    subprocess.run([go, "build", "-o", out, src], check=True, env=env)
    return out


def producer_commands(bin_dir):
    """The command that compresses stdin to stdout, per producer."""
    os.makedirs(bin_dir, exist_ok=True)
    gogzip = os.path.join(ROOT, "crates", "gzip-exact", "tests", "judges", "gogzip.go")
    go126 = os.path.join(JUDGES, "go-1.26.6", "bin", "go")
    go127 = os.path.join(JUDGES, "go-1.27.3", "bin", "go")
    for g in (go126, go127):
        if not os.path.exists(g):
            sys.exit(f"{g} is missing: run scripts/install-test-deps.sh (make bench does)")
    g126 = go_build(go126, gogzip, os.path.join(bin_dir, "gogzip-1.26"))
    g127 = go_build(go127, gogzip, os.path.join(bin_dir, "gogzip-1.27"))
    pgz = go_build("go", os.path.join(HERE, "producers", "pgzip.go"), os.path.join(bin_dir, "pgzip"),
                   gopath="/usr/share/gocode")
    py = ("import gzip, shutil, sys\n"
          "g = gzip.GzipFile(fileobj=sys.stdout.buffer, mode='wb', compresslevel=6, mtime=0)\n"
          "shutil.copyfileobj(sys.stdin.buffer, g, 1 << 20)\ng.close()")
    return {"go1.26-6": [g126, "6"], "go1.26-1": [g126, "1"], "go1.27-6": [g127, "6"], "pgzip": [pgz],
            "python-zlib-6": [sys.executable, "-c", py], "gnu-gzip-6": ["gzip", "-6", "-n", "-c"],
            "pigz-6": ["pigz", "-6", "-n", "-c"]}


def assign_producers(layers, raw_budget):
    """Each layer's producer: the one furthest below its share of bytes so far, largest layers
    first (deterministic). A release 2 layer is made as its release 1 was."""
    given, out = {p: 0.0 for p in PRODUCERS}, {}
    for name, (_, share) in sorted(layers.items(), key=lambda kv: (-kv[1][1], kv[0])):
        if name.endswith("-r2"):
            continue
        p = min(PRODUCERS, key=lambda q: (given[q] - PRODUCERS[q] * raw_budget) / PRODUCERS[q])
        out[name] = p
        given[p] += share * raw_budget
    for name in layers:
        if name.endswith("-r2"):
            out[name] = out[name[:-3]]
    return out


def build_layer(args):
    """Write one gzip layer into blobs/; returns (digest, size, diff_id)."""
    out, salt, paths, command = args
    raw = hashlib.sha256()
    tmp = os.path.join(out, "blobs", "sha256", f".tmp-{hashlib.sha256(salt.encode()).hexdigest()[:16]}")
    with open(tmp, "wb") as gzf:
        gz = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=gzf)

        class Tee(io.RawIOBase):
            def write(self, b):
                raw.update(b)
                gz.stdin.write(b)
                return len(b)

        with tarfile.open(fileobj=Tee(), mode="w|", format=tarfile.PAX_FORMAT) as tf:
            data = salt.encode()
            ti = tarfile.TarInfo("etc/layer-id")
            ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
            tf.addfile(ti, io.BytesIO(data))
            for p in paths:
                try:
                    with open(p, "rb") as f:
                        content = f.read()
                except OSError:
                    continue
                ti = tarfile.TarInfo(p.lstrip("/"))
                ti.size, ti.mtime, ti.mode, ti.uid, ti.gid = len(content), 0, 0o755, 0, 0
                tf.addfile(ti, io.BytesIO(content))
        gz.stdin.close()
        if gz.wait() != 0:
            raise RuntimeError(f"{command[0]} failed on {salt}")
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    size = os.path.getsize(tmp)
    os.replace(tmp, os.path.join(out, "blobs", "sha256", digest))
    return digest, size, "sha256:" + raw.hexdigest()


def main():
    size_name, out = sys.argv[1], sys.argv[2]
    target = SIZES[size_name]
    stamp_text = json.dumps({"size": size_name, "seed": SEED, "version": 4, "producers": PRODUCERS})
    stamp = os.path.join(out, ".stamp")
    if os.path.exists(stamp) and open(stamp).read() == stamp_text:
        print(f"{out}: cached")
        return
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    rng = random.Random(SEED)
    pools = {k: files_under(v) for k, v in ROOTS.items()}
    raw_budget = target * RAW_PER_GZ

    # (name, pool, share of the raw budget)
    layers = {
        "base": ("distro", 0.06), "base-data": ("data", 0.03),
        "runtime": ("runtime", 0.12), "runtime-libs": ("libs", 0.06),
        "slim": ("distro", 0.02),
    }
    apps = []
    for i in range(12):
        base = ["base", "runtime", "slim"][i % 3]
        n_layers = 1 + (i % 3)
        names = []
        for j in range(n_layers):
            name = f"app{i:02d}-l{j}"
            layers[name] = (["libs", "data", "runtime", "distro"][(i + j) % 4], 0.5 / 24)
            names.append(name)
        multi = i % 4 == 1
        if multi:
            layers[f"app{i:02d}-arm64"] = (["libs", "data"][i % 2], 0.5 / 24)
        apps.append((f"app{i:02d}", base, names, multi))
    # Release 2 of three apps: the same top layer with a slightly different file set.
    releases = []
    for i in (0, 3, 6):
        top = apps[i][2][-1]
        layers[top + "-r2"] = (layers[top][0], layers[top][1])
        releases.append(i)

    commands = producer_commands(os.path.join(HERE, "work", "bin"))
    producers = assign_producers(layers, raw_budget)
    jobs = []
    plan = {}
    for name, (pool, share) in layers.items():
        budget = raw_budget * share
        if name.endswith("-r2"):
            # An upgrade: mostly the same files as release 1, a few swapped.
            prev = plan[name[:-3]]
            r = random.Random(f"{SEED}-{name}")
            keep = [p for p in prev if r.random() > 0.05]
            extra = pick(pools[pool], budget * 0.05, r)
            paths = sorted(set(keep + extra))
        else:
            paths = pick(pools[pool], budget, random.Random(f"{SEED}-{name}"))
        plan[name] = paths
        jobs.append((out, f"{size_name}-{name}", paths, commands[producers[name]]))
    with ProcessPoolExecutor(max_workers=2) as ex:
        built = dict(zip(layers.keys(), ex.map(build_layer, jobs)))

    def blob(data, media_type):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + d, "size": len(data)}

    def image(layer_names, arch="amd64"):
        ls = [built[n] for n in layer_names]
        cfg = {"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
               "rootfs": {"type": "layers", "diff_ids": [l[2] for l in ls]}}
        c = blob(json.dumps(cfg, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c,
             "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + l[0],
                         "size": l[1]} for l in ls]}
        d = blob(json.dumps(m, sort_keys=True).encode(), m["mediaType"])
        d["platform"] = {"os": "linux", "architecture": arch}
        return d

    bases = {"base": ["base", "base-data"], "runtime": ["base", "base-data", "runtime", "runtime-libs"],
             "slim": ["slim"]}
    tags = []
    for name, ls in bases.items():
        tags.append((f"{name}:1", image(ls)))
    for idx, (name, base, names, multi) in enumerate(apps):
        amd = image(bases[base] + names)
        rels = [("1", amd)]
        if idx in releases:
            rels.append(("2", image(bases[base] + names[:-1] + [names[-1] + "-r2"])))
        for tag, desc in rels:
            if multi:
                arm = image(bases[base] + names[:-1] + [f"{name}-arm64"], "arm64")
                idx_doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": [desc, arm]}
                desc = blob(json.dumps(idx_doc, sort_keys=True).encode(), idx_doc["mediaType"])
            tags.append((f"{name}:{tag}", desc))
    index = {"schemaVersion": 2, "manifests": [
        dict({k: v for k, v in d.items() if k != "platform"}, annotations={"org.opencontainers.image.ref.name": t})
        for t, d in tags]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(out, "tags.txt"), "w") as f:
        f.write("\n".join(t for t, _ in tags) + "\n")
    with open(os.path.join(out, "producers.json"), "w") as f:
        json.dump({"sha256:" + built[n][0]: producers[n] for n in built}, f, indent=1, sort_keys=True)
    distinct = sum(v[1] for v in built.values())
    with open(stamp, "w") as f:
        f.write(stamp_text)
    print(f"{out}: {len(tags)} tags, {len(built)} layers, {distinct / 1e6:.0f} MB distinct")


if __name__ == "__main__":
    main()
