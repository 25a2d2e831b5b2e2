"""sweep.py dtype shape base_json grid_json [top] : cartesian sweep of grid over base (invalid combos skipped),
1 round each (checked), then the top configs re-timed interleaved 3 more rounds; prints the ranking."""
import sys, json, itertools, statistics, time
from run import *
dtype, shape = sys.argv[1], sys.argv[2]
base = json.loads(sys.argv[3]); grid = json.loads(sys.argv[4]); top = int(sys.argv[5]) if len(sys.argv) > 5 else 6
path = sys.argv[6] if len(sys.argv) > 6 else None
sp = spec(dtype, path)
M, N, K = SHAPES[shape]
names = list(grid)
res = {}
for vals in itertools.product(*[grid[n] for n in names]):
    k = {**sp.setting(), **base, **dict(zip(names, vals))}
    if sp.violated({**k, 'M': M, 'N': N, 'K': K}): continue
    key = json.dumps({n: k[n] for n in sorted(k) if n in names or n in base})
    if key in res: continue
    st, g = run(dtype, shape, k, secs=0.2, check=1, path=path)
    if st != 'OK':
        print('ERROR', st, key, str(g)[:300], flush=True); continue
    res[key] = [g]
    print(f'  {g:8.1f} {key}', flush=True)
best = sorted(res, key=lambda x: -res[x][0])[:top]
for r in range(3):
    for key in best:
        k = {**sp.setting(), **json.loads(key)}
        st, g = run(dtype, shape, k, secs=0.3, check=0, path=path)
        res[key].append(g if st == 'OK' else 0)
print('--- top (median of 4) ---')
for key in sorted(best, key=lambda x: -statistics.median(res[x])):
    m = statistics.median(res[key])
    print(f'{shape:>14} {m:8.1f} x{m / VENDOR[dtype][shape]:.2f} [{" ".join(f"{x:.0f}" for x in res[key])}] {key}', flush=True)
