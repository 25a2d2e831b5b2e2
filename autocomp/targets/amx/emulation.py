"""Checking AMX kernels on CPUs without AMX: a functional emulator, verification only.

Development and CI machines do not always have AMX (an AMD or pre-Sapphire-Rapids x86-64 core
runs everything else in autocomp). Without an emulator every AMX kernel there is unverifiable:
the shipped templates and their knob settings, the problems' initial codes, an LLM's candidate.
`emulated_evaluator()` compiles a kernel for the host CPU with `emulator/amx_emu.h` force-included,
which replaces the tile intrinsics (and the few AVX-512 intrinsics our AMX kernels use) with C
that follows the hardware's rules, faults included; the sandboxed harness then checks it exactly
like a real AMX run (fresh random trials, guard pages, poisoned outputs, untouched inputs).

It never times: emulated tiles say nothing about AMX speed, so it refuses `time=True`.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

from dataclasses import replace

from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.c_kernel import C_STAGES, CKernelEvaluator, CToolchain, build_shared_object
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.problem import Problem
from autocomp.targets.amx.policy import POLICY
from autocomp.targets.peak import cpu_flags

HEADER = Path(__file__).parent / "emulator" / "amx_emu.h"

TOOLCHAIN = CToolchain(
    cflags=("-O3", "-march=native", "-std=gnu11", "-Wno-psabi", "-include", str(HEADER)),
    policy=POLICY,  # the same rule as on hardware: the work must go through tile dot products
    readable=(HEADER.parent,),
)


def unavailable_reason() -> str | None:
    """None where the emulator runs (any x86-64 CPU with AVX2, as the kernels' packing code needs)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the AMX emulator runs AMX kernels' x86 code on the host: it needs an x86-64 CPU, not {platform.machine()}"
    flags = cpu_flags()
    if flags is None:
        return "the AMX emulator needs Linux with /proc/cpuinfo"
    return None if "avx2" in flags else "the AMX emulator needs a CPU with AVX2 (the kernels' 256-bit code runs natively)"


UNEMULATED = re.compile(r"inlining failed in call to 'always_inline' '(_mm\w+)': target specific option mismatch")


def build_naming_unemulated(ev: CKernelEvaluator, code: str) -> tuple[Path | None, EvalResult | None]:
    """The C build stage with the emulator's toolchain; says so when a kernel uses an intrinsic
    the emulator lacks (gcc's own message names a "target specific option mismatch")."""
    so, failure = build_shared_object(ev, code)
    missing = sorted(set(UNEMULATED.findall(failure.error or ""))) if failure and failure.outcome is Outcome.COMPILE_ERROR else []
    if failure is not None and missing:
        failure.error = (f"the AMX emulator does not emulate {', '.join(missing)} (it covers the tile intrinsics and the "
                         f"AVX-512 ones our AMX kernels use); check this kernel on AMX hardware\n{failure.error}")
    return so, failure


STAGES = replace(C_STAGES, build=build_naming_unemulated)


def emulated_evaluator(problem: Problem, settings: EvalSettings) -> CKernelEvaluator:
    """An evaluator that verifies `problem`'s AMX kernels on the emulator (never times them)."""
    if settings.time:
        raise ValueError("the AMX emulator checks correctness only; emulated tiles say nothing about speed (use time=False)")
    return CKernelEvaluator(problem, TOOLCHAIN, settings, None, stages=STAGES)
