"""`autocomp bench TARGET`: how we report progress.

For every problem of a target (optionally filtered by family): the initial code, the best
result stored in any run under ROOT (re-verified and re-timed now, on fresh inputs,
interleaved with the initial code in one process) and the vendor baseline (measured now,
pinned the same way), side by side, with geometric means. Numbers are medians on one core.
"""

from __future__ import annotations

import math
import platform
from pathlib import Path
from typing import Any, Callable

from autocomp.evaluation.c_kernel import EvalSettings
from autocomp.problem import Problem
from autocomp.store.runstore import DB_NAME, RunStore
from autocomp.targets.registry import builtin_problems, get_target


def best_stored(root: Path) -> dict[str, tuple[float, str, str]]:
    """problem name -> (score, code, run dir) of the best candidate over all runs under root."""
    best: dict[str, tuple[float, str, str]] = {}
    for db in sorted(root.glob(f"**/{DB_NAME}")):
        store = RunStore.open(db.parent)
        try:
            problem = store.run_info()["problem"]
            for beam in store.beams():
                if problem not in best or beam["best_score"] < best[problem][0]:
                    row = store.candidate(beam["best_id"])
                    if row is not None and row["code"]:
                        best[problem] = (beam["best_score"], row["code"], str(db.parent))
        finally:
            store.close()
    return best


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def bench(target_name: str, root: Path, families: list[str] | None, vendor: bool, log: Callable[[str], None]) -> dict[str, Any]:
    target = get_target(target_name)
    problems = [p for p in builtin_problems() if p.target == target_name and (not families or p.spec.family in families)]
    stored = best_stored(root) if root.is_dir() else {}
    settings = EvalSettings(min_time_s=1.0)
    rows = [_row(target, p, stored.get(p.name), settings, vendor, log) for p in problems]
    vs_vendor = [r["speedup_vs_vendor"] for r in rows if r["speedup_vs_vendor"]]
    vs_initial = [r["speedup_vs_initial"] for r in rows if r["speedup_vs_initial"]]
    return {
        "target": target_name, "machine": f"{platform.node()}: {target.hardware().description}",
        "runs_root": str(root), "problems": rows,
        "geomean_speedup_vs_vendor": geomean(vs_vendor), "geomean_speedup_vs_initial": geomean(vs_initial),
    }


def _row(target: Any, problem: Problem, stored: tuple[float, str, str] | None, settings: EvalSettings,
         vendor: bool, log: Callable[[str], None]) -> dict[str, Any]:
    flops = problem.spec.flops
    peak = target.hardware().peak_for(problem)
    evaluator = target.evaluator(problem, settings)
    try:
        result = evaluator.evaluate(stored[1] if stored else problem.initial_code)
    finally:
        evaluator.close()
    row: dict[str, Any] = {"problem": problem.name, "family": problem.spec.family, "best_run": stored[2] if stored else None,
                           "best_outcome": result.outcome.value, "best_error": result.error}
    initial_s = result.baseline_latency_s
    best_s = result.latency_s if stored and result.correct else None
    for prefix, seconds in (("initial", initial_s), ("best", best_s)):
        row[f"{prefix}_latency_s"] = seconds
        row[f"{prefix}_tflops"] = flops / seconds / 1e12 if seconds else None
        row[f"{prefix}_pct_peak"] = flops / seconds / peak * 100 if seconds and peak else None
    row["speedup_vs_initial"] = initial_s / best_s if best_s and initial_s else None
    base = target.baselines(problem) if vendor else {"available": False, "reason": "skipped (--no-vendor)", "best": None}
    vbest = base.get("best")
    row["vendor"] = vbest["name"] if vbest else None
    row["vendor_note"] = vbest.get("note") if vbest else base.get("reason")
    row["vendor_latency_s"] = vbest["latency_s"] if vbest else None
    row["vendor_tflops"] = flops / vbest["latency_s"] / 1e12 if vbest else None
    row["vendor_pct_peak"] = flops / vbest["latency_s"] / peak * 100 if vbest and peak else None
    ours = best_s or initial_s
    row["speedup_vs_vendor"] = vbest["latency_s"] / ours if vbest and ours else None
    if result.details.get("metric") == "cycles":  # modeled targets: cycles are the measurement, seconds are nominal
        row.update(metric="cycles", initial_cycles=result.details.get("baseline_cycles"),
                   best_cycles=result.details.get("cycles") if best_s else None,
                   best_utilization=result.utilization if best_s else None,
                   vendor_cycles=vbest.get("cycles") if vbest else None)
        log(f"{problem.name}: initial {row['initial_cycles']} cycles, best {row['best_cycles'] or '-'}, "
            f"baseline {row['vendor_cycles'] or '-'} ({row['vendor'] or 'n/a'})")
        return row
    log(f"{problem.name}: initial {row['initial_tflops'] or 0:.3f} TFLOP/s, best {row['best_tflops'] or 0:.3f}, "
        f"vendor {row['vendor_tflops'] or 0:.3f} ({row['vendor'] or 'n/a'})")
    return row
