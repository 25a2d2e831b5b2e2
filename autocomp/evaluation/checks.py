"""Correctness side of evaluation: fresh inputs per trial, comparison against the reference.

Rules docs/evaluation-hygiene.md R1 and docs/evaluation-hygiene.md R2: a new seed for every
trial, one adversarial trial at the distribution's extremes, poisoned outputs, exact comparison
for integers, elementwise + relative-norm tolerance for floats, no NaN/Inf, inputs unmodified.
"""

from __future__ import annotations

import inspect
import struct
import traceback
from functools import cached_property
from pathlib import Path

import numpy as np

from autocomp.dtypes import DType, to_logical, to_storage
from autocomp.errors import ProblemError
from autocomp.problem import Input, Normal, Output, Problem, RandInt, Tensor, Uniform

# Two poison elements per dtype (quiet NaNs with recognisable payloads for floats). The harness
# alternates them, so an integer output a kernel never writes cannot pass by equalling the poison.
POISONS = {
    "f32": (struct.pack("<I", 0x7FC0A5A5), struct.pack("<I", 0x7FC05A5A)),
    "f64": (struct.pack("<Q", 0x7FF8A5A5A5A5A5A5), struct.pack("<Q", 0x7FF85A5A5A5A5A5A)),
    "bf16": (struct.pack("<H", 0x7FC1), struct.pack("<H", 0x7FC2)),
    "f16": (struct.pack("<H", 0x7EA5), struct.pack("<H", 0x7E5A)),
}


def poison_patterns(dtype: DType) -> tuple[bytes, bytes]:
    """Two poison elements: NaNs for floats, 0x7F.. and 0x80.. bytes (sentinels) for integers."""
    size = dtype.storage.itemsize
    return POISONS.get(dtype.name, (b"\x7f" * size, b"\x80" * size))


def draw(spec: Input, rng: np.random.Generator, extreme: bool) -> np.ndarray:
    """Logical values for one input. `extreme` draws only from the distribution's edges."""
    dist, shape = spec.distribution, spec.shape
    if isinstance(dist, Uniform):
        if extreme:
            return rng.choice(np.array([dist.low, dist.high]), size=shape)
        return rng.uniform(dist.low, dist.high, size=shape)
    if isinstance(dist, Normal):
        values = rng.normal(dist.mean, dist.std, size=shape)
        return np.sign(values) * 3 * dist.std + dist.mean if extreme else values
    assert isinstance(dist, RandInt)
    if extreme:
        return rng.choice(np.array([dist.low, dist.high]), size=shape)
    return rng.integers(dist.low, dist.high, size=shape, endpoint=True)


def to_bytes(spec: Tensor, stored: np.ndarray) -> bytes:
    order = "F" if spec.layout == "col-major" else "C"
    return np.asarray(stored).tobytes(order=order)


def from_bytes(spec: Tensor, raw: bytes) -> np.ndarray:
    flat = np.frombuffer(raw, dtype=spec.dt.storage)
    order = "F" if spec.layout == "col-major" else "C"
    return flat.reshape(spec.shape, order=order)


class Trial:
    """One set of inputs (as stored bytes and as the logical values the reference sees)."""

    def __init__(self, problem: Problem, seed: int, extreme: bool) -> None:
        rng = np.random.default_rng(seed)
        self.problem, self.seed, self.extreme = problem, seed, extreme
        self.stored: dict[str, np.ndarray] = {}
        self.logical: dict[str, np.ndarray] = {}
        for spec in problem.spec.inputs:
            stored = to_storage(spec.dt, draw(spec, rng, extreme))
            self.stored[spec.name] = stored
            self.logical[spec.name] = to_logical(spec.dt, stored)

    @classmethod
    def from_files(cls, problem: Problem, directory: Path, prefix: str) -> "Trial":
        """The inputs a harness dumped (e.g. a timed call checked after the run)."""
        trial = cls.__new__(cls)
        trial.problem, trial.seed, trial.extreme = problem, -1, False
        trial.stored, trial.logical = {}, {}
        for spec in problem.spec.inputs:
            stored = from_bytes(spec, (directory / f"{prefix}_{spec.name}.bin").read_bytes())
            trial.stored[spec.name], trial.logical[spec.name] = stored, to_logical(spec.dt, stored)
        return trial

    @cached_property
    def expected(self) -> dict[str, np.ndarray]:
        return reference_outputs(self.problem, self.logical)

    def write_inputs(self, problem: Problem, directory: Path, index: int) -> None:
        for spec in problem.spec.inputs:
            (directory / f"in{index}_{spec.name}.bin").write_bytes(to_bytes(spec, self.stored[spec.name]))


def reference_outputs(problem: Problem, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call the problem's reference and normalise its return value to {output name: array}."""
    ref_file = str(problem.root / "reference.py")
    arrays = {k: v.copy() for k, v in inputs.items()}  # the reference cannot disturb our copies
    reference = problem.reference()
    given = [*arrays, *problem.spec.scalars]
    try:
        inspect.signature(reference).bind(**arrays, **problem.spec.scalars)
    except TypeError as exc:  # parameter names that differ from problem.toml's inputs and scalars
        raise ProblemError(ref_file, "reference", f"cannot be called with problem.toml's inputs and scalars "
                           f"({', '.join(given)}): {exc}; name its parameters after them") from None
    except ValueError:
        pass  # no signature to check (a builtin, a C function): the call below says what is wrong
    try:
        result = reference(**arrays, **problem.spec.scalars)
    except Exception as exc:  # noqa: BLE001 - the problem author's code failed: say so and where, not a traceback of ours
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == Path(ref_file).resolve()]
        where = f" (reference.py line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
        raise ProblemError(ref_file, "reference", f"reference() raised {type(exc).__name__}: {exc}{where} when called with "
                           f"{', '.join(given)}; fix reference.py" + ("" if frames else " (run it on its own to see where)")) from None
    outputs = problem.spec.outputs
    if not isinstance(result, dict):
        result = {outputs[0].name: result} if len(outputs) == 1 else dict(zip([o.name for o in outputs], result))
    normalised = {}
    for spec in outputs:
        if spec.name not in result:
            raise ProblemError(ref_file, "reference", f"did not return output {spec.name!r}")
        value = np.asarray(result[spec.name])
        if value.shape != tuple(spec.shape):
            raise ProblemError(
                ref_file, "reference", f"output {spec.name!r} has shape {value.shape}, problem.toml declares {list(spec.shape)}"
            )
        normalised[spec.name] = value
    return normalised


def check_not_degenerate(problem: Problem, trial: Trial) -> None:
    """Reject problems whose expected output would let zeros or constants pass (docs/evaluation-hygiene.md R2.4)."""
    for spec in problem.spec.outputs:
        ref = trial.expected[spec.name].astype(np.float64)
        scale = float(np.max(np.abs(ref)))
        if np.ptp(ref) == 0 or (spec.tolerance.atol and scale < 10 * spec.tolerance.atol):
            raise ProblemError(
                str(problem.root / "reference.py"),
                f"outputs.{spec.name}",
                f"the reference output is degenerate (max |value| {scale:g}, atol {spec.tolerance.atol:g}): "
                "constant or near-zero outputs would let a no-op kernel pass; change the input distribution or tolerance",
            )


def compare(spec: Output, got_stored: np.ndarray, expected: np.ndarray) -> str | None:
    """None if `got` matches within tolerance, else a message an LLM can act on."""
    got = to_logical(spec.dt, got_stored).astype(np.float64)
    exp = expected.astype(np.float64)
    tol = spec.tolerance
    if spec.dt.is_float:
        bad_values = ~np.isfinite(got)
        if bad_values.any():
            idx = np.unravel_index(int(np.argmax(bad_values)), got.shape)
            return (
                f"output {spec.name}: {int(bad_values.sum())} of {got.size} elements are NaN/Inf "
                f"(outputs are poisoned with NaN before each call, so unwritten elements show as NaN); first at index {tuple(int(i) for i in idx)}: "
                f"got {got[idx]:.6g}, expected {exp[idx]:.6g}"
            )
    err = np.abs(got - exp)
    bad = err > tol.atol + tol.rtol * np.abs(exp)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), got.shape)
        where = tuple(int(i) for i in idx)
        return (
            f"output {spec.name}: {int(bad.sum())} of {got.size} elements outside tolerance "
            f"(rtol={tol.rtol:g}, atol={tol.atol:g}); first at index {where}: got {got[idx]:.6g}, "
            f"expected {exp[idx]:.6g}; max abs error {float(err.max()):.3g}"
        )
    if tol.norm:
        denom = float(np.linalg.norm(exp)) or 1.0
        rel = float(np.linalg.norm(got - exp)) / denom
        if rel > tol.norm:
            return f"output {spec.name}: relative error norm {rel:.3g} exceeds {tol.norm:g}"
    return None

