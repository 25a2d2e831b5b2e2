"""Timing noise: evaluate the same kernel N times (each a fresh harness process) and report
the spread of the median latency and of the candidate/initial-code ratio.

    .venv/bin/python benchmarks/noise.py amx/gemm-bf16-512 [CODE_FILE] [--repeats 5]

The ratio is what the search ranks by; it should be far more stable than raw latency.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

from autocomp.evaluation.c_kernel import EvalSettings
from autocomp.targets.registry import get_target, resolve_problem


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("problem")
    parser.add_argument("code", nargs="?")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    problem = resolve_problem(args.problem)
    code = Path(args.code).read_text() if args.code else problem.initial_code
    target = get_target(problem.target)
    evaluator = target.evaluator(problem, EvalSettings())
    latencies, ratios = [], []
    try:
        for _ in range(args.repeats):
            result = evaluator.evaluate(code)
            assert result.correct, result.error
            latencies.append(result.latency_s)
            ratios.append(result.speedup)
    finally:
        evaluator.close()
    print(json.dumps({
        "problem": problem.name, "code": args.code or "initial", "machine": platform.node(),
        "repeats": args.repeats, "latency_ms": [round(x * 1e3, 4) for x in latencies],
        "latency_spread": round(spread(latencies), 4), "ratio_vs_initial": [round(r, 4) for r in ratios],
        "ratio_spread": round(spread(ratios), 4),
    }))


if __name__ == "__main__":
    main()
