"""Run an untrusted command in a contained child process.

Everything a candidate kernel touches (the compiler included) runs through `run()`:
its own session/process group (killed as a whole on timeout, so no grandchild
survives), rlimits on CPU time, address space, file size, open files and core
dumps, a scratch working directory, and an environment rebuilt from scratch so no
API key or other secret can leak into it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# The only variables a sandboxed child sees. Nothing is inherited from our environment.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
PRLIMIT = shutil.which("prlimit", path=SAFE_PATH) or "prlimit"
TASKSET = shutil.which("taskset", path=SAFE_PATH) or "taskset"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one child. Defaults suit compiling and running one kernel."""

    timeout_s: float = 30.0
    cpu_s: int | None = None  # defaults to timeout + 5 s
    address_space_bytes: int = 8 << 30
    file_size_bytes: int = 512 << 20
    open_files: int = 256
    max_processes: int | None = None  # not enforced for root; the static policy bans fork anyway
    cpus: tuple[int, ...] | None = None  # pin to these cores: the timing core for timing runs, the others for compiles


@dataclass
class SandboxResult:
    returncode: int | None  # None when killed for the timeout
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool = False
    signal_name: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def timing_core(preferred: int | None = None) -> int:
    """The core kernels and vendor libraries are timed on: `preferred` ([eval] core) or the
    highest core we may use (the OS tends to put other work on core 0)."""
    return max(os.sched_getaffinity(0)) if preferred is None else preferred


def other_cores(core: int) -> tuple[int, ...] | None:
    """The cores compiles may use, so that they do not take the timing core from a timed kernel
    (None, no pinning, on a one-core machine)."""
    rest = tuple(sorted(os.sched_getaffinity(0) - {core}))
    return rest or None


def _wrapped(argv: list[str], limits: Limits) -> list[str]:
    """Apply limits and pinning with util-linux's prlimit/taskset around the command.

    No `preexec_fn`: running Python between fork and exec in a multi-threaded process
    can deadlock (we saw it with a BLAS call in another thread), while a plain spawn
    is safe. The wrappers exec the command, so it keeps their pid and process group.
    """
    cpu = limits.cpu_s if limits.cpu_s is not None else int(limits.timeout_s) + 5
    wrapped = [
        PRLIMIT, f"--cpu={cpu}:{cpu + 1}", f"--as={limits.address_space_bytes}", f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}", "--core=0",
    ]
    if limits.max_processes is not None:
        wrapped.append(f"--nproc={limits.max_processes}")
    wrapped.append("--")
    if limits.cpus:
        wrapped += [TASKSET, "-c", ",".join(map(str, limits.cpus))]
    return wrapped + argv


def scrubbed_env(workdir: Path) -> dict[str, str]:
    """A minimal environment: no inherited variables, so no secrets."""
    return {
        "PATH": SAFE_PATH,
        "LANG": "C",
        "LC_ALL": "C",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "OMP_NUM_THREADS": "1",
    }


def run(argv: list[str], workdir: Path, limits: Limits = Limits()) -> SandboxResult:
    """Run `argv` in `workdir` under `limits`; never raises for anything the child does."""
    start = time.monotonic()
    proc = subprocess.Popen(
        _wrapped(argv, limits),
        cwd=workdir,
        env=scrubbed_env(workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own session and process group
        close_fds=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        out, err = proc.communicate(timeout=30)
    _kill_group(proc.pid)  # also reap anything the child left behind in its group
    code = proc.returncode
    sig = signal.Signals(-code).name if code is not None and code < 0 else None
    if sig in {"SIGXCPU"}:
        timed_out = True
    return SandboxResult(
        returncode=None if timed_out else code,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        elapsed_s=time.monotonic() - start,
        timed_out=timed_out,
        signal_name=None if timed_out else sig,
    )


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def python_child(module: str, *args: str) -> list[str]:
    """argv that runs `python -m MODULE ARGS` from this very copy of autocomp: a child's scrubbed
    environment has no PYTHONPATH, so `-m` alone could import another installed copy."""
    root = str(Path(__file__).resolve().parents[2])
    return [sys.executable, "-c", f"import sys, runpy; sys.path.insert(0, {root!r}); sys.argv[1:] = {list(args)!r}; "
                                  f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"]
