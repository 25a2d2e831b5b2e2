"""Scratch folders of sandboxed runs, and the removal of those a killed autocomp left behind.

A run's folders live in the system's temporary directory (`autocomp-eval-<pid>-*` for an
evaluator, `autocomp-vendor-<pid>-*` for a vendor benchmark) and are removed when it ends; after a
kill -9 they stay. Each is therefore created with an owner mark (the creating process's pid and
start time), and the first folder a process creates first removes the folders whose owner is
gone. Only folders proven ours are touched: a directory (not a link) owned by our user, named
with one of our prefixes and the pid its mark records, whose owner process no longer exists
(or its pid now belongs to a process started at another time). Anything else is left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

PREFIXES = ("autocomp-eval-", "autocomp-vendor-")
MARK = ".autocomp-owner"
_swept = threading.Lock()
_done = False


def make(prefix: str) -> Path:
    """A new, marked scratch folder `<prefix><pid>-XXXX`; the first call of a process first
    removes stale folders (`remove_stale`)."""
    global _done
    assert prefix in PREFIXES, prefix
    with _swept:
        if not _done:
            _done = True
            remove_stale()
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    (folder / MARK).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    return folder


def remove_stale(root: Path | None = None) -> list[Path]:
    """Remove our folders in `root` (default: the temporary directory) whose owner died; returns them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        prefix = next((p for p in PREFIXES if entry.name.startswith(p)), None)
        if prefix is None or not entry.is_dir(follow_symlinks=False):
            continue
        owner = _owner(Path(entry.path), prefix)
        if owner is not None and not _alive(*owner):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _owner(folder: Path, prefix: str) -> tuple[int, str] | None:
    """(pid, start time) from the folder's mark, when the folder is provably one of ours."""
    try:
        if folder.lstat().st_uid != os.getuid():
            return None
        fd = os.open(folder / MARK, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            pid_text, start = os.read(fd, 200).decode().split()
        finally:
            os.close(fd)
        pid = int(pid_text)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not folder.name.startswith(f"{prefix}{pid}-"):
        return None
    return pid, start


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's: its pid was reused
    now = _start_time(pid)
    return now == "?" or start == "?" or now == start


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), "?" if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"
