"""One writer per run folder: an OS lock on RUN/run.lock.

Two searches writing one store interleave their plans, candidates and "finished" records
(seen: `optimize D` and two `resume D` at once made 28 model requests instead of 20 and three
different winners). The writer holds an exclusive `flock` on `run.lock` for as long as it
runs; the kernel drops the lock when the process ends however it ends (kill -9 included), so
a stale lock cannot outlive its owner. The same lock tells `autocomp runs` whether a run
recorded as running still has a live owner: one that has none was killed.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from autocomp.errors import UserError

LOCK_NAME = "run.lock"


class RunLock:
    """The exclusive writer's lock of one run folder; released by `release` or by process exit."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise UserError(f"{run_dir} is in use by another autocomp process{owner}; wait for it to end "
                            f"(or stop it), then `autocomp resume {run_dir}`") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _owner(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


def has_live_owner(run_dir: Path) -> bool:
    """Whether a process (this one included) holds the writer's lock of `run_dir` now."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file: written before locks existed, or never started a search
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our shared lock, if we got it
    return False
