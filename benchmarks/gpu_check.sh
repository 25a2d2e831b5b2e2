#!/usr/bin/env bash
# The GPU target on real hardware, in one go (under 8 minutes on an H100/H200): every gpu problem's
# initial code evaluated at its real shapes (correctness on fresh inputs, then CUDA-event timing
# against PyTorch eager and torch.compile of its reference, same run, same GPU), then a short
# offline-tuner search on the fp16 GEMM. Prints one table: problem, initial ms, eager ms,
# compile ms, TFLOP/s, % of the device's peak, correct; and the device's name.
#
# Without a CUDA GPU it times nothing and says so: every initial code is checked under Triton's
# interpreter on the problem's small [check] shapes (correct / not correct only), and it exits 0.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]            (default: runs/gpu-check)
#   PYTHON=/path/to/python  BUDGET_S=460  TUNER_S=140  bash benchmarks/gpu_check.sh
#   ONLY="gemm-fp16-4096 rowsum-f32" bash benchmarks/gpu_check.sh      (only these problems, then the tuner)
#
# Everything goes through the `autocomp` CLI (eval --json, optimize --json); each step has its own
# timeout. On a GPU the whole run is held to BUDGET_S (default 460 s, under 8 minutes with the
# table): the evaluations stop TUNER_S before the end so the tuner search always gets its share,
# and a problem the budget leaves out is named in the table as skipped, never silently dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-runs/gpu-check}
TUNER_S_GPU=140                    # the tuner search, reserved at the end of the budget (TUNER_S overrides)
TUNER_PROBLEM=${TUNER_PROBLEM:-gpu/gemm-fp16-4096}
START=$(date +%s)
mkdir -p "$OUT"

# ---- which python: $PYTHON, the repo's venv, or the machine's (a GPU box brings its own torch)
pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" "$ROOT/.venv/bin/python" python3 python; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$candidate" -c 'import autocomp.cli, torch, triton' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
if ! PY=$(pick_python); then
  echo "gpu_check: no python here imports autocomp, torch and triton together." >&2
  echo "  Install them (pip install -e '.[gpu]', or on a GPU machine: pip install -e . next to its own torch/triton)" >&2
  echo "  or point PYTHON at an interpreter that has them. Nothing was run." >&2
  exit 1
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
AC=("$PY" -m autocomp.cli)
echo "gpu_check: python $PY ($("$PY" -c 'import torch, triton; print(f"torch {torch.__version__}, triton {triton.__version__}")'))"

if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  MODE=gpu
  DEVICE=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')
else
  MODE=interpret
  DEVICE="no CUDA GPU (Triton interpreter on the CPU)"
fi
echo "gpu_check: device: $DEVICE"
if [ "$MODE" = gpu ]; then
  BUDGET_S=${BUDGET_S:-460}
  EVAL_S=${EVAL_S:-90}             # one problem: Triton compile, torch.compile, correctness, timing
  CUDA_EVAL_S=${CUDA_EVAL_S:-180}
  TUNER_S=${TUNER_S:-$TUNER_S_GPU}
else
  # the interpreter needs ~20-40 s per problem on a small machine; there is no GPU time to save
  BUDGET_S=${BUDGET_S:-1800}
  EVAL_S=${EVAL_S:-240}
  CUDA_EVAL_S=${CUDA_EVAL_S:-600}  # nvcc on torch's headers takes minutes on a small, busy machine
  TUNER_S=${TUNER_S:-600}
  echo "gpu_check: NOTHING WILL BE TIMED: no CUDA GPU is visible; checking correctness under the interpreter only."
fi

left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

# ---- every gpu problem's initial code
# order: the tuner's GEMM first, then the other Triton problems, CUDA C++ last (an nvcc build of a
# torch extension takes a minute), so a budget that runs short drops the least central rows
PROBLEMS=$("${AC[@]}" problems --json | "$PY" -c '
import json, sys
from pathlib import Path
try:
    import tomllib
except ImportError:  # Python 3.10 (autocomp then depends on tomli)
    import tomli as tomllib
rows = [p for p in json.load(sys.stdin) if p["target"] == "gpu"]
language = {p["name"]: tomllib.loads((Path(p["path"]) / "problem.toml").read_text()).get("kernel", {}).get("language") for p in rows}
only = {f"gpu/{n}" for n in sys.argv[2].split()}
names = [n for n in language if not only or n in only]
for n in sorted(names, key=lambda n: (n != sys.argv[1], language[n] == "cuda", n)):
    print(n, language[n] or "triton")' "$TUNER_PROBLEM" "${ONLY:-}") || PROBLEMS=""
if [ -z "$PROBLEMS" ]; then
  echo "gpu_check: autocomp lists no gpu problems: the gpu target's entry point is not installed in this" >&2
  echo "  python's metadata (reinstall: pip install -e . from this checkout). Nothing was run." >&2
  exit 1
fi
EMULATE=()
[ "$MODE" = gpu ] || EMULATE=(--emulate)
eval_left() { echo $(( $(left) - TUNER_S )); }
rm -f "$OUT"/eval_*.json "$OUT"/eval_*.log
i=0
while read -r problem language; do
  i=$(( i + 1 ))
  stem="eval_$(printf %02d "$i")_${problem#gpu/}"
  file="$OUT/$stem.json"
  if [ "$(eval_left)" -lt 20 ]; then
    echo "{\"skipped\": \"time budget of ${BUDGET_S}s spent before this problem\"}" > "$file"
    continue
  fi
  step=$EVAL_S
  [ "$language" != cuda ] || step=$CUDA_EVAL_S  # nvcc builds a torch extension first
  limit=$(( $(eval_left) < step ? $(eval_left) : step ))
  echo "gpu_check: eval $problem (limit ${limit}s)"
  rc=0
  timeout --signal=INT --kill-after=10 "$limit" "${AC[@]}" eval "$problem" "${EMULATE[@]}" --json < /dev/null > "$file" 2> "$OUT/$stem.log" || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "{\"skipped\": \"timed out after ${limit}s\"}" > "$file"
  elif [ ! -s "$file" ]; then
    echo "{\"skipped\": \"autocomp eval exited $rc with no output; see $OUT/$stem.log\"}" > "$file"
  fi
done <<< "$PROBLEMS"

# ---- a short tuner search on the GEMM (correctness-checked; timed only on a GPU)
TUNER_FILE="$OUT/tuner.json"
rm -rf "$OUT/tuner-run"
limit=$(( $(left) < TUNER_S ? $(left) : TUNER_S ))
if [ "$limit" -lt 30 ]; then
  echo "{\"skipped\": \"only ${limit}s left for it (budget ${BUDGET_S}s, TUNER_S ${TUNER_S}s); it needs 30s or more\"}" > "$TUNER_FILE"
else
  # 2 iterations of 2 plans on one beam member: the template's preset and a neighbour, then two
  # moves from the better one (~5 evaluations, each compiling and timing two GEMMs, plus the final re-check)
  echo "gpu_check: tuner on $TUNER_PROBLEM, 2 iterations (limit ${limit}s)"
  rc=0
  timeout --signal=INT --kill-after=15 "$limit" "${AC[@]}" optimize "$TUNER_PROBLEM" "${EMULATE[@]}" --models tuner \
    --iterations 2 --beam 1 --plans 2 --codes 1 --run-dir "$OUT/tuner-run" --json \
    > "$TUNER_FILE" 2> "$OUT/tuner.log" || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || [ ! -s "$TUNER_FILE" ]; then
    echo "{\"skipped\": \"the tuner search exited $rc (timeout after ${limit}s if 124); see $OUT/tuner.log\"}" > "$TUNER_FILE"
  fi
fi

# ---- the table
"$PY" - "$OUT" "$MODE" "$DEVICE" "$TUNER_PROBLEM" "$(( $(date +%s) - START ))" <<'PY'
import json
import sys
from pathlib import Path

out, mode, device, tuner_problem, elapsed = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]


def ms(seconds):
    return f"{seconds * 1e3:.3f}" if isinstance(seconds, (int, float)) else "-"


def baselines(row):
    """eager and torch.compile medians (seconds) from the evaluation's details, wherever the
    evaluator filed them."""
    details = row.get("details") or {}
    timing = details.get("timing") or details
    medians = timing.get("median_s") or timing.get("baselines") or {}
    return medians.get("eager"), medians.get("compile")


rows = []
for path in sorted(out.glob("eval_*.json")):
    name = path.stem.split("_", 2)[2]  # eval_NN_NAME: NN is the order they ran in
    try:
        row = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError:
        row = {"skipped": f"unreadable output in {path}"}
    if "skipped" in row or "error" in row and "correct" not in row:
        rows.append((name, "-", "-", "-", "-", "-", "not run: " + str(row.get("skipped") or row.get("error"))[:70]))
        continue
    eager, compiled = baselines(row)
    value = row.get("value") if mode == "gpu" else None
    tflops = (row.get("gflops") or 0) / 1e3 if value else None
    util = row.get("utilization")
    verdict = "yes" if row.get("correct") else f"NO ({row.get('outcome')})"
    if row.get("outcome") == "unverified":  # a CUDA C++ kernel without a GPU: compiled, never run
        verdict = "not run (compiled only; needs a GPU)"
    if row.get("unreliable"):
        verdict += " [timing unreliable]"
    if row.get("above_peak"):
        verdict += " [ABOVE PEAK: measurement suspect]"
    rows.append((name, ms(value), ms(eager), ms(compiled), f"{tflops:.1f}" if tflops else "-",
                 f"{util * 100:.1f}" if value and isinstance(util, (int, float)) else "-", verdict))

head = ("problem", "initial ms", "eager ms", "compile ms", "TFLOP/s", "% peak", "correct")
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
print()
print(f"device: {device}")
if mode != "gpu":
    print("NOTHING WAS TIMED: no CUDA GPU; correctness checked under Triton's interpreter on the [check] shapes.")
print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
for r in rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))

tuner = json.loads((out / "tuner.json").read_text() or "{}")
if "skipped" in tuner or "best" not in tuner:
    print(f"\ntuner on {tuner_problem}: not run: {tuner.get('skipped') or tuner.get('error')}")
else:
    best = tuner["best"]
    speed = best.get("speedup_vs_initial")
    print(f"\ntuner on {tuner_problem}: {tuner.get('iterations')} iterations, {tuner.get('candidates')} candidates, "
          + (f"best {speed:.2f}x the initial code ({best.get('speedup_source')}), {ms(best.get('value'))} ms"
             if mode == "gpu" and speed else "nothing timed (candidates checked for correctness only)")
          + f"; run in {out / 'tuner-run'}")
print(f"\ntotal {elapsed}s")
PY
