"""How a run ends, and who may write it (issue 16 §1 run states, issue 17 hole 8): one writer per
run folder (an OS lock, refused with a clear message, released when the owner dies), Ctrl-C and
SIGTERM recorded as interrupted with the resume hint, a failure recorded as failed, and a killed
owner detected by `autocomp runs`. Real processes throughout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autocomp.runner import list_runs
from autocomp.store.runstore import RunStore
from autocomp.targets.registry import resolve_problem
from conftest import assert_one_line_error, autocomp

TUNER_ARGS = ["--models", "tuner", "--beam", "1", "--plans", "1", "--codes", "1"]


def _status(run_dir: Path) -> str:
    con = sqlite3.connect(run_dir / "run.db")
    try:
        return str(con.execute("SELECT status FROM run").fetchone()[0])
    finally:
        con.close()


def _start(run_dir: Path, cfg: Path, iterations: int) -> subprocess.Popen[str]:
    """`autocomp optimize` in the background, in its own process group."""
    return subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", "cpu/gemm-f32-256", "--config", str(cfg),
                             *TUNER_ARGS, "--iterations", str(iterations), "--run-dir", str(run_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_search(proc: subprocess.Popen[str], run_dir: Path) -> None:
    """Until the run has evaluated its initial code (its search is under way)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            con = sqlite3.connect(run_dir / "run.db")
            try:
                if con.execute("SELECT count(*) FROM evaluations").fetchone()[0] >= 1:
                    return
            finally:
                con.close()
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the run did not start searching: {proc.poll()} {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture
def slow_config(tmp_path: Path) -> Path:
    """Long enough timing that a run is still searching when the test acts on it."""
    cfg = tmp_path / "slow.toml"
    cfg.write_text("[eval]\nmin_time_s = 0.5\ntimeout_s = 10\ntrials = 2\n")
    return cfg


@pytest.mark.slow
def test_a_second_writer_is_refused_and_a_killed_owner_frees_the_folder(tmp_path: Path, slow_config: Path) -> None:
    """Hole 8: `optimize D` and two `resume D` at once interleaved three searches in one store."""
    run_dir = tmp_path / "run"
    owner = _start(run_dir, slow_config, iterations=20)
    try:
        _wait_for_search(owner, run_dir)
        for proc in (autocomp("resume", str(run_dir)),
                     autocomp("optimize", "cpu/gemm-f32-256", "--config", str(slow_config), *TUNER_ARGS,
                              "--run-dir", str(run_dir))):
            assert_one_line_error(proc, f"{run_dir} is in use by another autocomp process (pid {owner.pid}")
        listed = {r["run_dir"]: r for r in json.loads(autocomp("runs", str(tmp_path), "--json").stdout)}
        assert listed[str(run_dir)]["status"] == "running"  # its owner is alive
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
    # a killed process records nothing: `runs` sees that no live process holds the lock
    assert _status(run_dir) == "running"
    listed = json.loads(autocomp("runs", str(tmp_path), "--json").stdout)
    assert [r["status"] for r in listed] == ["killed"]
    human = autocomp("runs", str(tmp_path))
    assert "killed" in human.stdout and "autocomp resume RUN" in " ".join(human.stdout.split())
    resumed = autocomp("resume", str(run_dir), "--json")  # the kernel dropped the dead owner's lock
    assert resumed.returncode == 0, resumed.stderr
    assert _status(run_dir) == "finished"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_so_and_how_to_continue(tmp_path: Path, slow_config: Path, sig: int) -> None:
    """Ctrl-C printed only "interrupted" and the run stayed `running` forever."""
    run_dir = tmp_path / "run"
    proc = _start(run_dir, slow_config, iterations=20)
    _wait_for_search(proc, run_dir)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert f"interrupted; the run is stored in {run_dir}: continue it with `autocomp resume {run_dir}`" in stderr
    assert "Traceback" not in stderr
    assert _status(run_dir) == "interrupted"
    assert [r.status for r in list_runs(tmp_path)] == ["interrupted"]


def test_a_run_that_fails_before_its_first_iteration_is_recorded_as_failed(tmp_path: Path, fast_config: Path) -> None:
    """An initial code that is not correct stops the run before iteration 1: it was listed as
    `running` forever; now `failed`, with the reason."""
    folder = tmp_path / "wrong"
    shutil.copytree(resolve_problem("cpu/gemm-f32-256").root, folder)
    initial = (folder / "initial.c").read_text()
    assert "= acc;" in initial
    (folder / "initial.c").write_text(initial.replace("= acc;", "= acc + 1.0f;  /* wrong on purpose */"))
    run_dir = tmp_path / "runs" / "r"
    proc = autocomp("optimize", str(folder), "--config", str(fast_config), *TUNER_ARGS, "--iterations", "1",
                    "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 2 and "is not correct, so there is nothing to optimize" in proc.stderr, proc.stderr
    error = json.loads(proc.stdout)  # --json: the error is one JSON object on stdout
    assert error["kind"] == "user_error" and error["run_dir"] == str(run_dir)
    [row] = list_runs(tmp_path / "runs")
    assert row.status == "failed" and "nothing to optimize" in (row.stop_reason or "")


def test_runs_scans_a_folder_that_changes_while_it_looks(tmp_path: Path) -> None:
    """`autocomp runs /tmp` died with FileNotFoundError: folders vanish while it scans there."""
    root = tmp_path / "shared"
    store = RunStore.create(root / "kept" / "run", "cpu/gemm-f32-256", "/nowhere", "cpu", {})
    store.close()
    stop = threading.Event()

    def churn() -> None:  # another program's scratch folders, made and removed as fast as it can
        i = 0
        while not stop.is_set():
            (root / f"d{i % 40}" / "a" / "b").mkdir(parents=True, exist_ok=True)
            shutil.rmtree(root / f"d{(i + 20) % 40}", ignore_errors=True)
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(150):  # before the fix, about 1 scan in 13 raised
            assert [Path(r.run_dir).name for r in list_runs(root)] == ["run"]
    finally:
        stop.set()
        worker.join()
    assert_one_line_error(autocomp("runs", str(root / "kept" / "run" / "run.db")), "is not a folder")
