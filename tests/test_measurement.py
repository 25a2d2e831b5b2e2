"""Measurement integrity: the clock, the inputs and the comparison rule of the C harness.

Hostile kernels (tests/data/measurement/) attack the measurement rather than the answer
(issue 17, holes 2, 3 and 9; issue 16, "a kernel faster than itself"):

- timing forgery: move the harness's start time on the stack, patch the initial code it is
  compared with, stop early so that the timer sees "done", move to a quieter core, yield the core
  to have slow calls thrown away as preempted;
- differential caches: recompute only the rows, columns or tiles whose inputs changed, reuse an
  output keyed by a few sampled elements, compute correctly only on the calls guessed to be checked;
- two processes timing on one core at once;
- a comparison that filters one side's calls and not the other's.

Each runs through the real cpu target (gcc, the sandboxed harness) on cpu/gemm-f32-256. A kernel
that needs a call the static policy bans gets it through (`Policy(allowed_calls=...)`), as a gap
in any source check would: only the measurement's own design may stop it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autocomp.evaluation import sandbox
from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.c_kernel import CKernelEvaluator
from autocomp.evaluation.policy import Policy
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.evaluation.timing import within_noise
from autocomp.targets.registry import get_target, resolve_problem

HOSTILE = Path(__file__).parent / "data" / "measurement"
LET_THROUGH = frozenset({"dlopen", "dlsym", "dl_iterate_phdr", "mprotect", "raise", "sched_setaffinity"})


def hostile(name: str) -> str:
    return (HOSTILE / f"{name}.c").read_text()


@pytest.fixture(scope="module")
def problem():
    return resolve_problem("cpu/gemm-f32-256")


@pytest.fixture(scope="module")
def ev(problem):
    """The cpu evaluator, with a policy that lets the hostile calls through."""
    target = get_target("cpu")
    toolchain = dataclasses.replace(target.toolchain, policy=Policy(allowed_calls=LET_THROUGH))
    evaluator = CKernelEvaluator(problem, toolchain, EvalSettings(min_time_s=0.2, timeout_s=10, trials=2), None)
    yield evaluator
    evaluator.close()


@pytest.fixture(scope="module")
def initial_latency(ev, problem) -> float:
    r = ev.evaluate(problem.initial_code)
    assert r.outcome is Outcome.OK, r.error
    return r.baseline_latency_s


def no_gain(r: EvalResult, margin: float = 1.3) -> bool:
    """The attack bought nothing: rejected, or not measurably faster than the initial code."""
    return r.outcome is not Outcome.OK or (r.speedup is not None and r.speedup < margin)


# ---- hole 2: the measurement is out of the measured code's reach -------------------------------


@pytest.mark.slow
def test_moving_the_start_time_on_the_stack_changes_nothing(ev, initial_latency) -> None:
    """The security review's forgery: the unchanged triple loop reported 2.0x by moving the
    harness's start time, which sat on the stack of the process the kernel ran in."""
    r = ev.evaluate(hostile("forge_clock_on_stack").replace("SHIFT_S", repr(initial_latency / 2)))
    assert no_gain(r, 1.25), r
    if r.outcome is Outcome.OK:
        assert 0.8 < r.speedup < 1.25, r


@pytest.mark.slow
def test_the_initial_code_cannot_be_patched_by_the_candidate(ev) -> None:
    r = ev.evaluate(hostile("patch_the_baseline"))
    assert no_gain(r, 1.25), r


@pytest.mark.slow
def test_stopping_early_to_look_done_gains_nothing(ev) -> None:
    """The timer waits for the kernel's process to stop; a stopped process computes nothing, so a
    kernel that stops halfway has half an answer when the timer checks it."""
    r = ev.evaluate(hostile("stop_early"))
    assert r.outcome is not Outcome.OK, r


@pytest.mark.slow
def test_leaving_the_timing_core_is_refused(ev) -> None:
    r = ev.evaluate(hostile("move_to_another_core"))
    assert r.outcome is Outcome.CRASH and "SIGSYS" in (r.error or ""), r


@pytest.mark.slow
def test_yielding_the_core_to_have_slow_calls_left_out_is_refused(ev) -> None:
    r = ev.evaluate(hostile("yield_to_look_preempted"))
    assert r.outcome is Outcome.CRASH and "SIGSYS" in (r.error or ""), r


# ---- hole 3: timed inputs defeat caches, random timed calls are checked in full ---------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["differential_rows", "differential_tiles"])
def test_a_differential_cache_gains_nothing(ev, name: str) -> None:
    """Recomputing only what changed is correct, and fast while timed calls change 2 elements;
    every timed call now rewrites about 3 in 4 blocks of every input, so everything changed."""
    r = ev.evaluate(hostile(name))
    assert no_gain(r), r


@pytest.mark.slow
def test_a_cache_keyed_by_sampled_elements_gains_nothing(ev) -> None:
    r = ev.evaluate(hostile("cache_by_sampled_hash"))
    assert no_gain(r), r


@pytest.mark.slow
def test_computing_correctly_only_on_guessed_checks_is_caught(ev) -> None:
    """Checked calls are picked by the timer after each call, so no call can know it is checked."""
    r = ev.evaluate(hostile("correct_when_checked"))
    assert r.outcome is Outcome.WRONG_ANSWER and "picked at random for checking" in (r.error or ""), r


# ---- hole 9: one timed workload per core, machine-wide -----------------------------------------

HOLDER = textwrap.dedent("""\
    import select, sys, time
    from autocomp.evaluation.timing import core_lock
    with core_lock(int(sys.argv[1])):
        print("held", time.monotonic(), flush=True)
        select.select([sys.stdin], [], [], float(sys.argv[2]))  # until told (stdin closed), at most this long
        print("released", time.monotonic(), flush=True)
""")


@dataclasses.dataclass
class Holder:
    """Another process (another autocomp run) holding a core's timing lock. Its times are on the
    machine's monotonic clock, which every process shares, so the tests below compare the order
    of events across processes instead of durations a loaded machine stretches."""

    proc: subprocess.Popen[str]
    held_at: float

    def release(self) -> float:
        """Tell it to let go (if it still holds); when it did."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        out = self.proc.stdout.read()  # to its end: the holder exits once it let go
        self.proc.wait(timeout=120)
        return float(out.split()[-1])


def hold_core(core: int, seconds: float) -> Holder:
    """A holder of `core`'s lock for `seconds` or until released; returns once it holds it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(core), str(seconds)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("held"), line
    return Holder(proc, float(line.split()[-1]))


def test_two_processes_never_time_on_one_core_at_once() -> None:
    core = sandbox.timing_core()
    first = hold_core(core, 120)
    try:
        others = sorted(os.sched_getaffinity(0) - {core})
        other = hold_core(others[0], 0) if others else None  # another core is another lock: got while `core` is held
        # the second holder of `core` cannot get it until the first lets go: started in a thread,
        # it returns only after the release (at most 120 s later if the lock were broken)
        second: list[Holder] = []
        claim = threading.Thread(target=lambda: second.append(hold_core(core, 0)))
        claim.start()
        claim.join(timeout=1.0)  # given time to (wrongly) get in
        released = first.release()
        claim.join(timeout=120)
    finally:
        first.proc.kill()
        first.proc.wait()
    assert second and second[0].held_at >= released, "the second process got the core while the first held it"
    second[0].release()
    if other is not None:
        assert other.held_at < released
        other.release()


def test_a_free_core_is_claimed_under_the_same_lock_and_its_holder_may_take_it_again() -> None:
    """A Ray node picks its timing core with `free_core_lock`: a core another process holds (its
    `core_lock`) is skipped, and the evaluator then taking that core's lock in the same thread
    does not wait on itself. Lock numbers beyond any real core, so no timing on this machine is held up."""
    from autocomp.evaluation.timing import core_lock, free_core_lock

    busy = 4096 + 2 * (os.getpid() % 1000)
    free = busy + 1
    holder = hold_core(busy, 120)
    try:
        with free_core_lock((busy, free)) as core:
            assert core == free
            with core_lock(free):
                claimed = time.monotonic()
        assert claimed < holder.release(), "the claim waited for the busy core"  # it would have waited until its release
    finally:
        holder.proc.kill()
        holder.proc.wait()


@pytest.mark.slow
def test_an_evaluation_waits_for_another_process_timing_on_its_core(problem) -> None:
    """Our harness runs take the lock (verification runs on the timing core too)."""
    ev = get_target("cpu").evaluator(problem, EvalSettings(min_time_s=0.1, timeout_s=10, trials=2))
    try:
        ev.evaluate(problem.initial_code)  # built and warm: what remains is verification and timing
        holder = hold_core(sandbox.timing_core(), 2.0)
        r = ev.evaluate(problem.initial_code)
        finished = time.monotonic()
        released = holder.release()
    finally:
        ev.close()
    assert r.outcome is Outcome.OK, r.error
    assert finished > released, (finished, released)


@pytest.mark.slow
def test_the_vendor_timer_waits_for_another_process_timing_on_its_core(problem) -> None:
    """The vendor libraries' child takes the same lock (here a module that fails at once: only the wait is measured)."""
    from autocomp.targets.vendor import run_child

    holder = hold_core(sandbox.timing_core(), 1.5)
    row = run_child("json.tool", problem)
    finished = time.monotonic()
    released = holder.release()
    assert row.available is False and finished > released, (row, finished, released)


# ---- issue 16: a kernel is never faster than itself -----------------------------------------------


@contextlib.contextmanager
def load_on(core: int, hogs: int) -> Iterator[None]:
    """`hogs` busy-looping processes pinned to `core`: a shared machine at its worst."""
    procs = [subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        time.sleep(0.2)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_the_initial_code_against_itself_under_load_is_no_speedup(problem) -> None:
    """The self-check: a candidate identical to the initial code, timed on a core two other
    processes keep busy, comes out 1.0x within noise or is marked unreliable, never faster."""
    ev = get_target("cpu").evaluator(problem, EvalSettings(min_time_s=0.2, timeout_s=20, trials=2))
    try:
        with load_on(sandbox.timing_core(), 2):
            results = [ev.evaluate(problem.initial_code) for _ in range(3)]
    finally:
        ev.close()
    for r in results:
        assert r.outcome is Outcome.OK, r.error
        interval = r.details["speedup_interval"]
        assert interval[0] <= r.speedup <= interval[1]
        assert r.unreliable or within_noise(interval), (r.speedup, interval, r.details)
        if r.unreliable:
            assert "for a clean number" in r.unreliable and any(f.startswith("unreliable: ") for f in r.details["flags"])


def test_the_unreliable_mark_travels_with_the_result(tmp_path: Path) -> None:
    """Stored, read back, in the JSON every command prints."""
    from autocomp.store.runstore import RunStore

    mark = "too few calls ran without being preempted (...)"
    result = EvalResult(outcome=Outcome.OK, latency_s=1e-3, baseline_latency_s=4e-3, speedup=4.0, unreliable=mark,
                        details={"reps": 5})
    store = RunStore.create(tmp_path / "run", "cpu/gemm-f32-256", "x", "cpu", {})
    try:
        store.add_evaluation("h", result, "")
        back, _ = store.evaluation("h")
    finally:
        store.close()
    assert back.unreliable == mark and back.details == {"reps": 5}
    assert EvalResult.model_validate_json(result.model_dump_json()).unreliable == mark
    assert EvalResult(outcome=Outcome.OK, speedup=1.0).unreliable is None


def test_clocks_that_disagree_reject_the_result() -> None:
    """The timer's readings, checked against what the OS accounted and against our own clock: a
    call cannot run longer on the CPU than it took, the calls cannot add up to more than the whole
    run, and a kernel's process cannot run between its calls (it is stopped)."""
    check = CKernelEvaluator._clocks_disagree
    call = ["time", "cand", "1.0e-03", "0", "1.1e-03", "0"]
    assert check([call, ["time", "base", "2.0e-03", "1", "9.0e-03", "7e-03"]], [["outside", "cand", "0"]], 1.0) is None
    assert check([["time", "cand", "2.0e-03", "0", "1.0e-03", "0"]], [], 1.0) == \
        "a cand call ran 2 ms on the CPU but took 1 ms by the timer's clock"
    assert check([call] * 1000, [], 1.0) == "its calls add up to 1.100 s, more than the 1.000 s the whole run took"
    assert check([call], [["outside", "cand", "2.5e-03"]], 1.0) == "the cand process ran 2.5 ms of CPU time outside its timed calls"
