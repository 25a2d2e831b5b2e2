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
    rank_score: float | None = None  # set by a duel with the leader (Search._confirm_leads); ranks instead of the result's score
    rank_note: str = ""  # how the duel ranked it, for the log

    @property
    def correct(self) -> bool:
        return self.result is not None and self.result.correct

    @property
    def score(self) -> float:
        """What the search ranks by: lower is better (latency or cycles relative to the initial code)."""
        if self.rank_score is not None:
            return self.rank_score
        return self.result.score if self.result is not None else float("inf")

    @property
    def code_hash(self) -> str | None:
        return code_hash(self.code) if self.code is not None else None
