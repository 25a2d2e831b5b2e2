"""`make demo`: an offline optimization with the tuner agent, no API key needed.

Optimizes an AMX GEMM where the CPU has AMX (falling back, with a one-line notice, to a
plain-C GEMM on the `cpu` target), then prints the before/after table and where the
run is stored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from autocomp.config import load_config
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


def vendor_rows(baselines: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The vendor rows of the table: the fastest path doing the same work as our kernels, and
    the fastest prepacked-weight path only when it is a different, faster one (an easier
    problem, shown so nobody has to take the same-work figure on trust)."""
    same, packed = baselines.get("best"), baselines.get("best_prepacked")
    rows = [("vendor", same)] if same else []
    if packed and (not same or packed["name"] != same["name"]):
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
    best, check, cold = row["best"], row["validation"] or {}, row["cold_validation"] or {}
    flops = problem.spec.flops
    table = Table("", "latency (median)", "GFLOP/s", "% of peak", "speedup", box=None)
    peak = get_target(problem.target).hardware().peak_for(problem) or 0
    initial = best["initial_value"]
    table.add_row("initial code", f"{initial * 1e3:.3f} ms", f"{flops / initial / 1e9:.1f}",
                  f"{flops / initial / peak * 100:.1f}%" if peak else "-", "1.00x")
    table.add_row("best found", f"{best['value'] * 1e3:.3f} ms", f"{best['gflops']:.1f}",
                  f"{best['utilization'] * 100:.1f}%" if best["utilization"] else "-", f"{best['speedup_vs_initial']:.2f}x")
    for label, result in (("best, re-checked on fresh inputs", check), ("best, cold caches (vs initial, cold)", cold)):
        if result.get("latency_s"):
            table.add_row(label, f"{result['latency_s'] * 1e3:.3f} ms", f"{flops / result['latency_s'] / 1e9:.1f}",
                          f"{result['utilization'] * 100:.1f}%" if result.get("utilization") else "-", f"{result['speedup']:.2f}x")
    vendors = vendor_rows(get_target(problem.target).baselines(problem, config.eval.core))
    for label, vendor in vendors:
        v = vendor["latency_s"]
        table.add_row(f"{label}: {vendor['name']}", f"{v * 1e3:.3f} ms", f"{flops / v / 1e9:.1f}",
                      f"{flops / v / peak * 100:.1f}%" if peak else "-", f"{initial / v:.2f}x")
    console.print(table)
    # against the vendor, the latest measurement of ours: the re-check on fresh inputs when there is one
    ours, which = (check["latency_s"], "best, re-checked") if check.get("latency_s") else (best["value"], "best found")
    for label, vendor in vendors:
        console.print(f"{which} vs {label}: {vendor['latency_s'] / ours:.2f}x ({vendor['note']})")
    console.print("speedups are same-process ratios against the initial code, timed interleaved on one pinned core")
    console.print(f"finished in {time.monotonic() - start:.0f} s; run stored in {row['run_dir']} "
                  f"(best code: {row['run_dir']}/best.c, summary: {row['run_dir']}/summary.json)")
    console.print(f"report: {Path(row['report']).resolve()}", markup=False)


if __name__ == "__main__":
    main()
