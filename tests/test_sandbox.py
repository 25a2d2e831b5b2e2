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
from autocomp.evaluation.sandbox import Limits, SandboxResult, other_cores, timing_core
from autocomp.proctree import processes

PY = sys.executable  # absolute path: the sandbox's PATH is only /usr/local/bin:/usr/bin:/bin


def run(argv: list[str], workdir: Path, limits: Limits = Limits()) -> SandboxResult:
    """sandbox.run, with this interpreter readable (under bubblewrap nothing else is)."""
    return sandbox.run(argv, workdir, limits, readable=sandbox.python_folders())


def _host_pids(tag: str) -> list[int]:
    """Host pids of processes whose command line contains `tag` (pids printed inside the
    sandbox's pid namespace mean nothing out here)."""
    return [pid for pid, (_, cmd) in processes().items() if tag in cmd and pid != os.getpid()]


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
# Upper bounds on elapsed time tell "killed at the limit" from what a broken limit does (a 100 s
# or 30 s sleep run to its end, a busy loop never ending), with room for a loaded machine, where
# starting a sandboxed process alone can take seconds: LOADED_S, far from both.
LOADED_S = 15.0


def test_busy_loop_is_killed_at_the_timeout(tmp_path: Path) -> None:
    res = run(["sh", "-c", "while :; do :; done"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out
    assert res.returncode is None
    assert res.signal_name is None  # a timeout is not reported as a crash
    assert not res.ok
    assert 1.0 <= res.elapsed_s < 1.0 + LOADED_S


def test_python_busy_loop_is_killed_at_the_timeout(tmp_path: Path) -> None:
    res = run([PY, "-c", "while True: pass"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out and res.returncode is None
    assert 1.0 <= res.elapsed_s < 1.0 + LOADED_S


def test_sleep_is_killed_at_the_timeout(tmp_path: Path) -> None:
    res = run(["sleep", "100"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out and not res.ok
    assert 1.0 <= res.elapsed_s < 1.0 + LOADED_S


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
    tag = f"{time.time_ns() % 10**9}"  # sleep 100.<tag>: findable on the host
    res = run(["sh", "-c", f"sleep 100.{tag} & sleep 100"], tmp_path, Limits(timeout_s=1.0))
    assert res.timed_out
    left = [pid for pid in _host_pids(f"100.{tag}") if not _dead(pid)]
    for pid in left:
        _kill_if_alive(pid)
    assert left == [], "the grandchild survived the timeout"


def test_grandchild_left_behind_by_a_clean_exit_is_killed(tmp_path: Path) -> None:
    # The shell exits 0 at once; the orphaned sleep (stdout detached, so reading does not wait
    # for it) must still be reaped with the group.
    tag = f"{time.time_ns() % 10**9}"
    res = run(["sh", "-c", f"sleep 100.{tag} >/dev/null 2>&1 & echo started"], tmp_path, Limits(timeout_s=10.0))
    assert res.ok and not res.timed_out
    assert res.elapsed_s < LOADED_S  # not the 100 s the grandchild sleeps
    left = [pid for pid in _host_pids(f"100.{tag}") if not _dead(pid)]
    for pid in left:
        _kill_if_alive(pid)
    assert left == [], "the orphaned grandchild survived run()"


def test_child_runs_in_its_own_session(tmp_path: Path) -> None:
    res = run([PY, "-c", "import os; print(os.getpid(), os.getpgrp(), os.getsid(0))"], tmp_path, Limits(timeout_s=10))
    assert res.ok, res.stderr
    pid, pgrp, sid = map(int, res.stdout.split())
    # under bubblewrap the session is led by its init (pid 1 of the namespace), else by the child
    assert pgrp == sid == (1 if sandbox.isolation().bwrap else pid)
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
    assert seen.pop("PWD", str(tmp_path)) == str(tmp_path)  # bubblewrap sets it when it changes directory
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
    assert res.elapsed_s < LOADED_S


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


# ---- bounded output (issue 17, hole 4) ---------------------------------------------------------


def test_hundreds_of_megabytes_of_output_cost_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    import tracemalloc

    writer = ("import os\nblock = bytes(range(97, 123)) * 40330\n"  # ~1 MB
              "os.write(1, b'HEAD'); os.write(2, b'head')\n"
              "for _ in range(300): os.write(1, block); os.write(2, block)\n"
              "os.write(1, b'TAIL'); os.write(2, b'tail')\n")
    tracemalloc.start()
    try:
        res = run([PY, "-c", writer], tmp_path, Limits(timeout_s=60, keep_output_bytes=64 << 10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.ok, res.stderr[-500:]
    total = 4 + 300 * 26 * 40330 + 4
    assert res.stdout_bytes == res.stderr_bytes == total
    assert not res.stdout_complete
    assert res.stdout.startswith("HEAD") and res.stdout.endswith("TAIL")
    assert res.stderr.startswith("head") and res.stderr.endswith("tail")
    assert f"of {total:,} bytes left out" in res.stdout
    assert len(res.stdout) < 140_000 and len(res.stderr) < 140_000
    assert peak < 4 << 20, f"peak {peak / 1e6:.1f} MB of Python memory to capture {2 * total / 1e6:.0f} MB"


def test_short_output_is_kept_whole(tmp_path: Path) -> None:
    res = run(["sh", "-c", "echo out; echo err >&2"], tmp_path, Limits(timeout_s=5, keep_output_bytes=4))
    assert (res.stdout, res.stderr, res.stdout_bytes, res.stdout_complete) == ("out\n", "err\n", 4, True)


# ---- pipes held by an escaped process (issue 17, hole 10) --------------------------------------


@pytest.fixture
def without_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback where bubblewrap is missing: only the process group is killed."""
    monkeypatch.setattr(sandbox, "isolation", lambda: sandbox.Isolation(None, "no bwrap (switched off for this test)"))


def test_a_process_that_left_the_group_cannot_keep_us_waiting(tmp_path: Path, without_bwrap: None) -> None:
    """A grandchild in a session of its own escapes the group kill and holds stdout and stderr:
    reading stops DRAIN_S after the child exits instead of waiting for the grandchild's end."""
    tag = f"{time.time_ns() % 10**9}"
    res = run(["sh", "-c", f"setsid sleep 30.{tag} & sleep 0.3; echo done"], tmp_path, Limits(timeout_s=20))
    escaped = _host_pids(f"30.{tag}")
    for pid in escaped:
        _kill_if_alive(pid)
    assert res.ok and res.stdout == "done\n"
    assert res.elapsed_s < 1 + sandbox.DRAIN_S + LOADED_S  # not the escaped grandchild's 30 s
    assert escaped, "control: without a pid namespace the grandchild does escape the group"
    assert res.isolation == "no bwrap (switched off for this test)"


def test_the_same_after_a_timeout(tmp_path: Path, without_bwrap: None) -> None:
    tag = f"{time.time_ns() % 10**9}"
    res = run(["sh", "-c", f"setsid sleep 30.{tag} & sleep 30"], tmp_path, Limits(timeout_s=1))
    for pid in _host_pids(f"30.{tag}"):
        _kill_if_alive(pid)
    assert res.timed_out and res.elapsed_s < 1 + sandbox.DRAIN_S + LOADED_S


# ---- bubblewrap: what the child can see (issue 17, holes 1, 6, 10) -------------------------------

needs_bwrap = pytest.mark.skipif(sandbox.isolation().bwrap is None, reason=sandbox.isolation().description)


@needs_bwrap
def test_under_bwrap_nothing_of_ours_is_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-seen")
    probe = ("import os, glob\n"
             "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
             "print(os.getppid())\n"
             "print(sum(1 for p in glob.glob('/proc/*/environ') if b'sk-must' in open(p, 'rb').read()))\n"
             "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n")
    res = run([PY, "-c", probe], tmp_path, Limits(timeout_s=20))
    assert res.ok, res.stderr
    pids, ppid, readable_keys, caps = res.stdout.split("\n")[:4]
    assert os.getpid() not in eval(pids) and eval(pids) == [1, 2]  # bwrap's init and the child
    assert ppid == "1" and readable_keys == "0"
    assert int(caps, 16) == 0
    assert "sk-must-not-be-seen" not in res.stdout + res.stderr
    assert res.isolation.startswith("bwrap: ")


@needs_bwrap
def test_under_bwrap_only_the_workdir_is_writable_and_outside_files_do_not_exist(tmp_path: Path) -> None:
    work, secret, shared = tmp_path / "work", tmp_path / "secret.txt", tmp_path / "shared"
    work.mkdir()
    shared.mkdir()
    secret.write_text("outside")
    (shared / "data.txt").write_text("shared")
    script = (f"cat {secret}; echo rc=$?; cat /etc/passwd; echo rc=$?; cat {shared}/data.txt; echo; "
              f"touch {shared}/x; echo rc=$?; touch /usr/x; echo rc=$?; touch here && echo wrote")
    res = sandbox.run(["sh", "-c", script], work, Limits(timeout_s=10), readable=(shared,))
    lines = res.stdout.split("\n")
    assert lines[0] == "rc=1" and lines[1] == "rc=1", res.stdout  # neither file exists in there
    assert lines[2] == "shared"
    assert lines[3] != "rc=0" and lines[4] != "rc=0"  # read-only
    assert lines[5] == "wrote" and (work / "here").exists()
    assert "No such file" in res.stderr
    assert not (shared / "x").exists()


@needs_bwrap
def test_under_bwrap_there_is_no_network(tmp_path: Path) -> None:
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    try:
        port = server.getsockname()[1]
        res = run([PY, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"],
                  tmp_path, Limits(timeout_s=20))
    finally:
        server.close()
    assert not res.ok and "ConnectionRefusedError" in res.stderr  # a loopback of its own, nobody listening


@needs_bwrap
def test_under_bwrap_a_process_that_left_the_session_dies_with_the_child(tmp_path: Path) -> None:
    tag = f"{time.time_ns() % 10**9}"
    res = run(["sh", "-c", f"setsid sleep 30.{tag} & sleep 0.3; echo done"], tmp_path, Limits(timeout_s=20))
    left = [pid for pid in _host_pids(f"30.{tag}") if not _dead(pid)]
    for pid in left:
        _kill_if_alive(pid)
    assert res.ok and left == []
    assert res.elapsed_s < LOADED_S  # not the 30 s the grandchild sleeps


@needs_bwrap
def test_a_signal_inside_bwrap_is_reported_as_the_signal(tmp_path: Path) -> None:
    """bubblewrap exits with 128 + N for a child killed by signal N."""
    res = run(["sh", "-c", "kill -SYS $$"], tmp_path, Limits(timeout_s=5))
    assert res.signal_name == "SIGSYS" and res.returncode == -31


def test_without_bubblewrap_the_result_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None)
    assert sandbox.isolation.__wrapped__() == sandbox.Isolation(None, "no bwrap (bubblewrap is not installed)")


@needs_bwrap
def test_a_bubblewrap_that_cannot_start_here_is_reported_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where user namespaces are forbidden: the probe fails, the runs go on without it."""
    monkeypatch.setattr(sandbox, "_bwrap_args", lambda workdir, readable: ["--no-such-option"])
    said = sandbox.isolation.__wrapped__()
    assert said.bwrap is None and said.description.startswith("no bwrap (it cannot create namespaces here: ")
