"""What each command prints with `--json`, one typed model per output kind.

The console renderers read the same objects, so a field a user sees has one definition and
one name wherever it appears. `unreliable` is where a measurement that lacked enough clean
samples is marked: the timing layer's reason (EvalResult.unreliable, evaluation/timing.py:
paired), which says how to get a clean number; None when the timing was clean or not taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from autocomp.evaluation.result import EvalResult, MetricKind
from autocomp.headline import Headline


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOutput(Output):
    """Any failed command under --json: one object on stdout (the line on stderr stays)."""

    error: str
    kind: Literal["user_error", "interrupted", "internal_error"]
    exit_code: int
    run_dir: str | None = None  # an interrupted or failed run: where to `autocomp resume`


class ProblemRow(Output):
    name: str
    target: str
    description: str
    family: str
    path: str


class EvalOutput(Output):
    problem: str
    correct: bool
    outcome: str
    error: str | None
    emulated: bool
    metric: MetricKind
    value: int | float | None  # seconds (median, a float) or modeled cycles (an int)
    baseline_value: int | float | None  # the initial code's, same run, interleaved call by call
    speedup: float | None
    utilization: float | None
    gflops: float | None
    baseline_gflops: float | None
    flags: list[str]
    above_peak: str | None = None  # set when utilization > 100%: why, and the remedy
    unreliable: str | None = None
    details: dict[str, Any]


class BestOutput(Output):
    candidate_id: int
    metric: MetricKind
    value: int | float | None  # of the headline's source (the re-check when there is one): seconds or modeled cycles (an int)
    initial_value: int | float | None
    speedup_vs_initial: float | None  # the headline: re-checked on fresh inputs when possible
    speedup_source: Literal["re-check", "search"]
    search_speedup_vs_initial: float | None  # as measured in the search (a best-of-many draw)
    recheck_speedup_vs_initial: float | None
    disagreement: str | None  # search and re-check apart by more than noise: said in words
    menu_item: str | None
    iteration: int
    gflops: float | None
    utilization: float | None
    above_peak: str | None = None
    unreliable: str | None = None
    untimed: str | None = None  # checked but never timed (an interpreter or emulator), in the evaluator's words


@dataclass(frozen=True)
class Step:
    """One plan applied along a winner's lineage (`autocomp.search.schedule.lineage`)."""

    candidate_id: int
    iteration: int
    menu_item: str | None
    plan_text: str | None
    plan_model: str | None
    code_model: str | None
    speedup: float | None
    strategy: str = "menu"  # where the menu item came from: menu, extended (proposed for this run) or own (the plan's)


class LlmUsageRow(Output):
    """Model calls of a run (or of one model, one phase), their tokens and cost."""

    calls: int
    failed: int  # calls that got no usable answer (errors, a server that did not answer)
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float | None  # None: no call was priced
    unpriced_calls: int  # answered calls to a model without a known price (not in the cost)


class LlmUsage(LlmUsageRow):
    """A run's totals, with the same row per model and per phase (plan, code, direct, repair, menu)."""

    by_model: dict[str, LlmUsageRow]
    by_phase: dict[str, LlmUsageRow]


class RunOutput(Output):
    """`optimize` and `resume` (also RUN/summary.json)."""

    run_dir: str
    problem: str
    best: BestOutput
    iterations: int
    candidates: int
    llm_calls: int
    stopped: str
    best_score_history: list[float]
    schedule: list[Step]  # the winner's lineage; speedups as measured in the search
    llm: LlmUsage
    validation: EvalResult | None  # the answer re-checked on fresh inputs (the headline's source)
    cold_validation: EvalResult | None  # ... and timed with cold caches
    report: str | None = None
    best_code: str | None = None  # RUN/best<suffix of the kernel language>


class RunRow(Output):
    """One run of `autocomp runs`."""

    run_dir: str
    problem: str | None
    status: str  # running | finished | interrupted | failed | killed (no live process) | unreadable
    created: str | None
    iterations: int
    candidates: int
    best_speedup: float | None  # the headline (re-checked when the run re-checked its answer)
    best_speedup_source: Literal["re-check", "search"] | None = None
    search_best_speedup: float | None = None
    disagreement: str | None = None
    unreliable: str | None = None  # the headline's measurement lacked clean calls (autocomp.headline)
    stop_reason: str | None = None
    error: str | None = None


class HardwareOutput(Output):
    target: str
    description: str
    peak_flops: dict[str, float]
    remeasured: int


class VendorPathRow(Output):
    """One way a library solves the problem, as `autocomp.targets.vendor` measured it: a vendor
    path (PyTorch, oneMKL, numpy's BLAS), one of the problem folder's own baselines, or (gemmini)
    one of our library's variants on the emulator. Every key is always present; the measured
    ones are null on a path that did not run (`available` false, `reason` says why)."""

    name: str
    library: str
    available: bool
    reason: str | None = None  # why it did not run
    note: str | None = None  # what the path does
    prepacked: bool = False  # an input was packed/transposed/reordered before (outside) the timed call
    latency_s: float | None = None  # median seconds per call (modeled targets: nominal, from cycles)
    reps: int | None = None  # calls the median is over
    preempted_reps_left_out: int | None = None
    gflops: float | None = None
    rel_err: float | None = None  # against the problem's reference on the same inputs
    cycles: int | None = None  # modeled targets only: the measurement
    utilization: float | None = None  # modeled targets only


class BaselineOutput(Output):
    """`autocomp baseline` (and what `bench` and the demo read): every path measured on the
    problem, the fastest same-work one (`best`) and the fastest over all paths, prepacked
    included (`best_prepacked`). Every key is always present, null when it does not apply."""

    problem: str
    available: bool  # a correct path ran (`best` is set)
    reason: str | None = None  # why not, when not available
    paths: list[VendorPathRow] = []
    best: VendorPathRow | None = None
    best_prepacked: VendorPathRow | None = None
    torch: str | None = None  # library versions the paths ran on
    mkl: str | None = None
    cores: list[int] | None = None  # where the child ran, for the record
    metric: MetricKind = MetricKind.LATENCY  # what the paths' numbers are: seconds, or modeled cycles (gemmini)
    warning: str | None = None  # e.g. this machine cannot run the target: fallback code paths, not its timings


class BenchRow(Output):
    """One problem of `autocomp bench`: initial code, best stored answer, vendor baseline."""

    problem: str
    family: str
    best_run: str | None
    best_outcome: str
    best_error: str | None
    rounds: int
    machine_load_before_rounds: list[float | None]
    initial_latency_s: float | None = None
    initial_gflops: float | None = None
    initial_pct_peak: float | None = None
    best_latency_s: float | None = None
    best_gflops: float | None = None
    best_pct_peak: float | None = None
    above_peak: str | None = None
    unreliable: str | None = None
    speedup_vs_initial: float | None = None
    speedup_vs_vendor: float | None = None
    speedup_vs_vendor_range: list[float] | None = None
    vendor: str | None = None
    vendor_note: str | None = None
    vendor_latency_s: float | None = None
    vendor_gflops: float | None = None
    vendor_pct_peak: float | None = None
    speedup_vs_vendor_prepacked: float | None = None
    vendor_prepacked: str | None = None
    vendor_prepacked_latency_s: float | None = None
    metric: MetricKind = MetricKind.LATENCY
    initial_cycles: int | None = None
    best_cycles: int | None = None
    best_utilization: float | None = None
    vendor_cycles: int | None = None


class BenchOutput(Output):
    target: str
    machine: str
    runs_root: str
    rounds: int
    core: int | None
    problems: list[BenchRow]
    geomean_speedup_vs_vendor: float | None
    geomean_speedup_vs_vendor_prepacked: float | None
    geomean_speedup_vs_initial: float | None
    problems_without_a_stored_run: list[str] = []  # left out of every geomean


class Argument(Output):
    """One kernel parameter as `autocomp new` read it off the C signature."""

    name: str
    role: Literal["input", "output", "scalar"]
    dtype: str | None  # None for a scalar (an int)


class ReferenceOutput(Output):
    """One output of the reference on one trial's inputs: what `check` shows of it."""

    shape: list[int]
    dtype: str
    min: float
    max: float


class ReferenceRun(Output):
    """The reference called once in its sandboxed child (autocomp.onboard); `error` says why not."""

    ok: bool
    seconds: float | None = None
    outputs: dict[str, ReferenceOutput] = {}
    error: str | None = None


class InitialVerdict(Output):
    """The initial code verified on fresh inputs against the reference, and timed."""

    outcome: str
    correct: bool
    error: str | None
    metric: MetricKind
    value: int | float | None  # seconds (median, a float) or modeled cycles (an int)
    gflops: float | None
    above_peak: str | None = None  # set when utilization > 100%: why, and the remedy
    unreliable: str | None = None


class CheckOutput(Output):
    """`autocomp check`: a problem folder from loaded to ready."""

    problem: str
    folder: str  # as given
    signature: str
    reference: ReferenceRun
    initial: InitialVerdict
    tuner: str  # what the tuner would start from, or why nothing
    baselines: list[str]  # the problem's own: baselines.py and baselines/*.c
    ready: bool  # the initial code passed verification (a search can use it as the baseline)


class NewOutput(Output):
    """`autocomp new`: what was written and inferred, what is left, and the check when it ran."""

    folder: str
    entry: str
    signature: str
    arguments: list[Argument]
    params_inferred: dict[str, int]  # read off the shapes by the family's template
    todo: list[str]  # `FILE:LINE: what to write` for each AUTOCOMP-TODO left
    check: CheckOutput | None = None  # None with --no-check or while anything is left to fill in


def headline_fields(head: Headline) -> dict[str, Any]:
    """The headline as BestOutput fields."""
    return {"speedup_vs_initial": head.speedup_vs_initial, "speedup_source": head.source,
            "search_speedup_vs_initial": head.search_speedup, "recheck_speedup_vs_initial": head.recheck_speedup,
            "disagreement": head.disagreement, "unreliable": head.unreliable}
