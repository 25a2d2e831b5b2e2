"""Timing on a shared machine: preempted calls are measurements of the machine, not of the code.

Both timers follow one rule. The C harness times our kernels (it reports each call with a
flag, see harness.c); `median_latency` here times vendor libraries in their Python child.
A call during which the OS preempted the process (gave the core to another process) is
left out and replaced by another call, up to `PATIENCE` times the time budget.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PATIENCE = 4  # a busy machine may stretch timing to this many times its budget, to replace preempted calls


@dataclass(frozen=True)
class Call:
    """One timed call; `preempted`: the OS gave its core to another process meanwhile."""

    seconds: float
    preempted: bool


def unpreempted(calls: list[Call], min_reps: int) -> tuple[list[float], int]:
    """The call times to take statistics over, and how many preempted calls were left out.

    A long kernel is preempted more often than a short one, so keeping preempted calls skews
    the candidate/baseline ratio on a busy machine (seen: a 3 ms baseline's median at 11 ms
    next to an unharmed 0.6 ms candidate, an 18x "speedup" that was 5x). When fewer than
    `min_reps` calls ran unpreempted, all are kept and the caller says so.
    """
    clean = [c.seconds for c in calls if not c.preempted]
    if len(clean) >= min_reps:
        return clean, len(calls) - len(clean)
    return [c.seconds for c in calls], 0


def _preemptions() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


def median_latency(fn: Callable[[], Any], min_time: float = 0.5, min_reps: int = 10) -> tuple[float, int, int]:
    """Median seconds per call of `fn` over at least `min_reps` unpreempted calls and `min_time`
    unpreempted seconds (3 warm-up calls first); also the calls used and the ones left out."""
    for _ in range(3):
        fn()
    calls: list[Call] = []
    clean_reps, clean_spent, spent = 0, 0.0, 0.0
    while len(calls) < min_reps or ((clean_reps < min_reps or clean_spent < min_time) and spent < PATIENCE * min_time):
        before = _preemptions()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        call = Call(dt, _preemptions() != before)
        calls.append(call)
        spent += dt
        if not call.preempted:
            clean_reps, clean_spent = clean_reps + 1, clean_spent + dt
    times, left_out = unpreempted(calls, min_reps)
    return statistics.median(times), len(times), left_out
