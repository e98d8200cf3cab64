#!/usr/bin/env python3
"""create and load --compact on all cores against the same under `taskset -c 0`, in N pairs in
alternating order, on the medium set (the source registry run.py made, a fresh image list and
key). For a rerun of that target alone; run.py's compact part pairs them the same way.
    python3 bench/scaling-pairs.py N"""
import sys, os, shutil, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
base, layout, tags, src = run.prepare('medium', 1)
out = os.path.join(base, 'scaling')
try:
    shutil.rmtree(out, ignore_errors=True)
    images, key = run.image_list_and_key(out, src, tags)
    run.warm(src, layout, tags)
    compact = os.path.join(out, 'compact.bundle')
    def create(pin=()):
        return run.create_into(out, images, key, compact, ['--compact'], pin)
    def load(pin=()):
        return run.load_into_fresh_registry(out, compact, key, pin)
    R = {}
    rounds = int(sys.argv[1])
    for i in range(rounds):
        print(run.abba(i, [('create_compact', create), ('create_compact_1core', lambda: create(run.ONE_CORE))], R),
              flush=True)
    for i in range(rounds):
        print(run.abba(i, [('load_compact', load), ('load_compact_1core', lambda: load(run.ONE_CORE))], R),
              flush=True)
finally:
    src.stop()
for k, v in R.items():
    print(k, [(round(m[0], 1), round(m[1], 1), round(m[2])) for m in v])
for name in ('create_compact', 'load_compact'):
    print(name, 'speed-ups', [round(a[0] / b[0], 3) for a, b in zip(R[name + '_1core'], R[name])])
    print(name, 'stages', [json.loads(m[3]).get('cpuSeconds') for m in R[name] + R[name + '_1core']])
shutil.rmtree(out)
