"""tune.py dtype shape [seeds_json_list] [--passes P] : coordinate-descent tuner over the template's knobs.
Each candidate: 1 timing (0.2 s, checked on first build); the incumbent is re-timed alongside to track noise.
Writes results to results/<dtype>_<shape>.json (all measurements) and prints the final top 5 (median of 3)."""
import sys, json, statistics, os, random
from run import *
dtype, shape = sys.argv[1], sys.argv[2]
seeds = json.loads(sys.argv[3]) if len(sys.argv) > 3 and not sys.argv[3].startswith('--') else [{}]
passes = 2
if '--passes' in sys.argv: passes = int(sys.argv[sys.argv.index('--passes') + 1])
order = None
if '--knobs' in sys.argv: order = sys.argv[sys.argv.index('--knobs') + 1].split(',')
sp = spec(dtype)
M, N, K = SHAPES[shape]
os.makedirs('results', exist_ok=True)
rpath = f'results/{dtype}_{shape}.json'
hist = json.load(open(rpath)) if os.path.exists(rpath) else {}
def key(k): return json.dumps({n: k[n] for n in sorted(k)})
def ok(k): return sp.violated({**k, 'M': M, 'N': N, 'K': K}) is None
def meas(k, secs=0.2):
    kk = key(k)
    st, g = run(dtype, shape, k, secs=secs, check=0 if kk in hist else 1)
    if st != 'OK':
        print('FAIL', st, kk, str(g)[:400], flush=True); g = 0.0
    hist.setdefault(kk, []).append(g)
    json.dump(hist, open(rpath, 'w'))
    return g
def score(k): return statistics.median(hist[key(k)])
best = None
for s in seeds:
    k = {**sp.setting(), **s}
    if not ok(k):
        # repair: try to satisfy constraints by adjusting NC/KC/MC
        print('seed invalid', s, sp.violated({**k, 'M': M, 'N': N, 'K': K})); continue
    meas(k)
    if best is None or score(k) > score(best): best = k
print('start', score(best), key(best), flush=True)
names = order or list(sp.knobs)
for p in range(passes):
    improved = False
    for n in names:
        cands = []
        for v in sp.knobs[n].values:
            if v == best[n]: continue
            k = {**best, n: v}
            if ok(k): cands.append(k)
        if not cands: continue
        meas(best)
        for k in cands: meas(k)
        top = max(cands + [best], key=score)
        if top is not best and score(top) > score(best) * 1.02:
            # confirm
            meas(top); meas(best)
            if score(top) > score(best) * 1.02:
                print(f'  {n}: {best[n]} -> {top[n]}  {score(best):.0f} -> {score(top):.0f}', flush=True)
                best = top; improved = True
    if not improved: break
# final: top 5 distinct by median
tops = sorted([k for k in hist if len(hist[k]) >= 1 and ok(json.loads(k))], key=lambda k: -statistics.median(hist[k]))[:5]
for r in range(3):
    for kk in tops: meas(json.loads(kk), secs=0.3)
print('--- top ---')
for kk in sorted(tops, key=lambda k: -statistics.median(hist[k])):
    m = statistics.median(hist[kk])
    print(f'{dtype} {shape:>14} {m:8.1f} x{m / VENDOR[dtype][shape]:.2f} {PEAK[dtype] and m / PEAK[dtype] * 100:.0f}%  n={len(hist[kk])} {kk}', flush=True)
