"""Measured per-core peaks, cached per machine.

Utilization is only honest against what this core really does, so each target ships a
small C microbenchmark that prints its FLOP/s; we run it once (sandboxed, pinned) and
cache the number under ~/.cache/autocomp keyed by CPU model and flags.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path

from autocomp.evaluation import sandbox


def machine_key() -> str:
    info = ""
    try:
        info = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        pass
    return hashlib.sha256((platform.machine() + info).encode()).hexdigest()[:16]


def cpu_model() -> str:
    """The CPU's marketing name (for descriptions; the masked VM model shows as is)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "autocomp"


def measured_peak(name: str, source: Path, cflags: list[str]) -> float:
    """FLOP/s printed by the microbenchmark `source` (best of its internal repetitions)."""
    src = source.read_text()
    key = hashlib.sha256((src + " ".join(cflags) + machine_key()).encode()).hexdigest()[:16]
    cache = cache_dir() / f"peak-{name}-{key}.json"
    if cache.is_file():
        return float(json.loads(cache.read_text())["flops"])
    with tempfile.TemporaryDirectory(prefix="autocomp-peak-") as tmp:
        work = Path(tmp)
        (work / "peak.c").write_text(src)
        built = sandbox.run(["gcc", *cflags, "-o", "peak", "peak.c"], work, sandbox.Limits(timeout_s=60))
        if not built.ok:
            raise RuntimeError(f"peak microbenchmark {name} failed to build: {built.stderr[:500]}")
        core = max(os.sched_getaffinity(0))
        ran = sandbox.run(["./peak"], work, sandbox.Limits(timeout_s=60, cpu_core=core))
        if not ran.ok:
            raise RuntimeError(f"peak microbenchmark {name} failed: {ran.stderr[:500]}")
        flops = float(ran.stdout.split()[-1])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"name": name, "flops": flops, "machine": machine_key()}))
    return flops
