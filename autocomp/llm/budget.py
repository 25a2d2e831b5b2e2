"""Budgets (model calls, dollars, wall time): stop a run at an iteration boundary before it
spends more than allowed.

An iteration is not interrupted halfway (its candidates would be half-evaluated), so the
check happens before each iteration: stop when what was spent, plus what the previous
iteration cost, would exceed the budget. The first iteration has no previous one to go by.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spend:
    calls: int = 0
    cost_usd: float = 0.0


def budget_stop(spent: Spend, last_iteration: Spend, max_cost: float | None, max_calls: int | None) -> str | None:
    """The stop reason if the next iteration would exceed a budget, else None."""
    if max_cost is not None and (spent.cost_usd >= max_cost or spent.cost_usd + last_iteration.cost_usd > max_cost):
        return (f"budget: ${spent.cost_usd:.4f} spent; another iteration (~${last_iteration.cost_usd:.4f}, "
                f"like the last) would exceed --max-cost ${max_cost:g}")
    if max_calls is not None and (spent.calls >= max_calls or spent.calls + last_iteration.calls > max_calls):
        return (f"budget: {spent.calls} model calls made; another iteration (~{last_iteration.calls} calls) "
                f"would exceed --max-llm-calls {max_calls}")
    return None


def time_stop(elapsed_s: float, last_iteration_s: float, max_minutes: float | None) -> str | None:
    """The stop reason if the next iteration, taking as long as the last, would end past --max-minutes."""
    if max_minutes is None or elapsed_s + last_iteration_s <= max_minutes * 60:
        return None
    span = lambda seconds: f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"  # noqa: E731
    return (f"time budget: {span(elapsed_s)} spent; another iteration (~{span(last_iteration_s)}, like the last) "
            f"would exceed --max-minutes {max_minutes:g}")
