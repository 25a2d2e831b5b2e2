"""Timing on a shared machine: preempted calls are measurements of the machine, not of the code.

Both timers follow one rule. The C harness times our kernels (it reports each call with a
flag, see harness.c); `median_latency` here times vendor libraries in their Python child.
A call during which the OS preempted the process (gave the core to another process) is
left out and replaced by another call, up to `PATIENCE` times the time budget.

Work on the other cores (memory traffic, shared caches) is not visible per call, so a block
of measurements (`autocomp bench`) first waits for the machine to be quiet (`wait_for_quiet`).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


QUIET = 0.05  # a machine with less than this fraction of its cores busy counts as quiet (docs/evaluation-hygiene.md R5.5)


def machine_load(window_s: float = 0.5) -> float | None:
    """The fraction of all cores busy (steal time included) over the next `window_s` seconds,
    from /proc/stat; None where it cannot be read."""

    def sample() -> tuple[int, int] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        return sum(fields), fields[3] + fields[4]  # all jiffies, idle + iowait

    first = sample()
    time.sleep(window_s)
    second = sample()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return (total - idle) / total


def wait_for_quiet(log: Callable[[str], None], threshold: float = QUIET, patience_s: float = 60.0) -> float | None:
    """Before a block of measurements: wait (up to `patience_s`) until other work leaves the
    machine quiet, and return the load measured last, for the record. A busy machine is
    measured anyway, after saying so: the caller records the load next to its numbers."""
    deadline = time.monotonic() + patience_s
    load = machine_load()
    if load is None or load < threshold or patience_s <= 0:
        return load
    log(f"waiting for the machine to quiet down: {load:.0%} of its cores are busy (waiting up to {patience_s:.0f} s for < {threshold:.0%})")
    while time.monotonic() < deadline:
        load = machine_load()
        if load is None or load < threshold:
            return load
    log(f"the machine is still {load:.0%} busy after {patience_s:.0f} s; measuring anyway (the load is recorded)")
    return load


class QuietGate:
    """`wait_for_quiet` before each round of a block: once the machine stayed busy through a
    whole wait, later rounds only record the load, so a busy machine costs one wait, not one
    per round."""

    def __init__(self, log: Callable[[str], None], patience_s: float = 60.0) -> None:
        self.log, self.patience_s = log, patience_s

    def __call__(self) -> float | None:
        load = wait_for_quiet(self.log, patience_s=self.patience_s)
        if load is not None and load >= QUIET and self.patience_s > 0:
            self.patience_s = 0.0
            self.log("later rounds will not wait; each records the load it started with")
        return load
