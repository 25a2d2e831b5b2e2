"""Kernels that get past the static policy are still contained (harness/containment.h).

Each kernel here builds its forbidden calls by token pasting (`CAT(fop, en)`), a name the check
on the source never sees. The check on the preprocessed source catches that (first test); the
others tell the policy to let those calls through, as a gap in any source check would, and try
to escape: read or write files outside the scratch directory, signal another process, open a
socket, start a thread. Landlock and seccomp in the harness process stop all of it; a kernel
whose escape worked writes no outputs, so "correct" also means "contained". Real gcc, real
harness, real kernel features: where this machine's kernel lacks Landlock or seccomp, the tests
that need it are skipped, and the result says so.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.c_kernel import CKernelEvaluator
from autocomp.evaluation.policy import Policy
from autocomp.evaluation.result import Outcome
from autocomp.targets.registry import get_target, resolve_problem
from hostile import SOFTMAX_ROWS

PRELUDE = """\
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#define CAT(a, b) a##b
"""
def _kernel(declarations: str, escape: str) -> str:
    """A correct softmax that first tries `escape` (C statements setting `escaped` to 1 when it
    worked) and then leaves its outputs unwritten if it got out."""
    return (PRELUDE + declarations + SOFTMAX_ROWS + "void softmax(const float *restrict X, float *restrict Y) {\n"
            "  int escaped = 0;\n" + escape + "  if (!escaped) softmax_rows(X, Y);\n}\n")


SETTINGS = EvalSettings(time=False, trials=2, adversarial=False)
LET_THROUGH = frozenset({"fopen", "fputs", "fclose", "kill", "socket", "connect", "pthread_create"})


@pytest.fixture(scope="module")
def evaluator():
    """The cpu evaluator with a policy that lets the escape calls through: only the harness's
    containment stands in their way."""
    target = get_target("cpu")
    toolchain = dataclasses.replace(target.toolchain, policy=Policy(allowed_calls=LET_THROUGH))
    ev = CKernelEvaluator(resolve_problem("cpu/softmax-f32"), toolchain, SETTINGS, None)
    yield ev
    ev.close()


def test_the_policy_sees_names_built_by_macros() -> None:
    escape = '  FILE *f = CAT(fop, en)("/tmp/x", "w");\n  if (f) escaped = 1;\n'
    ev = get_target("cpu").evaluator(resolve_problem("cpu/softmax-f32"), SETTINGS)
    try:
        r = ev.evaluate(_kernel("", escape))
    finally:
        ev.close()
    assert r.outcome is Outcome.POLICY_VIOLATION, r
    assert r.error == "line 16: `fopen` (built by a macro) — file, network and terminal I/O is not allowed"


@pytest.fixture(scope="module")
def landlock(evaluator) -> str:
    """What the harness applied on this machine; skips the Landlock tests where it has none."""
    said = evaluator.evaluate(_kernel("", "")).details["containment"].split("; ")[1]
    if not said.startswith("landlock-"):
        pytest.skip(f"this machine's kernel gives no Landlock: {said}")
    return said


@pytest.fixture(scope="module")
def seccomp(evaluator) -> str:
    """Skips the seccomp tests where the kernel has no seccomp filters (the result says why)."""
    said = evaluator.evaluate(_kernel("", "")).details["containment"]
    if "seccomp: no threads, processes, exec or sockets" not in said:
        pytest.skip(f"no seccomp filter on this machine: {said}")
    return said


def test_every_result_says_how_the_kernel_was_contained(evaluator) -> None:
    r = evaluator.evaluate(_kernel("", ""))
    assert r.outcome is Outcome.OK, r.error
    assert re.fullmatch(r"(bwrap: .*|no bwrap \(.*\)); (landlock-v\d+: .*|no Landlock \(.*\)); "
                        r"(seccomp: .*|no seccomp \(.*\))", r.details["containment"]), r.details


def test_files_outside_the_scratch_directory_can_be_neither_read_nor_written(evaluator, landlock: str,
                                                                                tmp_path: Path) -> None:
    secret, planted = tmp_path / "secret.txt", tmp_path / "planted.txt"
    secret.write_text("a key the kernel must not read\n")
    escape = (f'  FILE *f = CAT(fop, en)("{secret}", "r");\n'
              "  if (f) { escaped = 1; CAT(fclo, se)(f); }\n"
              f'  FILE *g = CAT(fop, en)("{planted}", "w");\n'
              '  if (g) { escaped = 1; CAT(fput, s)("out", g); CAT(fclo, se)(g); }\n')
    r = evaluator.evaluate(_kernel("", escape))
    assert r.outcome is Outcome.OK, r.error  # both opens failed, so it computed the softmax
    assert not planted.exists()
    assert "files only in the scratch directory" in landlock


def test_a_kernel_cannot_signal_processes_outside(evaluator, landlock: str) -> None:
    if "no signals" not in landlock:
        pytest.skip(f"signal scoping needs Landlock ABI 6: {landlock}")
    victim = subprocess.Popen(["sleep", "60"])
    try:
        escape = f"  if (CAT(ki, ll)({victim.pid}, 9) == 0) escaped = 1;\n"
        r = evaluator.evaluate(_kernel("int CAT(ki, ll)(int pid, int sig);\n", escape))
        assert r.outcome is Outcome.OK, r.error
        assert victim.poll() is None  # still running
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.slow
def test_a_socket_kills_the_kernel_before_it_can_connect(evaluator, seccomp: str) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[object] = []
    server.settimeout(5)
    waiter = threading.Thread(target=lambda: accepted.append(_accept(server)))
    waiter.start()
    declarations = ("struct sockaddr_in { unsigned short family, port; unsigned int addr; char zero[8]; };\n"
                    "int CAT(sock, et)(int, int, int); int CAT(conn, ect)(int, const void *, unsigned int);\n")
    escape = (f"  int s = CAT(sock, et)(2, 1, 0);\n"
              f"  struct sockaddr_in to = {{2, (unsigned short)(({port} >> 8) | (({port} & 255) << 8)), 0x0100007f, {{0}}}};\n"
              "  if (s >= 0 && CAT(conn, ect)(s, &to, sizeof to) == 0) escaped = 1;\n")
    try:
        r = evaluator.evaluate(_kernel(declarations, escape))
    finally:
        waiter.join()
        server.close()
    assert r.outcome is Outcome.CRASH and "killed by SIGSYS" in (r.error or ""), r
    assert "may not create threads or processes, exec, open sockets" in (r.error or "")
    assert accepted == [None]  # nobody connected


def _accept(server: socket.socket) -> object:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return None
    conn.close()
    return "connected"


def test_a_thread_that_could_outlive_the_timed_call_is_not_started(evaluator, seccomp: str) -> None:
    """A thread left running would slow the baseline's timed calls and flatter the candidate."""
    declarations = ("int CAT(pthread_, create)(void *thread, const void *attr, void *(*start)(void *), void *arg);\n"
                    "static void *spin(void *arg) { for (volatile unsigned long i = 0;; i++) {} return arg; }\n")
    escape = "  unsigned long t;\n  if (CAT(pthread_, create)(&t, NULL, spin, NULL) == 0) escaped = 1;\n"
    r = evaluator.evaluate(_kernel(declarations, escape))
    assert r.outcome is Outcome.CRASH and "killed by SIGSYS" in (r.error or ""), r


@pytest.mark.slow
def test_a_timed_result_names_the_layers_of_the_candidates_runner() -> None:
    """In timing the candidate runs in a runner process that the timer forks, never in the timer:
    the result names bubblewrap's layer (or why there was none) and what that runner applied to
    itself before it loaded the kernel (no files to write, the second seccomp filter)."""
    ev = get_target("cpu").evaluator(resolve_problem("cpu/softmax-f32"),
                                     EvalSettings(trials=2, min_time_s=0.05, timeout_s=20))
    try:
        r = ev.evaluate(ev.problem.initial_code)
    finally:
        ev.close()
    assert r.outcome is Outcome.OK, r.error
    assert re.fullmatch(r"(bwrap: .*|no bwrap \(.*\)); "
                        r"(landlock-v\d+: no files but its kernel and the system libraries, read-only.*|no Landlock \(.*\)); "
                        r"(seccomp: .*, sockets, scheduling changes or signals out|no seccomp \(.*\))",
                        r.details["containment"]), r.details
