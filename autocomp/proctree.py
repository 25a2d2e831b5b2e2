"""Process trees found by a marker in their command lines: how a local Ray cluster is torn down.

`ray start` daemonizes, so a node's processes are neither our children nor in our process
group: neither `Popen.kill` nor `killpg` reaches them. What they share is the node's temp dir
(`--temp-dir=MARKER`) in the command lines of the processes `ray start` launches; every other
process of the node descends from one of those. So a tree is read off /proc: the processes
naming the marker, plus all their descendants. Used by the Ray tests and
benchmarks/ray_throughput.py; Linux only, like the sandbox.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line, arguments joined by spaces) of every process we can read;
    a process that exits while it is read is left out."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry)] = (ppid, cmd)
    return table


def tree(marker: str) -> dict[int, str]:
    """pid -> command line of the processes whose command line contains `marker` and of all their
    descendants (never this process)."""
    table = processes()
    found = {pid for pid, (_, cmd) in table.items() if marker in cmd and pid != os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found and pid != os.getpid():
                found.add(pid)
                grew = True
    return {pid: table[pid][1] for pid in found}


def kill_tree(marker: str) -> list[int]:
    """SIGKILL `tree(marker)`; the pids signalled (one that exited meanwhile is skipped)."""
    killed = []
    for pid in tree(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        killed.append(pid)
    return killed
