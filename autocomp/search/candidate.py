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

    @property
    def correct(self) -> bool:
        return self.result is not None and self.result.correct

    @property
    def score(self) -> float:
        return self.result.score if self.result is not None else float("inf")

    @property
    def code_hash(self) -> str | None:
        return code_hash(self.code) if self.code is not None else None
