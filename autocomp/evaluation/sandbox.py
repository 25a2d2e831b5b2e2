"""Run an untrusted command in a contained child process.

Everything a candidate kernel touches (the compiler, the harness, a vendor benchmark) runs
through `run()`. The layers, outermost first:

- **bubblewrap** where `bwrap` is installed and can create namespaces (`isolation()` says which):
  new user (no capabilities, uid 65534), pid, network, IPC, UTS and cgroup namespaces; a root
  file system holding only the read-only system directories (`SYSTEM_PATHS`), the folders the
  caller names as `readable` (read-only) and the working directory (writable), with a fresh /proc
  (no other process, ours included, is visible), /dev and /tmp; it dies with us, and every
  process in it dies with its first one. So the parent's environment, the network and any file
  outside the toolchain and the scratch directory simply do not exist for the child.
- rlimits on CPU time, address space, file size, open files and core dumps (util-linux
  `prlimit`), pinning (`taskset`), its own session and process group, killed as a whole;
- an environment rebuilt from scratch (no API key or other secret is inherited);
- bounded capture: at most a head and a tail of stdout and stderr are kept, their sizes recorded.

Where bubblewrap is missing the rest still applies and `SandboxResult.isolation` says so; the
harness adds Landlock and seccomp inside its own process (harness/containment.h).
"""

from __future__ import annotations

import functools
import os
import selectors
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The only variables a sandboxed child sees. Nothing is inherited from our environment.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
PRLIMIT = shutil.which("prlimit", path=SAFE_PATH) or "prlimit"
TASKSET = shutil.which("taskset", path=SAFE_PATH) or "taskset"

# What every child may read: the toolchain and the dynamic loader's configuration, nothing else
# from /etc, and the CPU topology that BLAS libraries look up. Symlinks (merged /usr) stay links.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/sys/devices/system/cpu")
SANDBOX_UID = 65534  # "nobody" inside the user namespace (mapped to our own uid outside)
DRAIN_S = 1.0  # after the child exited: how long leftover output may still arrive


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
    keep_output_bytes: int = 64 << 10  # of stdout and of stderr, the head and the tail each keep this much


@dataclass
class SandboxResult:
    returncode: int | None  # None when killed for the timeout
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool = False
    signal_name: str | None = field(default=None)
    stdout_bytes: int = 0  # how much the child wrote; beyond 2 x keep_output_bytes the middle is left out
    stderr_bytes: int = 0
    stdout_complete: bool = True  # False when part of stdout was left out
    isolation: str = ""  # the namespace layer this child ran under, or why there was none

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclass(frozen=True)
class Isolation:
    """Whether children run under bubblewrap on this machine, and in words for the results."""

    bwrap: str | None
    description: str


@functools.cache
def isolation() -> Isolation:
    """Probe bubblewrap once per process: installed, and able to create the namespaces here
    (a kernel or container may forbid user namespaces)."""
    bwrap = shutil.which("bwrap", path=SAFE_PATH)
    if bwrap is None:
        return Isolation(None, "no bwrap (bubblewrap is not installed)")
    try:
        with tempfile.TemporaryDirectory(prefix="autocomp-probe-") as tmp:
            probe = [bwrap, *_bwrap_args(Path(tmp), ()), "--", "true"]
            done = subprocess.run(probe, capture_output=True, text=True, timeout=30, env=scrubbed_env(Path(tmp)))
    except (OSError, subprocess.TimeoutExpired) as e:
        return Isolation(None, f"no bwrap (it did not start: {e})")
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return Isolation(None, f"no bwrap (it cannot create namespaces here: {said})")
    return Isolation(bwrap, "bwrap: own user/pid/net/ipc/uts/cgroup namespaces, no capabilities, "
                            "read-only system, only the scratch directory writable")


def timing_core(preferred: int | None = None) -> int:
    """The core kernels and vendor libraries are timed on: `preferred` ([eval] core) or the
    highest core we may use (the OS tends to put other work on core 0)."""
    return max(os.sched_getaffinity(0)) if preferred is None else preferred


def other_cores(core: int) -> tuple[int, ...] | None:
    """The cores compiles may use, so that they do not take the timing core from a timed kernel
    (None, no pinning, on a one-core machine)."""
    rest = tuple(sorted(os.sched_getaffinity(0) - {core}))
    return rest or None


PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding this autocomp package


def python_folders() -> tuple[Path, ...]:
    """What a Python child of ours needs to read under bubblewrap: this interpreter and its
    environment's packages (numpy, torch, MKL)."""
    return (Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent,
            *(Path(p) for p in site.getsitepackages()))


def _bwrap_args(workdir: Path, readable: Sequence[Path], devices: Sequence[Path] = ()) -> list[str]:
    """bubblewrap's options: namespaces, the file system the child sees (system read-only, then
    `readable` read-only, then `workdir` writable: parents before children, so a writable
    scratch directory inside a read-only folder stays writable), and the device nodes in
    `devices` (a GPU's) on top of the fresh /dev."""
    args = ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--cap-drop", "ALL", "--die-with-parent", "--new-session",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in SYSTEM_PATHS:
        p = Path(path)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), path]
        elif p.exists():
            args += ["--ro-bind", path, path]
    # at the paths the caller uses (bubblewrap follows links in the source, not in the destination)
    binds = sorted({*(("--ro-bind", os.path.abspath(r)) for r in readable), ("--bind", os.path.abspath(workdir))},
                   key=lambda b: (b[1].count("/"), b[1], b[0] == "--bind"))
    for option, path in binds:
        if os.path.exists(path):
            args += [option, path, path]
    for device in devices:
        if os.path.exists(device):
            args += ["--dev-bind", str(device), str(device)]
    return args + ["--chdir", os.path.abspath(workdir)]


def _wrapped(argv: list[str], workdir: Path, limits: Limits, readable: Sequence[Path],
             devices: Sequence[Path] = ()) -> list[str]:
    """Apply limits and pinning with util-linux's prlimit/taskset around bubblewrap (where it
    works) around the command.

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
    bwrap = isolation().bwrap
    if bwrap is not None:
        wrapped += [bwrap, *_bwrap_args(workdir, readable, devices), "--"]
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


class _Capture:
    """The first and the last `keep` bytes of a stream, and its size; the middle is dropped as it
    arrives, so a child writing gigabytes costs us a constant amount of memory."""

    def __init__(self, keep: int) -> None:
        self.keep, self.head, self.tail, self.total = keep, bytearray(), bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.keep:
                del self.tail[: len(self.tail) - self.keep]

    @property
    def complete(self) -> bool:
        return self.total == len(self.head) + len(self.tail)

    def text(self) -> str:
        if self.complete:
            return (self.head + self.tail).decode(errors="replace")
        left_out = self.total - len(self.head) - len(self.tail)
        return (self.head.decode(errors="replace") + f"\n[... {left_out:,} of {self.total:,} bytes left out ...]\n"
                + self.tail.decode(errors="replace"))


def run(argv: list[str], workdir: Path, limits: Limits = Limits(), readable: Sequence[Path] = (),
        extra_env: Mapping[str, str] | None = None, devices: Sequence[Path] = ()) -> SandboxResult:
    """Run `argv` in `workdir` under `limits`; never raises for anything the child does.

    `readable`: folders (or files) the child may read besides the system, e.g. a target's headers;
    under bubblewrap nothing else exists for it. `extra_env`: variables our own code sets for the
    child (never inherited ones). `devices`: device nodes it may open (a GPU's /dev/nvidia*).
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        _wrapped(argv, workdir, limits, readable, devices),
        cwd=workdir,
        env={**scrubbed_env(workdir), **(extra_env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own session and process group
        close_fds=True,
    )
    out, err = _Capture(limits.keep_output_bytes), _Capture(limits.keep_output_bytes)
    try:
        timed_out = _collect(proc, {proc.stdout: out, proc.stderr: err}, start + limits.timeout_s)  # type: ignore[dict-item]
    finally:
        _kill_group(proc.pid)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()  # type: ignore[union-attr]
    code = _signalled_in_bwrap(proc.returncode) if isolation().bwrap else proc.returncode
    sig = signal.Signals(-code).name if code is not None and code < 0 else None
    if sig in {"SIGXCPU"}:
        timed_out = True
    return SandboxResult(
        returncode=None if timed_out else code,
        stdout=out.text(),
        stderr=err.text(),
        elapsed_s=time.monotonic() - start,
        timed_out=timed_out,
        signal_name=None if timed_out else sig,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        stdout_complete=out.complete,
        isolation=isolation().description,
    )


def _collect(proc: subprocess.Popen[bytes], captures: dict[object, _Capture], deadline: float) -> bool:
    """Read the child's pipes into `captures` until both close, or the child exits (or passes
    `deadline`, then it is killed) and `DRAIN_S` more have passed: a process that left the group
    and still holds the pipes cannot keep us waiting. Returns whether the deadline passed."""
    sel = selectors.DefaultSelector()
    for pipe in captures:
        fd = pipe.fileno()  # type: ignore[attr-defined]
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, captures[pipe])
    exited = _exit_watch(proc)
    if exited is not None:
        sel.register(exited, selectors.EVENT_READ, None)
    timed_out, stop_at = False, None
    try:
        while len(sel.get_map()) > (exited is not None):
            now = time.monotonic()
            if stop_at is None and (now >= deadline or _has_exited(proc)):
                timed_out = now >= deadline and not _has_exited(proc)
                _kill_group(proc.pid)  # the child is not reaped yet, so its group id is still its own
                stop_at = now + DRAIN_S
                if exited is not None:
                    sel.unregister(exited)
                    os.close(exited)
                    exited = None
            if stop_at is not None and now >= stop_at:
                break
            wait = (stop_at if stop_at is not None else deadline) - now
            if exited is None and stop_at is None:
                wait = min(wait, 0.05)  # no pidfd: look at the child now and then
            for key, _ in sel.select(timeout=max(wait, 0.0)):
                if key.data is None:
                    continue  # the pidfd: the child exited, handled at the top of the loop
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if chunk:
                    key.data.add(chunk)
                else:
                    sel.unregister(key.fd)
    finally:
        if exited is not None:
            os.close(exited)
        sel.close()
    return timed_out


def _signalled_in_bwrap(code: int) -> int:
    """bubblewrap exits with 128 + N when the command was killed by signal N: as -N, the way
    subprocess reports a signal (a command that exits with such a code itself reads the same)."""
    if 128 < code < 128 + signal.NSIG:
        try:
            return -signal.Signals(code - 128)
        except ValueError:
            pass
    return code


def _exit_watch(proc: subprocess.Popen[bytes]) -> int | None:
    """A pidfd that becomes readable when the child exits (Linux >= 5.3), or None."""
    try:
        return os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return None


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it (its pid stays its process group's id)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_python(module: str, args: Sequence[str], workdir: Path, limits: Limits,
               readable: Sequence[Path] = (), extra_env: Mapping[str, str] | None = None,
               devices: Sequence[Path] = ()) -> SandboxResult:
    """`python -m MODULE ARGS` sandboxed, importing this very copy of autocomp (a scrubbed
    environment has no PYTHONPATH, so `-m` alone could import another installed copy); under
    bubblewrap it may read this interpreter's environment, this package and `readable`.
    `extra_env` and `devices` as for `run`."""
    return run([sys.executable, "-m", module, *args], workdir, limits,
               readable=(*python_folders(), PACKAGE_ROOT / "autocomp", *readable),
               extra_env={**(extra_env or {}), "PYTHONPATH": str(PACKAGE_ROOT)}, devices=devices)
