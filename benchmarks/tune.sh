#!/usr/bin/env bash
# Tune the given problems of TARGET with the offline tuner (at most 10 iterations, stop after 3
# without improvement), then one bench run over their families: initial code vs best found vs
# the vendor baseline, median of REPEAT rounds (default 3; 1 suffices for a modeled target, whose
# cycles are deterministic). Problems already tuned under RUNS_ROOT are kept.
#   [REPEAT=R] bash benchmarks/tune.sh TARGET RUNS_ROOT PROBLEM...      (PROBLEM without the "TARGET/" prefix)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=$1 ROOT=$2
shift 2
AC=.venv/bin/autocomp
mkdir -p "$ROOT"
cat > "$ROOT/tuner.toml" <<'TOML'
models = ["tuner"]
[search]
iterations = 10
beam = 4
plans = 4
codes = 1
early_stop = 3
[eval]
min_time_s = 0.3
TOML
for name in "$@"; do
  [ -f "$ROOT/$name/summary.json" ] && continue
  rm -rf "${ROOT:?}/$name"
  $AC optimize "$TARGET/$name" --config "$ROOT/tuner.toml" --run-dir "$ROOT/$name" --json > "$ROOT/$name.json"
  python3 -c "import json,sys; d=json.load(open('$ROOT/$name.json')); print('$name', round(d['best']['speedup_vs_initial'], 2), d['iterations'], d['stopped'])"
done
families=$($AC problems --json | python3 -c "
import json, sys
wanted = {'$TARGET/' + n for n in sys.argv[1:]}
print(' '.join(sorted({'--family ' + p['family'] for p in json.load(sys.stdin) if p['name'] in wanted})))" "$@")
# shellcheck disable=SC2086  # one word per flag and family
$AC bench "$TARGET" $families --runs "$ROOT" --repeat "${REPEAT:-3}" --json > "$ROOT/bench.json"
python3 - "$ROOT/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["problems"]:
    if r.get("metric") == "cycles":  # a modeled target
        print(f"{r['problem']:32s} initial {r['initial_cycles']:>10,}  best {r['best_cycles'] or 0:>10,} "
              f"({(r['best_utilization'] or 0) * 100:5.1f}%)  {r['vendor']} {r['vendor_cycles'] or 0:>10,}  x{r['speedup_vs_vendor'] or 0:.2f}")
    else:
        print(f"{r['problem']:32s} initial {r['initial_gflops'] or 0:7.1f}  best {r['best_gflops'] or 0:7.1f} ({r['best_pct_peak'] or 0:5.1f}%)  "
              f"vendor {r['vendor_gflops'] or 0:7.1f} [{r['vendor']}]  x{r['speedup_vs_vendor'] or 0:.2f} {r['speedup_vs_vendor_range']}")
print("geomean vs vendor", d["geomean_speedup_vs_vendor"], "vs initial", d["geomean_speedup_vs_initial"])
PY
