"""Measured per-core peaks and bandwidths, cached per machine.

Utilization is only honest against what this core really does, so each target ships
small C microbenchmarks (FLOP/s, bytes/s); we run each once (sandboxed, pinned) and cache
its output under ~/.cache/autocomp keyed by source, flags and CPU. A measurement taken
while the machine was busy stays low, so `autocomp hardware TARGET --remeasure` forgets them.
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


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (e.g. "avx2", "amx_tile"); None without it."""
    try:
        return set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "autocomp"


def forget_measurements() -> int:
    """Delete this machine's cached measurements (e.g. taken while the machine was busy);
    they are re-measured on next use. Returns how many were deleted."""
    gone = 0
    for path in cache_dir().glob("measured-*.json"):
        try:
            if json.loads(path.read_text()).get("machine") == machine_key():
                path.unlink()
                gone += 1
        except (OSError, ValueError):
            continue
    return gone


def measured_output(name: str, source: Path, cflags: list[str], timeout_s: float = 120) -> str:
    """stdout of the microbenchmark `source`, built with `cflags` and run once per machine.

    Runs sandboxed and pinned like the kernels it describes; cached under ~/.cache/autocomp
    keyed by the source, the flags and the CPU, so a changed benchmark is re-measured.
    """
    src = source.read_text()
    key = hashlib.sha256((src + " ".join(cflags) + machine_key()).encode()).hexdigest()[:16]
    cache = cache_dir() / f"measured-{name}-{key}.json"
    if cache.is_file():
        return str(json.loads(cache.read_text())["stdout"])
    with tempfile.TemporaryDirectory(prefix="autocomp-measure-") as tmp:
        work = Path(tmp)
        (work / "bench.c").write_text(src)
        built = sandbox.run(["gcc", *cflags, "-o", "bench", "bench.c"], work, sandbox.Limits(timeout_s=60))
        if not built.ok:
            raise RuntimeError(f"microbenchmark {name} failed to build: {built.stderr[:500]}")
        ran = sandbox.run(["./bench"], work, sandbox.Limits(timeout_s=timeout_s, cpus=(sandbox.timing_core(),)))
        if not ran.ok:
            raise RuntimeError(f"microbenchmark {name} failed: {ran.stderr[:500]}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"name": name, "stdout": ran.stdout, "machine": machine_key()}))
    return ran.stdout


def measured_peak(name: str, source: Path, cflags: list[str]) -> float:
    """FLOP/s printed (as the last number) by the peak microbenchmark `source`."""
    return float(measured_output(name, source, cflags).split()[-1])


def measured_bandwidth(name: str, source: Path, cflags: list[str]) -> dict[str, list[tuple[int, float]]]:
    """{"read"|"write": [(working-set bytes, bytes/s), ...]} from `kind size bytes_per_s` lines."""
    out: dict[str, list[tuple[int, float]]] = {}
    for line in measured_output(name, source, cflags).splitlines():
        kind, size, rate = line.split()
        out.setdefault(kind, []).append((int(size), float(rate)))
    return out
