"""q.py dtype shape [--rounds R] [--path P] json...  : interleaved repeated timing, median per config"""
import sys, json, statistics
from run import *
args = sys.argv[1:]
rounds = 3; path = None; check = 1
while args[0].startswith('--') or args[2].startswith('--'):
    i = next(i for i, a in enumerate(args) if a.startswith('--'))
    if args[i] == '--rounds': rounds = int(args[i+1])
    if args[i] == '--path': path = args[i+1]
    if args[i] == '--nocheck': check = 0; del args[i]; continue
    del args[i:i+2]
dtype, shape = args[0], args[1]
sp = spec(dtype, path)
cfgs = []
for js in args[2:]:
    k = {**sp.setting(), **json.loads(js)}
    if not valid(sp, shape, k): print('invalid', js, sp.violated({**k, **dict(zip('MNK', SHAPES[shape]))})); continue
    cfgs.append((js, k))
res = {js: [] for js, _ in cfgs}
for r in range(rounds):
    for js, k in cfgs:
        st, g = run(dtype, shape, k, secs=0.3, check=check if r == 0 else 0, path=path)
        if st != 'OK': print(js, st, g); res[js].append(0)
        else: res[js].append(g)
for js, _ in cfgs:
    v = res[js]; m = statistics.median(v)
    print(f'{shape:>14} {m:8.1f}  x{m/VENDOR[dtype][shape]:.2f}  [{" ".join(f"{x:.0f}" for x in v)}]  {js}', flush=True)
