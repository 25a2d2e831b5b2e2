"""The outcome of evaluating one candidate: what the store keeps and the prompts show."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel


class Outcome(str, Enum):
    """Distinct, recorded verdicts. Only OK candidates are correct and have a latency."""

    OK = "ok"
    POLICY_VIOLATION = "policy_violation"  # static rules fired before compiling
    COMPILE_ERROR = "compile_error"
    CRASH = "crash"  # a signal (SIGSEGV, SIGILL, SIGFPE, ...) or abnormal exit
    TIMEOUT = "timeout"  # wall clock or CPU-time limit; the process group was killed
    WRONG_ANSWER = "wrong_answer"  # includes modified inputs, broken canaries, nondeterminism
    HARNESS_ERROR = "harness_error"  # our side failed; never the candidate's fault
    # compiled, but nothing on this machine can run it (a CUDA C++ kernel without a GPU): no verdict,
    # never correct
    UNVERIFIED = "unverified"
    LLM_FAILED = "llm_failed"  # the model call failed, so there was no code to evaluate
    # the machine measuring it went away (a Ray worker node died, retries exhausted): no verdict on the
    # kernel, never stored as its evaluation, so a resumed run evaluates it again
    INFRA_FAILURE = "infrastructure_failure"


class MetricKind(str, Enum):
    """What an evaluator's values measure; a target's evaluator declares one (`Evaluator.metric`).

    A str enum, so it is stored, compared and printed in JSON as its value ("cycles") as before.
    Exported from `evaluation/base.py`; defined here because results carry it.
    """

    LATENCY = "latency_s"  # measured wall-clock seconds per call (median)
    CYCLES = "cycles"  # cycles from a model of the hardware (gemmini's emulator): deterministic, not timed

    @property
    def modeled(self) -> bool:
        """A modeled metric is the same on every run and machine: no timing noise, no duel needed."""
        return self is MetricKind.CYCLES

    def format(self, value: float | None) -> str:
        """A value as every table and line shows it: `1,234 cycles` or `1.234 ms`; `-` when absent."""
        if value is None:
            return "-"
        return f"{value:,.0f} cycles" if self is MetricKind.CYCLES else f"{value * 1e3:.4g} ms"


class EvalResult(BaseModel):
    outcome: Outcome
    error: str | None = None
    latency_s: float | None = None  # median of the timed calls
    baseline_latency_s: float | None = None  # the problem's initial code, same run, interleaved call by call
    speedup: float | None = None  # baseline / candidate, from the same run
    utilization: float | None = None  # achieved FLOP/s over the target's peak
    unreliable: str | None = None  # why this timing cannot be trusted and how to get one that can (evaluation/timing.py: paired)
    details: dict[str, Any] = {}

    @property
    def correct(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def score(self) -> float:
        """Lower is better: latency relative to the initial code, measured in the same run.

        A same-process ratio is far more stable on a shared machine than raw latency, so
        candidates evaluated minutes apart stay comparable. Incorrect candidates score inf.
        A correct result that was never timed (`details.untimed`: an interpreter or emulator)
        scores 1.0, level with the initial code: correct children stay ahead of failed ones,
        and none can take the lead without a measurement.
        """
        if not self.correct:
            return float("inf")
        if self.details.get("untimed"):
            return 1.0
        if self.speedup:
            return 1.0 / self.speedup
        return self.latency_s if self.latency_s is not None else float("inf")

    @property
    def metric(self) -> MetricKind:
        """What this result's value measures: an evaluator with another metric than latency records
        it in `details["metric"]` (so it survives the run store), with the values under the same key."""
        return MetricKind(self.details.get("metric", MetricKind.LATENCY))

    def metric_values(self) -> tuple[MetricKind, Any, Any]:
        """(metric, value, initial code's value): wall-clock seconds, or modeled cycles for emulated targets."""
        metric = self.metric
        if metric is MetricKind.LATENCY:
            return metric, self.latency_s, self.baseline_latency_s
        return metric, self.details.get(metric.value), self.details.get(f"baseline_{metric.value}")

    def summary(self) -> str:
        if not self.correct:
            return f"{self.outcome.value}: {self.error or ''}".strip()
        metric, value, _ = self.metric_values()
        if metric is not MetricKind.LATENCY:  # modeled accelerators (gemmini) report cycles, not wall time
            parts = [f"{value:,} {metric.value}"]
        else:
            parts = [f"{self.latency_s * 1e3:.3f} ms"] if self.latency_s else []
        if not parts and self.details.get("untimed"):  # checked, never timed (an interpreter, [eval] time = false)
            parts.append(f"correct; {self.details['untimed']}")
        if self.speedup:
            parts.append(f"{self.speedup:.2f}x vs initial")
        if self.utilization is not None:
            parts.append(f"{self.utilization * 100:.1f}% of peak")
        if self.unreliable:
            parts.append("UNRELIABLE timing")
        return ", ".join(parts)
