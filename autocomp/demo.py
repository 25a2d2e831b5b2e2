"""`make demo`: an offline optimization with the tuner agent, no API key needed.

Optimizes an AMX GEMM where the CPU has AMX (falling back, with a one-line notice, to a
plain-C GEMM on the `cpu` target), then prints the before/after table and where the
run is stored.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from autocomp.config import load_config
from autocomp.outputs import BaselineOutput, VendorPathRow
from autocomp.report.console import console
from autocomp.runner import start_run
from autocomp.targets.registry import available_targets, get_target, resolve_problem

AMX_PROBLEM, CPU_PROBLEM = "amx/gemm-bf16-512", "cpu/gemm-f32-256"


def pick_problem() -> str:
    if "amx" in available_targets():
        reason = get_target("amx").unavailable_reason()
        if reason is None:
            return AMX_PROBLEM
        console.print(f"[yellow]notice:[/] AMX unavailable ({escape(reason)}); running the plain-C demo on {CPU_PROBLEM} instead")
    return CPU_PROBLEM


def vendor_rows(baselines: BaselineOutput) -> list[tuple[str, VendorPathRow]]:
    """The vendor rows of the table: the fastest path doing the same work as our kernels, and
    the fastest prepacked-weight path only when it is a different, faster one (an easier
    problem, shown so nobody has to take the same-work figure on trust)."""
    same, packed = baselines.best, baselines.best_prepacked
    rows = [("vendor", same)] if same else []
    if packed and (not same or packed.name != same.name):
        rows.append(("vendor, prepacked weights", packed))
    return rows


def main() -> None:
    name = pick_problem()
    problem = resolve_problem(name)
    config = load_config(None, {
        "models": ["tuner"],
        # max_minutes keeps the promise of a few minutes on a slow or busy machine
        "search": {"iterations": 6, "beam": 4, "plans": 4, "codes": 1, "early_stop": 3, "max_minutes": 4},
        "eval": {"min_time_s": 0.3},
    })
    run_dir = Path("runs") / f"demo-{problem.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    console.print(f"[bold]autocomp demo[/]: optimizing {name} with the offline tuner (no LLM)")
    start = time.monotonic()
    row = start_run(problem, config, run_dir, lambda msg: console.print(msg, markup=False))
    best, cold = row.best, row.cold_validation
    flops = problem.spec.flops
    peak = get_target(problem.target).hardware().peak_for(problem) or 0
    shown: list[float] = []  # % of peak of every row, to flag an impossible one

    def cells(seconds: float) -> tuple[str, str, str]:
        shown.append(flops / seconds / peak * 100 if peak else 0)
        return f"{seconds * 1e3:.3f} ms", f"{flops / seconds / 1e9:.1f}", f"{shown[-1]:.1f}%" if peak else "-"

    # one initial code row: the measurement the headline speedup comes from (the re-check when there is one)
    initial = best.initial_value
    table = Table("", "latency (median)", "GFLOP/s", "% of peak", "speedup", box=None)
    table.add_row("initial code", *cells(initial), "1.00x")
    label = "best found, re-checked on fresh inputs" if best.speedup_source == "re-check" else "best found (not re-checked)"
    table.add_row(label, *cells(best.value), f"{best.speedup_vs_initial:.2f}x" if best.speedup_vs_initial else "-")
    if cold is not None and cold.latency_s and cold.speedup:
        table.add_row("best, cold caches (vs initial, cold)", *cells(cold.latency_s), f"{cold.speedup:.2f}x")
    vendors = vendor_rows(get_target(problem.target).baselines(problem, config.eval.core))
    for name, vendor in vendors:
        if vendor.latency_s:
            table.add_row(f"{name}: {vendor.name}", *cells(vendor.latency_s), f"{initial / vendor.latency_s:.2f}x")
    console.print(table)
    if best.speedup_source == "re-check" and best.search_speedup_vs_initial:
        console.print(f"(in the search the best measured {best.search_speedup_vs_initial:.2f}x)", markup=False)
    if best.disagreement:
        console.print(f"[yellow]search and re-check disagree:[/] {escape(best.disagreement)}")
    if best.unreliable:
        console.print(f"[yellow]unreliable timing:[/] {escape(best.unreliable)}")
    if any(pct > 100 for pct in shown):
        console.print(f"[yellow]above peak:[/] a row shows more than 100% of the measured peak, which is impossible: the "
                      f"peak was likely measured on a busy machine; re-measure it on a quiet one with "
                      f"`autocomp hardware {problem.target} --remeasure`")
    for name, vendor in vendors:
        if vendor.latency_s:
            console.print(f"best vs {name}: {vendor.latency_s / best.value:.2f}x ({vendor.note or vendor.name})", markup=False)
    console.print("speedups are same-run ratios against the initial code, timed interleaved call by call on one pinned core")
    console.print(f"finished in {time.monotonic() - start:.0f} s; run stored in {row.run_dir} "
                  f"(best code: {row.run_dir}/best.c, summary: {row.run_dir}/summary.json)", markup=False)
    console.print(f"report: {Path(row.report or '').resolve()}", markup=False)


if __name__ == "__main__":
    main()
