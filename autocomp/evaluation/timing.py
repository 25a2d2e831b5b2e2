"""Timing on a shared machine: preempted calls are measurements of the machine, not of the code.

Both timers follow one rule. The C harness times our kernels (it reports each call with a
flag, see harness.c); `median_latency` here times vendor libraries in their Python child.
A call during which the OS preempted the process (gave the core to another process) is
left out and replaced by another call, up to `PATIENCE` times the time budget. A comparison
filters both of its sides by that rule (`paired`); when either side has too few clean calls the
result says it is unreliable. Only one timed workload runs on a core at a time, machine-wide
(`core_lock`).

Work on the other cores (memory traffic, shared caches) is not visible per call, so a block
of measurements (`autocomp bench`) first waits for the machine to be quiet (`wait_for_quiet`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autocomp.errors import UserError

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


@dataclass(frozen=True)
class Paired:
    """The call times a comparison takes its statistics over, both sides filtered by one rule."""

    candidate: list[float]
    baseline: list[float]
    left_out: tuple[int, int]  # preempted calls left out of (candidate, baseline)
    unreliable: str | None  # why the ratio cannot be trusted, and how to get one that can; None: it can


REMEDY = ("for a clean number: a quieter machine, another core for timing ([eval] core, or --core), "
          "or a longer timing budget ([eval] min_time_s)")


def paired(candidate: list[Call], baseline: list[Call], min_reps: int) -> Paired:
    """Both sides of a comparison filtered by ONE rule: each keeps only its unpreempted calls,
    and when either has fewer than `min_reps` of them, both keep every call and the result is
    unreliable. Filtering one side and not the other made a kernel "4.18x faster than itself":
    the side with too few clean calls kept its preempted ones, slow with other processes' time,
    next to the other side's clean ones."""
    clean_c = [c.seconds for c in candidate if not c.preempted]
    clean_b = [c.seconds for c in baseline if not c.preempted]
    if len(clean_c) >= min_reps and len(clean_b) >= min_reps:
        return Paired(clean_c, clean_b, (len(candidate) - len(clean_c), len(baseline) - len(clean_b)), None)
    counts = f"candidate {len(clean_c)} of {len(candidate)}, initial code {len(clean_b)} of {len(baseline)}"
    reason = (f"too few calls ran without being preempted ({counts}; {min_reps} needed on each side), so the "
              f"ratio includes time other processes had the core; {REMEDY}")
    return Paired([c.seconds for c in candidate], [c.seconds for c in baseline], (0, 0), reason)


@dataclass(frozen=True)
class Overhead:
    """What waking a kernel's process and waiting for it to stop adds to every timed call, from
    empty round trips timed before the kernel was loaded: their median (taken off every call) and
    their median absolute deviation (how far that estimate may be off for any one call)."""

    median_s: float
    spread_s: float


# A call's own time (less the overhead) must be at least this many overhead spreads, so that one
# spread of error in the overhead moves it by 5% at most (docs/evaluation-hygiene.md R5.3's floor)...
OVERHEAD_SPREADS = 20
# ...and at least this share of its raw time: past that, the subtraction is the number, not the call.
OWN_SHARE = 0.5


def too_short(raw_median_s: float, overhead: Overhead) -> str | None:
    """Why calls whose clean median CPU time (overhead included) is `raw_median_s` cannot be timed
    one by one, or None when they can. A 10x10 matmul (~1 µs) next to a ~8 µs wake-and-stop came
    out 0.0008x to 2.35x faster than itself, and the subtraction took latencies down to nothing;
    such a call is dominated by the overhead and its noise, whatever the statistics say."""
    own = raw_median_s - overhead.median_s
    if own >= OVERHEAD_SPREADS * overhead.spread_s and own >= OWN_SHARE * raw_median_s:
        return None
    return (f"calls of {raw_median_s * 1e6:.3g} µs, {overhead.median_s * 1e6:.3g} µs of them waking and stopping the "
            f"kernel's process (± {overhead.spread_s * 1e6:.2g} µs), are too short to time one by one, so the latency "
            f"shown includes that overhead; time a larger shape")


def median_interval(values: list[float]) -> tuple[float, float]:
    """A distribution-free ~95% confidence interval for the median of `values` (order statistics:
    the ranks n/2 -+ 0.98 sqrt(n) of the sorted values), so no assumption about the shape of timing
    noise is needed."""
    ordered, n = sorted(values), len(values)
    half = 0.98 * n ** 0.5
    return ordered[max(0, int(n / 2 - half))], ordered[min(n - 1, int(n / 2 + half))]


def speedup_interval(candidate: list[float], baseline: list[float]) -> tuple[float, float]:
    """The range of baseline/candidate median ratios both medians' intervals allow: a speedup whose
    interval holds 1.0 is within noise of no speedup."""
    c_lo, c_hi = median_interval(candidate)
    b_lo, b_hi = median_interval(baseline)
    return b_lo / c_hi, b_hi / c_lo


NOISE_FLOOR = 0.05  # docs/evaluation-hygiene.md R5.3: differences below 5% are noise, however narrow the statistical interval


def within_noise(interval: tuple[float, float] | list[float]) -> bool:
    """Whether a speedup with this `speedup_interval` is no speedup at all: the interval, widened
    by NOISE_FLOOR for what statistics do not see (code placement, frequency), holds 1.0."""
    lo, hi = interval
    return lo * (1 - NOISE_FLOOR) <= 1.0 <= hi * (1 + NOISE_FLOOR)


LOCK_DIR = Path("/tmp/autocomp-timing")  # fixed, not $TMPDIR: every run on the machine must find the same file
# flock is per open file, so threads of one process also exclude each other; this keeps them in order.
# Reentrant, with `_held`, so a thread that holds a core may take its lock again (a Ray worker claims
# a free core, then the evaluator it runs takes that core's lock) instead of waiting on itself.
_in_process = threading.RLock()
_held = threading.local()


@contextlib.contextmanager
def core_lock(core: int) -> Iterator[None]:
    """Hold the timing core `core` for a timed workload, machine-wide: our harness's timing runs,
    the vendor libraries' timer, the peak measurement of every autocomp process and the Ray
    workers take it, so two runs never time on one core at once (each would slow the other's
    kernels). An advisory flock(2) on LOCK_DIR/core-N.lock: the OS releases it when its holder
    exits, even on kill -9."""
    with free_core_lock((core,)):
        yield


@contextlib.contextmanager
def free_core_lock(cores: Sequence[int]) -> Iterator[int]:
    """Hold the first of `cores` that no one times on (a non-blocking try of each core's
    `core_lock` file), or, when all are busy, wait for the first; yields the core held. A Ray
    node picks its timing core so, sharing the one lock per core with every other timer on the
    machine. A core this thread already holds is granted at once."""
    held: set[int] = _held.__dict__.setdefault("cores", set())
    mine = next((core for core in cores if core in held), None)
    if mine is not None:
        yield mine
        return
    fds = {core: _open_lock(core) for core in cores}
    try:
        with _in_process:
            chosen = next((core for core, fd in fds.items() if _try_flock(fd)), None)
            if chosen is None:
                chosen = cores[0]
                fcntl.flock(fds[chosen], fcntl.LOCK_EX)
            held.add(chosen)
            try:
                yield chosen
            finally:
                held.discard(chosen)
    finally:
        for fd in fds.values():
            os.close(fd)


def _open_lock(core: int) -> int:
    path = LOCK_DIR / f"core-{core}.lock"
    try:
        LOCK_DIR.mkdir(exist_ok=True)
        with contextlib.suppress(PermissionError):
            LOCK_DIR.chmod(0o1777)  # like /tmp: any user may add a lock file, none may remove another's
        return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UserError(f"cannot open the timing lock {path}: {exc.strerror}; every user of autocomp on this machine "
                        f"must be able to create files in {LOCK_DIR} (make it like /tmp: chmod 1777 {LOCK_DIR})") from None


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


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
