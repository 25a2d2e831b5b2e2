"""`autocomp bench TARGET`: how we report progress.

For every problem of a target (optionally filtered by family): the initial code, the best
result stored in any run under ROOT (re-verified and re-timed now, on fresh inputs,
interleaved with the initial code in one process) and the vendor baseline (measured now,
pinned the same way), side by side, with geometric means. Numbers are medians on one core.

The vendor library runs in its own process, so it cannot be interleaved call by call with our
kernels; on a shared machine the load can change between the two measurements. `repeat`
rounds (ours then the vendor's, back to back) give one ratio each; the row reports the median
ratio and the range, so a drift shows up as a wide range instead of a wrong headline. Each round
of a timed target starts once the machine is quiet (waiting up to a minute, once per bench; the
log says so); the load seen before each round is in the row.
"""

from __future__ import annotations

import math
import platform
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from autocomp.errors import UserError
from autocomp.evaluation import sandbox
from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.timing import QuietGate
from autocomp.outputs import BaselineOutput, BenchOutput, BenchRow, VendorPathRow
from autocomp.problem import Problem
from autocomp.store.runstore import RunStore, run_stores_under
from autocomp.targets.peak import above_peak_warning
from autocomp.targets.registry import builtin_problems, get_target


def best_stored(root: Path) -> dict[str, tuple[float, str, str]]:
    """problem name -> (score, code, run dir) of the best run's answer (`RunStore.best`: a finished
    run's final pick) over all runs under root."""
    best: dict[str, tuple[float, str, str]] = {}
    for db in run_stores_under(root):
        store = RunStore.open(db.parent)
        try:
            problem, answer = store.run_info()["problem"], store.best()
            if answer is not None and answer[1]["code"] and (problem not in best or answer[0] < best[problem][0]):
                best[problem] = (answer[0], answer[1]["code"], str(db.parent))
        finally:
            store.close()
    return best


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def bench(target_name: str, root: Path, families: list[str] | None, vendor: bool, log: Callable[[str], None],
          repeat: int = 1, core: int | None = None) -> BenchOutput:
    target = get_target(target_name)
    reason = target.unavailable_reason()
    if reason:
        raise UserError(reason)
    ours = [p for p in builtin_problems() if p.target == target_name]
    known = sorted({p.spec.family for p in ours})
    unknown = [f for f in families or [] if f not in known]
    if unknown:
        raise UserError(f"no {target_name} problem of family {', '.join(map(repr, unknown))}; "
                        f"{target_name} families: {', '.join(known)} (see `autocomp problems --json`)")
    problems = [p for p in ours if not families or p.spec.family in families]
    stored = best_stored(root) if root.is_dir() else {}
    settings = EvalSettings(min_time_s=1.0, core=core)
    quiet = QuietGate(log)
    rows = [_row(target, p, stored.get(p.name), settings, vendor, repeat, log, quiet) for p in problems]
    # a problem without a stored run has no result of ours: its initial code against the vendor
    # would drag the geomeans down (seen: 0.48x) for a problem nobody optimized
    ran = [r for r in rows if r.best_run is not None]
    return BenchOutput(
        target=target_name, machine=f"{platform.node()}: {target.hardware().description}",
        runs_root=str(root), rounds=repeat, core=sandbox.timing_core(core), problems=rows,
        geomean_speedup_vs_vendor=geomean([r.speedup_vs_vendor for r in ran if r.speedup_vs_vendor]),
        geomean_speedup_vs_vendor_prepacked=geomean([r.speedup_vs_vendor_prepacked for r in ran
                                                     if r.speedup_vs_vendor_prepacked]),
        geomean_speedup_vs_initial=geomean([r.speedup_vs_initial for r in ran if r.speedup_vs_initial]),
        problems_without_a_stored_run=[r.problem for r in rows if r.best_run is None],
    )


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v]
    return statistics.median(present) if present and len(present) == len(values) else None


def _vendor_over_rounds(picks: list[VendorPathRow | None], ours: list[float | None]
                        ) -> tuple[VendorPathRow | None, float | None, list[float] | None]:
    """One vendor pick per round -> (the path that was fastest in most rounds, carrying the median
    of the per-round latencies; the median and [min, max] of the per-round ratios vendor / ours).
    Nones where a round has no pick (or, for the ratios, no time of ours)."""
    chosen = [p for p in picks if p is not None and p.latency_s]
    if not picks or len(chosen) != len(picks):
        return None, None, None
    name = Counter(p.name for p in chosen).most_common(1)[0][0]
    latencies = [p.latency_s or 0.0 for p in chosen]
    path = next(p for p in chosen if p.name == name).model_copy(update={"latency_s": statistics.median(latencies)})
    if not all(ours):
        return path, None, None
    ratios = [v / (o or 1.0) for v, o in zip(latencies, ours)]
    return path, statistics.median(ratios), [min(ratios), max(ratios)]


def _row(target: Any, problem: Problem, stored: tuple[float, str, str] | None, settings: EvalSettings,
         vendor: bool, repeat: int, log: Callable[[str], None], quiet: QuietGate) -> BenchRow:
    flops = problem.spec.flops
    peak = target.hardware().peak_for(problem)
    evaluator = target.evaluator(problem, settings)
    results, vendors, loads = [], [], []
    try:
        for _ in range(repeat):  # each round: fresh inputs and seeds, ours then the vendor's
            if evaluator.exclusive_timing:  # wall-clock numbers: start each round on a quiet machine (modeled cycles need not)
                loads.append(quiet())
            results.append(evaluator.evaluate(stored[1] if stored else problem.initial_code))
            vendors.append(target.baselines(problem, settings.core) if vendor else
                           BaselineOutput(problem=problem.name, available=False, reason="skipped (--no-vendor)"))
    finally:
        evaluator.close()
    failed = next((r for r in results if not r.correct), None)
    result = failed or results[0]  # a candidate that fails any re-verification is not counted
    initial = [r.baseline_latency_s for r in results]
    best = [r.latency_s if stored and not failed else None for r in results]
    initial_s, best_s = _median(initial), _median(best)

    def gflops(seconds: float | None) -> float | None:
        return flops / seconds / 1e9 if seconds else None

    def pct_peak(seconds: float | None) -> float | None:
        return flops / seconds / peak * 100 if seconds and peak else None

    ours = best if best_s else initial
    vbest, vs_vendor, vs_vendor_range = _vendor_over_rounds([v.best for v in vendors], ours)
    # the vendor's steady state with its weight prepared outside the timed call (an easier problem than ours)
    packed, vs_packed, _ = _vendor_over_rounds([v.best_prepacked for v in vendors], ours)
    best_pct = pct_peak(best_s)
    row = BenchRow(
        problem=problem.name, family=problem.spec.family, best_run=stored[2] if stored else None,
        best_outcome=result.outcome.value, best_error=result.error, rounds=repeat, machine_load_before_rounds=loads,
        initial_latency_s=initial_s, initial_gflops=gflops(initial_s), initial_pct_peak=pct_peak(initial_s),
        best_latency_s=best_s, best_gflops=gflops(best_s), best_pct_peak=best_pct,
        above_peak=above_peak_warning(max(best_pct or 0, pct_peak(initial_s) or 0) / 100 or None, target.name),
        unreliable=next((r.unreliable for r in results if r.unreliable), None),  # the first round that lacked clean calls
        speedup_vs_initial=_median([i / b if i and b else None for i, b in zip(initial, best)]),
        speedup_vs_vendor=vs_vendor, speedup_vs_vendor_range=vs_vendor_range,
        vendor=vbest.name if vbest else None,
        vendor_note=vbest.note if vbest else vendors[0].reason,
        vendor_latency_s=vbest.latency_s if vbest else None,
        vendor_gflops=gflops(vbest.latency_s) if vbest else None,
        vendor_pct_peak=pct_peak(vbest.latency_s) if vbest else None,
        speedup_vs_vendor_prepacked=vs_packed, vendor_prepacked=packed.name if packed else None,
        vendor_prepacked_latency_s=packed.latency_s if packed else None,
    )
    if result.metric.modeled:  # modeled targets: cycles are the measurement, seconds are nominal
        _, value, initial_value = result.metric_values()
        row = row.model_copy(update=dict(
            metric=result.metric, initial_cycles=initial_value,
            best_cycles=value if best_s else None,
            best_utilization=result.utilization if best_s else None,
            vendor_cycles=vbest.cycles if vbest else None))
        log(f"{problem.name}: initial {row.initial_cycles} cycles, best {row.best_cycles or '-'}, "
            f"baseline {row.vendor_cycles or '-'} ({row.vendor or 'n/a'})")
        return row
    spread = row.speedup_vs_vendor_range

    def shown(value: float | None) -> str:  # '-' when not measured (no stored run, no vendor), never a fake 0
        return f"{value:.4g}" if value else "-"

    log(f"{problem.name}: initial {shown(row.initial_gflops)} GFLOP/s, best {shown(row.best_gflops)}, "
        f"vendor {shown(row.vendor_gflops)} ({row.vendor or 'n/a'})"
        + (f", x{row.speedup_vs_vendor_prepacked:.2f} vs prepacked {row.vendor_prepacked}" if row.vendor_prepacked
           and row.speedup_vs_vendor_prepacked else "")
        + (f", x{row.speedup_vs_vendor:.2f} vs vendor (rounds {spread[0]:.2f}-{spread[1]:.2f})" if spread and repeat > 1
           and row.speedup_vs_vendor else ""))
    return row
