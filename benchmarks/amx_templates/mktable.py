import json, math, re
from run import VENDOR, PEAK
best = json.load(open('best_settings.json'))
ev = {}
try:
    for line in open('eval_all.txt'):
        p, _, js = line.partition(' ')
        try: ev[p] = json.loads(js)
        except Exception: pass
except FileNotFoundError: pass
order = ['256', '512', '1024', '2048', '12544x64x256', '3136x128x512', '784x256x1024']
short = lambda k: ' '.join(f'{n}={k[n]}' for n in ['MB','NB','KC','NC','MC','ORDER','G','PACKA','PACKB','XPIPE','NTA','NTB','CNT','PFC','PFN','PFP','BPAD'])
rows = ['| dtype | shape (MxNxK) | best knobs | GFLOP/s (GOP/s) | % of peak | vendor best | ratio | project evaluator |',
        '|---|---|---|---|---|---|---|---|']
ratios = {'bf16': [], 'i8': []}
for dt in ('bf16', 'i8'):
    for sh in order:
        v = best[f'{dt}/{sh}']; g = v['gflops']; r = g / VENDOR[dt][sh]; ratios[dt].append(r)
        e = ev.get(f'gemm-{dt}-{sh}')
        es = f"{e['gflops']:.0f} ({'correct' if e['correct'] else 'WRONG'}, {e['speedup']:.2f}x naive)" if e and e.get('gflops') else '-'
        shp = sh if 'x' in sh else f'{sh}³'
        rows.append(f"| {dt} | {shp} | `{short(v['knobs'])}` | {g:.0f} | {g / PEAK[dt] * 100:.0f}% | {VENDOR[dt][sh]} | {r:.2f}x | {es} |")
gm = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
print('\n'.join(rows))
print()
print(f"Geomean ratio vs the best vendor result: bf16 {gm(ratios['bf16']):.2f}x, int8 {gm(ratios['i8']):.2f}x, all 14 {gm(ratios['bf16'] + ratios['i8']):.2f}x.")
