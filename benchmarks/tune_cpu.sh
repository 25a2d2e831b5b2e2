#!/usr/bin/env bash
# Tune the cpu problems (fp32 GEMMs, the convolution, the softmax; each has a template) with the offline
# tuner, then report them against oneMKL, PyTorch and numpy's BLAS (benchmarks/tune.sh).
#   bash benchmarks/tune_cpu.sh [RUNS_ROOT]      (default: runs/cpu-tuner)
set -euo pipefail
exec bash "$(dirname "$0")/tune.sh" cpu "${1:-runs/cpu-tuner}" gemm-f32-256 gemm-f32-512 conv2d-f32 softmax-f32
