#!/usr/bin/env bash
# Tune the six Gemmini GEMMs and the four convolutions (int8 16x16, emulator, modeled cycles) with
# the offline tuner (at most 10 iterations each; templates gemm_ws.c and conv_ws.c), then report
# initial code vs best found vs our library (hardware-loop FSM and CPU-issued variants) in one
# bench run. Cycles are deterministic, so a busy machine only makes this slower, not noisier.
#   bash benchmarks/tune_gemmini.sh [RUNS_ROOT]      (default: runs/gemmini-tuner)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/gemmini-tuner}
AC=.venv/bin/autocomp
mkdir -p "$ROOT"
for name in gemm-512x512x512 gemm-12544x64x256 gemm-12544x256x64 gemm-3136x128x512 gemm-3136x512x128 gemm-784x256x1024 \
            conv-0 conv-1 conv-2 conv-3; do
  [ -f "$ROOT/$name/summary.json" ] && continue
  rm -rf "${ROOT:?}/$name"
  $AC optimize "gemmini/$name" --models tuner --iterations 10 --run-dir "$ROOT/$name" --json > "$ROOT/$name.json"
  python3 -c "import json; d=json.load(open('$ROOT/$name.json')); print('$name', d['best']['value'], 'cycles', round(d['best']['speedup_vs_initial'], 2), 'x vs initial')"
done
$AC bench gemmini --family gemm --family conv --runs "$ROOT" --json > "$ROOT/bench.json"
python3 - "$ROOT/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["problems"]:
    print(f"{r['problem']:28s} initial {r['initial_cycles']:>10,}  best {r['best_cycles'] or 0:>10,} "
          f"({(r['best_utilization'] or 0) * 100:5.1f}%)  {r['vendor']} {r['vendor_cycles'] or 0:>10,}  x{r['speedup_vs_vendor'] or 0:.2f}")
print("geomean vs baseline", d["geomean_speedup_vs_vendor"], "vs initial", d["geomean_speedup_vs_initial"])
PY
