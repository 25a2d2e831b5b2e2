"""ab.py dtype shape KNOBS_JSON TEMPLATE... : the same knob setting on several template files ('-' = the shipped one),
5 interleaved rounds, median GFLOP/s each (A/B tests of template edits)."""
import sys, json, statistics
from run import *
dt, sh, k = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]); paths = sys.argv[4:]
res = {p: [] for p in paths}
for r in range(5):
    for p in paths:
        res[p].append(run(dt, sh, k, secs=0.3, check=0, path=None if p == '-' else p)[1])
for p in paths: print(p, round(statistics.median(res[p])), [round(x) for x in res[p]])
