#!/usr/bin/env python3
"""load --compact against the producers' floor run beside it (run.py's producers_floor: every
rebuilt tar compressed by its producer, a job per core), in N pairs in alternating order, on
the medium bundle the last `run.py --only compact medium` left in work/medium/compact. For a
rerun of that target alone; run.py's compact part does the same in its load rounds.
    python3 bench/floor-pairs.py N"""
import sys, os, shutil, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
out = os.path.join(run.WORK, 'medium', 'compact')
layout = os.path.join(run.WORK, 'medium', 'layout')
compact, key = os.path.join(out, 'compact.bundle'), os.path.join(out, 'k')
floor = run.producers_floor(layout, compact, os.path.join(out, 'floor'))
def load():
    return run.load_into_fresh_registry(out, compact, key)
R = {}
for i in range(int(sys.argv[1])):
    print(run.abba(i, [('floor', floor), ('load_compact', load)], R), flush=True)
shutil.rmtree(os.path.join(out, 'floor'))
for k, v in R.items():
    print(k, [(round(m[0], 1), round(m[1], 1)) for m in v])
print('ratios', [round(a[0] / b[0], 3) for a, b in zip(R['load_compact'], R['floor'])])
print('stages', [json.loads(m[3]).get('cpuSeconds') for m in R['load_compact']])
