#!/usr/bin/env bash
# Schedule reuse on Gemmini GEMMs (modeled cycles, deterministic): for each SOURCE -> TARGET pair,
# the tuner on TARGET for ITERS iterations without and with `--reuse` of SOURCE's tuner run, and
# the candidates each evaluated. The first pair is the method's own trace (12544x256x64 ->
# 12544x128x64, two shared dimensions); its target is built here as a problem folder. The other
# pairs share one dimension, so the similarity test warns; they show how far a schedule carries.
# Columns: best cycles, candidates evaluated, first iteration at that best; ratio = no reuse / reuse.
#   [ITERS=4] bash benchmarks/reuse_gemmini.sh [ROOT]      (default: runs/gemmini-reuse)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/gemmini-reuse} ITERS=${ITERS:-4}
AC=.venv/bin/autocomp
mkdir -p "$ROOT"
cat > "$ROOT/tuner.toml" <<'TOML'
models = ["tuner"]
[search]
beam = 4
plans = 4
codes = 1
TOML

# gemm-12544x128x64: gemm-12544x256x64 with K = 128 (the initial code's loops are written in I, K, J)
P="$ROOT/gemm-12544x128x64"
if [ ! -d "$P" ]; then
  cp -r autocomp/targets/gemmini/problems/gemm-12544x256x64 "$P"
  sed -i -e 's/^name = "gemm-12544x256x64"/name = "gemm-12544x128x64"/' -e 's/K = 256/K = 128/g' -e 's/^flops = .*/flops = 205520896/' \
         -e 's/^bytes = .*/bytes = 2416640/' -e 's/shape = \[12544, 256\]/shape = [12544, 128]/' \
         -e 's/shape = \[256, 64\]/shape = [128, 64]/' "$P/problem.toml"
  sed -i 's/K = 256/K = 128/' "$P/initial.c"
fi

tune() {  # tune PROBLEM NAME ITERATIONS [--reuse RUN]: one tuner run, kept if already there
  local problem=$1 name=$2 iters=$3
  shift 3
  [ -f "$ROOT/$name/summary.json" ] && return
  rm -rf "${ROOT:?}/$name"
  $AC optimize "$problem" --config "$ROOT/tuner.toml" --iterations "$iters" --run-dir "$ROOT/$name" "$@" --json \
    > "$ROOT/$name.json" 2> "$ROOT/$name.log"
}

printf "%-20s %-20s %10s %5s %5s %10s %5s %5s %6s\n" source target "no reuse" cands "it@" "reuse" cands "it@" ratio
for pair in gemm-12544x256x64:"$P" gemm-512x512x512:gemmini/gemm-3136x512x128 \
            gemm-3136x128x512:gemmini/gemm-3136x512x128 gemm-12544x64x256:gemmini/gemm-12544x256x64; do
  src=${pair%%:*} dst=${pair#*:}
  dname=$(basename "$dst")
  tune "gemmini/$src" "src-$src" 10 --early-stop 3
  tune "$dst" "plain-$dname-$ITERS" "$ITERS"
  tune "$dst" "reuse-$src-$dname-$ITERS" "$ITERS" --reuse "$ROOT/src-$src"
  python3 - "$ROOT" "$src" "$dname" "$ITERS" <<'PY'
import json, sys
root, src, dst, iters = sys.argv[1:]
plain = json.load(open(f"{root}/plain-{dst}-{iters}.json"))
reuse = json.load(open(f"{root}/reuse-{src}-{dst}-{iters}.json"))
reached = lambda run: run["best_score_history"].index(min(run["best_score_history"]))  # first iteration at the best
print(f"{src:20s} {dst:20s} {plain['best']['value']:10,.0f} {plain['candidates']:5d} {reached(plain):5d} "
      f"{reuse['best']['value']:10,.0f} {reuse['candidates']:5d} {reached(reuse):5d} {plain['best']['value'] / reuse['best']['value']:6.3f}")
PY
done
