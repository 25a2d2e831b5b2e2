"""Which speedup a user reads first, and what is said beside it.

The search scores each kernel once, against the initial code at its own moment; the winner is
then re-checked after the search, in a new process on fresh inputs, interleaved call by call
with the initial code (docs/evaluation-hygiene.md R7). On a busy machine the two disagree
(seen: 27.47x in the search, 7.11x re-checked): the search keeps the best of many noisy
draws, so its figure is biased upwards. The re-checked figure is the headline wherever a
number is published (`optimize`, `resume`, `runs`, summary.json, the report, the demo); the
search's figure is kept beside it, and a disagreement beyond noise is said in words. The
timing layer's unreliable mark (too few calls ran unpreempted) of the measurement the headline
comes from travels with it, so every output shows it beside the number it qualifies.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from autocomp.evaluation.result import EvalResult

# Two same-process ratios of one kernel taken minutes apart on a shared machine differ by up
# to about this factor (the search's 2% duel margin is for back-to-back calls, not this).
AGREEMENT = 1.25


class Headline(BaseModel):
    """The trustworthy speedup of a run's answer, its source, and the other figure."""

    speedup_vs_initial: float | None  # the re-checked figure when there is one, else the search's
    source: Literal["re-check", "search"]
    search_speedup: float | None
    recheck_speedup: float | None
    disagreement: str | None = None  # set when search and re-check disagree by more than AGREEMENT
    unreliable: str | None = None  # the headline's measurement lacked clean calls: why, and how to get a clean number


def _speedup(result: EvalResult | None) -> float | None:
    return result.speedup if result is not None and result.correct else None


def headline(search: EvalResult | None, recheck: EvalResult | None) -> Headline:
    """The headline of an answer measured in the search (`search`) and re-checked after it (`recheck`)."""
    found, checked = _speedup(search), _speedup(recheck)
    if checked is None:
        failed = recheck is not None and not recheck.correct
        note = f"the re-check on fresh inputs failed ({recheck.outcome.value})" if failed and recheck else None
        return Headline(speedup_vs_initial=None if failed else found, source="search", search_speedup=found,
                        recheck_speedup=None, disagreement=note,
                        unreliable=search.unreliable if search and not failed else None)
    note = None
    if found and max(found, checked) / min(found, checked) > AGREEMENT:
        note = (f"the search measured {found:.2f}x, the re-check {checked:.2f}x: more than noise "
                f"({AGREEMENT:.2f}x apart); the machine was likely busy during one of them, trust the re-check "
                "or measure again on a quiet machine (`autocomp bench`)")
    return Headline(speedup_vs_initial=checked, source="re-check", search_speedup=found, recheck_speedup=checked,
                    disagreement=note, unreliable=recheck.unreliable)
