"""The base class of targets whose kernels are C compiled with gcc and run by the shared
harness (cpu, amx): their language, evaluator, knowledge pack and feedback. Beside the C
evaluator so that `targets/base.py` knows no kernel language."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from autocomp.errors import ProblemError
from autocomp.evaluation.base import EvalSettings, Evaluator
from autocomp.evaluation.c_kernel import HARNESS_DIR, CKernelEvaluator, CToolchain
from autocomp.evaluation.c_language import C_LANGUAGE
from autocomp.evaluation.result import EvalResult
from autocomp.problem import Problem
from autocomp.targets.base import KnowledgePack, Target, ops_unit

HARNESS_CONTRACT: Path = HARNESS_DIR / "contract.toml"


class CTarget(Target):
    """A target whose kernels are C compiled with gcc and run by the shared harness."""

    toolchain: CToolchain = CToolchain()
    languages = (C_LANGUAGE,)

    @cached_property
    def knowledge(self) -> KnowledgePack:
        """The target's pack with the shared harness's contract merged in (one source for both C targets)."""
        return KnowledgePack.load(self.root / "knowledge", HARNESS_CONTRACT)

    def evaluator(self, problem: Problem, settings: EvalSettings) -> Evaluator:
        if problem.spec.config is not None:
            raise ProblemError(str(problem.root / "problem.toml"), "config", f"the {self.name} target has no configurations; remove the field")
        return CKernelEvaluator(problem, self.toolchain, settings, self.hardware().peak_for(problem))

    def feedback(self, problem: Problem, result: EvalResult) -> str:
        if not result.correct:
            return f"The code is incorrect: {result.summary()}"
        d = result.details
        hw = self.hardware()
        caches = ("cold caches: every buffer was flushed to DRAM before each call" if d.get("caches") == "cold"
                  else "warm caches: the previous call left the data in the caches")
        lines = [f"Latency: {result.latency_s * 1e3:.4g} ms (median of {d.get('reps', '?')} timed calls, one pinned core, {caches})."]
        unit = ops_unit(problem)
        lines.append(f"Throughput: {d.get('gflops', 0):.4g} {unit}.")
        if result.utilization is not None:
            peak = hw.peak_for(problem) or 0
            lines.append(f"Utilization: {result.utilization * 100:.1f}% of this core's measured peak ({peak / 1e9:.0f} {unit}).")
        if result.speedup:
            lines.append(f"Speedup over the initial code: {result.speedup:.2f}x (measured in the same run, call by call).")
        intensity = problem.spec.flops / problem.spec.bytes
        lines.append(f"Arithmetic intensity (minimum traffic): {intensity:.1f} {unit[1:-2]}/byte.")
        return "\n".join(lines)
