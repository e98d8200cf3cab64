#!/usr/bin/env python3
"""Function lengths (lines from `fn` to its closing brace) in Rust files under the given dirs,
test modules excluded. Prints count, median, p90, max and how many exceed 40/60 lines."""
import os, re, sys, statistics
FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')
def funcs(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith('#[cfg(test)]'):
            break
        m = FN.match(lines[i])
        if m:
            depth, started, j = 0, False, i
            while j < len(lines):
                code = lines[j].split('//')[0]
                for ch in code:
                    if ch == '{': depth += 1; started = True
                    elif ch == '}': depth -= 1
                if started and depth <= 0: break
                if not started and code.rstrip().endswith(';'): break
                j += 1
            if started:
                out.append((j - i + 1, f"{path}:{i+1} {m.group(6)}"))
            i = j + 1 if started else i + 1
            continue
        i += 1
    return out
allf = []
for d in sys.argv[1:]:
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith('.rs'):
                allf += funcs(os.path.join(root, f))
ls = sorted(n for n, _ in allf)
print(f"functions {len(ls)}, median {statistics.median(ls)}, p90 {ls[int(len(ls)*0.9)]}, max {ls[-1]}, over 40: {sum(n>40 for n in ls)}, over 60: {sum(n>60 for n in ls)}")
for n, w in sorted(allf, reverse=True)[:8]:
    print(f"  {n:4d} {w}")
