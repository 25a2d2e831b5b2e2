"""autocomp.proctree: a daemonized tree (as `ray start` leaves) found by its marker and killed whole."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from autocomp.proctree import kill_tree, processes, tree


def _gone(pid: int, wait_s: float = 5.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if pid not in processes() or open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] in "ZX":
            return True
        time.sleep(0.05)
    return False


def test_a_daemonized_tree_is_found_by_its_marker_and_killed_with_its_descendants() -> None:
    marker = f"/tmp/proctree-{uuid.uuid4().hex}"
    # a session leader naming the marker (double-forked away from us, as a daemon is) whose child
    # does not name it: only the parent link ties the child to the tree
    script = ("import os, subprocess, sys, time\n"
              "if os.fork():\n    sys.exit(0)\n"
              "os.setsid()\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "print(os.getpid(), child.pid, flush=True)\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, marker], stdout=subprocess.PIPE, text=True)
    leader, child = map(int, proc.stdout.readline().split())  # type: ignore[union-attr]
    proc.wait(timeout=10)
    try:
        found = tree(marker)
        assert set(found) == {leader, child}, found
        assert marker in found[leader] and marker not in found[child]
        assert os.getpid() not in tree("python")  # never this process, whatever the marker
        assert sorted(kill_tree(marker)) == sorted([leader, child])
        assert _gone(leader) and _gone(child)
    finally:
        kill_tree(marker)
