"""What the commands do, without the command-line parsing: evaluate, optimize, resume, list.

Each function returns the typed `--json` output of its command (autocomp.outputs), so the
CLI stays a thin shell and tests can call these directly.
"""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path
from typing import Any

from autocomp.config import RunConfig, check_consistency, load_config
from autocomp.errors import RunInterrupted, UserError
from autocomp.evaluation.result import MetricKind
from autocomp.headline import headline
from autocomp.llm.model_string import split_model
from autocomp.llm.pricing import PriceTable
from autocomp.llm.registry import check_base_url, check_model_string, make_agent_class, make_provider
from autocomp.outputs import BestOutput, EvalOutput, RunOutput, RunRow, headline_fields
from autocomp.problem import Problem
from autocomp.report.html import write_report
from autocomp.search.beam import Log, Search, SearchSummary
from autocomp.search.executors import make_evaluator, open_executor
from autocomp.search.schedule import lineage
from autocomp.store.runstore import RunStore, run_stores_under
from autocomp.targets.peak import above_peak_warning
from autocomp.targets.registry import get_target, run_problem


def evaluate_code(problem: Problem, code: str, config: RunConfig, emulate: bool = False) -> EvalOutput:
    """Compile, verify and time `code`; with `emulate`, verify it on the target's functional
    emulator instead (for machines without the hardware; not timed)."""
    target = get_target(problem.target)
    settings = config.eval.model_copy(update={"emulate": True, "executor": "local"}) if emulate else config.eval
    reason = target.unavailable_reason()
    if reason and not emulate and config.eval.executor == "local":  # on Ray, the nodes with the hardware run it
        raise UserError(reason)
    evaluator = make_evaluator(target, problem, settings)
    try:
        executor = open_executor(target, problem, settings, evaluator)
        try:
            result = executor.submit(code).result()
        finally:
            executor.shutdown()
    finally:
        evaluator.close()
    d = result.details
    metric, value, baseline_value = result.metric_values()
    return EvalOutput(
        problem=problem.name, correct=result.correct, outcome=result.outcome.value, error=result.error,
        emulated=emulate, metric=metric, value=value, baseline_value=baseline_value,
        speedup=result.speedup, utilization=result.utilization, gflops=d.get("gflops"),
        baseline_gflops=d.get("baseline_gflops"), flags=d.get("flags", []),
        above_peak=above_peak_warning(result.utilization, target.name), unreliable=result.unreliable, details=d,
    )


def default_run_dir(problem: Problem) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', problem.name)}-{stamp}"


def check_models(config: RunConfig) -> None:
    """Fail before anything is created: unknown model strings, missing SDK extras or keys, and
    models a cost budget cannot count (no known price)."""
    prices = PriceTable(config.llm.prices)
    for name, provider_config in config.llm.providers.items():
        check_base_url(provider_config.base_url, f"[llm.providers.{name}] base_url")
    for model in dict.fromkeys(config.models + config.coders):
        check_model_string(model)
        if not split_model(model)[0]:
            continue
        provider = make_provider(model, config.llm)
        if config.llm.max_cost is not None and provider.is_llm and prices.lookup(model) is None:
            raise UserError(f"--max-cost needs a price for {model}: add [llm.prices.\"{model}\"] with input = ... and "
                            f"output = ... (USD per million tokens) to the config file")


def check_agents(problem: Problem, config: RunConfig) -> None:
    """Agents that can tell up front that they cannot work on this problem (an agent class with a
    `preflight`, like the tuner with nothing to tune) say so before a run folder is created."""
    models = list(dict.fromkeys(config.models + config.coders))
    for model in models:
        if split_model(model)[0]:
            continue
        preflight = getattr(make_agent_class(model), "preflight", None)
        if preflight is not None:
            preflight(problem, get_target(problem.target), sole_agent=len(models) == 1)


def start_run(problem: Problem, config: RunConfig, run_dir: Path | None, log: Log) -> RunOutput:
    check_models(config)
    check_agents(problem, config)
    target = get_target(problem.target)
    reason = target.unavailable_reason()
    if reason and config.eval.executor == "local" and not config.eval.emulate:  # on Ray, the nodes with the hardware run it
        raise UserError(reason)
    if config.eval.emulate:  # a target without an emulator says so before a run folder exists
        make_evaluator(target, problem, config.eval).close()
    run_dir = run_dir or default_run_dir(problem)
    store = RunStore.create(run_dir, problem.name, str(problem.root), problem.target, config.model_dump(mode="json"))
    log(f"run folder: {run_dir}")
    return _run(problem, config, store, log)


def resume_run(run_dir: Path, log: Log, llm_overrides: dict[str, Any] | None = None,
               eval_overrides: dict[str, Any] | None = None) -> RunOutput:
    """Continue a run with its stored settings; `llm_overrides` may raise budgets or turn the cache off;
    `eval_overrides` may move its evaluations (executor, address: where, never how, kernels are checked)."""
    store = RunStore.open(run_dir, writer=True)  # a second writer is refused here, before anything runs
    try:
        info = store.run_info()
        problem = run_problem(info["problem_dir"], info["problem"])
        if str(problem.root) != info["problem_dir"]:
            log(f"the run's problem folder {info['problem_dir']} is gone; using the built-in {problem.name} at {problem.root}")
        stored = info["config"]
        if llm_overrides:
            stored = {**stored, "llm": {**stored.get("llm", {}), **llm_overrides}}
        if eval_overrides:
            stored = {**stored, "eval": {**stored.get("eval", {}), **eval_overrides}}
        config = load_config(stored=stored)
        check_consistency(config)
        check_models(config)
    except BaseException:
        store.close()
        raise
    overrides = {**(llm_overrides or {}), **(eval_overrides or {})}
    store.event("resumed", **({"overrides": overrides} if overrides else {}))
    store.set_status("running")  # `runs` must not call a resumed (or resumed and killed) run finished
    # we hold the folder's lock now, so a run stored as running lost its process: it was killed
    was = "killed" if info["status"] == "running" else info["status"]
    log(f"resuming {run_dir} ({problem.name}, status {was})")
    return _run(problem, config, store, log)


def _run(problem: Problem, config: RunConfig, store: RunStore, log: Log) -> RunOutput:
    """Search, recording how the run ended: finished, interrupted (Ctrl-C, SIGTERM: the
    resume hint names the folder) or failed (the error is the stop reason). A killed process
    records nothing; `runs` sees that its lock has no live owner."""
    target = get_target(problem.target)
    run_dir = store.run_dir
    try:  # where the numbers come from, once per start or resume (a run may move between machines)
        store.event("machine", host=platform.node(), hardware=target.hardware().description)
        summary = Search(problem, target, config, store, log).run()
        row = summary_output(summary, store)
    except KeyboardInterrupt:
        store.set_status("interrupted", stop_reason="interrupted by the user")
        raise RunInterrupted(str(run_dir)) from None
    except Exception as exc:
        store.set_status("failed", stop_reason=str(exc) or type(exc).__name__)
        if isinstance(exc, UserError):
            exc.run_dir = str(run_dir)  # the CLI's --json error names the folder to resume
        raise
    finally:
        store.close()
    row.report = str(write_report(run_dir))
    row.best_code = str(run_dir / f"best{problem.language.suffix}")
    return row


def summary_output(summary: SearchSummary, store: RunStore) -> RunOutput:
    """The run's answer with its trustworthy headline (autocomp.headline); also RUN/summary.json."""
    best = summary.best
    result = best.result
    recheck = summary.validation if best.key != "root" and summary.validation is not result else None
    head = headline(result, recheck)
    shown = recheck if head.source == "re-check" and recheck is not None else result
    metric, value, initial = shown.metric_values() if shown else (MetricKind.LATENCY, None, None)
    target = store.run_info()["target"]
    highest_use = max((r.utilization for r in (result, recheck) if r and r.utilization is not None), default=None)
    row = RunOutput(
        run_dir=summary.run_dir, problem=store.run_info()["problem"],
        best=BestOutput(
            candidate_id=best.id, metric=metric, value=value, initial_value=initial, **headline_fields(head),
            menu_item=best.menu_item, iteration=best.iteration,
            gflops=shown.details.get("gflops") if shown else None, utilization=shown.utilization if shown else None,
            above_peak=above_peak_warning(highest_use, target),
            untimed=shown.details.get("untimed") if shown else None,
        ),
        iterations=summary.iterations, candidates=summary.candidates, llm_calls=summary.llm_calls,
        stopped=summary.stopped, best_score_history=summary.history,
        schedule=lineage(store, best.id), llm=store.llm_usage(),
        validation=summary.validation, cold_validation=summary.cold_validation,
    )
    (Path(summary.run_dir) / "summary.json").write_text(row.model_dump_json(indent=2, exclude={"report", "best_code"}))
    return row


def list_runs(root: Path) -> list[RunRow]:
    rows = []
    for db in run_stores_under(root):
        try:
            store = RunStore.open(db.parent)
        except UserError as exc:  # one broken run folder does not hide the others
            rows.append(RunRow(run_dir=str(db.parent), problem=None, status="unreadable", created=None,
                               iterations=0, candidates=0, best_speedup=None, error=str(exc)))
            continue
        try:
            info = store.run_info()
            beams, answer = store.beams(), store.best()
            head = None
            if answer is not None:
                found = store.evaluation(answer[1]["code_hash"]) if answer[1]["code_hash"] else None
                head = headline(found[0] if found else None, store.last_check("final_validation", answer[1]["id"]))
            rows.append(RunRow(
                run_dir=str(db.parent), problem=info["problem"], status=store.status(), created=info["created"],
                iterations=len(beams), candidates=len(store.candidates()),
                best_speedup=head.speedup_vs_initial if head else None, best_speedup_source=head.source if head else None,
                search_best_speedup=head.search_speedup if head else None,
                disagreement=head.disagreement if head else None, unreliable=head.unreliable if head else None,
                stop_reason=info.get("stop_reason"),
            ))
        finally:
            store.close()
    return rows
