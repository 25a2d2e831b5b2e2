"""Which candidates survive an iteration, and when the search stops early.

Follows the method: the pool is the incumbents (listed first, so they win ties) plus
all correct children, sorted by rank (the measured score unless a duel ranked it,
`Candidate.rank`); a child must beat its parent's rank times a
keep factor (up to `regression_slack` worse is allowed in the first `slack_iterations`
iterations); at most one child per (parent, plan text); identical code never takes two
slots. Incumbents are exempt from the gate, so the best score never gets worse.
"""

from __future__ import annotations

from autocomp.config import SearchConfig
from autocomp.search.candidate import Candidate


def keep_factor(iteration: int, cfg: SearchConfig) -> float:
    return 1.0 + cfg.regression_slack if iteration <= cfg.slack_iterations else 1.0


def select(beam: list[Candidate], children: list[Candidate], iteration: int, cfg: SearchConfig) -> list[Candidate]:
    parents = {c.id: c for c in beam}
    incumbents = {c.id for c in beam}
    pool = sorted(beam + [c for c in children if c.correct], key=lambda c: c.rank)  # stable: incumbents first
    factor = keep_factor(iteration, cfg)
    chosen: list[Candidate] = []
    seen_plans: set[tuple[int | None, str | None]] = set()
    seen_code: set[str | None] = set()
    for cand in pool:
        if len(chosen) == cfg.beam:
            break
        if cand.code_hash in seen_code:
            continue
        if cand.id not in incumbents:
            parent = parents.get(cand.parent_id)  # type: ignore[arg-type]
            if parent is None or not cand.rank < parent.rank * factor:
                continue
            plan_key = (cand.parent_id, cand.plan_text)
            if plan_key in seen_plans:
                continue
            seen_plans.add(plan_key)
        seen_code.add(cand.code_hash)
        chosen.append(cand)
    return chosen


def should_stop_early(best_history: list[float], patience: int) -> bool:
    """True when the leader's rank has not improved over the last `patience` iterations."""
    if patience <= 0 or len(best_history) <= patience:
        return False
    return not best_history[-1] < best_history[-1 - patience]
