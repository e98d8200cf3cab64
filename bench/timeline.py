#!/usr/bin/env python3
"""One `create --compact` of the medium set (the source registry run.py made, warmed first), each
line it logs timed from the start, and its peak RSS in each 10 s (sampled every 0.5 s): where
the wall time goes between the stages. Arguments go before the command (`taskset -c 0`).
    python3 bench/timeline.py [taskset -c 0]"""
import sys, os, subprocess, time, shutil, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
base, layout, tags, src = run.prepare('medium', 1)
out = os.path.join(base, 'timeline')
shutil.rmtree(out, ignore_errors=True)
try:
    images, key = run.image_list_and_key(out, src, tags)
    run.warm(src, layout, tags)
    cache = os.path.join(out, 'cache')
    pin = sys.argv[1:]
    cmd = pin + [run.BUNDLE, 'create', images, '-o', os.path.join(out, 'c.bundle'), '--key', key + '.key', '--cache-dir', cache, '--compact']
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    samples = []
    def sample():
        while p.poll() is None:
            try:
                for l in open(f'/proc/{p.pid}/status'):
                    if l.startswith('VmRSS'):
                        r = int(l.split()[1]) // 1024
                        samples.append((time.monotonic() - t0, r))
            except Exception:
                pass
            time.sleep(0.5)
    th = threading.Thread(target=sample); th.start()
    for line in p.stderr:
        print(f'{time.monotonic()-t0:7.1f} {line.rstrip()[:200]}', flush=True)
    p.wait(); th.join()
    print('rc', p.returncode, 'wall', round(time.monotonic() - t0, 1))
    b = {}
    for t, r in samples:
        k = int(t // 10) * 10
        b[k] = max(b.get(k, 0), r)
    print('rss max per 10s:', ' '.join(f'{k}:{v}' for k, v in sorted(b.items())))
finally:
    src.stop()
    shutil.rmtree(out, ignore_errors=True)
