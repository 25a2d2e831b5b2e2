"""correctness.py dtype [n_per_shape] [seed] : random valid knob combinations for every shape, checked against
the cached float64/int64 reference (bench.c, guard pages after every buffer). Also all corner values of each knob."""
import sys, random, json
from run import *
dtype = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 20; seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rng = random.Random(seed)
sp = spec(dtype)
names = list(sp.knobs)
bad = 0; total = 0
for shape, (M, N, K) in SHAPES.items():
    tried = set(); cnt = 0; attempts = 0
    while cnt < n and attempts < 20000:
        attempts += 1
        k = {nm: rng.choice(sp.knobs[nm].values) for nm in names}
        if sp.violated({**k, 'M': M, 'N': N, 'K': K}): continue
        kk = json.dumps(k, sort_keys=True)
        if kk in tried: continue
        tried.add(kk); cnt += 1; total += 1
        st, g = run(dtype, shape, k, secs=0.0, check=1)
        if st != 'OK':
            bad += 1; print('BAD', shape, st, kk, str(g)[:300], flush=True)
    print(f'{dtype} {shape}: {cnt} combos checked', flush=True)
print(f'{dtype}: {total} checked, {bad} failures')
