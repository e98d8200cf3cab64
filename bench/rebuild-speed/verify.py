#!/usr/bin/env python3
"""bundle verify of the compact bundle, BEFORE and AFTER alternating, /usr/bin/time -v (run.timed)."""
import json, os, sys
sys.path.insert(0, "/work/main/bench")
import run
S = "/tmp/speed"
BINS = {"before": "/tmp/bundle-before", "after": "/tmp/bundle-after"}
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
st = json.load(open(f"{S}/state.json"))
out = open(f"{S}/verify_runs.jsonl", "a")
os.environ["TMPDIR"] = f"{S}/tmp"
for i in range(RUNS):
    for which in (("before", "after") if i % 2 == 0 else ("after", "before")):
        wall, cpu, rss = run.timed([BINS[which], "verify", st["compact"], "--key", st["key"] + ".pub"])
        r = {"bin": which, "run": i, "wall": wall, "cpu": cpu, "rss_mb": rss, "load1": os.getloadavg()[0]}
        out.write(json.dumps(r) + "\n"); out.flush()
        print(f"verify {which:6s} run {i}: wall {wall:.2f} s, cpu {cpu:.2f} s, rss {rss:.0f} MB, load {r['load1']:.1f}",
              flush=True)
