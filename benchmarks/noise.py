"""Timing noise, and the self-check: evaluate the same kernel N times (each a fresh harness run)
and report the spread of the median latency and of the candidate/initial-code ratio.

    .venv/bin/python benchmarks/noise.py cpu/gemm-f32-256 [CODE_FILE] [--repeats 5] [--busy 1]

Without CODE_FILE the candidate is the initial code itself: a self-vs-self comparison, which must
come out 1.0x within noise or be marked unreliable (issue 16), never a speedup. The report gives
the ratio's median, min and max, how many runs were marked unreliable, and how many reliable runs
claimed a difference beyond noise (`timing.within_noise`: its ~95% interval, widened by the 5%
noise floor, excludes 1.0), with the load average
before and after. `--busy P` runs P busy-looping processes pinned to the timing core meanwhile (a
shared machine at its worst). Runs against any checkout: an older one that lacks the unreliable
mark or the interval reports them as absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from autocomp.evaluation import sandbox
from autocomp.evaluation import timing
from autocomp.evaluation.base import EvalSettings
from autocomp.targets.registry import get_target, resolve_problem


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values) if values else 0.0


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
    runs = []
    load_before = os.getloadavg()
    core = str(sandbox.timing_core())
    busy = [subprocess.Popen(["taskset", "-c", core, sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        for _ in range(args.repeats):
            result = evaluator.evaluate(code)
            assert result.correct, result.error
            interval = result.details.get("speedup_interval")
            runs.append({
                "ratio": round(result.speedup, 4), "latency_ms": round(result.latency_s * 1e3, 4),
                "unreliable": bool(getattr(result, "unreliable", None)),
                "interval": [round(v, 4) for v in interval] if interval else None,
                "left_out": [result.details["preempted_reps_left_out"], result.details["baseline_preempted_reps_left_out"]],
                "reps": [result.details["reps"], result.details["baseline_reps"]],
            })
    finally:
        for proc in busy:
            proc.kill()
        evaluator.close()
    load_after = os.getloadavg()
    ratios = [r["ratio"] for r in runs]
    reliable = [r for r in runs if not r["unreliable"]]
    within = getattr(timing, "within_noise", lambda interval: interval[0] <= 1.0 <= interval[1])
    beyond = [r for r in reliable if r["interval"] and not within(r["interval"])]
    print(json.dumps({
        "problem": problem.name, "code": args.code or "initial (self vs self)", "machine": platform.node(),
        "repeats": args.repeats, "busy": args.busy, "loadavg_before": load_before, "loadavg_after": load_after,
        "ratio_median": round(statistics.median(ratios), 4), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "ratio_spread": round(spread(ratios), 4),
        "reliable_ratio_min": min((r["ratio"] for r in reliable), default=None),
        "reliable_ratio_max": max((r["ratio"] for r in reliable), default=None),
        "unreliable": sum(r["unreliable"] for r in runs), "reliable_beyond_noise": len(beyond),
        "latency_spread": round(spread([r["latency_ms"] for r in runs]), 4), "runs": runs,
    }))


if __name__ == "__main__":
    main()
