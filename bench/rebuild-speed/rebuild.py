#!/usr/bin/env python3
"""Rebuild speed per producer, BEFORE vs AFTER, as run.py's rebuild_speed measures it: the largest
rebuilt (non-delta) layer of each producer, served by `bundle serve` and fetched with curl | sha256sum
under /usr/bin/time -v (wall), the server's CPU seconds from /proc. A fresh serve per fetch (serve keeps
finished spools, so a second fetch from the same server would not rebuild). Binaries alternate:
run i of each producer does before,after when i is even and after,before when odd."""
import json, os, socket, subprocess, sys, time
sys.path.insert(0, "/work/main/bench")
import run
S = "/tmp/speed"
BINS = {"before": "/tmp/bundle-before", "after": "/tmp/bundle-after"}
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
OFFSET = int(os.environ.get("OFFSET", "0"))
st = json.load(open(f"{S}/state.json"))
layout, compact, key = f"{S}/layout", st["compact"], st["key"]
made_by = json.load(open(f"{layout}/producers.json"))
blobs = [b for b in run.bundle_json(compact)["blobs"]
         if b.get("encoding") == "gzip-rebuild" and "reference" not in b["rebuild"]]
tags = open(f"{layout}/tags.txt").read().split()
repo_of = {d: repo for repo, d, _ in run.blobs_by_repo(layout, tags)}
order = ["go1.26-6", "go1.26-1", "go1.27-6", "pgzip", "pigz-6", "gnu-gzip-6", "python-zlib-6"]
if len(sys.argv) > 2: order = sys.argv[2].split(",")
env = dict(os.environ, TMPDIR=f"{S}/tmp")

def serve(binary):
    port = run.free_port()
    p = subprocess.Popen([binary, "serve", compact, "--key", key + ".pub", "--listen", f"127.0.0.1:{port}", "-q"],
                         env=env)
    for _ in range(2000):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05) as c:
                c.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if c.recv(12).startswith(b"HTTP/1.1 200"):
                    return p, port
        except OSError:
            pass
        if p.poll() is not None:
            raise RuntimeError("serve exited")
        time.sleep(0.005)
    raise RuntimeError("serve did not start")

rows = []
out = open(f"{S}/rebuild_runs.jsonl", "a")
for producer in order:
    mine = [b for b in blobs if made_by.get(b["digest"]) == producer]
    if not mine:
        print(f"{producer}: no rebuilt layer", flush=True)
        continue
    b = max(mine, key=lambda b: b["rebuild"]["rawSize"])
    mb = b["rebuild"]["rawSize"] / 1e6
    url = f"http://127.0.0.1:{{port}}/v2/{repo_of[b['digest']]}/blobs/{b['digest']}"
    for i in range(OFFSET, OFFSET + RUNS):
        for which in (("before", "after") if i % 2 == 0 else ("after", "before")):
            p, port = serve(BINS[which])
            try:
                time.sleep(0.2)
                c0 = run.cpu_seconds(p.pid)
                sumf = f"{S}/tmp/sum.txt"
                wall, curl_cpu, _ = run.timed(run.sh(f"curl -sf {url.format(port=port)} | sha256sum > {sumf}"))
                c1 = run.cpu_seconds(p.pid)
                time.sleep(0.3)
                c2 = run.cpu_seconds(p.pid)
                ok = open(sumf).read().split()[0] == b["digest"][7:]
            finally:
                p.terminate(); p.wait()
            r = {"producer": producer, "bin": which, "run": i, "raw_mb": mb, "gz_mb": b["size"] / 1e6,
                 "pieces": (len(b["rebuild"].get("restarts", [])) + 1 if producer != "pgzip"
                            else -(-b["rebuild"]["rawSize"] // (2 << 20))),
                 "wall": wall, "serve_cpu": c1 - c0, "serve_cpu_late": c2 - c0, "digest_ok": ok,
                 "load1": os.getloadavg()[0]}
            out.write(json.dumps(r) + "\n"); out.flush()
            print(f"{producer:14s} {which:6s} run {i}: {mb:.1f} MB tar, wall {wall:.2f} s, serve CPU {c1 - c0:.2f} s "
                  f"({mb / (c1 - c0):.1f} MB/CPU s), digest ok {ok}, load {r['load1']:.1f}", flush=True)
