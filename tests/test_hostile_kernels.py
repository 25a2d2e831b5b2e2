"""Hostile kernels that act before, around or outside the call the harness times (issue 17).

Code that runs when the kernel is loaded (constructors however spelled, `.init_array` entries,
ifunc resolvers) must already be contained: it may not read the parent's environment (where the
API keys are), connect anywhere, exec a shell or leave a process behind. The compiler may not read
files outside the toolchain and its scratch directory. A kernel's output cannot grow autocomp's
memory. Real gcc, real harness, real system calls; the attacks use raw `syscall` instructions so
no source check stands in their way (tests/hostile.py).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import secrets
import socket
import sqlite3
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from autocomp.evaluation import policy, sandbox
from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.c_kernel import CKernelEvaluator
from autocomp.evaluation.result import Outcome
from autocomp.targets.registry import get_target, resolve_problem
from conftest import autocomp, reply_with_code, write_replay
from hostile import (LOAD_TIME, SOFTMAX, SYSCALLS, connect_to, exec_shell, flood, fork_and_linger, hostile,
                     steal_environ)

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the attacks use x86-64 system call numbers")

SETTINGS = EvalSettings(time=False, trials=2, adversarial=False, timeout_s=20)


@pytest.fixture
def fake_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A key in this process's environment (and so in every autocomp child it starts)."""
    key = "sk-fake-" + secrets.token_hex(12)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    return key


@pytest.fixture(params=["bwrap", "harness only"])
def evaluator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """The cpu evaluator for softmax, with the policy's load-time rule switched off: as if a
    spelling got past it, so that only the OS layers stand in the way. Twice: with bubblewrap,
    and without it (Landlock and seccomp in the harness must hold on their own)."""
    if request.param == "bwrap" and sandbox.isolation().bwrap is None:
        pytest.skip(sandbox.isolation().description)
    if request.param == "harness only":
        monkeypatch.setattr(sandbox, "isolation", lambda: sandbox.Isolation(None, "no bwrap (switched off for this test)"))
    monkeypatch.setattr(policy, "_load_time_code", lambda clean: None)
    ev = get_target("cpu").evaluator(resolve_problem("cpu/softmax-f32"), SETTINGS)
    yield ev
    ev.close()


class Listener:
    """A TCP server on 127.0.0.1 that records whoever connects."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            conn.settimeout(1)
            try:
                self.received.append(conn.recv(4096) or b"<connected>")
            except OSError:
                self.received.append(b"<connected>")
            conn.close()

    def close(self) -> list[bytes]:
        self._stop.set()
        self._thread.join()
        self.server.close()
        return self.received


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


# ---- load time: every spelling runs contained ------------------------------------------------


def test_the_attacks_work_where_nothing_contains_them(tmp_path: Path) -> None:
    """Control: the same attack code, run as a plain program (no sandbox), does read an environ
    and connect. Without this, a contained result could be a broken attack."""
    listener = Listener()
    try:
        for attack in (steal_environ(os.getpid()), connect_to(listener.port)):
            src = tmp_path / "a.c"
            src.write_text(SYSCALLS + attack + "int main(void) { attack(); return escaped ? 0 : 7; }\n")
            import subprocess

            subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "a"), str(src)], check=True)
            assert subprocess.run([str(tmp_path / "a")], capture_output=True).returncode in (0, 1)
    finally:
        received = listener.close()
    assert received == [b"stolen\n"]


@pytest.mark.slow
@pytest.mark.parametrize("spelling", sorted(LOAD_TIME))
def test_load_time_code_cannot_read_the_parents_environment(evaluator: CKernelEvaluator, fake_key: str,
                                                              spelling: str) -> None:
    r = evaluator.evaluate(hostile(steal_environ(os.getpid()), spelling))
    assert fake_key not in r.model_dump_json()
    # correct = the load-time code ran, and every read failed
    assert r.outcome is Outcome.OK, r.error


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["__constructor__", "asm .init_array", "ifunc resolver"])
def test_load_time_code_cannot_connect(evaluator: CKernelEvaluator, spelling: str) -> None:
    listener = Listener()
    try:
        r = evaluator.evaluate(hostile(connect_to(listener.port), spelling))
    finally:
        received = listener.close()
    assert received == []
    assert r.outcome is Outcome.CRASH and "SIGSYS" in (r.error or ""), r


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["__constructor__", "asm .init_array", "ifunc resolver"])
def test_load_time_code_cannot_exec_a_shell(evaluator: CKernelEvaluator, tmp_path: Path, spelling: str) -> None:
    marker = tmp_path / "pwned"
    r = evaluator.evaluate(hostile(exec_shell(str(marker)), spelling))
    assert not marker.exists()
    assert r.outcome is Outcome.CRASH and "SIGSYS" in (r.error or ""), r


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["__constructor__", "asm .init_array", "ifunc resolver"])
def test_load_time_code_leaves_no_process_behind(evaluator: CKernelEvaluator, spelling: str) -> None:
    name = "hk" + secrets.token_hex(4)
    start = time.monotonic()
    r = evaluator.evaluate(hostile(fork_and_linger(name, seconds=300), spelling))
    took = time.monotonic() - start
    left = processes_named(name)
    kill_all(left)
    assert left == []
    # waiting on a process that held its pipes is waiting out its 300 s; an evaluation, even on a
    # loaded machine, is far below 120 s
    assert took < 120, f"the evaluation waited {took:.0f} s on a process that held its pipes"
    assert r.outcome is not Outcome.OK, r


# ---- the whole program: key, store, report -----------------------------------------------------


@pytest.mark.slow
def test_a_hostile_search_leaks_no_key_anywhere(tmp_path: Path, fake_key: str) -> None:
    """`autocomp optimize` (scripted model) over four load-time attacks that pass the source
    policy as it is: the key is in autocomp's environment, and it appears nowhere: not in its
    output, not in the run store, not in the report; nothing connected, ran a shell or stayed."""
    listener = Listener()
    marker, name = tmp_path / "pwned", "hk" + secrets.token_hex(4)
    attacks = [steal_environ(os.getpid()), connect_to(listener.port), exec_shell(str(marker)), fork_and_linger(name)]
    replay = write_replay(tmp_path / "replies.toml", [f"Chosen item: 1\nPlan {i}." for i in range(4)],
                          [reply_with_code(hostile(a)) for a in attacks])
    config = tmp_path / "fast.toml"
    config.write_text("[eval]\nmin_time_s = 0.05\ntimeout_s = 10\ntrials = 2\n")
    run_dir = tmp_path / "run"
    try:
        proc = autocomp("optimize", "cpu/softmax-f32", "--config", str(config), "--models", f"replay::{replay}",
                        "--iterations", "1", "--plans", "4", "--codes", "1", "--run-dir", str(run_dir), timeout=300)
    finally:
        received = listener.close()
    left = processes_named(name)
    kill_all(left)
    assert proc.returncode == 0, proc.stderr
    assert fake_key not in proc.stdout + proc.stderr
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "run.db" for p in files)
    for path in files:
        assert fake_key.encode() not in path.read_bytes(), path
    assert received == [] and not marker.exists() and left == []
    outcomes = [o for (o,) in sqlite3.connect(run_dir / "run.db").execute(
        "SELECT e.outcome FROM candidates c JOIN evaluations e ON e.code_hash = c.code_hash "
        "WHERE c.origin = 'planned' ORDER BY c.id")]
    assert outcomes == ["ok", "crash", "crash", "crash"], outcomes


# ---- compile time: no file outside the toolchain exists ------------------------------------------


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    """A file outside any scratch directory whose text, compiled, is quoted in gcc's errors."""
    token = "SECRET_" + secrets.token_hex(8)
    path = tmp_path / "secret.h"
    path.write_text(f"{token} = 1;\n")
    return path, token


def _include_variants(path: Path, workdir: Path) -> dict[str, str]:
    rel = os.path.relpath(path, workdir / "objects" / "x")
    return {
        "absolute <path>": f"#include <{path}>\n",
        "computed absolute": f'#define WHERE "{path}"\n#include WHERE\n',
        "computed ../ relative": f'#define WHERE "{rel}"\n#include WHERE\n',
        "asm .include": f'__asm__(".include \\"{path}\\"");\n',
        "asm .incbin": (f'__asm__(".pushsection .rodata\\n.globl blob\\nblob: .incbin \\"{path}\\"\\n.byte 0\\n.popsection");\n'
                        "extern const char blob[];\n"
                        "__attribute__((used)) static const char *keep(void) { return blob; }\n"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["absolute <path>", "computed absolute", "computed ../ relative", "asm .include",
                                     "asm .incbin"])
def test_the_compiler_cannot_read_files_outside_its_scratch(secret_file: tuple[Path, str], variant: str) -> None:
    path, token = secret_file
    ev = get_target("cpu").evaluator(resolve_problem("cpu/softmax-f32"), SETTINGS)
    try:
        code = ("#include <stddef.h>\n#include <math.h>\n" + _include_variants(path, ev.workdir)[variant]
                + "static volatile int ran = 1, escaped;\n" + SOFTMAX)
        r = ev.evaluate(code)
    finally:
        ev.close()
    assert token not in r.model_dump_json()
    assert r.outcome in (Outcome.COMPILE_ERROR, Outcome.POLICY_VIOLATION), r
    assert r.outcome is Outcome.POLICY_VIOLATION or re.search(r"No such file|file not found", r.error or ""), r.error


# ---- output: bounded capture ---------------------------------------------------------------------


def _python_peak(evaluator: CKernelEvaluator, code: str) -> tuple[object, int]:
    tracemalloc.start()
    try:
        r = evaluator.evaluate(code)
        return r, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("fd", [2, 3])
def test_a_kernel_flooding_its_output_does_not_grow_autocomp(evaluator: CKernelEvaluator, fd: int) -> None:
    """300 MB to stderr, or to the harness's private result stream (a dup of stdout, fd 3): we
    keep a bounded head and tail, record the size, and judge the run. The memory an evaluation
    needs anyway (inputs, reference outputs) is measured on the same kernel writing nothing."""
    _, quiet = _python_peak(evaluator, hostile(flood(fd, 0), "__constructor__"))
    r, loud = _python_peak(evaluator, hostile(flood(fd, 300), "__constructor__"))
    assert r.outcome is Outcome.CRASH, r  # type: ignore[attr-defined]
    assert loud - quiet < 4 << 20, f"capturing 300 MB took {(loud - quiet) / 1e6:.0f} MB more Python memory"
    error = r.error or ""  # type: ignore[attr-defined]
    assert len(error) < 20_000
    assert re.search(r"\b314,57\d,\d{3} bytes", error), error[-500:]  # 300 MiB, and the harness's own lines
