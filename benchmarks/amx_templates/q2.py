import sys, json
from run import *
dtype, shape, path = sys.argv[1], sys.argv[2], sys.argv[3]
sp = spec(dtype, path)
for js in sys.argv[4:]:
    k = {**sp.setting(), **json.loads(js)}
    if not valid(sp, shape, k): print('invalid', js); continue
    print(shape, js, run(dtype, shape, k, secs=0.3, check=0, path=path), flush=True)
