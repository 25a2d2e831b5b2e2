"""Scratch folders a killed autocomp left behind are removed at the next start, and only those
(autocomp/evaluation/scratch.py; issue 17, hole 10). Real processes, real folders."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autocomp.evaluation import sandbox, scratch

MAKE = ("from autocomp.evaluation import scratch; import sys, time\n"
        "scratch._done = sys.argv[3] == 'no-sweep'\n"
        "print(scratch.make(sys.argv[1]), flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n")


def _made_by_child(root: Path, prefix: str, linger_s: float, sweep: bool = False) -> tuple[Path, subprocess.Popen[str]]:
    """A folder made by another process (TMPDIR=root), which exits after `linger_s`; unless
    `sweep`, the process does not sweep first (so that the test can set the scene)."""
    env = {**os.environ, "TMPDIR": str(root)}
    child = subprocess.Popen([sys.executable, "-c", MAKE, prefix, str(linger_s), "sweep" if sweep else "no-sweep"],
                             stdout=subprocess.PIPE, text=True, env=env)
    folder = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
    return folder, child


def test_only_folders_whose_owner_died_are_removed(tmp_path: Path) -> None:
    dead, child = _made_by_child(tmp_path, "autocomp-eval-", 0)
    child.wait()
    vendor_dead, child = _made_by_child(tmp_path, "autocomp-vendor-", 0)
    child.wait()
    alive, living = _made_by_child(tmp_path, "autocomp-eval-", 60)
    try:
        (dead / "objects").mkdir()
        (dead / "objects" / "kernel.so").write_bytes(b"\0" * 1000)
        mark = (dead / scratch.MARK).read_text()
        dead_pid = int(mark.split()[0])
        # reused pid: our own pid, with a start time that is not ours
        reused = tmp_path / f"autocomp-eval-{os.getpid()}-reused"
        reused.mkdir()
        (reused / scratch.MARK).write_text(f"{os.getpid()} 1\n")
        # not provably ours: no mark; a mark for another pid than the name says; a link; a file; another prefix
        unmarked = tmp_path / f"autocomp-eval-{dead_pid}-nomark"
        unmarked.mkdir()
        mismatched = tmp_path / "autocomp-eval-1-mismatch"
        mismatched.mkdir()
        (mismatched / scratch.MARK).write_text(mark)
        target = tmp_path / "precious"
        target.mkdir()
        (target / scratch.MARK).write_text(mark)
        (target / "data.txt").write_text("keep me")
        link = tmp_path / f"autocomp-eval-{dead_pid}-link"
        link.symlink_to(target)
        plain_file = tmp_path / f"autocomp-eval-{dead_pid}-file"
        plain_file.write_text(mark)
        other = tmp_path / f"other-{dead_pid}-x"
        other.mkdir()
        (other / scratch.MARK).write_text(mark)

        removed = scratch.remove_stale(tmp_path)

        assert sorted(removed) == sorted([dead, vendor_dead, reused])
        assert not dead.exists() and not vendor_dead.exists() and not reused.exists()
        for kept in (alive, unmarked, mismatched, target, link, plain_file, other):
            assert kept.exists() or kept.is_symlink(), kept
        assert (target / "data.txt").read_text() == "keep me"
    finally:
        living.kill()
        living.wait()


def test_the_first_folder_of_a_process_sweeps_first(tmp_path: Path) -> None:
    dead, child = _made_by_child(tmp_path, "autocomp-eval-", 0)
    child.wait()
    fresh, child = _made_by_child(tmp_path, "autocomp-vendor-", 0, sweep=True)
    child.wait()
    assert not dead.exists() and fresh.exists()
    assert fresh.name.startswith(f"autocomp-vendor-{child.pid}-")


@pytest.mark.slow
@pytest.mark.skipif(sandbox.isolation().bwrap is None, reason=sandbox.isolation().description)
def test_kill_9_during_an_eval_leaves_no_process_and_the_next_start_removes_the_folder(tmp_path: Path) -> None:
    """The harness dies with autocomp (bubblewrap's --die-with-parent and its pid namespace); the
    scratch folder stays until the next autocomp start removes it."""
    root = tmp_path / "tmp"
    root.mkdir()
    spin = tmp_path / "spin.c"
    spin.write_text("void softmax(const float *restrict X, float *restrict Y) {\n"
                    "  for (volatile unsigned long i = 0;; i++) Y[i & 1023] = X[0];\n}\n")
    config = tmp_path / "slow.toml"
    config.write_text("[eval]\ntimeout_s = 120\ntrials = 2\n")
    env = {**os.environ, "TMPDIR": str(root)}
    cli = [sys.executable, "-m", "autocomp.cli", "eval", "cpu/softmax-f32", "--config", str(config)]
    proc = subprocess.Popen([*cli, str(spin)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        harness = []
        deadline = time.monotonic() + 60
        while not harness and time.monotonic() < deadline:
            time.sleep(0.2)
            harness = [pid for pid in _pids_with(str(root)) if "harness" in _cmdline(pid) and "verify" in _cmdline(pid)]
        assert harness, "the harness never started"
        proc.kill()
        proc.wait()
        time.sleep(2)
        left = [pid for pid in _pids_with(str(root)) if _running(pid)]
        assert left == [], [_cmdline(pid) for pid in left]
    finally:
        proc.kill()
        for pid in _pids_with(str(root)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    stale = list(root.glob("autocomp-eval-*"))
    assert stale, "control: kill -9 leaves the folder behind"
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(root.glob("autocomp-eval-*")) == []



TIMED_CHILD = """
import sys
from autocomp.evaluation import sandbox
if sys.argv[1] == "off":
    sandbox.isolation = lambda: sandbox.Isolation(None, "no bwrap (turned off by the test)")
from autocomp.evaluation.base import EvalSettings
from autocomp.targets.registry import get_target, resolve_problem
ev = get_target("cpu").evaluator(resolve_problem("cpu/softmax-f32"), EvalSettings(trials=2, min_time_s=60, timeout_s=120))
ev.evaluate(ev.problem.initial_code)
"""


@pytest.mark.slow
@pytest.mark.parametrize("bwrap", ["on", "off"])
def test_kill_9_during_timing_leaves_neither_timer_nor_runners(tmp_path: Path, bwrap: str) -> None:
    """The timing harness (the timer) dies with autocomp and each runner with the timer
    (PR_SET_PDEATHSIG), with bubblewrap's pid namespace and without it."""
    if bwrap == "on" and sandbox.isolation().bwrap is None:
        pytest.skip(sandbox.isolation().description)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", TIMED_CHILD, bwrap], env=env)
    try:
        timing: list[int] = []
        deadline = time.monotonic() + 90
        while len(timing) < 3 and time.monotonic() < deadline:  # the timer and its two runners
            time.sleep(0.2)
            timing = [pid for pid in _pids_with(str(tmp_path)) if " time " in _cmdline(pid) and _running(pid)]
        assert len(timing) >= 3, "the timer and its runners never started"
        proc.kill()
        proc.wait()
        time.sleep(2)
        left = [pid for pid in _pids_with(str(tmp_path)) if _running(pid)]
        assert left == [], [_cmdline(pid) for pid in left]
    finally:
        proc.kill()
        for pid in _pids_with(str(tmp_path)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_with(text: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and int(p.name) != os.getpid() and text in _cmdline(int(p.name))]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
