"""Console rendering with rich. Plain text when stdout is not a terminal."""

from __future__ import annotations

from typing import Any

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# wide enough for the bench table when output goes to a file or CI log
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, highlight=False)


def problems_table(rows: list[dict[str, Any]]) -> None:
    table = Table("name", "target", "description", box=None)
    for row in rows:
        table.add_row(Text(row["name"]), Text(row["target"]), Text(row["description"]))  # text, not markup: [h] is an index
    console.print(table)


NOISY = 1.3  # median / fastest call of one kernel above which eval says the timing was noisy


def eval_report(row: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(row['problem'])}[/]: {row['outcome']}")
    if row["error"]:
        console.print(row["error"], markup=False)
    if row.get("emulated"):
        console.print("checked on the functional emulator of the hardware: correctness only, not timed")
    if row["correct"] and row["value"] is not None and row["metric"] == "cycles":
        table = Table("", "modeled cycles", box=None)
        table.add_row("candidate", f"{row['value']:,}")
        table.add_row("initial code", f"{row['baseline_value']:,}")
        console.print(table)
        console.print(f"speedup vs initial code: {row['speedup']:.2f}x; array utilization {row['utilization'] * 100:.1f}%")
    elif row["correct"] and row["value"] is not None:
        table = Table("", "latency (median)", "GFLOP/s", box=None)
        table.add_row("candidate", f"{row['value'] * 1e3:.4g} ms", f"{row['gflops']:.4g}")
        table.add_row("initial code", f"{row['baseline_value'] * 1e3:.4g} ms", f"{row['baseline_gflops']:.4g}")
        console.print(table)
        util = f", {row['utilization'] * 100:.1f}% of measured peak" if row["utilization"] is not None else ""
        caches = row.get("details", {}).get("caches", "warm")
        console.print(f"speedup vs initial code: {row['speedup']:.2f}x (same process, interleaved, {caches} caches){util}")
        fastest = row.get("details", {}).get("min_s")
        if fastest and row["value"] / fastest > NOISY:
            console.print(f"[yellow]noisy timing:[/] the median call took {row['value'] / fastest:.2f}x the fastest one "
                          f"({fastest * 1e3:.4g} ms): other load, a shared core or frequency changes; the interleaved "
                          "ratio above holds better than the absolute times")
        for flag in row.get("flags", []):
            console.print(f"[yellow]flag:[/] {escape(flag)}")


def runs_table(rows: list[dict[str, Any]]) -> None:
    table = Table("run", "problem", "status", "iterations", "candidates", "best speedup", box=None)
    for r in rows:
        speedup = f"{r['best_speedup']:.2f}x" if r["best_speedup"] else "-"
        table.add_row(Text(r["run_dir"]), Text(r["problem"] or "-"), Text(r["status"]), str(r["iterations"]),
                      str(r["candidates"]), speedup)
    console.print(table)


def optimize_report(row: dict[str, Any]) -> None:
    best = row["best"]
    value = f"{best['value']:,} cycles" if best.get("metric") == "cycles" else f"{best['value'] * 1e3:.4g} ms"
    console.print(f"[bold]best candidate #{best['candidate_id']}[/]: {value}, "
                  f"{best['speedup_vs_initial']:.2f}x vs the initial code (same-run ratio)")
    failed = row.get("llm", {}).get("failed", 0)
    calls = f"{row['llm_calls']} model calls" + (f" ({failed} more failed: see the table below)" if failed else "")
    console.print(f"{row['iterations']} iterations, {row['candidates']} candidates, {calls}; {row['stopped']}", markup=False)
    for key, label in (("validation", "re-checked on fresh inputs"),
                       ("cold_validation", "with cold caches (operands flushed to DRAM before every call)")):
        check = row.get(key)
        if check and check.get("latency_s"):
            console.print(f"{label}: {check['latency_s'] * 1e3:.4g} ms, {check['speedup']:.2f}x vs the initial code, "
                          f"timed the same way", markup=False)
        elif check and check["outcome"] != "ok":
            console.print(f"{label}: {check['outcome']}: {check.get('error') or ''}", markup=False, style="red")
    if row["schedule"]:
        console.print("winning schedule:")
        from autocomp.search.strategies import LABELS

        for step in row["schedule"]:
            item = (step["menu_item"] or "(unspecified)") + LABELS.get(step.get("strategy", "menu"), "")
            console.print(f"  iteration {step['iteration']}: {item}" + (f" -> {step['speedup']:.2f}x" if step["speedup"] else ""),
                          markup=False)
    if row.get("llm", {}).get("calls"):
        llm_usage(row["llm"])
    console.print(f"run stored in {row['run_dir']} (best code: {row['run_dir']}/best.c, report: {row['report']})", markup=False)


def _dollars(value: float | None) -> str:
    return f"${value:.4f}" if value is not None else "unknown"


def llm_usage(llm: dict[str, Any]) -> None:
    """Model calls, tokens and cost of a run, per model and per phase."""
    table = Table("model calls", "calls", "failed", "tokens in", "tokens out", "cost", box=None)
    for group, prefix in (("by_model", ""), ("by_phase", "phase: ")):
        for name, r in llm[group].items():
            table.add_row(prefix + name, str(r["calls"]), str(r["failed"]), str(r["input_tokens"]), str(r["output_tokens"]),
                          _dollars(r["cost_usd"]))
    table.add_row("total", str(llm["calls"]), str(llm["failed"]), str(llm["input_tokens"]), str(llm["output_tokens"]),
                  _dollars(llm["cost_usd"]))
    console.print(table)
    if llm["unpriced_calls"]:
        console.print(f"{llm['unpriced_calls']} calls to models without a known price are not in the cost "
                      "(add them under [llm.prices] in the config)")


def baseline_report(row: dict[str, Any]) -> None:
    libraries = ", ".join(dict.fromkeys(p["library"] for p in row["paths"] if p.get("available")))
    console.print(f"[bold]{escape(row['problem'])}[/]: vendor baselines" + (f" ({escape(libraries)})" if libraries else ""))
    if not row["paths"]:
        console.print(f"unavailable: {row['reason']}", markup=False)
    if row.get("warning"):
        console.print(f"warning: {row['warning']}", markup=False, style="yellow")
    modeled = any("cycles" in p for p in row["paths"])  # a modeled target: cycles are the metric, no error or packing
    table = (Table("path", "cycles", "utilization %", "note", box=None) if modeled else
             Table("path", "latency (median)", "GFLOP/s", "rel. error", "same work", "note", box=None))
    for p in row["paths"]:
        if not p["available"]:
            table.add_row(Text(p["name"]), *["-"] * (2 if modeled else 4), Text(f"unavailable: {p['reason']}"))
        elif modeled:
            table.add_row(Text(p["name"]), f"{p['cycles']:,}", f"{(p['utilization'] or 0) * 100:.1f}", Text(p["note"]))
        else:
            table.add_row(Text(p["name"]), f"{p['latency_s'] * 1e3:.4g} ms", f"{p['gflops']:.0f}", f"{p['rel_err']:.1e}",
                          "no (prepacked)" if p.get("prepacked") else "yes", Text(p["note"]))
    console.print(table)
    for key, label in (("best", "best same-work path"), ("best_prepacked", "best incl. prepacked inputs")):
        if row.get(key):
            best = row[key]
            amount = f"{best['cycles']:,} cycles" if modeled else f"{best['latency_s'] * 1e3:.4g} ms"
            console.print(f"{label}: {best['name']} ({amount})", markup=False)


def bench_table(row: dict[str, Any]) -> None:
    def fmt(value: Any, spec: str) -> str:
        return format(value, spec) if value is not None else "-"

    if any(r.get("metric") == "cycles" for r in row["problems"]):
        table = Table("problem", "initial cycles", "best cycles", "utilization %", "vs initial", "baseline", "baseline cycles",
                      "vs baseline", box=None)
        for r in row["problems"]:
            util = r.get("best_utilization")
            table.add_row(r["problem"], fmt(r["initial_cycles"], ","), fmt(r["best_cycles"], ","), fmt(util and util * 100, ".1f"),
                          fmt(r["speedup_vs_initial"], ".2f"), r["vendor"] or "-", fmt(r["vendor_cycles"], ","),
                          fmt(r["speedup_vs_vendor"], ".2f"))
        console.print(table)
        console.print(f"geomean speedup: vs initial {fmt(row['geomean_speedup_vs_initial'], '.2f')}x, "
                      f"vs baseline {fmt(row['geomean_speedup_vs_vendor'], '.2f')}x ({row['machine']})")
        return
    rounds = row.get("rounds", 1)
    table = Table("problem", "initial ms", "best ms", "best TFLOP/s", "% peak", "vs initial", "vendor ms",
                  "vendor TFLOP/s", "vs vendor", *(["rounds range"] if rounds > 1 else []), "vs prepacked", box=None)
    for r in row["problems"]:
        spread = r.get("speedup_vs_vendor_range")
        table.add_row(r["problem"], fmt(r["initial_latency_s"] and r["initial_latency_s"] * 1e3, ".4g"),
                      fmt(r["best_latency_s"] and r["best_latency_s"] * 1e3, ".4g"), fmt(r["best_tflops"], ".3f"),
                      fmt(r["best_pct_peak"], ".1f"), fmt(r["speedup_vs_initial"], ".2f"),
                      fmt(r["vendor_latency_s"] and r["vendor_latency_s"] * 1e3, ".4g"), fmt(r["vendor_tflops"], ".3f"),
                      fmt(r["speedup_vs_vendor"], ".2f"),
                      *([f"{spread[0]:.2f}-{spread[1]:.2f}" if spread else "-"] if rounds > 1 else []),
                      fmt(r.get("speedup_vs_vendor_prepacked"), ".2f"))
    console.print(table)
    console.print(f"machine: {row['machine']}")
    console.print("vendor = fastest vendor path doing the same work (packing timed, like ours); "
                  "prepacked = fastest path overall, incl. weights packed/reordered outside the timed call")
    console.print(f"geomean speedup vs vendor: {fmt(row['geomean_speedup_vs_vendor'], '.2f')}x "
                  f"(vs prepacked: {fmt(row.get('geomean_speedup_vs_vendor_prepacked'), '.2f')}x); "
                  f"vs initial code: {fmt(row['geomean_speedup_vs_initial'], '.2f')}x (medians, one pinned core"
                  f"{f', median of {rounds} rounds' if rounds > 1 else ''})")
