"""tune2.py dtype shape [n_random] [seeds_json] : random search over the valid knob space (plus seeds), then
coordinate descent from the best, then the top 5 re-timed interleaved (3 rounds). Results accumulate in
results/<dtype>_<shape>.json; the final ranking uses the median of all timings of a setting."""
import sys, json, statistics, os, random
from run import *
dtype, shape = sys.argv[1], sys.argv[2]
nrand = int(sys.argv[3]) if len(sys.argv) > 3 else 60
seeds = json.loads(sys.argv[4]) if len(sys.argv) > 4 else []
sp = spec(dtype)
M, N, K = SHAPES[shape]
os.makedirs('results', exist_ok=True)
rpath = f'results/{dtype}_{shape}.json'
hist = json.load(open(rpath)) if os.path.exists(rpath) else {}
names = list(sp.knobs)
def key(k): return json.dumps({n: k[n] for n in sorted(k)})
def ok(k): return sp.violated({**k, 'M': M, 'N': N, 'K': K}) is None
def meas(k, secs=0.15):
    kk = key(k)
    st, g = run(dtype, shape, k, secs=secs, check=0 if kk in hist else 1)
    if st != 'OK':
        print('FAIL', st, kk, str(g)[:400], flush=True); g = 0.0
    hist.setdefault(kk, []).append(g)
    json.dump(hist, open(rpath, 'w'))
    return g
def score(k): return statistics.median(hist[key(k)])
rng = random.Random(hash(shape + dtype) & 0xffff)
# biased random sampling: prefer the structurally sensible values
pool = []
for s in seeds:
    k = {**sp.setting(), **s}
    if ok(k): pool.append(k)
tries = 0
while len(pool) < nrand + len(seeds) and tries < 200000:
    tries += 1
    k = {n: rng.choice(sp.knobs[n].values) for n in names}
    k['MB'] = 2 if rng.random() < 0.85 else 1
    k['NB'] = 2 if rng.random() < 0.85 else 1
    if k['PFP'] and rng.random() < 0.7: k['PFP'] = 0
    if ok(k) and key(k) not in {key(p) for p in pool}: pool.append(k)
for k in pool: meas(k)
ranked = sorted(pool, key=lambda k: -score(k))
print('random phase top:', [round(score(k)) for k in ranked[:5]], flush=True)
# re-time the top 4 and start descent from the best
for r in range(2):
    for k in ranked[:4]: meas(k)
best = max(ranked[:4], key=score)
print('start', round(score(best)), key(best), flush=True)
for n in names:
    cands = [{**best, n: v} for v in sp.knobs[n].values if v != best[n] and ok({**best, n: v})]
    if not cands: continue
    for k in cands: meas(k)
    meas(best)
    top = max(cands, key=score)
    if score(top) > score(best) * 1.02:
        meas(top); meas(best)
        if score(top) > score(best) * 1.02:
            print(f'  {n}: {best[n]} -> {top[n]}  {score(best):.0f} -> {score(top):.0f}', flush=True)
            best = top
tops = sorted(hist, key=lambda k: -statistics.median(hist[k]))[:5]
for r in range(3):
    for kk in tops: meas(json.loads(kk), secs=0.3)
print('--- top ---')
for kk in sorted(tops, key=lambda k: -statistics.median(hist[k])):
    m = statistics.median(hist[kk])
    print(f'{dtype} {shape:>14} {m:8.1f} x{m / VENDOR[dtype][shape]:.2f} {m / PEAK[dtype] * 100:.0f}%  n={len(hist[kk])} {kk}', flush=True)
