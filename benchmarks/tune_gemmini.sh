#!/usr/bin/env bash
# Tune the six Gemmini GEMMs and the four convolutions (int8 16x16, emulator, modeled cycles) with
# the offline tuner (templates gemm_ws.c and conv_ws.c), then report initial code vs best found
# vs our library (hardware-loop FSM and CPU-issued variants) in one bench run (benchmarks/tune.sh).
# Cycles are deterministic, so one bench round suffices and a busy machine only makes this slower.
#   bash benchmarks/tune_gemmini.sh [RUNS_ROOT]      (default: runs/gemmini-tuner)
set -euo pipefail
REPEAT=1 exec bash "$(dirname "$0")/tune.sh" gemmini "${1:-runs/gemmini-tuner}" \
  gemm-512x512x512 gemm-12544x64x256 gemm-12544x256x64 gemm-3136x128x512 gemm-3136x512x128 gemm-784x256x1024 \
  conv-0 conv-1 conv-2 conv-3
