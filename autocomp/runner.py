"""What the commands do, without the command-line parsing: evaluate, optimize, resume, list.

Each function returns a plain dict — the `--json` output of its command — so the CLI
stays a thin shell and tests can call these directly.
"""

from __future__ import annotations

import json
import platform
import re
import time
from pathlib import Path
from typing import Any

from autocomp.config import RunConfig, check_consistency, load_config
from autocomp.errors import UserError
from autocomp.llm.model_string import split_model
from autocomp.llm.pricing import PriceTable
from autocomp.llm.registry import check_model_string, make_provider
from autocomp.problem import Problem
from autocomp.report.html import write_report
from autocomp.search.beam import Log, Search, SearchSummary
from autocomp.search.executors import open_executor
from autocomp.search.schedule import lineage
from autocomp.store.runstore import DB_NAME, RunStore
from autocomp.targets.registry import get_target, run_problem


def evaluate_code(problem: Problem, code: str, config: RunConfig, emulate: bool = False) -> dict[str, Any]:
    """Compile, verify and time `code`; with `emulate`, verify it on the target's functional
    emulator instead (for machines without the hardware; not timed)."""
    target = get_target(problem.target)
    if emulate:
        evaluator = target.emulated_evaluator(problem, config.eval.model_copy(update={"time": False}))
        if evaluator is None:
            raise UserError(f"the {target.name} target has no emulator; run without --emulate "
                            "(--emulate is for targets whose hardware this machine may lack, like amx)")
    else:
        reason = target.unavailable_reason()
        if reason and config.eval.executor == "local":  # on Ray, the nodes with the hardware run it
            raise UserError(reason)
        evaluator = target.evaluator(problem, config.eval)
    try:
        executor = open_executor(target, problem, config.eval.model_copy(update={"executor": "local"}) if emulate
                                 else config.eval, evaluator)
        try:
            result = executor.submit(code).result()
        finally:
            executor.shutdown()
    finally:
        evaluator.close()
    d = result.details
    return {
        "problem": problem.name, "correct": result.correct, "outcome": result.outcome.value, "error": result.error,
        "emulated": emulate,
        **dict(zip(("metric", "value", "baseline_value"), result.metric_values())),
        "speedup": result.speedup, "utilization": result.utilization, "gflops": d.get("gflops"),
        "baseline_gflops": d.get("baseline_gflops"), "flags": d.get("flags", []), "details": d,
    }


def default_run_dir(problem: Problem) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', problem.name)}-{stamp}"


def check_models(config: RunConfig) -> None:
    """Fail before anything is created: unknown model strings, missing SDK extras or keys, and
    models a cost budget cannot count (no known price)."""
    prices = PriceTable(config.llm.prices)
    for model in dict.fromkeys(config.models + config.coders):
        check_model_string(model)
        if not split_model(model)[0]:
            continue
        provider = make_provider(model, config.llm)
        if config.llm.max_cost is not None and provider.is_llm and prices.lookup(model) is None:
            raise UserError(f"--max-cost needs a price for {model}: add [llm.prices.\"{model}\"] with input = ... and "
                            f"output = ... (USD per million tokens) to the config file")


def start_run(problem: Problem, config: RunConfig, run_dir: Path | None, log: Log) -> dict[str, Any]:
    check_models(config)
    target = get_target(problem.target)
    reason = target.unavailable_reason()
    if reason and config.eval.executor == "local":  # on Ray, the nodes with the hardware run it
        raise UserError(reason)
    run_dir = run_dir or default_run_dir(problem)
    store = RunStore.create(run_dir, problem.name, str(problem.root), problem.target, config.model_dump(mode="json"))
    log(f"run folder: {run_dir}")
    return _run(problem, config, store, log)


def resume_run(run_dir: Path, log: Log, llm_overrides: dict[str, Any] | None = None,
               eval_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Continue a run with its stored settings; `llm_overrides` may raise budgets or turn the cache off;
    `eval_overrides` may move its evaluations (executor, address: where, never how, kernels are checked)."""
    store = RunStore.open(run_dir)
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
    overrides = {**(llm_overrides or {}), **(eval_overrides or {})}
    store.event("resumed", **({"overrides": overrides} if overrides else {}))
    store.set_status("running")  # `runs` must not call a resumed (or resumed and killed) run finished
    log(f"resuming {run_dir} ({problem.name}, status {info['status']})")
    return _run(problem, config, store, log)


def _run(problem: Problem, config: RunConfig, store: RunStore, log: Log) -> dict[str, Any]:
    target = get_target(problem.target)
    try:  # where the numbers come from, once per start or resume (a run may move between machines)
        store.event("machine", host=platform.node(), hardware=target.hardware().description)
        summary = Search(problem, target, config, store, log).run()
        row = summary_dict(summary, store)
    finally:
        store.close()
    row["report"] = str(write_report(Path(row["run_dir"])))
    return row


def summary_dict(summary: SearchSummary, store: RunStore) -> dict[str, Any]:
    best = summary.best
    result = best.result
    schedule = [step.__dict__ for step in lineage(store, best.id)]
    row = {
        "run_dir": summary.run_dir,
        "problem": store.run_info()["problem"],
        "best": {
            "candidate_id": best.id, **dict(zip(("metric", "value", "initial_value"), result.metric_values() if result else (None,) * 3)),
            "speedup_vs_initial": 1.0 / result.score if result and result.score else None,  # measured (a duel only ranks)
            "menu_item": best.menu_item, "iteration": best.iteration,
            "gflops": result.details.get("gflops") if result else None,
            "utilization": result.utilization if result else None,
        },
        "iterations": summary.iterations, "candidates": summary.candidates, "llm_calls": summary.llm_calls,
        "stopped": summary.stopped, "best_score_history": summary.history, "schedule": schedule,
        "llm": store.llm_usage(),
        "validation": summary.validation.model_dump(mode="json") if summary.validation else None,
        "cold_validation": summary.cold_validation.model_dump(mode="json") if summary.cold_validation else None,
    }
    (Path(summary.run_dir) / "summary.json").write_text(json.dumps(row, indent=2))
    return row


def list_runs(root: Path) -> list[dict[str, Any]]:
    rows = []
    for db in sorted(root.glob(f"**/{DB_NAME}")):
        try:
            store = RunStore.open(db.parent)
        except UserError as exc:  # one broken run folder does not hide the others
            rows.append({"run_dir": str(db.parent), "problem": None, "status": "unreadable", "created": None,
                         "iterations": 0, "candidates": 0, "best_speedup": None, "error": str(exc)})
            continue
        try:
            info = store.run_info()
            beams, answer = store.beams(), store.best()
            best = answer[0] if answer else None
            rows.append({
                "run_dir": str(db.parent), "problem": info["problem"], "status": info["status"],
                "created": info["created"], "iterations": len(beams), "candidates": len(store.candidates()),
                "best_speedup": (1.0 / best) if best else None,
            })
        finally:
            store.close()
    return rows
