#!/usr/bin/env bash
# Tune every AMX GEMM problem with the offline tuner (at most 10 iterations), then report
# initial code vs best found vs the vendor baseline in one bench run (benchmarks/tune.sh).
#   bash benchmarks/tune_amx_gemms.sh [RUNS_ROOT]      (default: runs/amx-tuner)
set -euo pipefail
names=()
for dtype in bf16 i8; do
  for shape in 256 512 1024 2048 12544x64x256 3136x128x512 784x256x1024; do names+=("gemm-$dtype-$shape"); done
done
exec bash "$(dirname "$0")/tune.sh" amx "${1:-runs/amx-tuner}" "${names[@]}"
