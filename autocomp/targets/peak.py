"""Measured per-core peaks and bandwidths, cached per machine.

Utilization is only honest against what this core really does, so each target ships
small C microbenchmarks (FLOP/s, bytes/s); we run each (sandboxed, pinned) and cache its
output under $XDG_CACHE_HOME/autocomp (~/.cache/autocomp) keyed by source, flags and CPU.

A peak measured while other work shares the core reads low (seen: 49 GFLOP/s on a busy
machine, about 100 on a quiet one), and every kernel then shows "150% of peak". So a
measurement is the best of `RUNS` separate runs, taken after checking that the machine is
quiet, and only a quiet measurement is cached: one taken under load is used for this
process only (a lower bound) and measured again next time. A result above the peak is
flagged wherever it is shown, with the remedy (`above_peak_warning`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autocomp.evaluation import sandbox
from autocomp.evaluation.timing import QUIET, machine_load

RUNS = 3  # separate runs of a microbenchmark (each already keeps its best of several repetitions)


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


@dataclass(frozen=True)
class Measurement:
    """A microbenchmark's output; `quiet`: the machine was quiet before and after (so it was cached)."""

    stdout: str
    quiet: bool
    load: float | None  # the busier of the loads seen before and after (fraction of all cores)


def _best(outputs: list[str]) -> str:
    """Of several runs' outputs, the fastest: per line, the highest rate (the last number)."""
    rows = [out.splitlines() for out in outputs]
    if any(len(r) != len(rows[0]) for r in rows):
        return outputs[0]
    best = []
    for lines in zip(*rows):
        best.append(max(lines, key=lambda line: float(line.split()[-1])))
    return "\n".join(best) + "\n"


def cache_path(name: str, source: Path, cflags: list[str]) -> Path:
    """Where the measurement of `source` built with `cflags` on this CPU is cached."""
    key = hashlib.sha256((source.read_text() + " ".join(cflags) + machine_key()).encode()).hexdigest()[:16]
    return cache_dir() / f"measured-{name}-{key}.json"


def measured_output(name: str, source: Path, cflags: list[str], timeout_s: float = 120) -> Measurement:
    """The best output of `RUNS` runs of the microbenchmark `source`, built with `cflags`.

    Runs sandboxed and pinned like the kernels it describes. Cached under the cache folder,
    keyed by the source, the flags and the CPU (a changed benchmark is re-measured), only
    when the machine was quiet before and after.
    """
    src = source.read_text()
    cache = cache_path(name, source, cflags)
    if cache.is_file():
        try:
            return Measurement(str(json.loads(cache.read_text())["stdout"]), True, None)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is measured again (and rewritten)
    before = machine_load()
    with tempfile.TemporaryDirectory(prefix="autocomp-measure-") as tmp:
        work = Path(tmp)
        (work / "bench.c").write_text(src)
        built = sandbox.run(["gcc", *cflags, "-o", "bench", "bench.c"], work, sandbox.Limits(timeout_s=60))
        if not built.ok:
            raise RuntimeError(f"microbenchmark {name} failed to build: {built.stderr[:500]}")
        outputs = []
        for _ in range(RUNS):
            ran = sandbox.run(["./bench"], work, sandbox.Limits(timeout_s=timeout_s, cpus=(sandbox.timing_core(),)))
            if not ran.ok:
                raise RuntimeError(f"microbenchmark {name} failed: {ran.stderr[:500]}")
            outputs.append(ran.stdout)
    after = machine_load(0.2)
    loads = [x for x in (before, after) if x is not None]
    load = max(loads) if loads else None
    stdout = _best(outputs)
    quiet = load is None or load < QUIET
    if quiet:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"name": name, "stdout": stdout, "machine": machine_key(), "runs": RUNS,
                                     "load": load}))
    return Measurement(stdout, quiet, load)


def measured_peak(name: str, source: Path, cflags: list[str]) -> tuple[float, str]:
    """FLOP/s printed (as the last number) by the peak microbenchmark `source`, and a note for
    the hardware description: empty, or why the figure is only a lower bound."""
    m = measured_output(name, source, cflags)
    note = "" if m.quiet else (f" (measured while {m.load:.0%} of the cores were busy: a lower bound, not cached; "
                               "measured again next time)")
    return float(m.stdout.split()[-1]), note


def measured_bandwidth(name: str, source: Path, cflags: list[str]) -> dict[str, list[tuple[int, float]]]:
    """{"read"|"write": [(working-set bytes, bytes/s), ...]} from `kind size bytes_per_s` lines."""
    out: dict[str, list[tuple[int, float]]] = {}
    for line in measured_output(name, source, cflags).stdout.splitlines():
        kind, size, rate = line.split()
        out.setdefault(kind, []).append((int(size), float(rate)))
    return out


def above_peak_warning(utilization: float | None, target: str) -> str | None:
    """What to say beside a result faster than the measured peak (impossible: the peak was
    measured low, or the timing is wrong), with the remedy; None for a plausible result."""
    if utilization is None or utilization <= 1.0:
        return None
    return (f"{utilization * 100:.0f}% of the measured peak is impossible: the peak was likely measured on a busy "
            f"machine; re-measure it on a quiet one with `autocomp hardware {target} --remeasure`")
