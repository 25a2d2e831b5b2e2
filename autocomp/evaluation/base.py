"""The Evaluator seam: what the search and the executors need from a target's evaluator, the
settings every evaluator takes, and what its scores measure (`MetricKind`).

It lives with the evaluation code (not with the targets) so that the executors, which sit below
the targets, depend only on this package. Nothing here knows a kernel language: the C pipeline
is `evaluation/c_kernel.py`, one implementation of this protocol.
"""

from __future__ import annotations

import os
from typing import Protocol

from pydantic import BaseModel, Field, field_validator

from autocomp.evaluation.result import EvalResult, MetricKind

__all__ = ["EvalSettings", "Evaluator", "MetricKind"]


class EvalSettings(BaseModel):
    """How hard to check and how long to time. Defaults follow the hygiene rules."""

    trials: int = Field(3, ge=2, description="random correctness trials, each with a fresh seed")
    adversarial: bool = Field(True, description="add one trial drawn from the distribution's extremes")
    time: bool = True
    min_time_s: float = Field(0.5, gt=0, description="total measured time across candidate and baseline")
    min_reps: int = Field(5, ge=1)
    max_reps: int = Field(1000, ge=1)
    warmup: int = Field(3, ge=0)
    timeout_s: float = Field(30.0, gt=0, description="wall-clock limit for one sandboxed step")
    core: int | None = Field(None, description="CPU core to pin timing to; default: the last allowed core")
    cold_cache: bool = Field(False, description="time every call with its buffers flushed from all cache levels "
                             "(operands come from DRAM); by default data is warm from the previous call")

    @field_validator("core")
    @classmethod
    def _core_we_may_use(cls, core: int | None) -> int | None:
        """A core outside this process's affinity would fail every timing run as a kernel crash."""
        allowed = sorted(os.sched_getaffinity(0))
        if core is not None and core not in allowed:
            raise ValueError(f"core {core} is not one this process may run on; allowed: {', '.join(map(str, allowed))}")
        return core


class Evaluator(Protocol):
    exclusive_timing: bool  # wall-clock timing: needs the pinned core, and a quiet machine, to itself
    metric: MetricKind  # what its results' values measure (wall-clock latency, modeled cycles, ...)

    def evaluate(self, code: str, seed: int | None = None) -> EvalResult: ...

    def duel(self, code: str, rival: str) -> EvalResult:
        """`code` timed against `rival` in one process (speedup: how many times faster `code`
        is); speedup None where scores need no duel (modeled cycles, untimed settings)."""
        ...

    def close(self) -> None: ...
