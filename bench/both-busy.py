#!/usr/bin/env python3
"""What the second core being busy costs `create --compact` itself, apart from any parallel
code in it: one create on core 0 alone, two at once (one on each core, each its own cache and
output) and one on both cores, in N rounds in alternating order. If the two at once take more
CPU each than the one alone, a create on both cores pays that too, however well it shares the
work; the last shows what it pays (left out with `--no-both`, when pairs measured it already).
    python3 bench/both-busy.py SIZE N [--no-both]"""
import sys, os, shutil, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
size, rounds = sys.argv[1], int(sys.argv[2])
with_both = '--no-both' not in sys.argv[3:]
base, layout, tags, src = run.prepare(size, 1)
out = os.path.join(base, 'both-busy')
try:
    shutil.rmtree(out, ignore_errors=True)
    images, key = run.image_list_and_key(out, src, tags)
    run.warm(src, layout, tags)

    def create(name, pin=()):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        return run.create_into(d, images, key, os.path.join(d, 'c.bundle'), ['--compact'], pin)

    def on(core):
        return create(f'core{core}', ['taskset', '-c', str(core)])

    def alone():
        return on(0)

    def both():
        return create('both')

    def together():
        got = {}
        ts = [threading.Thread(target=lambda c=c: got.__setitem__(c, on(c))) for c in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(got) == 2, 'a create failed'
        return max(got[0][0], got[1][0]), (got[0][1] + got[1][1]) / 2, got[0][1], got[1][1]

    R = {}
    steps = [('alone', alone), ('together', together)] + ([('both', both)] if with_both else [])
    for i in range(rounds):
        print(run.abba(i, steps, R), flush=True)
finally:
    src.stop()
    shutil.rmtree(out, ignore_errors=True)
print('| round | CPU s, core 0 alone | CPU s, core 0 together | CPU s, core 1 together | together / alone | CPU s, on both cores | both / alone | wall s, alone / both |')
print('|---|---|---|---|---|---|---|---|')
for i, (a, t) in enumerate(zip(R['alone'], R['together'])):
    b = R['both'][i] if with_both else None
    rest = f'{b[1]:.1f} | {b[1] / a[1]:.3f} | {a[0] / b[0]:.3f}' if b else '- | - | -'
    print(f'| {i + 1} | {a[1]:.1f} | {t[2]:.1f} | {t[3]:.1f} | {t[1] / a[1]:.3f} | {rest} |')
