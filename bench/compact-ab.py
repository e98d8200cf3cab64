"""create --compact of the medium set once per binary, one after the other, from one warm
source registry: wall, CPU, peak RSS, `cpuSeconds` per stage and the bundle's size.
    python3 bench/compact-ab.py old new     runs /tmp/bundle-old, then /tmp/bundle-new"""
import sys, os, json, subprocess, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
base, layout, tags, src = run.prepare('medium', 1)
out = os.path.join(run.WORK, 'medium', 'ab')
shutil.rmtree(out, ignore_errors=True)
images, key = run.image_list_and_key(out, src, tags)
for name in sys.argv[1:]:
    binary = f'/tmp/bundle-{name}'
    shutil.rmtree(out + '/c', ignore_errors=True)
    os.sync()
    r = subprocess.run(['/usr/bin/time', '-f', '%e %U %S %M', binary, 'create', images, '-o', f'{out}/{name}.bundle',
                        '--key', key + '.key', '--cache-dir', out + '/c', '--json', '--compact'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    t = r.stderr.strip().splitlines()[-1].split()
    j = json.loads(r.stdout)
    lines = [l for l in r.stderr.splitlines() if 'encoded against' in l or 'packed' in l.lower()]
    print(name, json.dumps({'wall': float(t[0]), 'cpu': round(float(t[1]) + float(t[2]), 1), 'rss_mb': int(t[3]) // 1024,
                            'stages': j.get('cpuSeconds'), 'size': os.path.getsize(f'{out}/{name}.bundle')}), flush=True)
    for l in lines[-3:]:
        print('   ', l[-300:], flush=True)
src.stop()
