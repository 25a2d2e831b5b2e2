"""Schedules: the sequence of plans along a candidate's lineage.

A schedule is what made a winner: for each step from the initial code, the menu item
applied, the plan text and the models, with the score reached. `optimize --reuse RUN`
applies the winning schedule of RUN to a similar problem (see `ReuseConfig`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from autocomp.config import ReuseConfig, ReuseStep
from autocomp.errors import UserError
from autocomp.outputs import Step
from autocomp.problem import Problem
from autocomp.search.strategies import extended_items, strategy_source
from autocomp.store.runstore import RunStore
from autocomp.targets.registry import run_problem


def lineage(store: RunStore, candidate_id: int) -> list[Step]:
    """Steps from the initial code (excluded) to `candidate_id`, oldest first."""
    rows = {r["id"]: r for r in store.candidates()}
    extended = {i.name for i in extended_items(store)}
    steps: list[Step] = []
    current = rows.get(candidate_id)
    while current is not None and current["parent_id"] is not None:
        steps.append(Step(current["id"], current["iteration"], current["menu_item"], current["plan_text"],
                          current["plan_model"], current["code_model"], current["speedup"],
                          strategy_source(current["menu_item"], current["plan_text"], extended)))
        current = rows.get(current["parent_id"])
    return list(reversed(steps))


def reuse_from(run_dir: Path, problem: Problem) -> tuple[ReuseConfig, str | None]:
    """The winning schedule of the run in `run_dir`, to apply to `problem`, and a warning when
    the two problems are not similar (the user asked for it, so it is not refused)."""
    store = RunStore.open(run_dir)
    try:
        info, answer = store.run_info(), store.best()
        if answer is None:
            raise UserError(f"{run_dir} has no evaluated best candidate yet, so it has no schedule to reuse")
        source = run_problem(info["problem_dir"], info["problem"])
        steps = [ReuseStep(source=source.name, menu_item=s.menu_item, plan_text=s.plan_text)
                 for s in lineage(store, answer[1]["id"]) if s.plan_text]
    finally:
        store.close()
    if not steps:
        raise UserError(f"{run_dir}: its best is the initial code, so there is no schedule to reuse")
    if source.target != problem.target or source.spec.family != problem.spec.family:
        raise UserError(f"{run_dir} optimized {source.name} (family {source.spec.family}); its schedule applies only to "
                        f"problems of the same target and family, not {problem.name} (family {problem.spec.family})")
    return ReuseConfig(steps=steps), dissimilarity(source.spec.params, problem.spec.params)


def dissimilarity(source: dict[str, int], other: dict[str, int]) -> str | None:
    """Why a schedule may not carry over (None: similar). Similar, as in the method: two shared
    dimensions, or the same aspect ratio (every size scaled by one factor)."""
    names = sorted(source.keys() & other.keys())
    shared = [n for n in names if source[n] == other[n]]
    if len(shared) >= 2 or (names and len({Fraction(other[n], source[n]) for n in names if source[n]}) == 1):
        return None
    sizes = ", ".join(f"{n} {source[n]} -> {other[n]}" for n in names) or "no common size parameters"
    return f"the shapes share {len(shared)} dimension(s) and not their aspect ratio ({sizes}); the schedule may not carry over"
