"""The Evaluator seam: what the search and the executors need from a target's evaluator.

It lives with the evaluation code (not with the targets) so that the executors, which sit below
the targets, depend only on this package.
"""

from __future__ import annotations

from typing import Protocol

from autocomp.evaluation.result import EvalResult


class Evaluator(Protocol):
    exclusive_timing: bool  # wall-clock timing: needs the pinned core, and a quiet machine, to itself

    def evaluate(self, code: str, seed: int | None = None) -> EvalResult: ...

    def duel(self, code: str, rival: str) -> EvalResult:
        """`code` timed against `rival` in one process (speedup: how many times faster `code`
        is); speedup None where scores need no duel (modeled cycles, untimed settings)."""
        ...

    def close(self) -> None: ...
