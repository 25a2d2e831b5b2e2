"""A candidate kernel and its lineage (parent, plan, menu item, models)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from autocomp.evaluation.result import EvalResult


def code_hash(code: str) -> str:
    """Identity of a kernel for dedup: whitespace at line ends and blank lines do not matter."""
    normal = "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())
    return hashlib.sha256(normal.encode()).hexdigest()


@dataclass
class Candidate:
    id: int
    key: str  # deterministic position in the search, e.g. "i2/c7/p1/k0"
    iteration: int
    code: str | None
    parent_id: int | None = None
    plan_text: str | None = None
    menu_item: str | None = None
    plan_model: str | None = None
    code_model: str | None = None
    error: str | None = None  # why there is no code
    result: EvalResult | None = None
    feedback: str = ""
    duel_rank: float | None = None  # set by a duel with the leader (Referee.confirm_leads); ranks instead of the score
    rank_note: str = ""  # how the duel ranked it, for the log

    @property
    def correct(self) -> bool:
        return self.result is not None and self.result.correct

    @property
    def score(self) -> float:
        """The measured score: latency or cycles relative to the initial code, lower is better
        (inf without a result)."""
        return self.result.score if self.result is not None else float("inf")

    @property
    def rank(self) -> float:
        """What the search orders by: the measured score, unless a duel with the leader ranked
        the candidate (`duel_rank`). Reports show `score`; only the search uses `rank`."""
        return self.duel_rank if self.duel_rank is not None else self.score

    @property
    def code_hash(self) -> str | None:
        return code_hash(self.code) if self.code is not None else None
