"""pick_robust.py [rounds] : per problem, re-time the top candidates (current + earlier tuning) both warm and under
the project's evaluator conditions (inputs re-copied and C poisoned before every call: AMX_EVALMODE), and keep the
setting with the best geometric mean of the two medians. Updates best_settings.json and instances/."""
import json, statistics, sys, os, math
import run as R
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
only = sys.argv[2].split(',') if len(sys.argv) > 2 else None
out = json.load(open('best_settings.json')) if os.path.exists('best_settings.json') else {}
for dt in ('bf16', 'i8'):
    for sh in R.SHAPES:
        if only and f'{dt}/{sh}' not in only: continue
        cands = []
        for p in (f'results/{dt}_{sh}.json', f'old/results_v3a/{dt}_{sh}.json'):
            if os.path.exists(p):
                h = json.load(open(p))
                cands += [c for c in sorted(h, key=lambda k: -statistics.median(h[k]))[:5] if c not in cands]
        m = {c: ([], []) for c in cands}
        for r in range(rounds):
            for c in cands:
                k = json.loads(c)
                R.EVALMODE = '0'; m[c][0].append(R.run(dt, sh, k, secs=0.3, check=0)[1])
                R.EVALMODE = '1'; m[c][1].append(R.run(dt, sh, k, secs=0.3, check=0)[1])
        sc = lambda c: math.sqrt(max(1e-9, statistics.median(m[c][0])) * max(1e-9, statistics.median(m[c][1])))
        c = max(cands, key=sc)
        k = json.loads(c); w, e = statistics.median(m[c][0]), statistics.median(m[c][1])
        out[f'{dt}/{sh}'] = {'knobs': k, 'gflops': w, 'gflops_evalmode': e, 'runs': m[c][0], 'runs_evalmode': m[c][1]}
        M, N, K = R.SHAPES[sh]
        open(f'instances/gemm-{dt}-{sh}.c', 'w').write(R.set_defines(R.template(dt), {'M': M, 'N': N, 'K': K, **k}))
        json.dump(out, open('best_settings.json', 'w'), indent=1)
        print(f'{dt:5} {sh:>14} warm {w:7.0f} x{w / R.VENDOR[dt][sh]:.2f}  evalmode {e:7.0f}  {c}', flush=True)
