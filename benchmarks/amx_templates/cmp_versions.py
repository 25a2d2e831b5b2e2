import json, statistics, sys
from run import *
# compare best settings from the two tuning logs (old/logs2 = job-slice version, logs3 = current) on the current code
import re, glob
def tops(pattern):
    res = {}
    for f in glob.glob(pattern):
        lines = open(f).read().split('--- top ---')
        if len(lines) < 2: continue
        first = lines[1].strip().splitlines()[0]
        m = re.match(r'(\S+)\s+(\S+)\s+([\d.]+).*?(\{.*\})', first)
        res[(m.group(1), m.group(2))] = (float(m.group(3)), json.loads(m.group(4)))
    return res
a = tops('old/logs2_*.txt'); b = tops('logs3_*.txt')
for key in sorted(set(a) & set(b)):
    dt, sh = key
    ra, rb = [], []
    for r in range(3):
        ra.append(run(dt, sh, a[key][1], secs=0.3, check=0)[1]); rb.append(run(dt, sh, b[key][1], secs=0.3, check=0)[1])
    print(f'{dt} {sh:>14} logs2-best {statistics.median(ra):7.0f} (then {a[key][0]:.0f})   logs3-best {statistics.median(rb):7.0f} (then {b[key][0]:.0f})', flush=True)
