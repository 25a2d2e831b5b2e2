"""The `gemmini` target: Gemmini kernels in C, run on our clean-room emulator.

Gemmini (Berkeley's systolic-array accelerator) is programmed from C through RoCC
instructions. Real runs need a Chipyard/FireSim setup, so candidates are compiled natively
against our header (`emulator/include/gemmini.h`, force-included) and linked with the
emulator (`emulator/*.c`), which executes every instruction exactly and models the cycles
(docs/gemmini-timing.md). The metric is the modeled cycle count of one kernel call: it is
deterministic, so no interleaved timing is needed, and the score is the cycle ratio against
the problem's initial code.

Each problem names its emulator configuration (`config = "int8_16x16"` or `"fp32_4x4"` in
problem.toml); the configurations are data files in `configs/`.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from autocomp.errors import ProblemError
from autocomp.evaluation.base import EvalSettings, Evaluator, MetricKind
from autocomp.evaluation.c_kernel import C_STAGES, CandidateRun, CKernelEvaluator, CStages, CToolchain, Verification, containment
from autocomp.evaluation.c_language import C_LANGUAGE
from autocomp.evaluation.checks import Trial
from autocomp.evaluation.policy import Policy
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.outputs import BaselineOutput, VendorPathRow
from autocomp.problem import Problem
from autocomp.targets.base import HardwareFacts, Target
from autocomp.targets.gemmini.build import ACC_BYTES, ELEM_BYTES, GemminiConfig, Runtime, runtime

HERE = Path(__file__).parent
DEFAULT_CONFIG = "int8_16x16"

# Modeled time is reported at a nominal 1 GHz so that "ms" columns read as millions of cycles;
# cycles (in details) are the real metric.
NOMINAL_CLOCK_HZ = 1e9

POLICY = Policy(
    extra_banned=(
        (r"\b(gemu_\w+|autocomp_metrics_\w+|__sanitizer_cov\w*)",
         "the emulator's internals and the harness hooks are off limits; use the gemmini.h instructions"),
    ),
)


def problem_config(problem: Problem) -> GemminiConfig:
    """The emulator configuration a problem runs on, with a clear error for unknown names."""
    name = problem.spec.config or DEFAULT_CONFIG
    known = sorted(p.stem for p in (HERE / "configs").glob("*.toml"))
    if name not in known:
        raise ProblemError(str(problem.root / "problem.toml"), "config",
                           f"unknown gemmini configuration {name!r}; expected one of {', '.join(known)}")
    return GemminiConfig.load(name)


def toolchain_for(rt: Runtime) -> CToolchain:
    """Candidates: -O2 like a RISC-V cross build would use, the header force-included, the
    basic-block counter (trace-pc) feeding the CPU-issue part of the timing model."""
    return CToolchain(
        cflags=("-O2", "-std=gnu11", *rt.kernel_cflags),
        ldflags=(*(str(o) for o in rt.objects), "-lm"),
        policy=POLICY,
        readable=(rt.include_dir.parent,),
    )


class EmulatorStages:
    """Gemmini's verify and time stages on the C pipeline: verify on the emulator; the per-call
    metrics of the verification calls are the timing.

    The emulator reports `cycles`, `macs` and a breakdown after every call (the harness's
    metrics hook). A candidate must perform at least the problem's MACs on the array (work
    moved to the CPU does not count), and its cycles are compared with the initial code's,
    measured once on the same inputs (kept here: one instance per evaluator).
    """

    def __init__(self, rt: Runtime) -> None:
        self.runtime = rt
        self._baseline_metrics: dict[str, float] | None = None

    def stages(self) -> CStages:
        return replace(C_STAGES, verify=self.verify, time=self.time)

    def verify(self, ev: CKernelEvaluator, run: CandidateRun) -> EvalResult | None:
        verification, failure = self._run_verify(ev, run.so, run.cdir, run.trials)
        if failure is not None:
            return failure
        assert verification is not None
        run.verification = verification
        needed = ev.problem.spec.flops // 2
        short = [m for m in _metrics(verification) if m.get("macs", 0) < needed]
        if short:
            return EvalResult(outcome=Outcome.WRONG_ANSWER, error=(
                f"only {int(short[0].get('macs', 0)):,} multiply-accumulates ran on the Gemmini array, but the problem needs "
                f"{needed:,}: the computation must run on the accelerator (work done on the CPU is not accepted)"))
        return None

    def time(self, ev: CKernelEvaluator, run: CandidateRun) -> EvalResult:
        assert run.verification is not None
        if self._baseline_metrics is None:
            base, failure = self._run_verify(ev, run.baseline, run.cdir, run.trials)
            if failure is not None:
                return EvalResult(outcome=Outcome.HARNESS_ERROR, error=f"the initial code failed on the emulator: {failure.error}")
            assert base is not None
            self._baseline_metrics = _median_metrics(_metrics(base))
        result = self._result(ev, _metrics(run.verification), self._baseline_metrics, len(run.trials))
        result.details["containment"] = containment(run.verification.res, run.verification.lines)
        return result

    @staticmethod
    def _run_verify(ev: CKernelEvaluator, so: Path, cdir: Path, trials: list[Trial]) -> tuple[Verification | None, EvalResult | None]:
        """(the verification run, with one metrics line per call; failure)."""
        lines, res, failure = ev.run_verification(so, cdir, trials, "emulation")
        if failure is not None:
            notes = _emulator_errors(res.stderr)
            if failure.outcome is Outcome.WRONG_ANSWER:  # wrong outputs: the emulator's warnings say why
                failure = EvalResult(outcome=Outcome.WRONG_ANSWER, error=failure.error + (f"\nemulator warnings:\n{notes}" if notes else ""))
            elif "gemmini: error:" in res.stderr:  # the emulator stopped on misuse: its message is the verdict
                failure = EvalResult(outcome=Outcome.CRASH, error=notes)
            return None, failure
        verification = Verification(lines, res)
        if len(_metrics(verification)) != len(trials) + 1:
            return None, EvalResult(outcome=Outcome.HARNESS_ERROR,
                                    error=f"expected {len(trials) + 1} metric lines from the emulator, got {len(_metrics(verification))}")
        return verification, None

    def _result(self, ev: CKernelEvaluator, metrics: list[dict[str, float]], base: dict[str, float], ntrials: int) -> EvalResult:
        med = _median_metrics(metrics)
        cycles, base_cycles = med["cycles"], base["cycles"]
        dim = self.runtime.config.dim
        details: dict[str, Any] = {
            "metric": MetricKind.CYCLES, "cycles": int(cycles), "baseline_cycles": int(base_cycles), "trials": ntrials,
            "cycles_spread": (max(m["cycles"] for m in metrics) - min(m["cycles"] for m in metrics)) / cycles if cycles else 0.0,
            "config": self.runtime.config.name, "dim": dim,
            "emulator": {k: int(v) for k, v in med.items()},
        }
        speedup = base_cycles / cycles if cycles else None
        util = (ev.problem.spec.flops / 2) / (cycles * dim * dim) if cycles else None
        if speedup and speedup > 10:
            details["flags"] = [f"{speedup:.1f}x fewer cycles than the initial code: review before trusting"]
        return EvalResult(outcome=Outcome.OK, latency_s=cycles / NOMINAL_CLOCK_HZ, baseline_latency_s=base_cycles / NOMINAL_CLOCK_HZ,
                          speedup=speedup, utilization=util, details=details)


def _metrics(verification: Verification) -> list[dict[str, float]]:
    """The emulator's metrics after each verification call."""
    return [_parse_metrics(f[3:]) for f in verification.lines if f[0] == "metrics"]


def _parse_metrics(fields: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in zip(fields[::2], fields[1::2]):
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def _median_metrics(metrics: list[dict[str, float]]) -> dict[str, float]:
    keys = set.intersection(*(set(m) for m in metrics)) if metrics else set()
    return {k: statistics.median(m[k] for m in metrics) for k in sorted(keys)}


def _emulator_errors(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("gemmini:")]
    return "\n".join(dict.fromkeys(lines[:12]))


class GemminiTarget(Target):
    name = "gemmini"
    root = HERE
    languages = (C_LANGUAGE,)

    def hardware(self) -> HardwareFacts:
        return HardwareFacts(
            description=("Gemmini emulator (autocomp's clean-room functional + timing model, not FireSim): int8 16x16 "
                         "(256 KiB scratchpad, 64 KiB accumulator) and fp32 4x4 configurations; metric = modeled cycles"),
            peak_flops={},
        )

    def resources(self, problem: Problem) -> dict[str, float]:
        """Our emulator is C built with gcc on the node, so any node with a CPU runs it (an evaluation on
        FireSim would name the node's custom resource here); its cycles take no timing core."""
        return {"CPU": 1}

    def evaluator(self, problem: Problem, settings: EvalSettings) -> Evaluator:
        rt = runtime(problem_config(problem).name)
        return CKernelEvaluator(problem, toolchain_for(rt), settings, None, stages=EmulatorStages(rt).stages(),
                                metric=MetricKind.CYCLES)

    def baselines(self, problem: Problem, core: int | None = None) -> BaselineOutput:
        """Our own library on the same emulator: hardware-loop (FSM) and CPU-issued variants
        (modeled cycles do not depend on the core, so `core` changes nothing here). They are
        the C files in the problem folder's `baselines/`: they belong to the problem, so a
        user's problem named like a built-in one never gets the built-in's."""
        folder = problem.root / "baselines"
        variants = sorted(folder.glob("*.c")) if folder.is_dir() else []
        if not variants:
            return BaselineOutput(problem=problem.name, available=False,
                                  reason=f"no library baseline for {problem.name}: put C variants of the kernel in {folder}/*.c",
                                  metric=MetricKind.CYCLES)
        evaluator = self.evaluator(problem, EvalSettings(trials=2, adversarial=False))
        paths = []
        try:
            for src in variants:
                result = evaluator.evaluate(src.read_text(), seed=0)
                row = VendorPathRow(name=f"library {src.stem}", library="autocomp's Gemmini library",
                                    note=_VARIANT_NOTES.get(src.stem, ""), available=result.correct)
                if result.correct and result.latency_s:
                    row = row.model_copy(update=dict(
                        latency_s=result.latency_s, cycles=result.details["cycles"], utilization=result.utilization,
                        gflops=problem.spec.flops / result.latency_s / 1e9, rel_err=0.0, reps=1))
                else:
                    row = row.model_copy(update=dict(available=False, reason=result.summary()))
                paths.append(row)
        finally:
            evaluator.close()
        ok = [p for p in paths if p.available and p.cycles is not None]
        best = min(ok, key=lambda p: p.cycles or 0) if ok else None
        return BaselineOutput(problem=problem.name, available=bool(ok), reason=None if ok else "no library variant ran correctly",
                              paths=paths, best=best, metric=MetricKind.CYCLES)

    def feedback(self, problem: Problem, result: EvalResult) -> str:
        if not result.correct:
            return f"The code is incorrect: {result.summary()}"
        d = result.details
        e = d.get("emulator", {})
        cfg = problem_config(problem)
        lines = [
            f"Modeled cycles for one call: {d['cycles']:,} (initial code: {d['baseline_cycles']:,}; speedup {result.speedup:.2f}x).",
            f"Array utilization: {(result.utilization or 0) * 100:.1f}% (useful MACs / (cycles x {cfg.dim}x{cfg.dim} PEs)).",
        ]
        if e:
            row_bytes = cfg.dim * ELEM_BYTES[cfg.elem]
            acc_row_bytes = cfg.dim * ACC_BYTES[cfg.acc]
            lines.append(
                f"Memory used: scratchpad {e.get('spad_rows_used', 0) * row_bytes / 1024:.1f} of {cfg.spad_rows * row_bytes / 1024:.0f} KiB, "
                f"accumulator {e.get('acc_rows_used', 0) * acc_row_bytes / 1024:.1f} of {cfg.acc_rows * acc_row_bytes / 1024:.0f} KiB.")
            cycles = max(e.get("cycles", 0), 1)
            parts = [(label, e.get(key, 0)) for key, label in _BREAKDOWN]
            lines.append("Where the cycles go (each as % of the total; units overlap): "
                         + ", ".join(f"{label} {value / cycles * 100:.0f}%" for label, value in parts) + ".")
            if "ex_startup" in e and e.get("macs"):
                lines.append(idle_breakdown(e, cycles))
            lines.append(f"Instructions: {e.get('instructions', 0):,} executed, {e.get('cpu_instructions', 0):,} issued by the CPU "
                         f"(the rest by hardware loops); DRAM traffic {e.get('dram_bytes_read', 0) / 1024:.0f} KiB read, "
                         f"{e.get('dram_bytes_written', 0) / 1024:.0f} KiB written.")
            if e.get("lint_unwritten_reads"):
                lines.append(f"Warning: {e['lint_unwritten_reads']:,} reads of scratchpad/accumulator rows that were never written.")
        return "\n".join(lines)


def idle_breakdown(e: dict[str, int], cycles: int) -> str:
    """Where the execute unit is idle, so a model can tell whether anything is left to gain near
    peak: before the first compute, between computes (operands, stores or the CPU not ready),
    after the last compute (pipeline drain, final stores, fence)."""
    start, gaps, drain = e.get("ex_startup", 0), e.get("ex_gaps", 0), e.get("ex_drain", 0)
    return (f"Execute unit idle: {(start + gaps + drain) / cycles * 100:.0f}% of the cycles: start-up {start:,} cycles "
            f"({start / cycles * 100:.0f}%, before the first compute), hand-over {gaps:,} ({gaps / cycles * 100:.0f}%, gaps "
            f"between computes: waiting for loads, stores or the CPU), drain {drain:,} ({drain / cycles * 100:.0f}%, after the "
            f"last compute: pipeline, final stores, fence).")


_BREAKDOWN = (("cpu_cycles", "CPU work and issue"), ("ld_busy", "load unit busy"), ("ex_busy", "execute unit busy"),
              ("st_busy", "store unit busy"), ("rs_full_stall", "CPU stalled on a full reservation station"),
              ("fence_stall", "CPU waiting in fence"))
_VARIANT_NOTES = {"fsm": "tiled library with hardware loop instructions (loop_ws / loop_conv_ws)",
                  "sw": "tiled library issuing every instruction from the CPU"}
