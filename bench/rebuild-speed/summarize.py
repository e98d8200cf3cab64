#!/usr/bin/env python3
import json, statistics as st
S = "/tmp/speed"
rows = [json.loads(l) for l in open(f"{S}/rebuild_runs.jsonl")]
order = []
for r in rows:
    if r["producer"] not in order: order.append(r["producer"])
print("| producer | MB of tar (largest rebuilt layer) | pieces | runs before/after | median serve CPU s before / after | median MB per CPU s before | after | after/before | median wall s before / after | all digests ok |")
print("|---|---|---|---|---|---|---|---|---|---|")
for p in order:
    b = [r for r in rows if r["producer"] == p and r["bin"] == "before"]
    a = [r for r in rows if r["producer"] == p and r["bin"] == "after"]
    mb = b[0]["raw_mb"]
    mb_b = st.median(mb / r["serve_cpu"] for r in b); mb_a = st.median(mb / r["serve_cpu"] for r in a)
    cb = st.median(r["serve_cpu"] for r in b); ca = st.median(r["serve_cpu"] for r in a)
    wb = st.median(r["wall"] for r in b); wa = st.median(r["wall"] for r in a)
    ok = all(r["digest_ok"] for r in a + b)
    print(f"| {p} | {mb:.1f} | {b[0]['pieces']} | {len(b)}/{len(a)} | {cb:.2f} / {ca:.2f} | {mb_b:.1f} | {mb_a:.1f} | **{mb_a / mb_b:.3f}** | {wb:.2f} / {wa:.2f} | {ok} |")
print()
v = [json.loads(l) for l in open(f"{S}/verify_runs.jsonl")]
print("| verify of compact.bundle | runs | median wall s | median user+sys CPU s | max peak RSS MB | CPU s per run |")
print("|---|---|---|---|---|---|")
res = {}
for w in ("before", "after"):
    x = [r for r in v if r["bin"] == w]
    res[w] = st.median(r["cpu"] for r in x)
    print(f"| {w} | {len(x)} | {st.median(r['wall'] for r in x):.2f} | {res[w]:.2f} | {max(r['rss_mb'] for r in x):.0f} | "
          + ", ".join(f"{r['cpu']:.2f}" for r in x) + " |")
print(f"\nverify CPU after/before: {res['after'] / res['before']:.3f}")

# Two-sided permutation test (difference of medians of CPU seconds), 20000 shuffles, seeded.
import random
def perm(a, b, n=20000):
    rng = random.Random(1)
    obs = abs(st.median(a) - st.median(b)); pool = a + b; k = 0
    for _ in range(n):
        rng.shuffle(pool)
        if abs(st.median(pool[:len(a)]) - st.median(pool[len(a):])) >= obs - 1e-12: k += 1
    return k / n
print("\npermutation p (median CPU s, before vs after):")
for p in order:
    b = [r["serve_cpu"] for r in rows if r["producer"] == p and r["bin"] == "before"]
    a = [r["serve_cpu"] for r in rows if r["producer"] == p and r["bin"] == "after"]
    print(f"  {p}: p = {perm(b, a):.3f}")
vb = [r["cpu"] for r in v if r["bin"] == "before"]; va = [r["cpu"] for r in v if r["bin"] == "after"]
print(f"  verify: p = {perm(vb, va):.3f}")
