"""Console rendering with rich. Plain text when stdout is not a terminal."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from autocomp.outputs import (BaselineOutput, BenchOutput, BestOutput, CheckOutput, EvalOutput, LlmUsage, NewOutput, ProblemRow,
                               RunOutput, RunRow)
from autocomp.search.strategies import LABELS

# wide enough for the bench table when output goes to a file or CI log
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, highlight=False)


def problems_table(rows: list[ProblemRow]) -> None:
    table = Table("name", "target", "description", box=None)
    for row in rows:
        table.add_row(Text(row.name), Text(row.target), Text(row.description))  # text, not markup: [h] is an index
    console.print(table)


NOISY = 1.3  # median / fastest call of one kernel above which eval says the timing was noisy


def _warn(label: str, text: str | None) -> None:
    if text:
        console.print(f"[yellow]{label}:[/] {escape(text)}")


def eval_report(row: EvalOutput) -> None:
    console.print(f"[bold]{escape(row.problem)}[/]: {row.outcome}")
    if row.error:
        console.print(row.error, markup=False)
    if row.details.get("untimed"):  # the evaluator's own words for what was (not) done
        console.print(row.details["untimed"], markup=False)
    elif row.emulated:
        console.print("checked on the functional emulator of the hardware: correctness only, not timed")
    if row.correct and row.value is not None and row.metric.modeled:
        table = Table("", "modeled cycles", box=None)
        table.add_row("candidate", f"{row.value:,.0f}")
        table.add_row("initial code", f"{row.baseline_value:,.0f}" if row.baseline_value is not None else "-")
        console.print(table)
        util = f"; array utilization {row.utilization * 100:.1f}%" if row.utilization is not None else ""
        console.print(f"speedup vs initial code: {row.speedup:.2f}x{util}")
    elif row.correct and row.value is not None:
        table = Table("", "latency (median)", "GFLOP/s", box=None)
        table.add_row("candidate", row.metric.format(row.value), f"{row.gflops:.4g}")
        table.add_row("initial code", row.metric.format(row.baseline_value), f"{row.baseline_gflops:.4g}")
        console.print(table)
        util = f", {row.utilization * 100:.1f}% of measured peak" if row.utilization is not None else ""
        caches = row.details.get("caches", "warm")
        console.print(f"speedup vs initial code: {row.speedup:.2f}x (same run, interleaved call by call on one core, {caches} caches){util}")
        fastest = row.details.get("min_s")
        if fastest and row.value / fastest > NOISY:
            console.print(f"[yellow]noisy timing:[/] the median call took {row.value / fastest:.2f}x the fastest one "
                          f"({fastest * 1e3:.4g} ms): other load, a shared core or frequency changes; the interleaved "
                          "ratio above holds better than the absolute times")
    if row.correct:
        _warn("above peak", row.above_peak)
        _warn("unreliable timing", row.unreliable)
        for flag in row.flags:
            if flag != f"unreliable: {row.unreliable}":  # the evaluator also flags it for the model; said once above
                _warn("flag", flag)


def runs_table(rows: list[RunRow]) -> None:
    """The runs, each with its headline speedup (re-checked where the run re-checked it; `*`
    where the search's figure disagreed beyond noise)."""
    table = Table("run", "problem", "status", "iterations", "candidates", "best speedup", box=None)
    for r in rows:
        speedup = f"{r.best_speedup:.2f}x" if r.best_speedup else "-"
        if r.best_speedup and r.best_speedup_source == "search":
            speedup += " (search, not re-checked)"
        elif r.disagreement and r.search_best_speedup:
            speedup += f" (re-checked; search said {r.search_best_speedup:.2f}x)"
        if r.best_speedup and r.unreliable:
            speedup += " (unreliable)"
        table.add_row(Text(r.run_dir), Text(r.problem or "-"), Text(r.status), str(r.iterations), str(r.candidates),
                      Text(speedup))
    console.print(table)
    if any(r.status == "killed" for r in rows):
        console.print("killed: no process is running it any more (it stopped without recording why); "
                      "`autocomp resume RUN` continues it", markup=False)
    if any(r.best_speedup and r.unreliable for r in rows):
        console.print("unreliable: too few of the timed calls ran without being preempted; `autocomp runs --json` "
                      "says why and how to get a clean number", markup=False)


def headline_text(best: BestOutput) -> str:
    """`X ms, N.NNx vs the initial code (re-checked on fresh inputs)`, the headline everywhere."""
    if best.speedup_vs_initial is None and best.untimed:
        return f"correct; {best.untimed}"
    if best.speedup_vs_initial is None:
        return f"{best.metric.format(best.value)}, no trustworthy speedup ({best.disagreement or 'not measured'})"
    source = ("re-checked on fresh inputs, interleaved with the initial code" if best.speedup_source == "re-check"
              else "as measured in the search; not re-checked")
    return f"{best.metric.format(best.value)}, {best.speedup_vs_initial:.2f}x vs the initial code ({source})"


def optimize_report(row: RunOutput) -> None:
    best = row.best
    console.print(f"[bold]best candidate #{best.candidate_id}[/]: {escape(headline_text(best))}")
    if best.speedup_source == "re-check" and best.search_speedup_vs_initial:
        console.print(f"in the search it measured {best.search_speedup_vs_initial:.2f}x", markup=False)
    _warn("search and re-check disagree", best.disagreement if best.speedup_vs_initial is not None else None)
    _warn("above peak", best.above_peak)
    _warn("unreliable timing", best.unreliable)
    failed = row.llm.failed
    calls = f"{row.llm_calls} model calls" + (f" ({failed} more failed: see the table below)" if failed else "")
    console.print(f"{row.iterations} iterations, {row.candidates} candidates, {calls}; {row.stopped}", markup=False)
    recheck = row.validation
    if recheck and not recheck.correct and best.speedup_source == "search":
        console.print(f"re-checked on fresh inputs: {recheck.outcome.value}: {recheck.error or ''}", markup=False,
                      style="red")
    cold = row.cold_validation
    label = "with cold caches (operands flushed to DRAM before every call)"
    if cold and cold.correct and cold.speedup:
        metric, value, _ = cold.metric_values()
        console.print(f"{label}: {metric.format(value)}, {cold.speedup:.2f}x vs the initial code, timed the same way",
                      markup=False)
    elif cold and not cold.correct:
        console.print(f"{label}: {cold.outcome.value}: {cold.error or ''}", markup=False, style="red")
    if row.schedule:
        console.print("winning schedule (speedups as measured in the search):")
        for step in row.schedule:
            gain = f" -> {step.speedup:.2f}x" if step.speedup else ""
            item = (step.menu_item or "(unspecified)") + LABELS.get(step.strategy, "")
            console.print(f"  iteration {step.iteration}: {item}{gain}", markup=False)
    if row.llm.calls:
        llm_usage(row.llm)
    console.print(f"run stored in {row.run_dir} (best code: {row.best_code or row.run_dir + '/best.c'}, report: {row.report})", markup=False)


def _dollars(value: float | None) -> str:
    return f"${value:.4f}" if value is not None else "unknown"


def llm_usage(llm: LlmUsage) -> None:
    """Model calls, tokens and cost of a run, per model and per phase."""
    table = Table("model calls", "calls", "failed", "tokens in", "tokens out", "cost", box=None)
    for group, prefix in ((llm.by_model, ""), (llm.by_phase, "phase: ")):
        for name, r in group.items():
            table.add_row(prefix + name, str(r.calls), str(r.failed), str(r.input_tokens), str(r.output_tokens),
                          _dollars(r.cost_usd))
    table.add_row("total", str(llm.calls), str(llm.failed), str(llm.input_tokens), str(llm.output_tokens),
                  _dollars(llm.cost_usd))
    console.print(table)
    if llm.unpriced_calls:
        console.print(f"{llm.unpriced_calls} calls to models without a known price are not in the cost "
                      "(add them under [llm.prices] in the config)", markup=False)


def baseline_report(row: BaselineOutput) -> None:
    libraries = ", ".join(dict.fromkeys(p.library for p in row.paths if p.available))
    console.print(f"[bold]{escape(row.problem)}[/]: vendor baselines" + (f" ({escape(libraries)})" if libraries else ""))
    if row.warning:
        console.print(f"warning: {row.warning}", markup=False, style="yellow")
    if not row.paths:  # nothing ran: the reason, and no empty table
        console.print(f"unavailable: {row.reason}", markup=False)
        return
    modeled = row.metric.modeled  # cycles are the metric: no error or packing
    table = (Table("path", "cycles", "utilization %", "note", box=None) if modeled else
             Table("path", "latency (median)", "GFLOP/s", "rel. error", "same work", "note", box=None))
    for p in row.paths:
        if not p.available:
            table.add_row(Text(p.name), *["-"] * (2 if modeled else 4), Text(f"unavailable: {p.reason}"))
        elif modeled:
            table.add_row(Text(p.name), f"{p.cycles or 0:,}", f"{(p.utilization or 0) * 100:.1f}", Text(p.note or ""))
        else:
            table.add_row(Text(p.name), f"{(p.latency_s or 0) * 1e3:.4g} ms", f"{p.gflops or 0:.0f}", f"{p.rel_err or 0:.1e}",
                          "no (prepacked)" if p.prepacked else "yes", Text(p.note or ""))
    console.print(table)
    for best, label in ((row.best, "best same-work path"), (row.best_prepacked, "best incl. prepacked inputs")):
        if best is not None:
            amount = f"{best.cycles or 0:,} cycles" if modeled else f"{(best.latency_s or 0) * 1e3:.4g} ms"
            console.print(f"{label}: {best.name} ({amount})", markup=False)


def bench_table(row: BenchOutput) -> None:
    def fmt(value: Any, spec: str) -> str:
        return format(value, spec) if value is not None else "-"

    def ms(seconds: float | None) -> str:
        return fmt(seconds and seconds * 1e3, ".4g")

    problems = row.problems
    if any(r.metric.modeled for r in problems):
        table = Table("problem", "initial cycles", "best cycles", "utilization %", "vs initial", "baseline", "baseline cycles",
                      "vs baseline", box=None)
        for r in problems:
            util = r.best_utilization
            table.add_row(r.problem, fmt(r.initial_cycles, ",.0f"), fmt(r.best_cycles, ",.0f"), fmt(util and util * 100, ".1f"),
                          fmt(r.speedup_vs_initial, ".2f"), r.vendor or "-", fmt(r.vendor_cycles, ",.0f"),
                          fmt(r.speedup_vs_vendor, ".2f"))
        console.print(table)
        _bench_notes(row)
        console.print(f"geomean speedup: vs initial {fmt(row.geomean_speedup_vs_initial, '.2f')}x, "
                      f"vs baseline {fmt(row.geomean_speedup_vs_vendor, '.2f')}x ({row.machine})", markup=False)
        return
    rounds = row.rounds
    table = Table("problem", "initial ms", "best ms", "best GFLOP/s", "% peak", "vs initial", "vendor ms",
                  "vendor GFLOP/s", "vs vendor", *(["rounds range"] if rounds > 1 else []), "vs prepacked", box=None)
    for r in problems:
        spread = r.speedup_vs_vendor_range
        pct = fmt(r.best_pct_peak, ".1f") + (" (!)" if r.above_peak else "")
        table.add_row(r.problem, ms(r.initial_latency_s), ms(r.best_latency_s), fmt(r.best_gflops, ".1f"), pct,
                      fmt(r.speedup_vs_initial, ".2f"), ms(r.vendor_latency_s), fmt(r.vendor_gflops, ".1f"),
                      fmt(r.speedup_vs_vendor, ".2f"),
                      *([f"{spread[0]:.2f}-{spread[1]:.2f}" if spread else "-"] if rounds > 1 else []),
                      fmt(r.speedup_vs_vendor_prepacked, ".2f"))
    console.print(table)
    console.print(f"machine: {row.machine}", markup=False)
    console.print("vendor = fastest vendor path doing the same work (packing timed, like ours); "
                  "prepacked = fastest path overall, incl. weights packed/reordered outside the timed call")
    _bench_notes(row)
    console.print(f"geomean speedup vs vendor: {fmt(row.geomean_speedup_vs_vendor, '.2f')}x "
                  f"(vs prepacked: {fmt(row.geomean_speedup_vs_vendor_prepacked, '.2f')}x); "
                  f"vs initial code: {fmt(row.geomean_speedup_vs_initial, '.2f')}x (medians, one pinned core"
                  f"{f', median of {rounds} rounds' if rounds > 1 else ''}; problems with a stored run only)", markup=False)


def _bench_notes(row: BenchOutput) -> None:
    for r in row.problems:
        _warn(f"{r.problem}: above peak (!)", r.above_peak)
        _warn(f"{r.problem}: unreliable timing", r.unreliable)
    if row.problems_without_a_stored_run:
        console.print(f"no stored run (not in the geomeans): {', '.join(row.problems_without_a_stored_run)}", markup=False)


def new_report(row: NewOutput) -> None:
    """`autocomp new`: what was written and inferred, then what is left to fill in or the check."""
    console.print(f"wrote {row.folder}: {row.signature}", markup=False)
    for arg in row.arguments:
        console.print(f"  {arg.name}: {arg.role} ({arg.dtype or 'int'})", markup=False)
    if row.params_inferred:
        console.print("  params read off the shapes: " + ", ".join(f"{k} = {v}" for k, v in row.params_inferred.items()),
                      markup=False)
    if row.todo:
        console.print(f"[yellow]to fill in[/] ({len(row.todo)}), then run `autocomp check {escape(row.folder)}`:")
        for line in row.todo:
            console.print(f"  {line}", markup=False)
    elif row.check is not None:
        check_report(row.check)


def check_report(row: CheckOutput) -> None:
    """`autocomp check`: the verdict on the initial code and what a search starts from."""
    initial = row.initial
    console.print(f"[bold]{escape(row.problem)}[/] ({escape(row.folder)}): initial code {initial.outcome}")
    if initial.error:
        console.print(initial.error, markup=False)
    if initial.value is not None:
        value = (f"{initial.value:,.0f} modeled {initial.metric.value}" if initial.metric.modeled
                 else f"{initial.value * 1e3:.4g} ms" + (f", {initial.gflops:.4g} GFLOP/s" if initial.gflops else "")
                 + " (median, one pinned core)")
        console.print(f"a search starts from: {value}", markup=False)
        _warn("above peak", initial.above_peak)
        _warn("unreliable timing", initial.unreliable)
    console.print(f"the tuner would start from: {row.tuner}", markup=False)
    if row.baselines:
        console.print(f"the problem's own baselines ({', '.join(row.baselines)}): measure with `autocomp baseline {row.folder}`",
                      markup=False)
    console.print("[green]ready[/]: `autocomp optimize " + escape(row.folder) + " --models ...`" if row.ready
                  else "[red]not ready[/]: the initial code must pass verification before a search can use it as the baseline")
