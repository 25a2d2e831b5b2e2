"""final.py [rounds] : best setting per problem from results/*.json, re-timed (0.5 s median, pinned) in
interleaved rounds; writes best_settings.json, instances/<problem>.c and prints the table."""
import json, statistics, sys, os, math
from run import *
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
only = sys.argv[2].split(',') if len(sys.argv) > 2 else None
os.makedirs('instances', exist_ok=True)
best = {}
for dt in ('bf16', 'i8'):
    for sh in SHAPES:
        p = f'results/{dt}_{sh}.json'
        if not os.path.exists(p): continue
        h = json.load(open(p))
        cands = sorted(h, key=lambda k: -statistics.median(h[k]))[:3]
        po = f'old/results_v3a/{dt}_{sh}.json'
        if os.path.exists(po):
            ho = json.load(open(po))
            cands += [c for c in sorted(ho, key=lambda k: -statistics.median(ho[k]))[:3] if c not in cands]
        best[(dt, sh)] = [json.loads(c) for c in cands]
out = {}
for (dt, sh), cands in best.items():
    if only and f'{dt}/{sh}' not in only: continue
    m = {json.dumps(c, sort_keys=True): [] for c in cands}
    for r in range(rounds):
        for c in cands:
            st, g = run(dt, sh, c, secs=0.4, check=1 if r == 0 else 0)
            m[json.dumps(c, sort_keys=True)].append(g if st == 'OK' else 0)
    kk = max(m, key=lambda k: statistics.median(m[k]))
    g = statistics.median(m[kk])
    out[f'{dt}/{sh}'] = {'knobs': json.loads(kk), 'gflops': g, 'runs': m[kk]}
    M, N, K = SHAPES[sh]
    open(f'instances/gemm-{dt}-{sh}.c', 'w').write(set_defines(template(dt), {'M': M, 'N': N, 'K': K, **json.loads(kk)}))
    print(f'{dt:5} {sh:>14} {g:8.0f} x{g / VENDOR[dt][sh]:.2f} {[round(x) for x in m[kk]]} {kk}', flush=True)
json.dump(out, open('best_settings.json', 'w'), indent=1)
ratios = {'bf16': [], 'i8': []}
for key, v in out.items():
    dt, sh = key.split('/')
    r = v['gflops'] / VENDOR[dt][sh]; ratios[dt].append(r)
    print(f"{dt:5} {sh:>14} {v['gflops']:8.0f} {v['gflops'] / PEAK[dt] * 100:5.1f}%  x{r:.2f}  {v['knobs']}")
gm = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs)) if xs else 0
print('geomean bf16 %.3f  i8 %.3f  all %.3f' % (gm(ratios['bf16']), gm(ratios['i8']), gm(ratios['bf16'] + ratios['i8'])))
