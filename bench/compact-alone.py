#!/usr/bin/env python3
"""The 2-core commands of the --compact bench once each, nothing else timed: for a rerun
alone on the machine when the bench shared it. Prints wall, CPU, peak RSS and cpuSeconds.
    python3 bench/compact-alone.py medium"""
import sys, os, json, subprocess, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
size = sys.argv[1]
base, layout, tags, src = run.prepare(size, 1)
out = os.path.join(run.WORK, size, 'alone')
shutil.rmtree(out, ignore_errors=True)
images, key = run.image_list_and_key(out, src, tags)
res = {}
def go(name, cmd):
    os.sync()
    r = subprocess.run(['/usr/bin/time', '-f', '%e %U %S %M'] + cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    t = r.stderr.strip().splitlines()[-1].split()
    j = json.loads(r.stdout)
    res[name] = {'wall': float(t[0]), 'cpu': float(t[1]) + float(t[2]), 'rss_mb': int(t[3]) // 1024, 'stages': j.get('cpuSeconds')}
    print(name, json.dumps(res[name]), flush=True)
B = run.BUNDLE
go('create', [B, 'create', images, '-o', out + '/plain.bundle', '--key', key + '.key', '--cache-dir', out + '/c0', '-q', '--json'])
go('create_compact', [B, 'create', images, '-o', out + '/compact.bundle', '--key', key + '.key', '--cache-dir', out + '/c1', '-q', '--json', '--compact'])
for name, f in (('load', 'plain'), ('load_compact', 'compact')):
    dst = run.Registry(out + '/dst')
    go(name, [B, 'load', f'{out}/{f}.bundle', '--key', key + '.pub', '--to', f'registry://{dst.addr}', '--plain-http', '-q', '--json'])
    dst.stop(); shutil.rmtree(out + '/dst')
print('sizes', os.path.getsize(out + '/plain.bundle'), os.path.getsize(out + '/compact.bundle'))
src.stop()
json.dump(res, open(out + '/rerun.json', 'w'), indent=1)
