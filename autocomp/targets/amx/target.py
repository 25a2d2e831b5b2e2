"""The `amx` target: Intel AMX tile intrinsics (bf16 and int8 TMUL) on one core.

Kernels are C with `_tile_*` intrinsics (plus AVX-512 for epilogues), compiled with
`-march=sapphirerapids`. The harness requests the AMX permission (arch_prctl) once per
process before any kernel runs; kernels configure their own tiles.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from functools import lru_cache
from pathlib import Path

from autocomp.errors import UserError
from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.c_kernel import CKernelEvaluator, CToolchain
from autocomp.evaluation.c_target import CTarget
from autocomp.evaluation.result import EvalResult
from autocomp.problem import Problem
from autocomp.targets.amx.policy import POLICY
from autocomp.targets.base import HardwareFacts, ops_unit
from autocomp.targets.peak import cpu_flags, cpu_model, measured_bandwidth, measured_peak

HERE = Path(__file__).parent

CFLAGS = ("-O3", "-march=sapphirerapids", "-std=gnu11")
PEAK_CFLAGS = ["-O2", "-march=sapphirerapids"]

SYS_ARCH_PRCTL = 158  # x86-64
ARCH_GET_XCOMP_SUPP = 0x1021
XFEATURE_XTILEDATA = 18

HARNESS_PRELUDE = """\
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
"""

# Runs once in the harness process before any kernel is loaded or called.
HARNESS_INIT = """\
  /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18: allow AMX tile data in this process */
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
    fprintf(stderr, "harness: requesting AMX permission (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) failed: %s; "
            "AMX needs a CPU with amx_tile and Linux >= 5.16\\n", strerror(errno));
    exit(3);
  }
"""

class AmxTarget(CTarget):
    name = "amx"
    root = HERE
    vendor_module = "autocomp.targets.amx.vendor"  # oneDNN (PyTorch) and oneMKL
    toolchain = CToolchain(
        cflags=CFLAGS,
        harness_cflags=("-O2", "-std=gnu11", "-march=sapphirerapids"),
        harness_prelude=HARNESS_PRELUDE,
        harness_init=HARNESS_INIT,
        policy=POLICY,
    )

    def unavailable_reason(self) -> str | None:
        return _unavailable_reason()

    def resources(self, problem: Problem) -> dict[str, float]:
        """On Ray, only nodes started with `--resources='{"amx": 1}'` (a Sapphire Rapids host or later)."""
        return {"CPU": 1, "amx": 1}

    def emulated_evaluator(self, problem: Problem, settings: EvalSettings) -> CKernelEvaluator:
        """Tile intrinsics emulated in C on any x86-64 CPU with AVX2 (see emulation.py)."""
        from autocomp.targets.amx import emulation

        reason = emulation.unavailable_reason()
        if reason:
            raise UserError(reason)
        return emulation.emulated_evaluator(problem, settings)

    def hardware(self) -> HardwareFacts:
        return _hardware()

    def feedback(self, problem: Problem, result: EvalResult) -> str:
        text = super().feedback(problem, result)
        if not result.correct or not result.latency_s:
            return text
        spec = problem.spec
        achieved = spec.flops / result.latency_s
        intensity = spec.flops / spec.bytes
        level, rate = memory_ceiling(spec.bytes)
        memory_bound = rate * intensity
        peak = self.hardware().peak_for(problem)
        bound = min(peak, memory_bound) if peak else memory_bound
        kind = "memory" if not peak or memory_bound < peak else "compute"
        unit = ops_unit(problem)
        return text + (
            f"\nRoofline bound for this problem: {bound / 1e9:.0f} {unit} ({kind}-bound: min of the AMX peak"
            f"{f' {peak / 1e9:.0f} {unit}' if peak else ''} and the measured {level} read bandwidth {rate / 1e9:.1f} GB/s x "
            f"{intensity:.1f} {unit[1:-2]}/byte). This code reaches {achieved / bound * 100:.1f}% of that bound."
        )


def _unavailable_reason() -> str | None:
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the amx target needs an x86-64 CPU with Intel AMX; this machine is {platform.machine()}"
    flags = cpu_flags()
    if flags is None:
        return "the amx target needs Linux with /proc/cpuinfo to detect Intel AMX"
    missing = [f for f in ("amx_tile", "amx_bf16", "amx_int8") if f not in flags]
    if missing:
        return (f"this CPU lacks Intel AMX ({', '.join(missing)} missing from /proc/cpuinfo); "
                "check with `grep -o 'amx_[a-z0-9]*' /proc/cpuinfo` (needs Sapphire Rapids or newer, and Linux >= 5.16); "
                "without AMX, `autocomp eval PROBLEM KERNEL.c --emulate` still checks a kernel's correctness")
    if not _kernel_supports_amx():
        return (f"the CPU has AMX but the Linux kernel ({platform.release()}) does not offer AMX tile data to processes "
                "(arch_prctl ARCH_GET_XCOMP_SUPP lacks XTILEDATA); AMX needs Linux >= 5.16; check with `uname -r`")
    return None


def _kernel_supports_amx() -> bool:
    """Read-only query: does the kernel let processes request XTILEDATA? (Linux >= 5.16)"""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mask = ctypes.c_ulong(0)
        if libc.syscall(SYS_ARCH_PRCTL, ARCH_GET_XCOMP_SUPP, ctypes.byref(mask)) != 0:
            return False
        return bool(mask.value & (1 << XFEATURE_XTILEDATA))
    except OSError:
        return False


@lru_cache(maxsize=1)
def read_bandwidth() -> list[tuple[int, float]]:
    """[(working-set bytes, bytes/s)] of one core's AVX-512 reads, measured once per machine."""
    return sorted(measured_bandwidth("amx-bandwidth", HERE / "bandwidth.c", PEAK_CFLAGS)["read"])


def memory_ceiling(problem_bytes: int) -> tuple[str, float]:
    """The memory side of the roofline: the measured read bandwidth of the smallest working
    set that holds the problem's minimum traffic (its inputs and outputs), so a 512 KiB problem
    is bounded by L2 and a 32 MiB one by L3. Reads are at least as fast as writes at every
    level, so this stays an upper bound."""
    sweeps = read_bandwidth()
    size, rate = next(((n, r) for n, r in sweeps if n >= problem_bytes), sweeps[-1])
    return _size_label(size), rate


def _size_label(n: int) -> str:
    return f"{n >> 30} GiB working set" if n >= 1 << 30 else f"{n >> 20} MiB working set" if n >= 1 << 20 else f"{n >> 10} KiB working set"


@lru_cache(maxsize=1)
def _hardware() -> HardwareFacts:
    bf16, bf16_note = measured_peak("amx-bf16", HERE / "peak_bf16.c", PEAK_CFLAGS)
    i8, i8_note = measured_peak("amx-int8", HERE / "peak_int8.c", PEAK_CFLAGS)
    return HardwareFacts(
        description=(
            f"one {cpu_model()} core with Intel AMX (8 tile registers of 16 rows x 64 bytes), single thread; "
            f"measured peaks: bf16 _tile_dpbf16ps {bf16 / 1e12:.2f} TFLOP/s{bf16_note}, int8 _tile_dpbssd {i8 / 1e12:.2f} TOP/s{i8_note} "
            "(one core); measured read bandwidth " + ", ".join(f"{rate / 1e9:.0f} GB/s at {_size_label(n)}" for n, rate in read_bandwidth())
        ),
        peak_flops={"bf16": bf16, "i8": i8},
    )
