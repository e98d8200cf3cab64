# table.py [RESULTS.jsonl]: the measured rows as a markdown table (verdict against <= 60 s and
# <= 300 MB; files written outside the targets, less create's documented temporary cache).
import json, os, re, sys
path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("W", "/tmp/attacks") + "/results.jsonl"
print("| run | command | exit | wall s | peak RSS MB | max TMPDIR bytes | written outside the target | verdict |")
print("|---|---|---|---|---|---|---|---|")
for line in open(path):
    r = json.loads(line)
    out = [w for w in r["written_outside"] if not re.search(r"/\.bundle-blobs-[^/]+(/|$)", w)]
    cache = len(out) < len(r["written_outside"])
    removed = all(not os.path.exists(w.split(" ", 1)[1]) for w in r["written_outside"] if ".bundle-blobs-" in w)
    wo = "; ".join(out) if out else "none"
    if cache:
        wo += " (create's --no-cache temp cache next to the output, " + ("removed)" if removed else "NOT removed)")
    cmd = re.sub(r"/[^ ]*/target/release/bundle", "bundle", r["command"])
    ok = r["wall_s"] <= 60 and r["peak_rss_mb"] <= 300 and not out
    print(f"| {r['label']} | `{cmd}` | {r['exit']} | {r['wall_s']:.2f} | {r['peak_rss_mb']:.1f} | "
          f"{r['max_tmpdir_bytes']:,} | {wo} | {'within' if ok else 'MISSED'} |")
