"""Console rendering with rich. Plain text when stdout is not a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def problems_table(rows: list[dict[str, Any]]) -> None:
    table = Table("name", "target", "description", box=None)
    for row in rows:
        table.add_row(row["name"], row["target"], row["description"])
    console.print(table)


def eval_report(row: dict[str, Any]) -> None:
    console.print(f"[bold]{row['problem']}[/]: {row['outcome']}")
    if row["error"]:
        console.print(row["error"], markup=False)
    if row["correct"] and row["value"] is not None:
        table = Table("", "latency (median)", "GFLOP/s", box=None)
        table.add_row("candidate", f"{row['value'] * 1e3:.4g} ms", f"{row['gflops']:.4g}")
        table.add_row("initial code", f"{row['baseline_value'] * 1e3:.4g} ms", f"{row['baseline_gflops']:.4g}")
        console.print(table)
        util = f", {row['utilization'] * 100:.1f}% of measured peak" if row["utilization"] is not None else ""
        console.print(f"speedup vs initial code: {row['speedup']:.2f}x (same process, interleaved){util}")
        for flag in row.get("flags", []):
            console.print(f"[yellow]flag:[/] {flag}")


def runs_table(rows: list[dict[str, Any]]) -> None:
    table = Table("run", "problem", "status", "iterations", "candidates", "best speedup", box=None)
    for r in rows:
        speedup = f"{r['best_speedup']:.2f}x" if r["best_speedup"] else "-"
        table.add_row(r["run_dir"], r["problem"], r["status"], str(r["iterations"]), str(r["candidates"]), speedup)
    console.print(table)


def optimize_report(row: dict[str, Any]) -> None:
    best = row["best"]
    console.print(f"[bold]best candidate #{best['candidate_id']}[/]: {best['value'] * 1e3:.4g} ms, "
                  f"{best['speedup_vs_initial']:.2f}x vs the initial code (same-run ratio)")
    console.print(f"{row['iterations']} iterations, {row['candidates']} candidates, {row['llm_calls']} model calls; {row['stopped']}")
    if row["schedule"]:
        console.print("winning schedule:")
        for step in row["schedule"]:
            console.print(f"  iteration {step['iteration']}: {step['menu_item'] or '(unspecified)'} -> "
                          f"{step['speedup']:.2f}x" if step["speedup"] else f"  iteration {step['iteration']}: {step['menu_item']}")
    console.print(f"run stored in {row['run_dir']} (best code: {row['run_dir']}/best.c)")
