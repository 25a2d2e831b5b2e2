"""Timing noise: evaluate the same kernel N times (each a fresh harness process) and report
the spread of the median latency and of the candidate/initial-code ratio.

    .venv/bin/python benchmarks/noise.py amx/gemm-bf16-512 [CODE_FILE] [--repeats 5] [--busy 1]

The ratio is what the search ranks by; it should be far more stable than raw latency.
`--busy P` runs P busy-looping processes on the timing core meanwhile (a shared machine at
its worst): the ratio should still match a quiet run's.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from autocomp.evaluation import sandbox
from autocomp.evaluation.c_kernel import EvalSettings
from autocomp.targets.registry import get_target, resolve_problem


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("problem")
    parser.add_argument("code", nargs="?")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes pinned to the timing core")
    args = parser.parse_args()
    problem = resolve_problem(args.problem)
    code = Path(args.code).read_text() if args.code else problem.initial_code
    target = get_target(problem.target)
    evaluator = target.evaluator(problem, EvalSettings())
    latencies, ratios, left_out = [], [], []
    core = str(sandbox.timing_core())
    busy = [subprocess.Popen(["taskset", "-c", core, sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        for _ in range(args.repeats):
            result = evaluator.evaluate(code)
            assert result.correct, result.error
            latencies.append(result.latency_s)
            ratios.append(result.speedup)
            left_out.append((result.details["preempted_reps_left_out"], result.details["baseline_preempted_reps_left_out"]))
    finally:
        for proc in busy:
            proc.kill()
        evaluator.close()
    print(json.dumps({
        "problem": problem.name, "code": args.code or "initial", "machine": platform.node(),
        "repeats": args.repeats, "busy": args.busy, "latency_ms": [round(x * 1e3, 4) for x in latencies],
        "latency_spread": round(spread(latencies), 4), "ratio_vs_initial": [round(r, 4) for r in ratios],
        "ratio_spread": round(spread(ratios), 4), "ratio_median": round(statistics.median(ratios), 4),
        "preempted_calls_left_out": left_out,
    }))


if __name__ == "__main__":
    main()
