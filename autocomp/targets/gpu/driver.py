"""The trusted driver: the only code that runs a GPU candidate, always as a sandboxed child.

    python -m autocomp.targets.gpu.driver run SCRATCH     # the candidate's process
    python -m autocomp.targets.gpu.driver check SCRATCH   # the checker's process (never loads a candidate)

`run` imports the candidate from SCRATCH/candidate.py (a CUDA candidate: built with
torch's inline extension loader), draws each trial's inputs from a fresh seed with a torch
generator, fills the outputs with NaN, calls the entry with PyTorch's compute ops trapped,
and saves the outputs as .npy files in SCRATCH/outputs. On a GPU it then times the candidate,
the rival (the initial code, or a duel's leader), eager `reference()` and
`torch.compile(reference)` in interleaved rounds with CUDA events, L2 flushed and the inputs
refreshed from a pool before every call, and saves the outputs of one timed call, chosen by
the parent, for checking. `check` runs afterwards in its own process: it computes
reference.py's outputs from the same seeds and compares. So the reference's outputs never
exist while candidate code runs, and the verdict comes from a process the candidate never
shared.

Results go to the parent as one JSON object on a private file descriptor (the original
stdout), after a nonce from the job file (deleted before any candidate code loads); the
candidate's own prints go to stderr. So it cannot forge a result line.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from autocomp.targets.gpu.job import CANDIDATE_FILE, JOB_FILE, OUTPUTS_DIR, RIVAL_FILE, Job, TensorArg

# aten ops a kernel's host code may run during its call: allocation, views, copies and fills
# (Triton's interpreter itself copies through aten); anything else computes with PyTorch
ALLOWED_ATEN = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros", "zeros_like",
                "new_zeros", "full", "full_like", "new_full", "fill_", "zero_", "copy_", "set_", "view", "_unsafe_view",
                "reshape", "as_strided", "t", "transpose", "permute", "clone", "detach", "alias", "lift_fresh",
                "_to_copy", "expand", "slice", "select", "unsqueeze", "squeeze", "split", "unbind", "contiguous",
                "arange", "is_same_size", "_local_scalar_dense", "record_stream"}
# what Triton, torch.compile and torch's inline extension loader start on a GPU machine: ptxas and
# a C compiler (Triton's launchers), ldconfig (Triton finds libcuda with it), ninja and nvcc
GPU_TOOLS = ("ptxas", "ldconfig", "which", "ninja", "nvcc", "cicc", "cudafe++", "fatbinary", "nvlink", "ld", "cc", "c++", "gcc",
             "g++", "clang", "clang++")
FLUSH_BYTES = 256 << 20  # written before every timed call: larger than any current GPU's L2 (H100: 50 MB)
RESULTS_FD_ENV = "AUTOCOMP_RESULTS_FD"


# ---- inputs and outputs ------------------------------------------------------------------

def torch_dtype(name: str) -> Any:
    import torch

    return {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "f64": torch.float64,
            "i8": torch.int8, "u8": torch.uint8, "i16": torch.int16, "i32": torch.int32, "i64": torch.int64}[name]


def make_inputs(job: Job, seed: int, device: str) -> dict[str, Any]:
    """Every input drawn from its distribution with a generator seeded by `seed`, in float32 on
    the CPU and then rounded to the dtype: the same values on every device and in both roles."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for spec in job.inputs():
        dist = spec.distribution
        kind = dist.get("kind", "uniform")
        if kind == "normal":
            values = torch.randn(spec.shape, generator=gen) * dist.get("std", 1.0) + dist.get("mean", 0.0)
        elif kind == "randint":
            values = torch.randint(int(dist["low"]), int(dist["high"]) + 1, spec.shape, generator=gen)
        else:
            low, high = dist.get("low", -1.0), dist.get("high", 1.0)
            values = torch.rand(spec.shape, generator=gen) * (high - low) + low
        tensors[spec.name] = values.to(torch_dtype(spec.dtype)).to(device).contiguous()
    return tensors


def poisoned(spec: TensorArg, device: str) -> Any:
    """A fresh output buffer full of NaN (integers: a sentinel), so an element never written fails."""
    import torch

    dtype = torch_dtype(spec.dtype)
    fill = float("nan") if dtype.is_floating_point else 0x7F
    return torch.full(spec.shape, fill, dtype=dtype, device=device)


def call_args(job: Job, inputs: dict[str, Any], outputs: dict[str, Any]) -> list[Any]:
    return [inputs.get(a, outputs.get(a, job.scalars.get(a))) for a in job.args]


def save_outputs(scratch: Path, label: str, outputs: dict[str, Any]) -> None:
    import numpy as np

    folder = scratch / OUTPUTS_DIR
    folder.mkdir(exist_ok=True)
    for name, tensor in outputs.items():
        t = tensor.detach().cpu()
        np.save(folder / f"{label}_{name}.npy", (t.float() if t.dtype.is_floating_point else t).numpy())


# ---- the guards around candidate code --------------------------------------------------------

class Guards:
    """What the candidate's process watches: forbidden PyTorch ops during a call, Triton
    launches, process/network/file escapes (an audit hook, which nothing can remove), and the
    identity of every timer and synchronization function (a candidate replacing one would fool
    the measurement)."""

    def __init__(self, scratch: Path, mode: str) -> None:
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        self.violations: list[str] = []
        self.launches = 0
        self.scratch = str(scratch.resolve())
        self.mode = mode
        guards = self

        class OpTrap(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
                name = func.__name__.split(".")[0]
                if name not in ALLOWED_ATEN:
                    guards.violations.append(f"called PyTorch's aten.{name} during the kernel call; the work must be "
                                             "done by your own Triton (or CUDA) kernels, not by PyTorch ops")
                return func(*args, **(kwargs or {}))

        self.op_trap = OpTrap
        self.protected = self._protected(torch)
        self.snapshot = {key: getattr(owner, attr) for key, (owner, attr) in self.protected.items()}

    @staticmethod
    def _protected(torch: Any) -> dict[str, tuple[Any, str]]:
        items = {"time.perf_counter": (time, "perf_counter"), "time.perf_counter_ns": (time, "perf_counter_ns"),
                 "time.time": (time, "time"), "time.monotonic": (time, "monotonic"),
                 "torch.cuda.synchronize": (torch.cuda, "synchronize"), "torch.cuda.Event": (torch.cuda, "Event"),
                 "torch.cuda.Event.record": (torch.cuda.Event, "record"),
                 "torch.cuda.Event.elapsed_time": (torch.cuda.Event, "elapsed_time"),
                 "torch.cuda.Event.synchronize": (torch.cuda.Event, "synchronize"),
                 "torch.cuda.current_stream": (torch.cuda, "current_stream"),
                 "torch.Tensor.copy_": (torch.Tensor, "copy_"), "torch.Tensor.fill_": (torch.Tensor, "fill_"),
                 "torch.compile": (torch, "compile"), "json.dumps": (json, "dumps"), "os.write": (os, "write")}
        return items

    def count_launches(self) -> None:
        """Count Triton launches (the interpreter's and the compiled path's `run`)."""
        from triton.runtime.jit import JITFunction

        targets: list[Any] = [JITFunction]
        if self.mode == "interpret":
            from triton.runtime.interpreter import InterpretedFunction

            targets.append(InterpretedFunction)
        for cls in targets:
            run = self._counting(cls.run)
            cls.run = run
            self.protected[f"{cls.__name__}.run"] = (cls, "run")
            self.snapshot[f"{cls.__name__}.run"] = run

    def _counting(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def run(fn_self: Any, *args: Any, **kwargs: Any) -> Any:
            self.launches += 1
            return original(fn_self, *args, **kwargs)

        return run

    def install_audit_hook(self, compilers: tuple[str, ...]) -> None:
        """Refuse processes, sockets and writes outside the scratch folder from here on (an audit
        hook cannot be removed). On a GPU, Triton and torch.compile run their compilers (ptxas,
        a C compiler for launchers): those executables alone may start."""
        def hook(event: str, args: tuple[Any, ...]) -> None:
            what = None
            if event in {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn"}:
                what = f"tried to start a process ({event})"
            elif event == "subprocess.Popen":
                argv = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
                exe = os.path.basename(os.fsdecode(args[0] or (argv[0] if argv else "")))
                if exe not in compilers and not exe.endswith(("-gcc", "-g++")):
                    what = f"tried to start a process ({exe})"
            elif event.startswith("socket.") and event not in {"socket.gethostname"}:
                what = f"tried to use the network ({event})"
            elif event == "open" and _writes(args) and not self._inside(args[0]):
                what = f"tried to write {args[0]} (only the scratch folder is writable)"
            if what is not None:
                self.violations.append(what)
                raise PermissionError(f"autocomp: {what}")

        sys.addaudithook(hook)

    def _inside(self, path: Any) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor
        p = os.path.realpath(os.fsdecode(path))
        return p == os.devnull or p.startswith(self.scratch + os.sep) or p == self.scratch

    def rebase(self) -> None:
        """Take the current functions as the reference identities, after checking the old ones:
        for trusted code (torch.compile's first call) that may legitimately rebind some."""
        _check(self)
        self.snapshot = {key: getattr(owner, attr) for key, (owner, attr) in self.protected.items()}

    def tampered(self) -> str | None:
        for key, (owner, attr) in self.protected.items():
            if getattr(owner, attr, None) is not self.snapshot[key]:
                return f"replaced {key}; kernels may not patch timers, synchronization or the evaluator"
        return None


def _writes(args: tuple[Any, ...]) -> bool:
    mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))


# ---- Triton's interpreter --------------------------------------------------------------------

def fix_interpreter_bf16_dot() -> None:
    """Triton 3.9's interpreter keeps bfloat16 tensors as their uint16 bit patterns, and its
    `create_dot` converts only 8-bit float operands before `np.matmul`, so a bf16 `tl.dot`
    multiplies bit patterns (triton-lang/triton#11584; upstream answered "we just don't
    support it yet"). Convert bf16 operands to float32 first, as the interpreter's own casts
    do: bf16 x bf16 products are exact in float32, which is what the tensor cores compute
    before accumulating in the accumulator's type."""
    import triton.language as tl
    from triton.runtime import interpreter

    original = interpreter.InterpreterBuilder.create_dot

    def create_dot(self: Any, a: Any, b: Any, d: Any, input_precision: Any, max_num_imprecise_acc: Any) -> Any:
        if a.dtype.scalar == tl.bfloat16 or b.dtype.scalar == tl.bfloat16:
            a = interpreter.TensorHandle(_as_f32(interpreter, a), tl.float32)
            b = interpreter.TensorHandle(_as_f32(interpreter, b), tl.float32)
        return original(self, a, b, d, input_precision, max_num_imprecise_acc)

    interpreter.InterpreterBuilder.create_dot = create_dot


def _as_f32(interpreter: Any, handle: Any) -> Any:
    import numpy as np
    import triton.language as tl

    if handle.dtype.scalar == tl.bfloat16:
        return (handle.data.astype(np.uint32) << 16).view(np.float32)
    return handle.data.astype(np.float32)


# ---- loading -----------------------------------------------------------------------------------

def load_python(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_cuda(path: Path, name: str, job: Job, scratch: Path) -> Any:
    """A CUDA C++ candidate through torch's inline extension loader (needs nvcc and a GPU)."""
    from torch.utils.cpp_extension import load_inline

    build = scratch / f"build_{name}"
    build.mkdir(exist_ok=True)
    return load_inline(name=f"autocomp_{name}", cpp_sources=[cuda_declaration(job)], cuda_sources=[path.read_text()],
                       functions=[job.entry], build_directory=str(build), verbose=False)


def cuda_declaration(job: Job) -> str:
    """`void kernel(torch::Tensor A, ..., int64_t n);` in kernel.args order."""
    tensors = {t.name for t in job.tensors}
    params = [f"torch::Tensor {a}" if a in tensors else f"int64_t {a}" for a in job.args]
    return f"#include <torch/extension.h>\nvoid {job.entry}({', '.join(params)});\n"


def load_entry(path: Path, name: str, job: Job, scratch: Path) -> Callable[..., Any]:
    module = load_cuda(path, name, job, scratch) if job.language == "cuda" else load_python(path, name)
    entry = getattr(module, job.entry, None)
    if not callable(entry):
        raise AttributeError(f"the code defines no function {job.entry!r}")
    return entry


# ---- the candidate's process -------------------------------------------------------------------

class Rejected(Exception):
    def __init__(self, outcome: str, error: str) -> None:
        super().__init__(error)
        self.outcome, self.error = outcome, error


def run_candidate(job: Job, scratch: Path) -> dict[str, Any]:
    import torch

    device = "cpu" if job.mode == "interpret" else "cuda"
    if job.mode == "interpret":
        fix_interpreter_bf16_dot()
    guards = Guards(scratch, job.mode)
    if job.language == "triton":
        guards.count_launches()
    guards.install_audit_hook(GPU_TOOLS if job.mode == "cuda" else ())
    try:
        fn = load_entry(scratch / CANDIDATE_FILE, "candidate", job, scratch)
    except Exception:
        raise Rejected("compile_error", "the code failed to load:\n" + tail(traceback.format_exc()))
    _check(guards)
    for i, seed in enumerate(job.seeds):
        inputs = make_inputs(job, seed, device)
        kept = {k: v.clone() for k, v in inputs.items()}
        outputs = {t.name: poisoned(t, device) for t in job.outputs()}
        stream = torch.cuda.current_stream() if device == "cuda" else None
        before = guards.launches
        call_guarded(guards, fn, call_args(job, inputs, outputs))
        if device == "cuda":
            torch.cuda.synchronize()
            if torch.cuda.current_stream() != stream:
                raise Rejected("policy_violation", "the kernel call changed the current CUDA stream")
        _check(guards)
        if job.language == "triton" and guards.launches == before:
            raise Rejected("policy_violation", "no Triton kernel was launched during the call; the entry must launch "
                                               "@triton.jit kernels that compute the outputs")
        for name, value in kept.items():
            if not torch.equal(value, inputs[name]):
                raise Rejected("wrong_answer", f"trial {i}: the kernel modified its input {name} (inputs are read-only)")
        save_outputs(scratch, f"t{i}", outputs)
    report: dict[str, Any] = {"outcome": "ok", "launches": guards.launches}
    if job.time:
        rival = load_entry(scratch / RIVAL_FILE, "rival", job, scratch)
        report["timing"] = time_contenders(job, scratch, guards, fn, rival)
    _check(guards)
    return report


def call_guarded(guards: Guards, fn: Callable[..., Any], args: list[Any]) -> None:
    try:
        with guards.op_trap():
            fn(*args)
    except Exception as exc:
        kind = "compile_error" if "CompilationError" in type(exc).__name__ else "crash"
        _check(guards)  # a refused escape the candidate did not catch: say what it tried
        raise Rejected(kind, "the kernel call raised:\n" + tail(traceback.format_exc()))


def _check(guards: Guards) -> None:
    if guards.violations:
        raise Rejected("policy_violation", guards.violations[0])
    tampered = guards.tampered()
    if tampered:
        raise Rejected("policy_violation", tampered)


def tail(text: str, lines: int = 25) -> str:
    """The last lines of a traceback or a child's stderr: where the error is (the evaluator's too)."""
    return "\n".join(text.strip().splitlines()[-lines:])


# ---- timing (GPU only) ------------------------------------------------------------------------

def time_contenders(job: Job, scratch: Path, guards: Guards, candidate: Callable[..., Any],
                    rival: Callable[..., Any]) -> dict[str, Any]:
    """Median CUDA-event time of each contender over interleaved rounds.

    Before every call, outside the timed region: the inputs are refilled from a pool of fresh
    seeds (so no call can replay a previous answer), the outputs are poisoned and a buffer
    larger than L2 is written (so every call starts with cold L2, for every contender alike).
    After each candidate call the device is synchronized as a whole: work still running then
    was left on another stream, outside the timed region, and is refused. The outputs of the
    timed call number `job.checked_call` are saved for the checker."""
    import torch

    reference = load_python(Path(job.problem_dir) / "reference.py", "reference").reference
    pool = [make_inputs(job, seed, "cuda") for seed in job.timing_seeds]
    inputs = {k: torch.empty_like(v) for k, v in pool[0].items()}
    outputs = {t.name: poisoned(t, "cuda") for t in job.outputs()}
    args = call_args(job, inputs, outputs)
    flush = torch.empty(FLUSH_BYTES, dtype=torch.uint8, device="cuda")
    contenders: dict[str, Callable[[], Any]] = {
        "candidate": lambda: candidate(*args), "rival": lambda: rival(*args),
        "eager": lambda: reference(**inputs, **job.scalars)}
    notes: dict[str, str] = {}
    if job.compile_baseline:
        _check(guards)
        try:
            compiled = torch.compile(reference)
            compiled(**inputs, **job.scalars)
            contenders["compile"] = lambda: compiled(**inputs, **job.scalars)
        except Exception as exc:  # no compiler in the sandbox, an unsupported op: say so, time the rest
            notes["compile"] = f"torch.compile(reference) failed: {type(exc).__name__}: {str(exc)[:300]}"
        guards.violations.clear()  # what torch.compile's own first call was refused is a note, not the candidate's
        guards.rebase()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rng = random.Random(job.timing_seeds[0])
    times: dict[str, list[float]] = {name: [] for name in contenders}
    state = {"calls": 0, "checked_seed": None}

    def one_call(name: str, timed: bool) -> None:
        which = rng.randrange(len(pool))
        for key, value in pool[which].items():
            inputs[key].copy_(value)
        for out in outputs.values():
            out.fill_(float("nan"))
        flush.zero_()
        mine = name == "candidate"
        trap = guards.op_trap() if mine else None
        if trap is not None:
            trap.__enter__()
        start.record()
        try:
            contenders[name]()
        except Exception:
            if mine:
                raise Rejected("crash", "a timed kernel call raised:\n" + tail(traceback.format_exc()))
            raise
        finally:
            end.record()
            if trap is not None:
                trap.__exit__(None, None, None)
        end.synchronize()
        if mine:
            t0 = time.perf_counter()
            torch.cuda.synchronize()
            left = time.perf_counter() - t0
            elapsed = start.elapsed_time(end) / 1e3
            if left > 2e-4 + 0.25 * elapsed:
                raise Rejected("policy_violation", f"work kept running {left * 1e3:.3f} ms after the timed region ended "
                                                   "(launched on another stream?); all work must be on the current stream")
            _check(guards)
            if timed:
                if state["calls"] == job.checked_call:
                    save_outputs(scratch, "timed", outputs)
                    state["checked_seed"] = job.timing_seeds[which]
                state["calls"] += 1
        if timed:
            times[name].append(start.elapsed_time(end) / 1e3)

    for name in contenders:
        for _ in range(job.warmup):
            one_call(name, timed=False)
    began, rounds = time.perf_counter(), 0
    while rounds < job.rounds or (time.perf_counter() - began < job.min_time_s and rounds < 10 * job.rounds):
        order = list(contenders)
        rng.shuffle(order)
        for name in order:
            for _ in range(job.reps_per_round):
                one_call(name, timed=True)
        rounds += 1
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"median_s": medians, "calls": {n: len(v) for n, v in times.items()}, "rounds": rounds,
            "checked_seed": state["checked_seed"], "notes": notes, "device": torch.cuda.get_device_name()}


# ---- the checker's process ---------------------------------------------------------------------

def check_outputs(job: Job, scratch: Path, labels: dict[str, int]) -> dict[str, Any]:
    """Compare the saved outputs of each trial (label -> seed) with reference.py's."""
    import numpy as np
    import torch

    device = "cpu" if job.mode == "interpret" else "cuda"
    reference = load_python(Path(job.problem_dir) / "reference.py", "reference").reference
    for label, seed in labels.items():
        inputs = make_inputs(job, seed, device)
        with torch.no_grad():
            expected = reference(**inputs, **job.scalars)
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        if len(expected) != len(job.outputs()):
            raise ValueError(f"reference() returned {len(expected)} outputs; problem.toml declares {len(job.outputs())}")
        for spec, want in zip(job.outputs(), expected):
            path = scratch / OUTPUTS_DIR / f"{label}_{spec.name}.npy"
            if not path.is_file():
                return {"outcome": "harness_error", "error": f"the candidate's process saved no output {spec.name} for {label}"}
            got = torch.from_numpy(np.load(path, allow_pickle=False))
            why = compare(spec, got, want.detach().cpu())
            if why:
                trial = "a timed call" if label == "timed" else f"trial {label[1:]} (seed {seed})"
                return {"outcome": "wrong_answer", "error": f"{trial}: output {spec.name}: {why}"}
    return {"outcome": "ok"}


def compare(spec: TensorArg, got: Any, want: Any) -> str | None:
    import torch

    if list(got.shape) != list(want.shape):
        return f"shape {list(got.shape)} but the reference's is {list(want.shape)}"
    g, w = got.double(), want.double()
    if not want.dtype.is_floating_point:
        bad = (g != w).nonzero()
        return None if bad.numel() == 0 else f"{bad.shape[0]} elements differ, first at {bad[0].tolist()}"
    finite = torch.isfinite(g)
    if not bool(finite.all()):
        where = (~finite).nonzero()[0].tolist()
        return f"{int((~finite).sum())} elements are NaN/Inf (never written, or overflowed), first at {where}"
    tol = spec.tolerance
    err = (g - w).abs()
    limit = tol.get("atol", 0.0) + tol.get("rtol", 0.0) * w.abs()
    over = err > limit
    if bool(over.any()):
        i = over.nonzero()[0].tolist()
        return (f"{int(over.sum())} of {w.numel()} elements exceed atol {tol.get('atol', 0)} + rtol {tol.get('rtol', 0)}; "
                f"first at {i}: got {g[tuple(i)].item():.6g}, expected {w[tuple(i)].item():.6g}")
    norm = tol.get("norm", 0.0)
    if norm > 0:
        rel = (torch.linalg.vector_norm(g - w) / max(torch.linalg.vector_norm(w).item(), 1e-30)).item()
        if rel > norm:
            return f"relative error norm {rel:.3g} exceeds {norm}"
    return None


# ---- entry point ------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    role, scratch = argv[0], Path(argv[1])
    results = os.dup(1)  # the private results stream; the candidate's prints go to stderr
    os.dup2(2, 1)
    job = Job.model_validate_json((scratch / JOB_FILE).read_text())
    (scratch / JOB_FILE).unlink()
    try:
        if role == "run":
            report = run_candidate(job, scratch)
        else:
            labels = json.loads((scratch / "check.json").read_text())
            report = check_outputs(job, scratch, labels)
    except Rejected as rejected:
        report = {"outcome": rejected.outcome, "error": rejected.error}
    os.write(results, f"{job.nonce} {json.dumps(report)}\n".encode())
    os.close(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
