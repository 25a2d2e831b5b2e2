#!/usr/bin/env bash
# Tune every AMX GEMM problem with the offline tuner (at most 10 iterations), then report
# initial code vs best found vs the vendor baseline in one bench run.
#   bash benchmarks/tune_amx_gemms.sh [RUNS_ROOT]      (default: runs/amx-tuner)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/amx-tuner}
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
for dtype in bf16 i8; do
  for shape in 256 512 1024 2048 12544x64x256 3136x128x512 784x256x1024; do
    name="gemm-$dtype-$shape"
    [ -f "$ROOT/$name/summary.json" ] && continue
    rm -rf "${ROOT:?}/$name"
    $AC optimize "amx/$name" --config "$ROOT/tuner.toml" --run-dir "$ROOT/$name" --json > "$ROOT/$name.json"
    python3 -c "import json,sys; d=json.load(open('$ROOT/$name.json')); print('$name', round(d['best']['speedup_vs_initial'], 2), d['iterations'], d['stopped'])"
  done
done
$AC bench amx --family gemm-bf16 --family gemm-i8 --runs "$ROOT" --repeat 3 --json > "$ROOT/bench.json"
python3 - "$ROOT/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["problems"]:
    print(f"{r['problem']:32s} initial {r['initial_tflops'] or 0:6.3f}  best {r['best_tflops'] or 0:6.3f} ({r['best_pct_peak'] or 0:5.1f}%)  "
          f"vendor {r['vendor_tflops'] or 0:6.3f} [{r['vendor']}]  x{r['speedup_vs_vendor'] or 0:.2f} {r['speedup_vs_vendor_range']}")
print("geomean vs vendor", d["geomean_speedup_vs_vendor"], "vs initial", d["geomean_speedup_vs_initial"])
PY
