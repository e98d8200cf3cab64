#!/usr/bin/env python3
"""create and load --compact on all cores against the same under `taskset -c 0`, in N pairs in
alternating order, on the medium set (the source registry run.py made, a fresh image list and
key). The registry each run talks to is held to the run's cores. For a rerun of that target
alone; run.py's compact part pairs them the same way.
    python3 bench/scaling-pairs.py N [create|load]   (both by default)"""
import sys, os, shutil, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run


def machine():
    """Seconds of the machine's idle, iowait and steal time (all cores) so far, from /proc/stat."""
    f = [int(x) / os.sysconf('SC_CLK_TCK') for x in open('/proc/stat').readline().split()[1:]]
    return f[3], f[4], f[7]


def counted(measure):
    """`measure`'s figures with the machine's idle, iowait and steal seconds during it last: a
    run that kept fewer cores busy than it had shows where the rest went."""
    def m(*a):
        before = machine()
        got = measure(*a)
        return got + tuple(round(y - x, 1) for x, y in zip(before, machine()))
    return m


base, layout, tags, src = run.prepare('medium', 1)
out = os.path.join(base, 'scaling')
try:
    shutil.rmtree(out, ignore_errors=True)
    images, key = run.image_list_and_key(out, src, tags)
    run.warm(src, layout, tags)
    compact = os.path.join(out, 'compact.bundle')

    @counted
    def create(pin=()):
        return run.create_into(out, images, key, compact, ['--compact'], pin, src)

    @counted
    def load(pin=()):
        return run.load_into_fresh_registry(out, compact, key, pin)

    R = {}
    rounds = int(sys.argv[1])
    which = sys.argv[2:] or ['create', 'load']
    if 'load' in which and not os.path.exists(compact):
        create()
    for i in range(rounds if 'create' in which else 0):
        print(run.abba(i, [('create_compact', create), ('create_compact_1core', lambda: create(run.ONE_CORE))], R),
              flush=True)
    for i in range(rounds if 'load' in which else 0):
        print(run.abba(i, [('load_compact', load), ('load_compact_1core', lambda: load(run.ONE_CORE))], R),
              flush=True)
finally:
    src.stop()
for k, v in R.items():
    print(k, '(wall s, CPU s, peak RSS MB, the registry\'s CPU s, the machine\'s idle, iowait and steal s)',
          [(round(m[0], 1), round(m[1], 1), round(m[2]), round(m[4], 1)) + m[5:] for m in v])
for name in [n + '_compact' for n in which]:
    print(name, 'speed-ups', [round(a[0] / b[0], 3) for a, b in zip(R[name + '_1core'], R[name])])
    print(name, 'stages', [json.loads(m[3]).get('cpuSeconds') for m in R[name] + R[name + '_1core']])
shutil.rmtree(out)
