"""Real-subprocess tests of autocomp.evaluation.sandbox.run (docs/evaluation-hygiene.md R3).

Every test starts genuine children (sh, sleep, python3, env, cat) and checks what the
sandbox promises: wall-clock kill of the whole process group, no surviving
grandchildren, a scrubbed environment, rlimits, signal reporting and core pinning.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from autocomp.evaluation import sandbox
from autocomp.evaluation.sandbox import Limits, SandboxResult, other_cores, run, timing_core

PY = sys.executable  # absolute path: the sandbox's PATH is only /usr/local/bin:/usr/bin:/bin


def _dead(pid: int, wait_s: float = 3.0) -> bool:
    """True once `pid` no longer exists or is a zombie waiting to be reaped by init."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in {"Z", "X"}:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _kill_if_alive(pid: int) -> None:
    """Clean up after a failing test: only the pid this test started."""
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


# ---- timeouts ----------------------------------------------------------------------


def test_busy_loop_is_killed_at_the_timeout(tmp_path: Path) -> None:
    res = run(["sh", "-c", "while :; do :; done"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out
    assert res.returncode is None
    assert res.signal_name is None  # a timeout is not reported as a crash
    assert not res.ok
    assert 1.0 <= res.elapsed_s < 3.0


def test_python_busy_loop_is_killed_at_the_timeout(tmp_path: Path) -> None:
    res = run([PY, "-c", "while True: pass"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out and res.returncode is None
    assert 1.0 <= res.elapsed_s < 3.0


def test_sleep_is_killed_at_the_timeout(tmp_path: Path) -> None:
    res = run(["sleep", "100"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out and not res.ok
    assert 1.0 <= res.elapsed_s < 3.0


def test_output_written_before_the_timeout_is_kept(tmp_path: Path) -> None:
    res = run(["sh", "-c", "echo started; echo oops >&2; sleep 100"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out
    assert res.stdout == "started\n"
    assert res.stderr == "oops\n"


def test_cpu_time_limit_is_reported_as_timeout(tmp_path: Path) -> None:
    # RLIMIT_CPU fires (SIGXCPU) long before the generous wall-clock limit; on a loaded machine
    # one CPU second takes several wall seconds, so the bound is the wall limit, with a margin.
    res = run(["sh", "-c", "while :; do :; done"], tmp_path, Limits(timeout_s=30.0, cpu_s=1))
    assert res.timed_out
    assert res.signal_name is None and res.returncode is None
    assert res.elapsed_s < 20.0


# ---- process group: no grandchild survives --------------------------------------------


def test_background_grandchild_dies_with_the_group_on_timeout(tmp_path: Path) -> None:
    res = run(["sh", "-c", "sleep 100 & echo $!; sleep 100"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out
    pid = int(res.stdout.split()[0])
    try:
        assert _dead(pid), f"grandchild {pid} survived the timeout"
    finally:
        _kill_if_alive(pid)


def test_grandchild_left_behind_by_a_clean_exit_is_killed(tmp_path: Path) -> None:
    # The shell exits 0 at once; the orphaned sleep (stdout detached, so communicate()
    # does not wait for it) must still be reaped with the group.
    res = run(["sh", "-c", "sleep 100 >/dev/null 2>&1 & echo $!"], tmp_path, Limits(timeout_s=10.0))
    assert res.ok and not res.timed_out
    assert res.elapsed_s < 5.0
    pid = int(res.stdout.split()[0])
    try:
        assert _dead(pid), f"orphaned grandchild {pid} survived run()"
    finally:
        _kill_if_alive(pid)


def test_child_runs_in_its_own_session(tmp_path: Path) -> None:
    res = run([PY, "-c", "import os; print(os.getpid(), os.getpgrp(), os.getsid(0))"], tmp_path, Limits(timeout_s=10))
    assert res.ok, res.stderr
    pid, pgrp, sid = map(int, res.stdout.split())
    assert pid == pgrp == sid
    assert pgrp != os.getpgrp()


# ---- environment and working directory --------------------------------------------


def test_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret-123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    res = run(["/usr/bin/env"], tmp_path, Limits(timeout_s=10))
    assert res.ok, res.stderr
    assert "sk-test" not in res.stdout and "OPENAI_API_KEY" not in res.stdout
    assert "sk-secret-123" not in res.stdout and "aws-secret" not in res.stdout
    seen = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert seen == sandbox.scrubbed_env(tmp_path)
    assert seen["PATH"] == sandbox.SAFE_PATH
    assert seen["HOME"] == seen["TMPDIR"] == str(tmp_path)
    assert seen["OMP_NUM_THREADS"] == "1"


def test_scrubbed_env_inherits_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret-123")
    env = sandbox.scrubbed_env(tmp_path)
    assert set(env) == {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "OMP_NUM_THREADS"}
    assert "sk-secret-123" not in env.values()


def test_child_runs_in_the_workdir_with_stdin_closed(tmp_path: Path) -> None:
    res = run(["sh", "-c", "pwd; cat; echo eof"], tmp_path, Limits(timeout_s=5))
    assert res.ok, res.stderr
    assert res.stdout.splitlines() == [str(tmp_path), "eof"]  # cat read EOF from /dev/null at once


# ---- resource limits ------------------------------------------------------------------


def test_address_space_limit_makes_a_large_allocation_fail(tmp_path: Path) -> None:
    res = run([PY, "-c", "bytearray(2 << 30)"], tmp_path, Limits(timeout_s=20, address_space_bytes=512 << 20))
    assert not res.ok and not res.timed_out
    assert res.returncode == 1
    assert "MemoryError" in res.stderr
    assert res.elapsed_s < 5.0


def test_large_allocation_succeeds_without_the_tight_limit(tmp_path: Path) -> None:
    # Control for the test above: 64 MiB is fine under the default 8 GiB limit.
    res = run([PY, "-c", "b = bytearray(64 << 20); print(len(b))"], tmp_path, Limits(timeout_s=20))
    assert res.ok, res.stderr
    assert res.stdout.strip() == str(64 << 20)


def test_file_size_limit_stops_large_writes(tmp_path: Path) -> None:
    # Python ignores SIGXFSZ, so the write fails with EFBIG instead of killing it.
    res = run([PY, "-c", "open('big.bin', 'wb').write(b'0' * 4_000_000)"], tmp_path,
              Limits(timeout_s=10, file_size_bytes=1 << 20))
    assert not res.ok and res.returncode == 1
    assert "File too large" in res.stderr
    assert (tmp_path / "big.bin").stat().st_size == 1 << 20


def test_open_files_and_core_limits_apply(tmp_path: Path) -> None:
    res = run(["sh", "-c", "ulimit -n; ulimit -c"], tmp_path, Limits(timeout_s=5, open_files=64))
    assert res.ok, res.stderr
    assert res.stdout.split() == ["64", "0"]


# ---- signals and exit codes ---------------------------------------------------------


def test_signal_exit_is_reported_with_its_name(tmp_path: Path) -> None:
    res = run(["sh", "-c", "kill -SEGV $$"], tmp_path, Limits(timeout_s=5))
    assert res.signal_name == "SIGSEGV"
    assert res.returncode == -11
    assert not res.timed_out and not res.ok


def test_sigill_and_sigfpe_are_named(tmp_path: Path) -> None:
    for sig in ("ILL", "FPE", "BUS"):
        res = run(["sh", "-c", f"kill -{sig} $$"], tmp_path, Limits(timeout_s=5))
        assert res.signal_name == f"SIG{sig}"
        assert not res.timed_out


def test_nonzero_exit_is_not_a_signal(tmp_path: Path) -> None:
    res = run(["sh", "-c", "echo bad >&2; exit 7"], tmp_path, Limits(timeout_s=5))
    assert res.returncode == 7
    assert res.signal_name is None and not res.timed_out and not res.ok
    assert res.stderr == "bad\n"


def test_success_is_ok(tmp_path: Path) -> None:
    res = run(["sh", "-c", "echo hello"], tmp_path, Limits(timeout_s=5))
    assert isinstance(res, SandboxResult)
    assert res.ok and res.returncode == 0 and res.stdout == "hello\n"


# ---- core pinning ---------------------------------------------------------------------


@pytest.mark.parametrize("core", sorted(os.sched_getaffinity(0)))
def test_cpu_core_pinning_shows_in_the_child(tmp_path: Path, core: int) -> None:
    res = run(["cat", "/proc/self/status"], tmp_path, Limits(timeout_s=5, cpus=(core,)))
    assert res.ok, res.stderr
    allowed = [line.split(":", 1)[1].strip() for line in res.stdout.splitlines() if line.startswith("Cpus_allowed_list")]
    assert allowed == [str(core)]


def test_compiles_run_off_the_timing_core() -> None:
    allowed = os.sched_getaffinity(0)
    core = timing_core()
    assert core == max(allowed) and timing_core(min(allowed)) == min(allowed)
    others = other_cores(core)
    assert (others is None) if len(allowed) == 1 else (set(others) == allowed - {core})


def test_without_pinning_the_child_keeps_our_affinity(tmp_path: Path) -> None:
    res = run([PY, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], tmp_path, Limits(timeout_s=10))
    assert res.ok, res.stderr
    assert res.stdout.strip() == str(sorted(os.sched_getaffinity(0)))
