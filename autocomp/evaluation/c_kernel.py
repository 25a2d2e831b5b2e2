"""Generic evaluation of C kernels, shared by every C-based target (cpu, amx, gemmini).

Staged, cheapest first: static policy -> build -> verify -> time (`CStages`; a target swaps
any stage for its own, e.g. gemmini's emulator turns verification calls into modeled cycles).
The candidate only ever runs inside `sandbox.run` children; this module prepares their inputs
and turns their outputs into one `EvalResult`. All verdicts are made in Python, in the stages.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import shutil
import statistics
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autocomp.evaluation import policy as static_policy
from autocomp.evaluation import sandbox, scratch
from autocomp.evaluation.base import EvalSettings, MetricKind
from autocomp.evaluation.checks import Trial, check_not_degenerate, compare, from_bytes, poison_patterns
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.evaluation.timing import PATIENCE, Call, Overhead, core_lock, paired, speedup_interval, too_short
from autocomp.problem import Problem

HARNESS_DIR = Path(__file__).parent / "harness"
TIMING_SETS = 4  # input sets for timing, never seen in verification; the harness mixes them afresh for every call
# a timed call's CPU time may exceed its wall time by this much (accounting granularity) before the run counts as tampered
CPU_SLACK_S = 50e-6
MAX_EXPANDED_BYTES = 64 << 20  # a kernel after the preprocessor, system headers included (immintrin.h: ~3 MB)
SIGNAL_HINTS = {
    "SIGSEGV": "invalid memory access (out-of-bounds read/write hits a guard page) or a bad configuration",
    "SIGBUS": "misaligned or invalid memory access",
    "SIGILL": "illegal instruction (unsupported ISA extension, or an accelerator used before it was configured)",
    "SIGFPE": "arithmetic exception (e.g. integer division by zero)",
    "SIGABRT": "the kernel aborted",
    "SIGSYS": "a forbidden system call: kernels may not create threads or processes, exec, open sockets, trace, "
              "change their own scheduling (core, priority, yielding) or signal other processes",
}


@dataclass(frozen=True)
class CToolchain:
    """How a target compiles kernels and prepares the harness process."""

    cc: str = "gcc"
    cflags: tuple[str, ...] = ("-O3", "-march=native", "-std=gnu11")
    ldflags: tuple[str, ...] = ("-lm",)  # after the source: libm for expf & co.
    harness_cflags: tuple[str, ...] = ("-O2", "-std=gnu11")
    harness_init: str = ""  # C statements run once before any kernel call (e.g. AMX permission)
    harness_prelude: str = ""  # C includes/helpers harness_init needs
    policy: static_policy.Policy = field(default_factory=static_policy.Policy)
    # folders the compiler reads besides the system (a target's headers and runtime objects): the
    # only ones its sandbox shows it, read-only (sandbox.run's `readable`)
    readable: tuple[Path, ...] = ()


def trim(text: str, max_lines: int = 40, max_width: int = 400) -> str:
    """Keep the useful head of compiler/runtime output for records and prompts."""
    lines = [line[:max_width] for line in text.strip().splitlines()]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


def containment(res: sandbox.SandboxResult, lines: list[list[str]]) -> str:
    """How the process that ran the kernel was contained: the sandbox's namespaces (or why there
    were none), then what that process applied to itself (harness/containment.h): in
    verification the harness itself, in timing the runner process the candidate ran in."""
    said = next((f[1:] for f in lines if f[0] == "containment"), None)
    return f"{res.isolation}; " + (" ".join(said) if said else "unknown (the harness did not say)")


@dataclass(frozen=True)
class Verification:
    """What the harness's verify run left: its result lines (e.g. an emulator's per-call metrics) and the run."""

    lines: list[list[str]]
    res: sandbox.SandboxResult


@dataclass
class CandidateRun:
    """One candidate on its way through the stages after it was built: what later stages need."""

    so: Path  # the candidate's shared object
    baseline: Path  # the initial code's shared object
    cdir: Path  # this run's folder: inputs, outputs, job files
    trials: list[Trial]  # verification trials (the timing sets follow them on disk)
    verification: Verification | None = None  # set by the verify stage


PolicyStage = Callable[["CKernelEvaluator", str], "EvalResult | None"]  # the source against the static rules: a failure or None
BuildStage = Callable[["CKernelEvaluator", str], "tuple[Path | None, EvalResult | None]"]  # (shared object, failure)
VerifyStage = Callable[["CKernelEvaluator", CandidateRun], "EvalResult | None"]  # sets run.verification; a failure or None
TimeStage = Callable[["CKernelEvaluator", CandidateRun], EvalResult]  # the verified candidate's final result


@dataclass(frozen=True)
class CStages:
    """The C pipeline's named stages, run in this order; each may end the evaluation with a
    result. A target changes one with `dataclasses.replace(C_STAGES, verify=...)`."""

    policy: PolicyStage
    build: BuildStage
    verify: VerifyStage
    time: TimeStage


def check_policy(ev: "CKernelEvaluator", code: str) -> EvalResult | None:
    """The static rules on the source as written (docs/evaluation-hygiene.md), before compiling."""
    violations = static_policy.check(code, ev.problem.spec.kernel.entry, ev.toolchain.policy)
    return EvalResult(outcome=Outcome.POLICY_VIOLATION, error="; ".join(violations)) if violations else None


def build_shared_object(ev: "CKernelEvaluator", code: str) -> tuple[Path | None, EvalResult | None]:
    """The candidate compiled to a shared object, then the banned calls checked again after the preprocessor."""
    so, err = ev.shared_object(code)
    if so is None:
        return None, EvalResult(outcome=Outcome.COMPILE_ERROR, error=err)
    expanded = ev.expanded_violations(so.parent)
    if expanded:
        return None, EvalResult(outcome=Outcome.POLICY_VIOLATION, error="; ".join(expanded))
    return so, None


def verify_in_harness(ev: "CKernelEvaluator", run: CandidateRun) -> EvalResult | None:
    """Every trial through the harness's verify mode, outputs compared with the reference."""
    lines, res, failure = ev.run_verification(run.so, run.cdir, run.trials)
    run.verification = Verification(lines, res)
    return failure


def time_in_harness(ev: "CKernelEvaluator", run: CandidateRun) -> EvalResult:
    """Wall-clock timing against the initial code, call by call in one harness run (untimed settings: verified only)."""
    if not ev.settings.time:
        assert run.verification is not None
        return EvalResult(outcome=Outcome.OK, details={"timed": False, "trials": len(run.trials),
                                                       "containment": containment(run.verification.res, run.verification.lines)})
    return ev.run_timing(run.so, run.baseline, run.cdir, len(run.trials))


C_STAGES = CStages(policy=check_policy, build=build_shared_object, verify=verify_in_harness, time=time_in_harness)


class CKernelEvaluator:
    """Evaluates candidate sources for one problem with one toolchain, through `stages`.

    Builds the harness and the baseline (the problem's initial code) once, in a private
    build directory; each candidate gets its own subdirectory. Timing runs hold the timing
    core's machine-wide lock (`timing.core_lock`), so only one process at a time times on it.
    A modeled metric (`MetricKind.modeled`) needs neither that core to itself nor duels.
    """

    def __init__(self, problem: Problem, toolchain: CToolchain, settings: EvalSettings, peak_flops: float | None, *,
                 stages: CStages = C_STAGES, metric: MetricKind = MetricKind.LATENCY) -> None:
        self.problem, self.toolchain, self.settings, self.peak_flops = problem, toolchain, settings, peak_flops
        self.stages, self.metric = stages, metric
        self.exclusive_timing = not metric.modeled  # wall-clock timing needs the pinned core to itself
        self.workdir = scratch.make("autocomp-eval-")
        self._build_lock = threading.Lock()
        self._object_locks: dict[str, threading.Lock] = {}
        self._harness: Path | None = None
        self._baseline: Path | None = None
        self._checked_problem = False
        self._seq = 0

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- build -------------------------------------------------------------------

    def _shim(self) -> str:
        ptypes, calls, n = [], [], 0
        for arg in self.problem.arguments():
            ptypes.append(arg.ctype)
            if arg.tensor:
                calls.append(f"({arg.ctype})a[{n}]")
                n += 1
            else:
                calls.append(str(self.problem.spec.scalars[arg.name]))
        tc = self.toolchain
        return (
            "#include <stdint.h>\n" + tc.harness_prelude + "\n"
            f"#define N_KERNEL_BUFS {n}\n"
            f"typedef void (*autocomp_kernel_t)({', '.join(ptypes)});\n"
            "static inline void call_kernel(void *fn, void **a) {\n"
            f"  ((autocomp_kernel_t)fn)({', '.join(calls)});\n}}\n"
            f"static inline void harness_init(void) {{\n{tc.harness_init}\n}}\n"
        )

    def shared_object(self, code: str) -> tuple[Path | None, str]:
        """`code` built as a shared object, once per evaluator: a duel or a re-check times code
        that was built for its evaluation (the AMX templates take about a second to compile)."""
        key = hashlib.sha256(code.encode()).hexdigest()[:20]
        with self._build_lock:
            lock = self._object_locks.setdefault(key, threading.Lock())
        with lock:
            folder = self.workdir / "objects" / key
            if (folder / "kernel.so").is_file():
                return folder / "kernel.so", ""
            so, err = self._compile_so(code, folder)
            if so is None:  # a compiler killed for its timeout may leave a partial output behind
                (folder / "kernel.so").unlink(missing_ok=True)
            return so, err

    def _compile_so(self, code: str, directory: Path) -> tuple[Path | None, str]:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "kernel.c").write_text(code)
        argv = [self.toolchain.cc, *self.toolchain.cflags, "-fPIC", "-shared", "-o", "kernel.so", "kernel.c", *self.toolchain.ldflags]
        res = sandbox.run(argv, directory, self._compiler_limits(), readable=self.toolchain.readable)
        if res.timed_out:
            return None, "compilation timed out"
        if not res.ok:
            return None, trim(res.stderr or res.stdout)
        return directory / "kernel.so", ""

    def _compiler_limits(self) -> sandbox.Limits:
        """gcc's sandbox: off the core a kernel may be timed on, so a build never slows a timing."""
        return sandbox.Limits(timeout_s=max(60.0, self.settings.timeout_s),
                              cpus=sandbox.other_cores(sandbox.timing_core(self.settings.core)))

    def expanded_violations(self, folder: Path) -> list[str]:
        """The policy's banned calls, checked again after the preprocessor on the kernel.c that
        `folder` built (see policy.check_expanded). Compiled fine, so it preprocesses fine."""
        argv = [self.toolchain.cc, *self.toolchain.cflags, "-E", "-o", "kernel.i", "kernel.c"]
        res = sandbox.run(argv, folder, self._compiler_limits(), readable=self.toolchain.readable)
        if not res.ok:
            return []
        expanded = folder / "kernel.i"
        if expanded.stat().st_size > MAX_EXPANDED_BYTES:  # macros that expand without bound
            return [f"the preprocessed code is {expanded.stat().st_size:,} bytes, over {MAX_EXPANDED_BYTES:,}: "
                    "macros may not expand the kernel that far"]
        return static_policy.check_expanded(expanded.read_text(errors="replace"), "kernel.c", self.toolchain.policy)

    def _ensure_built(self) -> tuple[Path, Path]:
        with self._build_lock:
            if self._harness is None:
                hdir = self.workdir / "harness"
                hdir.mkdir()
                for source in ("harness.c", "containment.h"):
                    shutil.copy(HARNESS_DIR / source, hdir / source)
                (hdir / "shim.h").write_text(self._shim())
                argv = [self.toolchain.cc, *self.toolchain.harness_cflags, "-I.", "-o", "harness", "harness.c", "-ldl"]
                res = sandbox.run(argv, hdir, sandbox.Limits(timeout_s=120))
                if not res.ok:
                    raise RuntimeError(f"building the evaluation harness failed:\n{trim(res.stderr)}")
                self._harness = hdir / "harness"
            if self._baseline is None:
                so, err = self._compile_so(self.problem.initial_code, self.workdir / "baseline")
                if so is None:
                    from autocomp.errors import ProblemError

                    raise ProblemError(str(self.problem.initial_file), "(code)", f"does not compile:\n{err}")
                self._baseline = so
            return self._harness, self._baseline

    # ---- evaluate ----------------------------------------------------------------

    def evaluate(self, code: str, seed: int | None = None) -> EvalResult:
        """Run all stages on `code`; every failure is an outcome, never an exception."""
        failure = self.stages.policy(self, code)
        if failure is not None:
            return failure
        _, baseline = self._ensure_built()
        with self._run_dir(f"cand-{hashlib.sha256(code.encode()).hexdigest()[:10]}") as cdir:
            so, failure = self.stages.build(self, code)
            if so is None:
                assert failure is not None
                return failure
            rng = random.Random(seed if seed is not None else secrets.randbits(63))
            trials = [Trial(self.problem, rng.getrandbits(63), extreme=False) for _ in range(self.settings.trials)]
            if self.settings.adversarial:
                trials.append(Trial(self.problem, rng.getrandbits(63), extreme=True))
            if not self._checked_problem:
                check_not_degenerate(self.problem, trials[0])
                self._checked_problem = True
            # inputs the kernel never sees before timing: caches keyed by earlier inputs miss
            timing_sets = [Trial(self.problem, rng.getrandbits(63), extreme=False) for _ in range(TIMING_SETS)]
            for i, trial in enumerate(trials + timing_sets):
                trial.write_inputs(self.problem, cdir, i)
            run = CandidateRun(so, baseline, cdir, trials)
            with self._core() if self.exclusive_timing else contextlib.nullcontext():
                return self.stages.verify(self, run) or self.stages.time(self, run)

    def duel(self, code: str, rival: str) -> EvalResult:
        """Time `code` against `rival` (both already verified) call by call in one harness run: the
        result's speedup is how many times faster `code` runs than `rival`.

        Separate evaluations compare each with the initial code at different moments; on a
        shared machine the ratio itself drifts (a compute-bound kernel and a memory-bound
        baseline slow down differently), so two close finalists are ordered only by a direct
        interleaved comparison. Timed calls of `code` are still checked against the reference.
        """
        if not self.settings.time or self.metric.modeled:  # modeled scores already order any two kernels
            return EvalResult(outcome=Outcome.OK, details={"timed": False})
        self._ensure_built()  # the harness, and the initial code compiled (a ProblemError otherwise)
        with self._run_dir("duel") as cdir:
            so, err = self.shared_object(code)
            rival_so, rival_err = self.shared_object(rival)
            if so is None or rival_so is None:
                return EvalResult(outcome=Outcome.COMPILE_ERROR, error=err or rival_err)
            rng = random.Random(secrets.randbits(63))
            for i in range(TIMING_SETS):
                Trial(self.problem, rng.getrandbits(63), extreme=False).write_inputs(self.problem, cdir, i)
            with self._core():
                return self.run_timing(so, rival_so, cdir, ntrials=0)

    def _core(self) -> contextlib.AbstractContextManager[None]:
        """The timing core, held machine-wide while kernels run on it (verification runs there too)."""
        return core_lock(sandbox.timing_core(self.settings.core))

    @contextlib.contextmanager
    def _run_dir(self, label: str) -> Iterator[Path]:
        """A fresh directory for one harness run's inputs, outputs and job file, removed after it."""
        with self._build_lock:
            self._seq += 1
            cdir = self.workdir / f"{label}-{self._seq}"
        cdir.mkdir(parents=True)
        try:
            yield cdir
        finally:
            shutil.rmtree(cdir, ignore_errors=True)

    def _job(self, cdir: Path, so: Path, baseline: Path | None, ntrials: int) -> tuple[Path, str]:
        token = secrets.token_hex(16)
        s = self.settings
        lines = [f"token {token}", f"entry {self.problem.spec.kernel.entry}", f"candidate {so}", f"dir {cdir}",
                 f"trials {ntrials}", f"timing_base {ntrials}", f"timing_sets {TIMING_SETS}", f"warmup {s.warmup}", f"min_reps {s.min_reps}", f"max_reps {s.max_reps}",
                 f"min_time {s.min_time_s}", f"patience {PATIENCE}", f"cold_cache {int(s.cold_cache)}"]
        if baseline is not None:
            lines.append(f"baseline {baseline}")
        for arg in self.problem.arguments():
            if arg.tensor:
                first, second = poison_patterns(arg.tensor.dt)
                kind = "out" if arg.is_output else "in"
                lines.append(f"buf {arg.name} {kind} {arg.tensor.nbytes} {first.hex()} {second.hex()}")
        path = cdir / f"job-{token[:8]}.txt"
        path.write_text("\n".join(lines) + "\n")
        return path, token

    def _limits(self, timeout: float) -> sandbox.Limits:
        return sandbox.Limits(timeout_s=timeout, cpus=(sandbox.timing_core(self.settings.core),),
                              keep_output_bytes=self._result_stream_bytes())

    def _result_stream_bytes(self) -> int:
        """More than the harness itself ever writes on its result stream: a line per timed call
        (both kernels, up to max_reps each), a metrics line per verification call, a few more.
        A stream that overflows this was written to by the kernel."""
        s = self.settings
        return (64 << 10) + 2 * s.max_reps * 128 + (s.trials + 2) * 2 * 4200

    def _run_harness(self, harness: Path, mode: str, job: Path, cdir: Path, timeout: float) -> sandbox.SandboxResult:
        """The harness in its sandbox: it sees the evaluator's folder (its own binary, the shared
        objects) read-only and writes only in `cdir`."""
        return sandbox.run([str(harness), mode, str(job)], cdir, self._limits(timeout), readable=(self.workdir,))

    def _run_failure(self, res: sandbox.SandboxResult, stage: str) -> EvalResult | None:
        if not res.stdout_complete:
            return EvalResult(outcome=Outcome.CRASH, error=(
                f"{stage}: {res.stdout_bytes:,} bytes were written to the harness's result stream, more than the harness "
                "writes; kernels may not write output"))
        if res.timed_out:
            return EvalResult(outcome=Outcome.TIMEOUT, error=f"{stage}: exceeded the {res.elapsed_s:.1f} s limit; the process group was killed")
        if res.signal_name:
            hint = SIGNAL_HINTS.get(res.signal_name, "")
            tail = trim(res.stderr, 10)
            return EvalResult(outcome=Outcome.CRASH, error=f"{stage}: killed by {res.signal_name}: {hint}" + (f"\n{tail}" if tail else ""))
        if res.returncode != 0:
            if "harness: entry function not found" in res.stderr:
                return EvalResult(outcome=Outcome.COMPILE_ERROR, error=f"the entry function `{self.problem.spec.kernel.entry}` is not exported (is it static?)")
            if "harness:" in res.stderr:
                return EvalResult(outcome=Outcome.HARNESS_ERROR, error=trim(res.stderr))
            return EvalResult(outcome=Outcome.CRASH, error=f"{stage}: exited with code {res.returncode}\n{trim(res.stderr, 10)}")
        return None

    def run_verification(self, so: Path, cdir: Path, trials: list[Trial],
                         stage: str = "verification") -> tuple[list[list[str]], sandbox.SandboxResult, EvalResult | None]:
        """Run every trial through the harness's verify mode and check the outputs against the
        reference. Returns the harness's result lines, the raw run and the failure (if any)."""
        harness, _ = self._ensure_built()
        job, token = self._job(cdir, so, None, len(trials))
        res = self._run_harness(harness, "verify", job, cdir, self.settings.timeout_s)
        lines = self._result_lines(res, token)
        failure = self._run_failure(res, stage) or self._unfinished(lines, "verified", str(len(trials)))
        if failure is None:
            problem = self._verify_outputs(cdir, trials, lines)
            if problem:
                failure = EvalResult(outcome=Outcome.WRONG_ANSWER, error=problem)
        return lines, res, failure

    def run_timing(self, so: Path, baseline: Path, cdir: Path, ntrials: int) -> EvalResult:
        """The harness's timing run of `so` against `baseline`; its inputs are the TIMING_SETS sets
        after the `ntrials` verification sets."""
        harness, _ = self._ensure_built()
        job, token = self._job(cdir, so, baseline, ntrials)
        budget = self.settings.timeout_s + (PATIENCE + 1) * self.settings.min_time_s
        res = self._run_harness(harness, "time", job, cdir, budget)
        lines = self._result_lines(res, token)
        failure = self._run_failure(res, "timing") or self._unfinished(lines, "end")
        if failure:
            return failure
        result = self._timing_result(cdir, lines, ntrials, res.elapsed_s)
        if result.correct:
            result.details["containment"] = containment(res, lines)
        return result

    @staticmethod
    def _result_lines(res: sandbox.SandboxResult, token: str) -> list[list[str]]:
        return [line.split()[1:] for line in res.stdout.splitlines() if line.startswith(token + " ")]

    @staticmethod
    def _unfinished(lines: list[list[str]], *final: str) -> EvalResult | None:
        """The process exited 0 without the harness's closing line: the kernel ended it."""
        if any(f[: len(final)] == list(final) for f in lines):
            return None
        return EvalResult(outcome=Outcome.CRASH, error="the process ended before the harness finished; "
                          "kernels must return normally (exiting the process is not allowed)")

    def _verify_outputs(self, cdir: Path, trials: list[Trial], lines: list[list[str]]) -> str | None:
        for fields in lines:
            if fields[0] == "canary":
                return f"wrote outside the bounds of buffer {fields[2]} (canary bytes next to it changed)"
            if fields[0] == "input_modified":
                return f"modified input {fields[2]}; inputs are read-only"
        for i, trial in enumerate(trials):
            for spec in self.problem.spec.outputs:
                raw = (cdir / f"out{i}_{spec.name}.bin").read_bytes()
                issue = compare(spec, from_bytes(spec, raw), trial.expected[spec.name])
                if issue:
                    kind = "adversarial trial (inputs at the distribution's extremes)" if trial.extreme else f"trial {i}"
                    return f"{kind}: {issue}"
                second_raw = (cdir / f"out0_{spec.name}.call2.bin").read_bytes() if i == 0 else raw
                if second_raw != raw:
                    second = compare(spec, from_bytes(spec, second_raw), trial.expected[spec.name])
                    return ("a second call on the same inputs gave a different output"
                            + (f" ({second})" if second else " (not bit-identical)")
                            + "; kernels must compute every call from scratch")
        return None

    def _timing_result(self, cdir: Path, lines: list[list[str]], ntrials: int, elapsed_s: float) -> EvalResult:
        calls = {side: [f for f in lines if f[0] == "time" and f[1] == side] for side in ("cand", "base")}
        # each process's wake-and-stop cost, measured before its kernel was loaded (trusted)
        overhead = {f[1]: Overhead(float(f[2]), float(f[3])) for f in lines if f[0] == "overhead"}
        if set(overhead) != {"cand", "base"}:
            return EvalResult(outcome=Outcome.HARNESS_ERROR, error="timing: the harness did not report its per-call overhead")
        cand, base = ([Call(float(f[2]), f[3] == "1") for f in calls[side]] for side in ("cand", "base"))
        end = next(f for f in lines if f[0] == "end")
        if [len(cand), len(base)] != [int(end[1]), int(end[2])]:
            return EvalResult(outcome=Outcome.WRONG_ANSWER, error="timing: the harness's result stream was tampered with")
        tampered = self._clocks_disagree(calls["cand"] + calls["base"], lines, elapsed_s)
        if tampered:
            return EvalResult(outcome=Outcome.WRONG_ANSWER, error=f"timing: {tampered}; the measurement was tampered with")
        for fields in lines:
            if fields[0] == "canary":
                return EvalResult(outcome=Outcome.WRONG_ANSWER, error=f"timing: wrote outside the bounds of buffer {fields[2]}")
            if fields[0] == "input_modified":
                return EvalResult(outcome=Outcome.WRONG_ANSWER, error=f"timing: modified input {fields[2]}; inputs are read-only")
        checked = [f for f in lines if f[0] == "checked"]
        if len(checked) != int(end[3]) or not checked:
            return EvalResult(outcome=Outcome.HARNESS_ERROR, error="timing: no timed call was kept for checking")
        for _, slot, call in checked:
            trial = Trial.from_files(self.problem, cdir, f"chk{slot}")
            for spec in self.problem.spec.outputs:
                got = from_bytes(spec, (cdir / f"chk{slot}_{spec.name}.bin").read_bytes())
                issue = compare(spec, got, trial.expected[spec.name])
                if issue:
                    return EvalResult(outcome=Outcome.WRONG_ANSWER,
                                      error=f"timed call {call} (picked at random for checking): {issue}; "
                                      "every call must compute its outputs from its current inputs")
        if not cand or not base:
            return EvalResult(outcome=Outcome.HARNESS_ERROR, error="timing produced no measurements")
        return self._stats(cand, base, (overhead["cand"], overhead["base"]), ntrials)

    @staticmethod
    def _clocks_disagree(calls: list[list[str]], lines: list[list[str]], elapsed_s: float) -> str | None:
        """Three clocks that must agree: the CPU time the OS accounted to the kernel's process in
        each call (the measurement) cannot exceed the call's wall time by the harness's timer,
        and our own wall clock over the whole run must hold every call's wall time. A kernel's
        process must not run between its calls either (the timer keeps it stopped)."""
        for f in calls:
            cpu_s, wall_s = float(f[2]), float(f[4])
            if cpu_s > wall_s * 1.02 + CPU_SLACK_S:
                return f"a {f[1]} call ran {cpu_s * 1e3:.4g} ms on the CPU but took {wall_s * 1e3:.4g} ms by the timer's clock"
        total = sum(float(f[4]) for f in calls)
        if total > elapsed_s:
            return f"its calls add up to {total:.3f} s, more than the {elapsed_s:.3f} s the whole run took"
        for f in lines:
            if f[0] == "outside" and float(f[2]) > 1e-3:
                return f"the {f[1]} process ran {float(f[2]) * 1e3:.3g} ms of CPU time outside its timed calls"
        return None

    def _stats(self, cand_calls: list[Call], base_calls: list[Call], overheads: tuple[Overhead, Overhead],
               ntrials: int) -> EvalResult:
        """Statistics over each side's raw CPU times per call (`paired`), less that side's
        wake-and-stop overhead, unless either side's calls are too short for that subtraction to
        leave a number (`timing.too_short`): then both keep the overhead in and are unreliable."""
        reps = self.settings.min_reps
        both = paired(cand_calls, base_calls, reps)
        short = next(filter(None, (too_short(statistics.median(times), o)
                                   for times, o in zip((both.candidate, both.baseline), overheads, strict=True))), None)
        if short:
            cand, base = both.candidate, both.baseline
        else:
            cand, base = ([max(t - o.median_s, 1e-9) for t in times]
                          for times, o in zip((both.candidate, both.baseline), overheads, strict=True))
        unreliable = "; ".join(filter(None, (both.unreliable, short))) or None
        med, bmed = statistics.median(cand), statistics.median(base)
        flops = self.problem.spec.flops
        details = {
            "reps": len(cand), "baseline_reps": len(base), "trials": ntrials,
            "preempted_reps_left_out": both.left_out[0], "baseline_preempted_reps_left_out": both.left_out[1],
            "p90_s": sorted(cand)[int(0.9 * (len(cand) - 1))], "min_s": min(cand),
            "cv": statistics.pstdev(cand) / statistics.mean(cand),
            "gflops": flops / med / 1e9, "baseline_gflops": flops / bmed / 1e9,
            "bytes_per_s": self.problem.spec.bytes / med,
            "caches": "cold" if self.settings.cold_cache else "warm",  # docs/evaluation-hygiene.md R5.4: always say whether data was warm
            "speedup_interval": list(speedup_interval(cand, base)),  # ~95%: a speedup whose interval holds 1.0 is noise
            "call_overhead_s": overheads[0].median_s,  # waking and stopping the kernel's process, per call
            "call_overhead_taken_off": not short,
        }
        speedup = bmed / med
        util = flops / med / self.peak_flops if self.peak_flops else None
        flags = []
        if speedup > 10:
            flags.append(f"speedup {speedup:.1f}x over the baseline exceeds 10x: review before trusting")
        if util is not None and util > 1.0:
            flags.append(f"achieved {util * 100:.0f}% of the measured peak: physically implausible")
        if unreliable:
            flags.append(f"unreliable: {unreliable}")
        if flags:
            details["flags"] = flags
        return EvalResult(outcome=Outcome.OK, latency_s=med, baseline_latency_s=bmed, speedup=speedup,
                          utilization=util, unreliable=unreliable, details=details)
