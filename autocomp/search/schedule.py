"""Schedules: the sequence of plans along a candidate's lineage.

A schedule is what made a winner: for each step from the initial code, the menu item
applied, the plan text and the models, with the score reached. Reuse on similar
problems builds on this.
"""

from __future__ import annotations

from dataclasses import dataclass

from autocomp.store.runstore import RunStore


@dataclass(frozen=True)
class Step:
    candidate_id: int
    iteration: int
    menu_item: str | None
    plan_text: str | None
    plan_model: str | None
    code_model: str | None
    speedup: float | None


def lineage(store: RunStore, candidate_id: int) -> list[Step]:
    """Steps from the initial code (excluded) to `candidate_id`, oldest first."""
    rows = {r["id"]: r for r in store.candidates()}
    steps: list[Step] = []
    current = rows.get(candidate_id)
    while current is not None and current["parent_id"] is not None:
        steps.append(Step(current["id"], current["iteration"], current["menu_item"], current["plan_text"],
                          current["plan_model"], current["code_model"], current["speedup"]))
        current = rows.get(current["parent_id"])
    return list(reversed(steps))
