#!/usr/bin/env python3
"""Push /tmp/speed/layout into a docker-registry on 127.0.0.1 and make ONE --compact bundle of it
with the AFTER binary (run.py's helpers, BUNDLE overridden)."""
import json, os, subprocess, sys, time
sys.path.insert(0, "/work/main/bench")
import run
run.BUNDLE = "/tmp/bundle-after"
S = "/tmp/speed"
layout = f"{S}/layout"
tags = open(f"{layout}/tags.txt").read().split()
src = run.Registry(f"{S}/registry-src")
try:
    if len(sys.argv) > 1 and sys.argv[1] == "push":
      for t in tags:
        subprocess.run(["skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", f"oci:{layout}:{t}",
                        f"docker://{src.addr}/bench/{t}"], check=True)
      open(f"{S}/registry-src/.pushed", "w").write("ok")
      sys.exit(0)
    out = f"{S}/compact"
    os.makedirs(out, exist_ok=True)
    images, key = run.image_list_and_key(out, src, tags)
    compact = f"{out}/compact.bundle"
    m = run.timed([run.BUNDLE, "create", images, "-o", compact, "--key", key + ".key", "--cache-dir",
                   f"{S}/cache", "-q", "--compact"])
    print("create --compact (after): wall %.1f s cpu %.1f s rss %.0f MB; %d bytes" % (m + (os.path.getsize(compact),)))
    json.dump({"compact": compact, "key": key, "create": m}, open(f"{S}/state.json", "w"))
finally:
    src.stop()
