import os, re, sys
def mods(src):
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(root, f); rel = os.path.relpath(p, src)
            top = rel.split('/')[0].replace('.rs', '')
            if top in ('lib', 'main'): continue
            code = open(p).read().split('#[cfg(test)]')[0]
            code = '\n'.join(l.split('//')[0] for l in code.split('\n'))
            deps = set(re.findall(r'(?<![\w:])crate::(\w+)', code))
            for g in re.findall(r'(?<![\w:])crate::\{([^}]*)\}', code):
                deps |= {x.strip().split('::')[0] for x in g.split(',') if x.strip()}
            deps.discard(top); deps.discard('self')
            out.setdefault(top, set()).update(deps)
    return out
g = mods(sys.argv[1])
for m in sorted(g):
    print(f"{m:16s} -> {' '.join(sorted(g[m])) or '-'}")
