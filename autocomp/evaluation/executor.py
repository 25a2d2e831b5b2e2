"""The Executor seam: submit an evaluation, get a future.

The local executor uses a small thread pool driving sandboxed child processes: while
one candidate is timed on the pinned core, the next one compiles. Timing itself is
serialised inside the evaluator. A Ray executor for clusters plugs in here later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from autocomp.errors import ProblemError
from autocomp.evaluation.base import Evaluator
from autocomp.evaluation.result import EvalResult, Outcome


class LocalExecutor:
    def __init__(self, evaluator: Evaluator, workers: int | None = None) -> None:
        self.evaluator = evaluator
        self._pool = ThreadPoolExecutor(max_workers=workers or min(2, os.cpu_count() or 1))

    def submit(self, code: str) -> "Future[EvalResult]":
        return self._pool.submit(self._safe, self.evaluator.evaluate, code)

    def duel(self, code: str, rival: str) -> "Future[EvalResult]":
        """`code` timed against `rival` in one process (see Evaluator.duel)."""
        return self._pool.submit(self._safe, self.evaluator.duel, code, rival)

    @staticmethod
    def _safe(stage: Callable[..., EvalResult], *codes: str) -> EvalResult:
        try:
            return stage(*codes)
        except ProblemError:
            raise  # the problem itself is broken: stop the run with the user-facing message
        except Exception as exc:  # our bug, not the candidate's: record it, keep the run going
            return EvalResult(outcome=Outcome.HARNESS_ERROR, error=f"{type(exc).__name__}: {exc}")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
