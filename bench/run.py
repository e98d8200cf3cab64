#!/usr/bin/env python3
"""The benchmark: bundle against skopeo and against the machine's limit, in one run.

    bench/run.py [--runs N] SIZE...      SIZE: small, medium, large

For each size: builds (or reuses) the image set with gen.py, pushes it once into a source
registry on 127.0.0.1 (cached), then measures, each N times, taking medians:

  create    bundle create (default settings, empty cache)   vs  skopeo copy --all of every image
            into one shared OCI layout, then tar | zstd -T0 -3            and vs  the limit:
            every distinct blob fetched with parallel curl, hashed with sha256sum, written once
  load      bundle load --to registry:// (fresh registry)   vs  skopeo copy oci:DIR:REF
            docker://... of every image (blob-info cache deleted first, so no mounts)
  oci       bundle load --to oci:                           vs  skopeo copy to oci:
  archive   bundle load --to docker-archive:                vs  skopeo copy to docker-archive:
            (skopeo writes one archive per image, layers uncompressed; measured once, not N times)
  inspect   bundle inspect latency
  verify    bundle verify throughput                         vs  sha256sum of the same file
  serve     bundle serve start-up (until /v2/ answers), and skopeo copy --all of every image
            from it into one OCI layout                      vs  the same from the source
            distribution registry (which serves the same images from its own storage)

`--only serve` measures just serve, on the bundle the last full run of that size left in
bench/work/SIZE/out (or a new one). `--only compact` measures create/load --compact (A/B pairs
in alternating order after an untimed pull of every blob, 1 core against all, CPU per stage, the
issue #33 targets);
`--only encoders` measures just gzip-exact's encoders against the producers, per core, on the
largest layer of each producer in the set (also part of `--only compact`);
`--only releases` an update of the release pairs: release 1 (every tag but the `:2` ones) as
a compact bundle, then release 2 as `create --compact --since r1` (a delta of deltas) against
`create --since r1` (changed layers whole) and a full bundle, and the load of each.

Timing and peak RSS come from /usr/bin/time -v. Only 127.0.0.1 is contacted. Results go to
stdout and to bench/results/<date>-<host>.md.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
BUNDLE = os.path.join(ROOT, "target", "release", "bundle")
BLOB_CACHE = "/var/lib/containers/cache"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Registry:
    """docker-registry on 127.0.0.1 with its storage in `root`."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        os.makedirs(root, exist_ok=True)
        cfg = os.path.join(root, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n"
                    f"storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}\n"
                    f"http: {{addr: {self.addr}}}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(root, "log"), "w"))
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def cpu(self):
        """CPU seconds (user + system) of all its threads so far."""
        f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def hold(self, pin):
        """All its threads (and those they start) onto the cores a `taskset -c` prefix names, or
        onto every core for none. A pinned bundle's registry on a core of its own would give a
        "1 core" run a second one: 5% of a load's CPU is the registry's (12.4 of 235 s, medium
        set, 2026-12-07)."""
        cores = pin[pin.index("-c") + 1] if pin else f"0-{os.cpu_count() - 1}"
        subprocess.run(["taskset", "-a", "-p", "-c", cores, str(self.proc.pid)], stdout=subprocess.DEVNULL,
                       check=True)

    def timed_beside(self, pin, cmd):
        """`timed(pin + cmd)` with this registry held to the same cores through it, and its CPU
        seconds during it last."""
        self.hold(pin)
        before = self.cpu()
        try:
            return timed(list(pin) + cmd) + (self.cpu() - before,)
        finally:
            self.hold(())


def timed(cmd, **kw):
    """Run under /usr/bin/time -v; returns (wall s, cpu s, peak RSS MB, stdout)."""
    # Neither side syncs its output; what the previous step left for the kernel to write out
    # must not slow down the next one, whichever tool it is.
    os.sync()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        full = ["/usr/bin/time", "-v", "-o", t.name] + cmd
        r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)[:200]} failed: {r.stderr.decode()[-2000:]}")
        v = {}
        for line in open(t.name):
            k, _, val = line.strip().rpartition(": ")
            v[k] = val
    wall = v["Elapsed (wall clock) time (h:mm:ss or m:ss)"]
    parts = [float(x) for x in wall.split(":")]
    secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    cpu = float(v["User time (seconds)"]) + float(v["System time (seconds)"])
    return secs, cpu, int(v["Maximum resident set size (kbytes)"]) / 1024, r.stdout.decode()


def sh(script):
    return ["bash", "-c", "set -euo pipefail\n" + script]


def median(xs):
    return statistics.median(xs)


def timing(runs):
    """(wall, cpu, rss) of each run: the medians of the times, the largest peak RSS."""
    return {"wall": median([x[0] for x in runs]), "cpu": median([x[1] for x in runs]),
            "rss_mb": max(x[2] for x in runs)}


def prepare(size, runs):
    base = os.path.join(WORK, size)
    layout = os.path.join(base, "layout")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), size, layout], check=True)
    tags = open(os.path.join(layout, "tags.txt")).read().split()
    src = Registry(os.path.join(base, "registry-src"))
    stamp = os.path.join(base, "registry-src", ".pushed")
    if not os.path.exists(stamp) or open(stamp).read() != open(os.path.join(layout, ".stamp")).read():
        print(f"[{size}] pushing {len(tags)} tags into the source registry (once)", flush=True)
        for t in tags:
            subprocess.run(["skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", f"oci:{layout}:{t}",
                            f"docker://{src.addr}/bench/{t}"], check=True)
        shutil.copy(os.path.join(layout, ".stamp"), stamp)
    return base, layout, tags, src


def blobs_by_repo(layout, tags, manifests=True):
    """(repo, digest, size) of every distinct blob, from the layout the images were pushed from;
    without manifests and indexes if not `manifests` (a registry serves those under /manifests/,
    not /blobs/)."""
    idx = json.load(open(os.path.join(layout, "index.json")))
    seen, out = set(), []

    def load(d):
        return json.load(open(os.path.join(layout, "blobs", "sha256", d.split(":")[1])))

    def walk(desc, repo):
        if desc["digest"] not in seen:
            seen.add(desc["digest"])
            if manifests:
                out.append((repo, desc["digest"], desc["size"]))
        mt = desc["mediaType"]
        if mt.endswith("index.v1+json"):
            for c in load(desc["digest"])["manifests"]:
                walk(c, repo)
        elif mt.endswith("manifest.v1+json"):
            m = load(desc["digest"])
            for b in [m["config"]] + m["layers"]:
                if b["digest"] not in seen:
                    seen.add(b["digest"])
                    out.append((repo, b["digest"], b["size"]))

    for m in idx["manifests"]:
        name = m["annotations"]["org.opencontainers.image.ref.name"]
        walk(m, "bench/" + name.split(":")[0])
    return out


def each_blob(src, distinct, sink):
    """A script fetching every blob of `distinct` from `src` with curl, 8 at a time, into `sink`
    (shell text after curl's URL; $1 is the digest)."""
    lines = "\n".join(f"{repo} {d}" for repo, d, _ in distinct)
    return f"echo '{lines}' | xargs -P 8 -n 2 sh -c 'curl -sf http://{src.addr}/v2/$0/blobs/$1 {sink}'"


def image_list_and_key(out, src, tags):
    """The image list of every tag in `out`, and a fresh signing key; returns (list, key prefix)."""
    os.makedirs(out, exist_ok=True)
    images = os.path.join(out, "images.yaml")
    with open(images, "w") as f:
        f.write("images:\n" + "".join(f"  - {src.addr}/bench/{t}\n" for t in tags))
        f.write(f"registries:\n  {src.addr}:\n    plain-http: true\n")
    key = os.path.join(out, "k")
    subprocess.run([BUNDLE, "keygen", "--out", key], check=True, stdout=subprocess.DEVNULL)
    return images, key


def skopeo_pipeline(out, src, tags):
    """The peer's create: skopeo copy --all of every tag into one OCI layout, then
    tar | zstd -T0 -3. Returns its measurement and the size of what it wrote."""
    pl, pipe_out = os.path.join(out, "pipe-layout"), os.path.join(out, "pipe.tar.zst")
    shutil.rmtree(pl, ignore_errors=True)
    copies = "\n".join(f"skopeo copy -q --all --src-tls-verify=false docker://{src.addr}/bench/{t} oci:{pl}:{t}"
                       for t in tags)
    m = timed(sh(f"{copies}\ntar -cf - -C {pl} . | zstd -q -T0 -3 -f -o {pipe_out}"))
    size = os.path.getsize(pipe_out)
    shutil.rmtree(pl, ignore_errors=True)
    os.remove(pipe_out)
    return m, size


def bench_serve(size, runs, bundle_file=None):
    """bundle serve against the distribution registry serving the same images."""
    base, layout, tags, src = prepare(size, runs)
    out = os.path.join(base, "out")
    key = os.path.join(out, "k")
    bundle_file = bundle_file or os.path.join(out, "site.bundle")
    if not os.path.exists(bundle_file):
        images, key = image_list_and_key(out, src, tags)
        subprocess.run([BUNDLE, "create", images, "-o", bundle_file, "--key", key + ".key", "--no-cache", "-q"],
                       check=True, stdout=subprocess.DEVNULL)
    R = {}
    starts = []
    for i in range(runs):
        port = free_port()
        t = time.perf_counter()
        proc = subprocess.Popen([BUNDLE, "serve", bundle_file, "--key", key + ".pub", "--listen",
                                 f"127.0.0.1:{port}", "-q"])
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.05) as c:
                    c.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if c.recv(12).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("bundle serve exited")
            time.sleep(0.002)
        starts.append((time.perf_counter() - t) * 1000)
        for name, addr in (("serve_pull", f"127.0.0.1:{port}"), ("registry_pull", src.addr)):
            pl = os.path.join(out, "pull-layout")
            shutil.rmtree(pl, ignore_errors=True)
            copies = "\n".join(f"skopeo copy -q --all --src-tls-verify=false docker://{addr}/bench/{t} oci:{pl}:{t}"
                               for t in tags)
            R.setdefault(name, []).append(timed(sh(copies)))
            shutil.rmtree(pl, ignore_errors=True)
        proc.terminate()
        proc.wait()
        print(f"[{size}] serve run {i + 1}: ready in {starts[-1]:.0f} ms; pull {R['serve_pull'][-1][0]:.1f}s "
              f"vs registry {R['registry_pull'][-1][0]:.1f}s", flush=True)
    src.stop()
    res = {"size": size, "runs": runs, "bundle_file_bytes": os.path.getsize(bundle_file),
           "serve_start_ms": median(starts), "distinct_bytes": sum(s for _, _, s in blobs_by_repo(layout, tags))}
    for k, v in R.items():
        res[k] = timing(v)
    return res


def serve_table(results):
    lines = []
    for r in results:
        mb = r["distinct_bytes"] / 1e6
        a, b = r["serve_pull"], r["registry_pull"]
        lines.append(f"### serve, {r['size']}: bundle of {r['bundle_file_bytes'] / 1e6:.0f} MB, medians of {r['runs']} runs\n")
        lines.append(f"- start-up (process start until `/v2/` answers): {r['serve_start_ms']:.0f} ms")
        lines.append(f"- `skopeo copy --all` of every tag into one OCI layout: from `bundle serve` {a['wall']:.2f} s "
                     f"({mb / a['wall']:.0f} MB/s of distinct blobs), from the distribution registry {b['wall']:.2f} s "
                     f"({mb / b['wall']:.0f} MB/s); ratio serve / registry {a['wall'] / b['wall']:.2f}")
        lines.append("")
    return "\n".join(lines)


def bench_size(size, runs):
    base, layout, tags, src = prepare(size, runs)
    out = os.path.join(base, "out")
    shutil.rmtree(out, ignore_errors=True)
    images, key = image_list_and_key(out, src, tags)
    distinct = blobs_by_repo(layout, tags)
    distinct_bytes = sum(s for _, _, s in distinct)
    res = {"size": size, "tags": len(tags), "blobs": len(distinct), "distinct_bytes": distinct_bytes, "runs": runs}
    bundle_file = os.path.join(out, "site.bundle")
    R = {}

    def record(name, m):
        R.setdefault(name, []).append(m)

    print(f"[{size}] {len(tags)} tags, {len(distinct)} distinct blobs, {distinct_bytes / 1e6:.0f} MB; {runs} runs",
          flush=True)
    for i in range(runs):
        # create
        cache = os.path.join(out, "cache")
        shutil.rmtree(cache, ignore_errors=True)
        if os.path.exists(bundle_file):
            os.remove(bundle_file)
        record("create", timed([BUNDLE, "create", images, "-o", bundle_file, "--key", key + ".key",
                                "--cache-dir", cache, "-q"]))
        R.setdefault("bundle_size", []).append(os.path.getsize(bundle_file))
        shutil.rmtree(cache, ignore_errors=True)
        m, pipe_size = skopeo_pipeline(out, src, tags)
        record("skopeo_pipeline", m)
        R.setdefault("pipeline_size", []).append(pipe_size)
        # the limit: parallel curl, sha256sum, written once
        lim = os.path.join(out, "limit")
        shutil.rmtree(lim, ignore_errors=True)
        os.makedirs(lim)
        record("limit", timed(sh(each_blob(src, distinct, f"| tee {lim}/${{1#sha256:}} | sha256sum > "
                                                         f"{lim}/${{1#sha256:}}.sum"))))
        shutil.rmtree(lim, ignore_errors=True)
        print(f"[{size}] run {i + 1}: create {R['create'][-1][0]:.1f}s, skopeo pipeline "
              f"{R['skopeo_pipeline'][-1][0]:.1f}s, limit {R['limit'][-1][0]:.1f}s", flush=True)

    # The skopeo side of the load benchmarks reads the same images from an OCI layout: the bundle
    # unpacked (not timed).
    unpacked = os.path.join(out, "unpacked")
    shutil.rmtree(unpacked, ignore_errors=True)
    os.makedirs(unpacked)
    subprocess.run(["tar", "--zstd", "-xf", bundle_file, "-C", unpacked], check=True)
    refs = [f"{src.addr}/bench/{t}" for t in tags]
    for i in range(runs):
        dst = Registry(os.path.join(out, "dst"))
        record("load_registry", timed([BUNDLE, "load", bundle_file, "--key", key + ".pub", "--to",
                                       f"registry://{dst.addr}", "--plain-http", "-q"]))
        dst.stop()
        shutil.rmtree(os.path.join(out, "dst"))
        dst = Registry(os.path.join(out, "dst"))
        shutil.rmtree(BLOB_CACHE, ignore_errors=True)
        copies = "\n".join(f"skopeo copy -q --all --dest-tls-verify=false oci:{unpacked}:{r} "
                           f"docker://{dst.addr}/bench/{r.split('/bench/')[1]}" for r in refs)
        record("skopeo_load_registry", timed(sh(copies)))
        dst.stop()
        shutil.rmtree(os.path.join(out, "dst"))
        # oci:
        o1, o2 = os.path.join(out, "oci-bundle"), os.path.join(out, "oci-skopeo")
        record("load_oci", timed([BUNDLE, "load", bundle_file, "--key", key + ".pub", "--to", f"oci:{o1}", "-q"]))
        copies = "\n".join(f"skopeo copy -q --all oci:{unpacked}:{r} oci:{o2}:{r.split('/bench/')[1]}" for r in refs)
        record("skopeo_load_oci", timed(sh(copies)))
        shutil.rmtree(o1)
        shutil.rmtree(o2)
        # docker-archive:
        a1, a2 = os.path.join(out, "images.tar"), os.path.join(out, "archives")
        record("load_archive", timed([BUNDLE, "load", bundle_file, "--key", key + ".pub", "--to",
                                      f"docker-archive:{a1}", "-q"]))
        # skopeo writes docker-archive layers uncompressed (minutes on the medium set): once is enough.
        if i == 0:
            os.makedirs(a2, exist_ok=True)
            copies = "\n".join(f"skopeo copy -q oci:{unpacked}:{r} docker-archive:{a2}/{n}.tar:bench/{r.split('/bench/')[1]}"
                               for n, r in enumerate(refs))
            record("skopeo_load_archive", timed(sh(copies)))
            shutil.rmtree(a2)
        os.remove(a1)
        print(f"[{size}] load run {i + 1}: registry {R['load_registry'][-1][0]:.1f}s vs skopeo "
              f"{R['skopeo_load_registry'][-1][0]:.1f}s; oci {R['load_oci'][-1][0]:.1f}s vs "
              f"{R['skopeo_load_oci'][-1][0]:.1f}s; archive {R['load_archive'][-1][0]:.1f}s vs "
              f"{R['skopeo_load_archive'][0][0]:.1f}s (skopeo: first run)", flush=True)
    shutil.rmtree(unpacked)

    lat = []
    for _ in range(max(10, runs)):
        t = time.perf_counter()
        subprocess.run([BUNDLE, "inspect", "--json", bundle_file], check=True, stdout=subprocess.DEVNULL)
        lat.append((time.perf_counter() - t) * 1000)
    res["inspect_ms"] = median(lat)
    for i in range(runs):
        record("verify", timed([BUNDLE, "verify", bundle_file, "--key", key + ".pub"]))
        record("sha256sum", timed(["sha256sum", bundle_file]))
    src.stop()
    res["bundle_file_bytes"] = os.path.getsize(bundle_file)
    for k, v in R.items():
        if k.endswith("_size"):
            res[k] = median(v)
        else:
            res[k] = timing(v)
    return res


def bundle_json(path):
    """bundle.json of a bundle, read through its seek index as docs/FORMAT.md describes."""
    with open(path, "rb") as f:
        f.seek(-16, 2)
        n = int.from_bytes(f.read(8), "little")
        f.seek(-16 - 32 - n, 2)
        index = json.loads(f.read(n))
        m = next(m for m in index["members"] if m["path"] == "bundle.json")
        f.seek(m["data"]["offset"])
        frame = f.read(m["data"]["length"])
    raw = subprocess.run(["zstd", "-dc"], input=frame, capture_output=True, check=True).stdout
    return json.loads(raw[:m["size"]])


# create --compact and load --compact take minutes on the medium set: they get at most this many
# pairs, however many rounds the fast pairs get.
SLOW_PAIRS = 2
# The stages of `--json`'s cpuSeconds, in the order the tables show them.
CREATE_STAGES = ("inflate", "identify", "preflate", "zstd", "prove", "deltas")
LOAD_STAGES = ("decode", "rebuild", "hash", "write")
# The wall-time ratios of neighbours in one round, reported over the rounds.
PAIRS = (("create_compact", "create"), ("create", "skopeo_pipeline"), ("create_compact", "skopeo_pipeline"),
         ("load_compact", "load"), ("load_compact", "floor"), ("create_compact_1core", "create_compact"),
         ("load_compact_1core", "load_compact"))
ONE_CORE = ["taskset", "-c", "0"]


def abba(i, steps, R):
    """Runs `steps` ((name, measure) pairs) in order in even rounds and reversed in odd ones, so
    that neither of two neighbours always goes first (and finds what the other left warm);
    returns what ran, in order, with its wall time."""
    order = steps if i % 2 == 0 else steps[::-1]
    for name, measure in order:
        R.setdefault(name, []).append(measure())
    return ", ".join(f"{name} {R[name][-1][0]:.1f}s" for name, _ in order)


def stage_cpu(runs):
    """Per stage, the median over the runs of `--json`'s cpuSeconds; None unless every run has it
    (a binary from before it was added)."""
    got = []
    for m in runs:
        try:
            got.append(json.loads(m[3]).get("cpuSeconds"))
        except ValueError:
            got.append(None)
    if not got or None in got:
        return None
    return {k: median([g.get(k, 0.0) for g in got]) for k in set().union(*got)}


def bench_compact(size, runs):
    """create --compact against create and against the skopeo pipeline, in one run: sizes, the
    share of each producer's layer bytes rebuilt exactly, create and load times as A/B pairs in
    alternating order, 1 core against all, CPU per stage, the rebuild speed per core against the
    producer's own, the issue #33 targets, and the break-even carrier speed."""
    base, layout, tags, src = prepare(size, runs)
    try:
        return compact_rounds(size, runs, base, layout, tags, src)
    finally:
        # Also when a command fails: the source registry must not outlive the run.
        src.stop()


def warm(src, layout, tags):
    """Every blob of the set pulled once from `src`, untimed: whatever is timed first would
    otherwise pay alone for the registry's cold storage (a one-run medium bench once had create
    at 0.87x the skopeo pipeline for it, 0.34-0.49x warm)."""
    subprocess.run(sh(each_blob(src, blobs_by_repo(layout, tags, manifests=False), "-o /dev/null")), check=True)


def load_into_fresh_registry(out, path, key, pin=()):
    """`bundle load --json` of `path` into a registry started for it under `out` (removed after),
    timed, with the registry's CPU seconds last; `pin` goes before the command (taskset), and
    holds the registry to the same cores."""
    dst = Registry(os.path.join(out, "dst"))
    try:
        return dst.timed_beside(pin, [BUNDLE, "load", path, "--key", key + ".pub", "--to", f"registry://{dst.addr}",
                                      "--plain-http", "--json"])
    finally:
        dst.stop()
        shutil.rmtree(os.path.join(out, "dst"))


def create_into(out, images, key, path, extra, pin=(), src=None):
    """`bundle create --json` of `images` into `path` with an empty cache under `out` (removed
    after), timed; `pin` goes before the command (taskset). With `src`, the registry the list
    names is held to the same cores for the run, and its CPU seconds come last."""
    cache = os.path.join(out, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [BUNDLE, "create", images, "-o", path, "--key", key + ".key", "--cache-dir", cache, "--json"] + extra
    m = src.timed_beside(pin, cmd) if src else timed(list(pin) + cmd)
    shutil.rmtree(cache)
    return m


def compact_rounds(size, runs, base, layout, tags, src):
    """bench_compact's measurements, with the source registry `src` up."""
    out = os.path.join(base, "compact")
    shutil.rmtree(out, ignore_errors=True)
    images, key = image_list_and_key(out, src, tags)
    plain, compact = os.path.join(out, "plain.bundle"), os.path.join(out, "compact.bundle")
    R, sizes = {}, {}
    slow = min(runs, SLOW_PAIRS)
    warm(src, layout, tags)

    def create(path, extra, pin=()):
        return create_into(out, images, key, path, extra, pin, src)

    def load(path, pin=()):
        return load_into_fresh_registry(out, path, key, pin)

    def pipeline():
        m, sizes["pipeline"] = skopeo_pipeline(out, src, tags)
        return m

    print(f"[{size}] compact: {runs} rounds of create and the skopeo pipeline, {slow} of them with create "
          f"--compact and the same on 1 core; {slow} of load, load --compact, the latter on 1 core and the producers' "
          f"floor; then create and load once each on 1 core", flush=True)
    for i in range(runs):
        steps = [("create", lambda: create(plain, [])), ("skopeo_pipeline", pipeline)]
        if i < slow:
            # One core right beside all of them: this VM's speed drifts 15-20% within the hour.
            steps[:0] = [("create_compact_1core", lambda: create(compact, ["--compact"], ONE_CORE)),
                         ("create_compact", lambda: create(compact, ["--compact"]))]
        print(f"[{size}] compact round {i + 1}: {abba(i, steps, R)}", flush=True)
    sizes["create"], sizes["create_compact"] = os.path.getsize(plain), os.path.getsize(compact)
    floor = producers_floor(layout, compact, os.path.join(out, "floor"))
    for i in range(slow):
        steps = [("floor", floor), ("load_compact", lambda: load(compact)), ("load", lambda: load(plain)),
                 ("load_compact_1core", lambda: load(compact, ONE_CORE))]
        print(f"[{size}] compact load round {i + 1}: {abba(i, steps, R)}", flush=True)
    shutil.rmtree(os.path.join(out, "floor"))
    for name, measure in (("create_1core", lambda: create(plain, [], ONE_CORE)),
                          ("load_1core", lambda: load(plain, ONE_CORE))):
        R[name] = [measure()]
        print(f"[{size}] {name}: {R[name][0][0]:.1f}s", flush=True)
    R["verify_compact"] = [timed([BUNDLE, "verify", compact, "--key", key + ".pub"])]
    res = {"size": size, "runs": runs, "slow_runs": slow, "sizes": sizes,
           "producers": producer_shares(layout, compact),
           "pairs": {f"{a}/{b}": [x[0] / y[0] for x, y in zip(R[a], R[b])] for a, b in PAIRS},
           "stages": {n: stage_cpu(R[n]) for n in ("create_compact", "create_compact_1core", "load_compact",
                                                   "load_compact_1core")},
           "counts": {k: len(v) for k, v in R.items()}}
    res["rebuild_speed"], res["serve_rss_mb"] = rebuild_speed(layout, compact, key, out)
    print(f"[{size}] encoders against producers, {ENCODER_PAIRS} pairs each", flush=True)
    res["encoders"] = encoder_speed(layout, out)
    for k, v in R.items():
        res[k] = timing(v)
    return res


def bench_releases(size, runs):
    """An update: release 2 of the apps that have one, after release 1 (every other tag) went
    across. Sizes: the compact delta (create --compact --since r1) against today's layer delta
    (create --since r1: changed layers whole) and against a full bundle of release 2; load of
    the compact delta into a registry holding release 1 against a load of the full bundle into
    an empty one."""
    base, layout, tags, src = prepare(size, runs)
    out = os.path.join(base, "releases")
    shutil.rmtree(out, ignore_errors=True)
    r2 = [t for t in tags if t.endswith(":2")]
    r1 = [t for t in tags if t not in r2]
    list1, key = image_list_and_key(os.path.join(out, "1"), src, r1)
    list2, _ = image_list_and_key(os.path.join(out, "2"), src, r2)
    k = os.path.join(out, "1", "k")
    b1 = os.path.join(out, "r1.bundle")
    files = {n: os.path.join(out, f"{n}.bundle") for n in ("full", "full_compact", "layer_delta", "compact_delta")}
    cache = os.path.join(out, "cache")
    subprocess.run([BUNDLE, "create", list1, "-o", b1, "--key", k + ".key", "--cache-dir", cache, "-q",
                    "--compact"], check=True)
    R, sizes = {}, {}
    print(f"[{size}] releases: {len(r2)} release-2 tags over {len(r1)}; {runs} runs", flush=True)
    for i in range(runs):
        for name, extra in (("full", []), ("full_compact", ["--compact"]), ("layer_delta", ["--since", b1]),
                            ("compact_delta", ["--compact", "--since", b1])):
            R.setdefault("create_" + name, []).append(
                timed([BUNDLE, "create", list2, "-o", files[name], "--key", k + ".key", "--cache-dir", cache,
                       "-q"] + extra))
            sizes[name] = os.path.getsize(files[name])
        for name in ("full", "full_compact"):
            dst = Registry(os.path.join(out, "dst"))
            R.setdefault("load_" + name, []).append(timed([BUNDLE, "load", files[name], "--key", k + ".pub", "--to",
                                                           f"registry://{dst.addr}", "--plain-http", "-q"]))
            dst.stop()
            shutil.rmtree(os.path.join(out, "dst"))
        dst = Registry(os.path.join(out, "dst"))
        subprocess.run([BUNDLE, "load", b1, "--key", k + ".pub", "--to", f"registry://{dst.addr}", "--plain-http",
                        "-q"], check=True)
        R.setdefault("load_compact_delta", []).append(
            timed([BUNDLE, "load", files["compact_delta"], "--key", k + ".pub", "--to", f"registry://{dst.addr}",
                   "--plain-http", "-q"]))
        dst.stop()
        shutil.rmtree(os.path.join(out, "dst"))
        print(f"[{size}] releases run {i + 1}: sizes {sizes}; load full {R['load_full'][-1][0]:.1f}s, compact "
              f"delta over r1 {R['load_compact_delta'][-1][0]:.1f}s", flush=True)
    src.stop()
    res = {"size": size, "runs": runs, "kind": "releases", "sizes": sizes, "r2_tags": len(r2)}
    for name, v in R.items():
        res[name] = timing(v)
    return res


def releases_table(results):
    lines = []
    for r in results:
        z = r["sizes"]
        lines.append(f"### Release delta, {r['size']}: {r['r2_tags']} release-2 images over release 1, "
                     f"medians of {r['runs']} runs\n")
        lines.append(f"- release delta size: compact delta {z['compact_delta'] / 1e6:.2f} MB vs layer delta "
                     f"(`--since`) {z['layer_delta'] / 1e6:.2f} MB vs full bundle {z['full'] / 1e6:.2f} MB: "
                     f"**compact delta / layer delta {z['compact_delta'] / z['layer_delta']:.3f}** (target <= 0.1); "
                     f"compact delta / full {z['compact_delta'] / z['full']:.3f}")
        lf, lc, ld = r["load_full"], r["load_full_compact"], r["load_compact_delta"]
        lines.append(f"- load into a registry: compact delta over release 1 {ld['wall']:.1f} s vs full bundle "
                     f"{lf['wall']:.1f} s: **{ld['wall'] / lf['wall']:.2f}x** (target <= 2x); vs full --compact bundle "
                     f"{lc['wall']:.1f} s: {ld['wall'] / lc['wall']:.2f}x\n")
        lines.append("| step | wall s | CPU s | peak RSS MB |")
        lines.append("|---|---|---|---|")
        for name in ("create_full", "create_full_compact", "create_layer_delta", "create_compact_delta", "load_full",
                     "load_full_compact", "load_compact_delta"):
            m = r[name]
            lines.append(f"| {name.replace('_', ' ')} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['rss_mb']:.0f} |")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


def producer_shares(layout, compact):
    """Per producer: layers and bytes in the set, and the bytes the compact bundle rebuilds."""
    made_by = json.load(open(os.path.join(layout, "producers.json")))
    blobs = {b["digest"]: b for b in bundle_json(compact)["blobs"]}
    out = {}
    for digest, producer in made_by.items():
        b = blobs.get(digest)
        if b is None:
            continue
        p = out.setdefault(producer, {"layers": 0, "bytes": 0, "rebuilt_layers": 0, "rebuilt_bytes": 0,
                                      "raw_bytes": 0})
        p["layers"] += 1
        p["bytes"] += b["size"]
        if b.get("encoding") == "gzip-rebuild":
            p["rebuilt_layers"] += 1
            p["rebuilt_bytes"] += b["size"]
            p["raw_bytes"] += b["rebuild"]["rawSize"]
    return out


def cpu_seconds(pid):
    """User + system CPU seconds a running process has used, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Each producer of the bench's layers as bench/gen.py runs it, held to one core's worth of threads
# (pgzip with GOMAXPROCS, pigz with -p 1), compressing stdin to stdout.
PRODUCERS = {"go1.26-6": [os.path.join(WORK, "bin", "gogzip-1.26"), "6"],
             "go1.26-1": [os.path.join(WORK, "bin", "gogzip-1.26"), "1"],
             "go1.27-6": [os.path.join(WORK, "bin", "gogzip-1.27"), "6"],
             "pgzip": ["GOMAXPROCS=1", os.path.join(WORK, "bin", "pgzip")],
             "pigz-6": ["pigz", "-p", "1", "-6", "-n", "-c"],
             "gnu-gzip-6": ["gzip", "-6", "-n", "-c"],
             # As bench/gen.py made the layers: Python's gzip module, 1 MiB at a time.
             "python-zlib-6": ["python3", "-c", shlex.quote(
                 "import gzip, shutil, sys\n"
                 "g = gzip.GzipFile(fileobj=sys.stdout.buffer, mode='wb', compresslevel=6, mtime=0)\n"
                 "shutil.copyfileobj(sys.stdin.buffer, g, 1 << 20)\ng.close()")]}
ENCODE_CPU = os.path.join(ROOT, "target", "release", "examples", "encode_cpu")
ENCODER_PAIRS = 3


def gunzip(gz, tar):
    """The tar inside the layer `gz`, written to `tar` (untimed preparation)."""
    with open(gz, "rb") as f, open(tar, "wb") as t:
        subprocess.run(["gzip", "-dc"], stdin=f, stdout=t, check=True)


def producers_floor(layout, compact, out):
    """The load's floor, run rather than computed: every tar the compact bundle rebuilds
    (inflated into `out` once, untimed), compressed by the producer that made its layer, as
    many at a time as there are cores, largest first. Returns the measure for a round: (wall,
    CPU of the producers, 0, ""), timed in the same minutes as the loads it is paired with,
    since this machine's speed drifts within the hour."""
    made_by = json.load(open(os.path.join(layout, "producers.json")))
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(out, exist_ok=True)
    jobs = []
    for b in bundle_json(compact)["blobs"]:
        if b.get("encoding") != "gzip-rebuild":
            continue
        tar = os.path.join(out, b["digest"][7:] + ".tar")
        gunzip(os.path.join(blobs, b["digest"][7:]), tar)
        jobs.append((b["rebuild"]["rawSize"], f"{' '.join(PRODUCERS[made_by[b['digest']]])} < {tar} > /dev/null"))
    jobs.sort(reverse=True)

    def measure():
        os.sync()
        cpu0, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(lambda job: subprocess.run(sh(job[1]), check=True), jobs))
        cpu1, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
        return wall, cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 0.0, ""
    return measure


def encoder_speed(layout, out, pairs=ENCODER_PAIRS):
    """Our encoder against each producer on the largest layer it made in the set, both held to
    core 0 (`taskset -c 0`), in `pairs` pairs in alternating order: MB of tar per CPU second.
    Ours is gzip-exact's encode_cpu example, the rebuild `load` makes (in pieces from the proof's
    restart points) with its process's every thread counted, the tar in memory; the producer's is
    its process compressing the tar from a file to /dev/null. Needs no bundle: the same figures
    for `--only encoders`."""
    made_by = json.load(open(os.path.join(layout, "producers.json")))
    blobs = os.path.join(layout, "blobs", "sha256")
    res = {}
    for producer, cmd in PRODUCERS.items():
        mine = [d for d, p in made_by.items() if p == producer and os.path.exists(os.path.join(blobs, d[7:]))]
        if not mine:
            continue
        gz = os.path.join(blobs, max(mine, key=lambda d: os.path.getsize(os.path.join(blobs, d[7:])))[7:])
        raw = os.path.join(out, "layer.tar")
        gunzip(gz, raw)
        mb = os.path.getsize(raw) / 1e6

        def theirs():
            return mb / timed(ONE_CORE + sh(f"{' '.join(cmd)} < {raw} > /dev/null"))[1]

        def ours():
            line = subprocess.run(ONE_CORE + [ENCODE_CPU, gz], capture_output=True, text=True, check=True).stdout
            j = json.loads(line)
            res.setdefault(producer, {})["pieces"] = j["pieces"]
            return mb / j["process_cpu_s"]

        got = {"ours": [], "theirs": []}
        for i in range(pairs):
            for name, f in (("ours", ours), ("theirs", theirs))[::1 if i % 2 == 0 else -1]:
                got[name].append(f())
        ratios = [a / b for a, b in zip(got["ours"], got["theirs"])]
        res[producer].update({"raw_mb": mb, "bundle_cpu_mb_s": median(got["ours"]),
                              "producer_cpu_mb_s": median(got["theirs"]), "ratios": ratios})
        print(f"  {producer}: {mb:.0f} MB of tar, ours / producer's MB per CPU s: "
              + ", ".join(f"{r:.2f}" for r in ratios), flush=True)
        os.remove(raw)
    return res


def bench_encoders(size, pairs):
    """`--only encoders`: encoder_speed on the set's layout, no registry and no bundle."""
    layout = os.path.join(WORK, size, "layout")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), size, layout], check=True)
    out = os.path.join(WORK, size, "encoders")
    os.makedirs(out, exist_ok=True)
    print(f"[{size}] encoders against producers, {pairs} pairs each", flush=True)
    return {"size": size, "pairs": pairs, "encoders": encoder_speed(layout, out, pairs)}


def encoders_table(results):
    return "".join(f"### encoders, {r['size']}\n\nEach producer's largest layer in the set; {r['pairs']} pairs, "
                   f"alternating which runs first.\n\n" + "\n".join(encoder_table(r["encoders"])) + "\n\n"
                   for r in results)


def encoder_table(speeds):
    lines = ["| encoder against producer, both on core 0 | MB of tar | pieces | MB per CPU s, ours | producer's | "
             "ours / producer's, median of pairs | min–max |", "|---|---|---|---|---|---|---|"]
    for p, s in speeds.items():
        rs = s["ratios"]
        lines.append(f"| {p} | {s['raw_mb']:.0f} | {s['pieces']} | {s['bundle_cpu_mb_s']:.1f} | "
                     f"{s['producer_cpu_mb_s']:.1f} | **{median(rs):.2f}** | {min(rs):.2f}–{max(rs):.2f} |")
    return lines


def rebuild_speed(layout, compact, key, out):
    """The largest rebuilt layer of each producer, served by `bundle serve` (which rebuilds it
    as it streams it, on every core) and fetched with curl, against the producer itself
    compressing the same tar on one core: MB of tar per second of wall time. What the encoders
    cost per core is encoder_speed's, measured without the serving around them. Returns them
    and serve's peak RSS MB."""
    made_by = json.load(open(os.path.join(layout, "producers.json")))
    # Deltas (a release against the other in the same bundle) are left out: their rebuild also
    # decodes against the reference, which is not the encoder's speed.
    blobs = [b for b in bundle_json(compact)["blobs"]
             if b.get("encoding") == "gzip-rebuild" and "reference" not in b["rebuild"]]
    port = free_port()
    proc = subprocess.Popen([BUNDLE, "serve", compact, "--key", key + ".pub", "--listen", f"127.0.0.1:{port}",
                             "-q"])
    time.sleep(1)
    tags = open(os.path.join(layout, "tags.txt")).read().split()
    repo_of = {d: repo for repo, d, _ in blobs_by_repo(layout, tags)}
    res = {}
    try:
        for producer, cmd in PRODUCERS.items():
            mine = [b for b in blobs if made_by.get(b["digest"]) == producer]
            if not mine:
                continue
            b = max(mine, key=lambda b: b["rebuild"]["rawSize"])
            raw = os.path.join(out, "layer.tar")
            gunzip(os.path.join(layout, "blobs", "sha256", b["digest"][7:]), raw)
            url = f"http://127.0.0.1:{port}/v2/{repo_of[b['digest']]}/blobs/{b['digest']}"
            served = timed(sh(f"curl -sf {url} | sha256sum"))
            own = timed(ONE_CORE + sh(f"{' '.join(cmd)} < {raw} > /dev/null"))
            mb = b["rebuild"]["rawSize"] / 1e6
            res[producer] = {"raw_mb": mb, "bundle_mb_s": mb / served[0], "producer_mb_s": mb / own[0],
                             # pgzip's 2 MiB pieces need no restart points.
                             "pieces": (len(b["rebuild"].get("restarts", [])) + 1 if producer != "pgzip"
                                        else -(-b["rebuild"]["rawSize"] // (2 << 20)))}
            os.remove(raw)
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    return res, peak


def peak_rss_mb(pid):
    """The peak RSS of a running process, from /proc (what /usr/bin/time reports when it ends)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def num(x, fmt="{:.1f}"):
    return "n/a" if x is None else fmt.format(x)


def producers_cpu(r):
    """CPU seconds the producers themselves need to compress every tar the compact bundle
    rebuilds, at the speeds encoder_speed measured; None if a producer was not measured."""
    speeds, made = r["encoders"], {p: v for p, v in r["producers"].items() if v["raw_bytes"]}
    if not all(p in speeds for p in made):
        return None
    return sum(v["raw_bytes"] / 1e6 / speeds[p]["producer_cpu_mb_s"] for p, v in made.items())


def compact_sizes(r):
    z = r["sizes"]
    lines = [f"- compact bundle {z['create_compact'] / 1e6:.1f} MB; bundle without --compact "
             f"{z['create'] / 1e6:.1f} MB; skopeo pipeline output {z['pipeline'] / 1e6:.1f} MB. "
             f"**compact / skopeo pipeline {z['create_compact'] / z['pipeline']:.3f}**; compact / plain "
             f"{z['create_compact'] / z['create']:.3f}", "",
             "| producer | layers | MB | layers rebuilt | share of bytes rebuilt exactly | MB of tar |",
             "|---|---|---|---|---|---|"]
    for p, v in sorted(r["producers"].items()):
        lines.append(f"| {p} | {v['layers']} | {v['bytes'] / 1e6:.1f} | {v['rebuilt_layers']} | "
                     f"{v['rebuilt_bytes'] / max(v['bytes'], 1):.0%} | {v['raw_bytes'] / 1e6:.1f} |")
    return lines


def compact_times(r):
    lines = ["| what | runs | wall s | CPU s | peak RSS MB |", "|---|---|---|---|---|"]
    for name, what in (("create", "create"), ("create_compact", "create --compact"),
                       ("skopeo_pipeline", "skopeo pipeline"), ("load", "load into registry"),
                       ("load_compact", "load --compact bundle"), ("verify_compact", "verify --compact bundle"),
                       ("floor", "the producers compressing every rebuilt tar, a job per core")):
        if name not in r:
            continue
        m = r[name]
        lines.append(f"| {what} | {r['counts'][name]} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['rss_mb']:.0f} |")
    lines += ["", "| wall ratio of neighbours in one round (order reversed every other round) | pairs | median | "
              "min–max |", "|---|---|---|---|"]
    for pair, ratios in r["pairs"].items():
        a, b = (n.replace("_", " ").replace(" compact", " --compact") for n in pair.split("/"))
        lines.append(f"| {a} / {b} | {len(ratios)} | **{median(ratios):.2f}** | "
                     f"{min(ratios):.2f}–{max(ratios):.2f} |")
    return lines


def compact_cores(r):
    cores = os.cpu_count()
    lines = [f"| `taskset -c 0` against all {cores} cores (bundle and the registry it talks to) | wall s, 1 core | "
             f"CPU s, 1 core | wall s, {cores} cores | CPU s, {cores} cores | wall 1 core / {cores} cores |",
             "|---|---|---|---|---|---|"]
    for name, what in (("create", "create"), ("create_compact", "create --compact"), ("load", "load"),
                       ("load_compact", "load --compact")):
        one, all_ = r[name + "_1core"], r[name]
        lines.append(f"| {what} | {one['wall']:.1f} | {one['cpu']:.1f} | {all_['wall']:.1f} | {all_['cpu']:.1f} | "
                     f"**{one['wall'] / all_['wall']:.2f}** |")
    return lines


def compact_stages(r):
    """CPU seconds per stage (`--json`'s cpuSeconds) of create and load --compact, and "other":
    the process's CPU (/usr/bin/time) the stages leave unaccounted."""
    cores = os.cpu_count()
    lines = []
    for what, name, keys in (("create --compact", "create_compact", CREATE_STAGES),
                             ("load --compact", "load_compact", LOAD_STAGES)):
        names = (name, name + "_1core")
        st = [r["stages"][n] for n in names]
        extra = sorted(set().union(*(s for s in st if s)) - set(keys))
        lines += [f"| {what}: CPU s per stage | {cores} cores | 1 core |", "|---|---|---|"]
        for k in list(keys) + extra:
            lines.append(f"| {k} | " + " | ".join(num(s.get(k) if s else None) for s in st) + " |")
        lines.append("| other (total minus the stages) | " + " | ".join(
            num(r[n]["cpu"] - sum(s.values()) if s else None) for n, s in zip(names, st)) + " |")
        lines.append("| total (/usr/bin/time) | " + " | ".join(f"{r[n]['cpu']:.1f}" for n in names) + " |")
        lines.append("")
    return lines[:-1]


def compact_rebuild(r):
    lines = ["| rebuild, served by `bundle serve` | MB of tar | pieces | served MB/s (wall) | producer MB/s "
             "(wall, one core) | wall ratio |", "|---|---|---|---|---|---|"]
    for p, s in r["rebuild_speed"].items():
        lines.append(f"| {p} | {s['raw_mb']:.0f} | {s.get('pieces', 1)} | {s['bundle_mb_s']:.1f} | "
                     f"{s['producer_mb_s']:.1f} | **{s['bundle_mb_s'] / s['producer_mb_s']:.2f}** |")
    lines += [""] + encoder_table(r["encoders"])
    cpu, cores, l, lc = producers_cpu(r), os.cpu_count(), r["load"], r["load_compact"]
    if cpu is not None:
        lines.append("")
        # A floor for a load that rebuilds at producer speed with every core busy.
        lines.append(f"- the producers themselves would need {cpu:.0f} CPU s to compress these tars: "
                     f"{cpu / cores:.0f} s on {cores} cores, **{cpu / cores / l['wall']:.1f}x** the plain load "
                     f"(load --compact: {lc['wall'] / l['wall']:.1f}x)")
    return lines


def spread(ratios):
    """How a target's ratio was taken from the pairs: "median of 2 pairs, 1.74–2.10"."""
    return f"median of {len(ratios)} pair{'s' * (len(ratios) != 1)}, {min(ratios):.2f}–{max(ratios):.2f}"


def compact_targets(r):
    """Issue #33's targets, each a ratio measured in this run, with what it is made of and whether
    it is met."""
    cc, lc, cores = r["create_compact"], r["load_compact"], os.cpu_count()
    floor, st = producers_cpu(r), r["stages"]["create_compact"] or {}
    rows = []
    if floor is not None and "inflate" in st and "zstd" in st:
        base = floor + st["inflate"] + st["zstd"]
        rows.append(("create --compact CPU / (the producers' CPU for the rebuilt tars + inflate + zstd)",
                     cc["cpu"] / base, f"{cc['cpu']:.1f} / ({floor:.1f} + {st['inflate']:.1f} + {st['zstd']:.1f}) s",
                     "<=", 1.15, "{:.3f}"))
    else:
        rows.append(("create --compact CPU / (the producers' CPU for the rebuilt tars + inflate + zstd)", None,
                     "no cpuSeconds in create --json" if floor is not None else "a producer not measured", "<=", 1.15,
                     "{:.3f}"))
    ratios = r["pairs"]["create_compact/create"]
    rows.append(("create --compact wall / create wall", median(ratios),
                 spread(ratios),
                 "<=", 10, "{:.2f}"))
    rows.append((f"load --compact wall / the producers' floor on {cores} cores, from their speeds",
                 None if floor is None else lc["wall"] / (floor / cores),
                 "" if floor is None else f"{lc['wall']:.1f} / {floor / cores:.1f} s", "<=", 1.15, "{:.3f}"))
    ratios = r["pairs"].get("load_compact/floor")
    if ratios:
        rows.append((f"load --compact wall / the producers run on {cores} cores beside it", median(ratios),
                     spread(ratios),
                     "<=", 1.15, "{:.3f}"))
    for name, what in (("create_compact", "create --compact"), ("load_compact", "load --compact")):
        ratios = r["pairs"].get(f"{name}_1core/{name}")
        if ratios:
            rows.append((f"{what}: {cores} cores against 1 beside it, speed-up", median(ratios), spread(ratios),
                         ">=", 1.8, "{:.2f}"))
            continue
        # Results from before the one-core runs were paired.
        one, all_ = r[name + "_1core"]["wall"], r[name]["wall"]
        rows.append((f"{what}: {cores} cores against 1, speed-up", one / all_, f"{one:.1f} / {all_:.1f} s", ">=", 1.8,
                     "{:.2f}"))
    z = r["sizes"]
    rows.append(("compact bundle / skopeo pipeline output", z["create_compact"] / z["pipeline"],
                 f"{z['create_compact'] / 1e6:.0f} / {z['pipeline'] / 1e6:.0f} MB", "<=", 0.62, "{:.3f}"))
    peaks = {what: r[n]["rss_mb"] for n, what in (
        ("create_compact", "create --compact"), ("create_compact_1core", "create --compact on 1 core"),
        ("load_compact", "load --compact"), ("load_compact_1core", "load --compact on 1 core"),
        ("verify_compact", "verify"))}
    peaks["serve"] = r["serve_rss_mb"]
    worst = max(peaks, key=peaks.get)
    rows.append(("peak RSS of every compact command (create, load on 1 and all cores, verify, serve), MB",
                 peaks[worst], f"largest: {worst}", "<=", 300, "{:.0f}"))
    lines = ["| issue #33 target | measured | from | target | met |", "|---|---|---|---|---|"]
    for what, value, how, op, target, fmt in rows:
        met = "n/a" if value is None else "yes" if (value <= target if op == "<=" else value >= target) else "no"
        lines.append(f"| {what} | **{num(value, fmt)}** | {how} | {op.replace('<=', '≤').replace('>=', '≥')} "
                     f"{target} | {met} |")
    return lines


def compact_table(results):
    lines = []
    for r in results:
        lines.append(f"### --compact, {r['size']}\n")
        lines.append(f"The source registry was warmed by an untimed pull of every blob first. {r['runs']} rounds of "
                     f"create and the skopeo pipeline, {r['slow_runs']} of them with create --compact on all cores and on "
                     f"1 core, then {r['slow_runs']} rounds of load, load --compact on all cores and on 1 core and the "
                     f"producers' floor (at most {SLOW_PAIRS}: they take minutes), each round in the reverse order of "
                     f"the one before (ABBA); then create and load once each on 1 core, and verify once. Wall and CPU "
                     f"are medians of the runs.\n")
        for part in (compact_sizes, compact_times, compact_cores, compact_stages, compact_rebuild, compact_targets):
            lines += part(r)
            lines.append("")
        c, cc, l, lc, z = r["create"], r["create_compact"], r["load"], r["load_compact"], r["sizes"]
        extra = (cc["wall"] + lc["wall"]) - (c["wall"] + l["wall"])
        saved = z["create"] - z["create_compact"]
        if extra > 0:
            lines.append(f"- break-even carrier speed: {saved / 1e6 / extra:.1f} MB/s ({saved / 1e6:.0f} MB saved "
                         f"for {extra:.0f} s more of create + load): below it, --compact wins end to end")
        lines.append("")
    return "\n".join(lines)


def table(results):
    lines = []
    for r in results:
        mb = r["distinct_bytes"] / 1e6
        lines.append(f"### {r['size']}: {r['tags']} tags, {r['blobs']} distinct blobs, {mb:.0f} MB distinct, "
                     f"medians of {r['runs']} runs\n")
        lines.append("| what | bundle wall s | bundle CPU s | bundle peak RSS MB | peer | peer wall s | peer CPU s | "
                     "peer peak RSS MB | bundle / peer |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        pairs = [("create", "create", "skopeo_pipeline", "skopeo copy --all + tar + zstd -T0 -3"),
                 ("create", "create", "limit", "limit: parallel curl + sha256sum + write"),
                 ("load into registry", "load_registry", "skopeo_load_registry", "skopeo copy oci: -> docker://"),
                 ("load into oci:", "load_oci", "skopeo_load_oci", "skopeo copy oci: -> oci:"),
                 ("load into docker-archive:", "load_archive", "skopeo_load_archive",
                  "skopeo copy oci: -> docker-archive: (one file per image)"),
                 ("verify", "verify", "sha256sum", "sha256sum of the bundle")]
        for what, ours, peer, label in pairs:
            a, b = r[ours], r[peer]
            lines.append(f"| {what} | {a['wall']:.2f} | {a['cpu']:.2f} | {a['rss_mb']:.0f} | {label} | "
                         f"{b['wall']:.2f} | {b['cpu']:.2f} | {b['rss_mb']:.0f} | {a['wall'] / b['wall']:.2f} |")
        lines.append("")
        lines.append(f"- bundle size {r['bundle_size'] / 1e6:.1f} MB; skopeo pipeline output "
                     f"{r['pipeline_size'] / 1e6:.1f} MB (ratio {r['bundle_size'] / r['pipeline_size']:.3f}); "
                     f"distinct blobs {mb:.1f} MB")
        lines.append(f"- create throughput {mb / r['create']['wall']:.0f} MB/s; "
                     f"verify {r['bundle_file_bytes'] / 1e6 / r['verify']['wall']:.0f} MB/s "
                     f"(sha256sum {r['bundle_file_bytes'] / 1e6 / r['sha256sum']['wall']:.0f} MB/s, "
                     f"per CPU second: verify {r['bundle_file_bytes'] / 1e6 / r['verify']['cpu']:.0f}, "
                     f"sha256sum {r['bundle_file_bytes'] / 1e6 / r['sha256sum']['cpu']:.0f} MB)")
        lines.append(f"- inspect: {r['inspect_ms']:.1f} ms (median of 10, wall, including process start)")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["serve", "compact", "encoders", "releases"], help="measure only this part")
    ap.add_argument("sizes", nargs="+", choices=["small", "medium", "large"])
    a = ap.parse_args()
    for path in (BUNDLE, ENCODE_CPU):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: `make bench` builds it")
    results = [] if a.only else [bench_size(s, a.runs) for s in a.sizes]
    served = [bench_serve(s, a.runs) for s in a.sizes] if a.only in (None, "serve") else []
    compacted = [bench_compact(s, a.runs) for s in a.sizes] if a.only in (None, "compact") else []
    releases = [bench_releases(s, a.runs) for s in a.sizes] if a.only in (None, "releases") else []
    encoders = [bench_encoders(s, a.runs) for s in a.sizes] if a.only == "encoders" else []
    host = socket.gethostname()
    head = (f"# bundle benchmark, {datetime.date.today()}\n\nMachine: {host}, {os.cpu_count()} cores, "
            f"{platform.platform()}; bundle {subprocess.run([BUNDLE, '--version'], capture_output=True, text=True).stdout.strip()}, "
            f"{subprocess.run(['skopeo', '--version'], capture_output=True, text=True).stdout.strip()}.\n"
            f"Command: `bench/run.py --runs {a.runs} {'--only ' + a.only + ' ' if a.only else ''}{' '.join(a.sizes)}`. Wall and CPU are medians; RSS is the "
            f"maximum over runs. Ratios are bundle / peer (below 1 is faster).\n\n")
    text = (head + table(results) + serve_table(served) + compact_table(compacted) + releases_table(releases)
            + encoders_table(encoders))
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    suffix = "-" + a.only if a.only else ""
    path = os.path.join(HERE, "results", f"{datetime.date.today()}-{host}{suffix}.md")
    with open(path, "w") as f:
        f.write(text)
    with open(path.replace(".md", ".json"), "w") as f:
        json.dump(results + served + compacted + releases + encoders, f, indent=1)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
