"""Per-candidate evaluation cost: what one candidate costs end to end (policy, compile in the
sandbox, preprocess check, verification, timing or cycle model), as the search pays it.

    .venv/bin/python benchmarks/eval_cost.py cpu/gemm-f32-256 [--candidates 7]
    .venv/bin/python benchmarks/eval_cost.py gemmini/gemm-512x512x512 --candidates 5

One evaluator (harness and baseline built once, as in a run); each candidate is the problem's
initial code with a distinct comment, so it is compiled afresh like a new model reply. Prints the
median and range of the wall time per candidate, the containment layers the results name, and the
machine load. Run it against two checkouts (PYTHONPATH=...) on a quiet machine to compare them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from autocomp.evaluation.base import EvalSettings
from autocomp.targets.registry import get_target, resolve_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("problem")
    parser.add_argument("--candidates", type=int, default=7)
    args = parser.parse_args()
    problem = resolve_problem(args.problem)
    target = get_target(problem.target)
    evaluator = target.evaluator(problem, EvalSettings())  # the defaults `autocomp eval` uses
    try:
        evaluator.evaluate(problem.initial_code + "\n/* warm-up: builds the harness and baseline */\n")
        times, containment = [], set()
        for i in range(args.candidates):
            code = problem.initial_code + f"\n/* candidate {i} {time.time_ns()} */\n"
            start = time.perf_counter()
            result = evaluator.evaluate(code)
            times.append(time.perf_counter() - start)
            if not result.correct:
                raise SystemExit(f"candidate {i} failed: {result.error}")
            containment.add(result.details.get("containment", "(not recorded)"))
    finally:
        evaluator.close()
    print(json.dumps({
        "problem": problem.name, "candidates": len(times), "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3), "max_s": round(max(times), 3), "containment": sorted(containment),
        "loadavg": os.getloadavg(),
    }, indent=1))


if __name__ == "__main__":
    main()
