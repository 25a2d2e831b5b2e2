"""The Executor seam: submit an evaluation, get a future.

The local executor uses a small thread pool driving sandboxed child processes: while
one candidate is timed on the pinned core, the next one compiles. Timing itself is
serialised inside the evaluator. The Ray executor (`ray_executor.py`, extra `ray`) runs the
same evaluator as tasks on a cluster's nodes.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from autocomp.errors import ProblemError
from autocomp.evaluation.base import Evaluator
from autocomp.evaluation.result import EvalResult, Outcome


class Executor(Protocol):
    """Where evaluations run. Every result says which machine measured it (`details.node`)."""

    exclusive_timing: bool  # the evaluator times wall clock (needs a timing core to itself)

    def submit(self, code: str) -> "Future[EvalResult]": ...

    def duel(self, code: str, rival: str) -> "Future[EvalResult]":
        """`code` timed against `rival` in one process, so on one machine (see Evaluator.duel)."""
        ...

    def variant(self, update: dict[str, Any]) -> "Executor":
        """The same problem under other [eval] settings (the winner's cold-cache check); the caller
        shuts it down."""
        ...

    def shutdown(self) -> None: ...


class LocalExecutor:
    def __init__(self, evaluator: Evaluator, workers: int | None = None,
                 build: Callable[[dict[str, Any]], Evaluator] | None = None, owns: bool = False) -> None:
        """`build(update)`: an evaluator for the same problem with some settings changed (for
        `variant`); `owns`: shutdown also closes `evaluator`."""
        self.evaluator, self._build, self._owns = evaluator, build, owns
        self.exclusive_timing = evaluator.exclusive_timing
        self._node = {"host": platform.node()}
        self._pool = ThreadPoolExecutor(max_workers=workers or min(2, os.cpu_count() or 1))

    def submit(self, code: str) -> "Future[EvalResult]":
        return self._pool.submit(self._safe, self.evaluator.evaluate, code)

    def duel(self, code: str, rival: str) -> "Future[EvalResult]":
        """`code` timed against `rival` in one process (see Evaluator.duel)."""
        return self._pool.submit(self._safe, self.evaluator.duel, code, rival)

    def variant(self, update: dict[str, Any]) -> "LocalExecutor":
        if self._build is None:
            raise TypeError("this LocalExecutor was made without `build`, so it has no variants")
        return LocalExecutor(self._build(update), workers=1, owns=True)

    def _safe(self, stage: Callable[..., EvalResult], *codes: str) -> EvalResult:
        try:
            result = stage(*codes)
        except ProblemError:
            raise  # the problem itself is broken: stop the run with the user-facing message
        except Exception as exc:  # our bug, not the candidate's: record it, keep the run going
            result = EvalResult(outcome=Outcome.HARNESS_ERROR, error=f"{type(exc).__name__}: {exc}")
        return result.model_copy(update={"details": {**result.details, "node": self._node}})

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._owns:
            self.evaluator.close()
