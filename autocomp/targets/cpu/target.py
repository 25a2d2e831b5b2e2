"""The `cpu` target: plain C (SIMD intrinsics allowed) on any x86-64 core."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

from autocomp.evaluation.c_kernel import CToolchain
from autocomp.evaluation.c_target import CTarget
from autocomp.targets.base import HardwareFacts
from autocomp.targets.peak import cpu_flags, cpu_model, measured_peak

HERE = Path(__file__).parent
PEAK_SOURCE, PEAK_CFLAGS = HERE / "peak_f32.c", ["-O2", "-march=native", "-ffp-contract=fast"]


class CpuTarget(CTarget):
    name = "cpu"
    root = HERE
    vendor_module = "autocomp.targets.cpu.vendor"  # oneMKL, PyTorch, numpy's BLAS
    toolchain = CToolchain(cflags=("-O3", "-march=native", "-std=gnu11"))

    def hardware(self) -> HardwareFacts:
        return _hardware()


@lru_cache(maxsize=1)
def _hardware() -> HardwareFacts:
    flops, note = measured_peak("cpu-f32", PEAK_SOURCE, PEAK_CFLAGS)
    return HardwareFacts(
        description=f"{platform.machine()} core ({cpu_model()}), {vector_isa(cpu_flags() or set())}, "
                    f"fp32 FMA peak measured at {flops / 1e9:.0f} GFLOP/s{note}",
        peak_flops={"f32": flops, "default": flops},
    )


def vector_isa(flags: set[str]) -> str:
    """The vector extensions `-march=native` compiles for, said plainly: the knowledge pack can
    only say "usually AVX-512", and a model that guesses wrong writes a kernel for the
    `#else` path it never tuned."""
    fma = " and FMA" if "fma" in flags else ""
    avx512 = [f.removeprefix("avx512").upper() for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl") if f in flags]
    if "avx512f" in flags:
        return f"vector ISA AVX-512 ({', '.join(avx512)}){fma} (32 zmm registers)"
    if "avx2" in flags:
        return f"vector ISA AVX2{fma}, no AVX-512 (16 ymm registers)"
    return "no AVX2 (SSE only)"
