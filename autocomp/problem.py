"""Problem folders: `problem.toml` + `initial.<suffix>` + `reference.py`.

The initial code's suffix is its kernel language's (`initial.c` for C targets): the problem's
target says which languages it takes (`kernel.language` picks one; none: the target's first).

A problem is the user-facing contract (see docs/problem-format.md). Loading validates
everything up front so a typo surfaces as `problem.toml: inputs[1].dtype: ...` instead of
a confusing failure deep inside an evaluation.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any, Callable, Literal, NamedTuple, Protocol, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autocomp.c_signature import CParam
from autocomp.dtypes import DTYPES, DType
from autocomp.errors import ProblemError
from autocomp.language import KernelLanguage
from autocomp.targets.plugins import load_target, unknown_target

PROBLEM_FILE, INITIAL_STEM, REFERENCE_FILE = "problem.toml", "initial", "reference.py"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Uniform(_Strict):
    kind: Literal["uniform"]
    low: float = -1.0
    high: float = 1.0


class Normal(_Strict):
    kind: Literal["normal"]
    mean: float = 0.0
    std: float = 1.0


class RandInt(_Strict):
    """Integers drawn uniformly from [low, high], both inclusive."""

    kind: Literal["randint"]
    low: int
    high: int


Distribution = Union[Uniform, Normal, RandInt]


class Tolerance(_Strict):
    """Elementwise |out - ref| <= atol + rtol*|ref|, plus ||out - ref|| / ||ref|| <= norm.

    Zeros everywhere mean an exact comparison (integer outputs).
    """

    rtol: float = Field(0.0, ge=0)
    atol: float = Field(0.0, ge=0)
    norm: float = Field(0.0, ge=0)


class Tensor(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    dtype: str
    shape: tuple[int, ...] = Field(min_length=1)
    layout: Literal["row-major", "col-major"] = "row-major"

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in DTYPES:
            raise ValueError(f"unknown dtype {value!r}; expected one of {', '.join(DTYPES)}")
        return value

    @field_validator("shape")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d <= 0 for d in value):
            raise ValueError(f"every dimension must be a positive integer, got {list(value)}")
        return value

    @property
    def dt(self) -> DType:
        return DTYPES[self.dtype]

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dt.storage.itemsize


class Input(Tensor):
    distribution: Distribution = Field(discriminator="kind")


class Output(Tensor):
    tolerance: Tolerance = Tolerance()


class Kernel(_Strict):
    entry: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: tuple[str, ...] = Field(min_length=1)
    language: str | None = Field(None, description="the kernel language (a key of the target's languages); none: the target's first")


class CheckShapes(_Strict):
    """Small shapes a target checks kernels with where the real hardware is absent (e.g. GPU
    kernels under Triton's interpreter on a CPU): correctness only, never timed."""

    params: dict[str, int] = Field(default_factory=dict, description="params at the small shapes (default: the problem's)")
    shapes: dict[str, tuple[int, ...]] = Field(description="a small shape for EVERY input and output")
    scalars: dict[str, int] = Field(default_factory=dict, description="scalars at the small shapes (default: the problem's)")


class ProblemSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    target: str
    description: str
    family: str = "generic"
    flops: int = Field(gt=0)
    bytes: int = Field(gt=0)
    kernel: Kernel
    scalars: dict[str, int] = {}
    params: dict[str, int] = Field(default_factory=dict, description="integer facts about the problem (e.g. M, N, K) that templates and the tuner use")
    config: str | None = Field(None, description="name of a target configuration (e.g. gemmini's int8_16x16); the target validates it")
    inputs: tuple[Input, ...] = Field(min_length=1)
    outputs: tuple[Output, ...] = Field(min_length=1)
    check: CheckShapes | None = None

    @model_validator(mode="after")
    def _args_resolve(self) -> "ProblemSpec":
        names = [t.name for t in self.inputs + self.outputs] + list(self.scalars)
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"names must be unique across inputs, outputs and scalars: {sorted(dupes)}")
        unknown = [a for a in self.kernel.args if a not in names]
        if unknown:
            raise ValueError(
                f"kernel.args names {unknown} that are not declared; expected names from {names}"
            )
        missing = [n for n in names if n not in self.kernel.args]
        if missing:
            raise ValueError(f"kernel.args must pass every declared tensor and scalar; missing {missing}")
        return self


class Argument(NamedTuple):
    """One parameter of the kernel, in `kernel.args` order."""

    name: str
    tensor: Tensor | None  # None for an int scalar
    is_output: bool

    @property
    def ctype(self) -> str:
        """The C parameter type: `const T *` for inputs, `T *` for outputs, `int` for scalars."""
        if self.tensor is None:
            return "int"
        return ("" if self.is_output else "const ") + self.tensor.dt.ctype + " *"

    @property
    def cparam(self) -> CParam:
        return CParam(self.name, self.ctype.rstrip() if self.tensor else "int")


class Problem:
    """A validated problem folder, plus what is derived from it (signature, reference)."""

    def __init__(self, root: Path, spec: ProblemSpec, language: KernelLanguage, initial_code: str) -> None:
        self.root, self.spec, self.language, self.initial_code = root, spec, language, initial_code
        self._reference: Callable[..., Any] | None = None

    @property
    def initial_file(self) -> Path:
        """`initial.c`, `initial.py`, ...: the initial code, under its language's suffix."""
        return self.root / f"{INITIAL_STEM}{self.language.suffix}"

    def signature(self) -> str:
        """The entry as prompts show it, in the problem's kernel language."""
        return self.language.signature(self)

    @property
    def name(self) -> str:
        return f"{self.spec.target}/{self.spec.name}"

    @property
    def target(self) -> str:
        return self.spec.target

    def arguments(self) -> list[Argument]:
        """The kernel's parameters in call order: the one place that maps `kernel.args` to tensors.

        The C signature, the harness's generated call shim and the job's buffer list all follow
        it, so they cannot disagree about which buffer is which.
        """
        inputs = {t.name: t for t in self.spec.inputs}
        outputs = {t.name: t for t in self.spec.outputs}
        return [Argument(a, inputs.get(a) or outputs.get(a), a in outputs) for a in self.spec.kernel.args]

    def c_signature(self) -> str:
        """The exact C prototype a kernel must define, derived from `kernel.args`."""
        params = [f"{arg.ctype}restrict {arg.name}" if arg.tensor else f"int {arg.name}" for arg in self.arguments()]
        return f"void {self.spec.kernel.entry}({', '.join(params)})"

    def reference(self) -> Callable[..., Any]:
        """Load `reference(**inputs, **scalars)` from reference.py (trusted, problem-author code)."""
        if self._reference is None:
            path = self.root / REFERENCE_FILE
            spec = importlib.util.spec_from_file_location(f"autocomp_reference_{id(self)}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # the author's file is broken: say where
                raise ProblemError(str(path), "reference", f"failed to import: {exc!r}") from exc
            fn = getattr(module, "reference", None)
            if not callable(fn):
                raise ProblemError(str(path), "reference", "expected a function `def reference(...)`")
            self._reference = fn
        return self._reference


_DISTRIBUTIONS = {"uniform": Uniform, "normal": Normal, "randint": RandInt}
_TABLES: dict[str, type[BaseModel]] = {"kernel": Kernel, "inputs": Input, "outputs": Output, "tolerance": Tolerance,
                                       "check": CheckShapes}


class _LanguageSource(Protocol):
    """What loading needs from a target (`autocomp.targets.base.Target`, which imports this module)."""

    def language_for(self, spec: ProblemSpec, file: str = PROBLEM_FILE) -> KernelLanguage: ...


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """For an unknown key at `loc`: the field of that table it most resembles (difflib), and the
    table's fields, so `famly` says `family` instead of only "unknown"."""
    model: type[BaseModel] = ProblemSpec
    for part in loc[:-1]:
        if isinstance(part, str):
            model = _DISTRIBUTIONS.get(part) or _TABLES.get(part, model)
    fields = [f for f in model.model_fields if f != "kind" or model in _DISTRIBUTIONS.values()]
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown field; {hint}(this table's fields: {', '.join(fields)}; see docs/problem-format.md)"


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"uniform", "normal", "randint"}:
            continue  # discriminator tag pydantic inserts; not a field the user wrote
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def load_problem(root: str | Path) -> Problem:
    """Load and validate a problem folder; every failure names file, field and expectation."""
    root = Path(root)
    toml_path = root / PROBLEM_FILE
    if not toml_path.is_file():
        raise ProblemError(str(toml_path), "(file)", "not found; a problem folder needs problem.toml, its initial code "
                                                     "(initial.c for C targets) and reference.py")
    try:
        raw = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(str(toml_path), "(syntax)", f"invalid TOML: {exc}") from exc
    try:
        spec = ProblemSpec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelt key also leaves its real field missing: name the misspelling, which is the cause
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = _did_you_mean(tuple(err["loc"]))
        elif err["type"] == "union_tag_invalid":
            msg = "unknown distribution kind; expected uniform, normal or randint"
        raise ProblemError(str(toml_path), _field_path(tuple(err["loc"])), msg) from None
    check_small_shapes(spec, str(toml_path))
    try:
        target: _LanguageSource = load_target(spec.target)
    except KeyError:
        raise ProblemError(str(toml_path), "target", unknown_target(spec.target)) from None
    language = target.language_for(spec, str(toml_path))
    initial = INITIAL_STEM + language.suffix
    for required in (initial, REFERENCE_FILE):
        if not (root / required).is_file():
            raise ProblemError(str(root / required), "(file)", f"not found; every {spec.target} problem folder needs {required}")
    problem = Problem(root.resolve(), spec, language, (root / initial).read_text())
    if language.check_initial is not None:
        language.check_initial(problem, problem.initial_code, str(root / initial))
    check_reference_signature(problem, root / REFERENCE_FILE)
    return problem


def check_small_shapes(spec: ProblemSpec, file: str) -> None:
    """The `[check]` table gives every tensor a small shape of its rank with positive dims, and
    names no tensor, param or scalar the problem lacks."""
    check = spec.check
    if check is None:
        return
    tensors = {t.name: t for t in spec.inputs + spec.outputs}
    unknown = [n for n in check.shapes if n not in tensors]
    if unknown:
        raise ProblemError(file, "check.shapes", f"names {unknown}, which are not inputs or outputs; expected names from {list(tensors)}")
    missing = [n for n in tensors if n not in check.shapes]
    if missing:
        raise ProblemError(file, "check.shapes", f"must give every input and output a small shape; missing {missing}")
    for name, shape in check.shapes.items():
        if len(shape) != len(tensors[name].shape) or any(d <= 0 for d in shape):
            raise ProblemError(file, f"check.shapes.{name}", f"must be {len(tensors[name].shape)} positive integers (the rank "
                                                             f"of its shape {list(tensors[name].shape)}), got {list(shape)}")
    for table, declared in (("params", spec.params), ("scalars", spec.scalars)):
        extra = [n for n in getattr(check, table) if n not in declared]
        if extra:
            raise ProblemError(file, f"check.{table}", f"names {extra}, which are not in the problem's {table}; "
                                                       f"expected names from {list(declared)}")


def check_reference_signature(problem: Problem, path: Path) -> None:
    """`def reference(...)` takes exactly the declared inputs and scalars as keyword arguments.

    Read with `ast`, so the author's module is not imported here (the evaluator imports it in
    its own child); a mismatch would otherwise be a TypeError traceback on the first trial."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ProblemError(str(path), f"line {exc.lineno}", f"syntax error: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(str(path), "(file)", f"cannot be read: {exc}") from None
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "reference"]
    if not defs:
        bound = any(isinstance(node, (ast.Assign, ast.Import, ast.ImportFrom)) and "reference" in ast.dump(node)
                    for node in tree.body)
        if bound:
            return  # `reference = ...` or an import: checked when it is called
        raise ProblemError(str(path), "reference", "expected a function `def reference(...)`")
    check_parameters(problem, defs[-1], str(path), "reference")


def check_parameters(problem: Problem, fn: ast.FunctionDef, file: str, what: str) -> None:
    """`fn` (reference() or baselines()) can be called with one keyword argument per declared
    input and scalar: every parameter is one of them or has a default, each of them has one."""
    args = fn.args
    declared = [t.name for t in problem.spec.inputs] + list(problem.spec.scalars)
    call = f"def {what}({', '.join(declared)})"
    if args.posonlyargs:
        raise ProblemError(file, what, f"positional-only parameters cannot be passed by name; write `{call}`")
    params = args.args + args.kwonlyargs
    names = [a.arg for a in params]
    optional = {a.arg for a in args.args[len(args.args) - len(args.defaults):]} | \
               {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None}
    problems = []
    for name in names:
        if name not in declared and name not in optional:
            close = [d for d in declared if d.lower() == name.lower()] or difflib.get_close_matches(name, declared, n=1, cutoff=0.5)
            problems.append(f"parameter {name!r} is not a declared input or scalar"
                            + (f" (did you mean {close[0]!r}?)" if close else ""))
    if args.kwarg is None:
        problems += [f"declared {'input' if n in {t.name for t in problem.spec.inputs} else 'scalar'} {n!r} has no parameter"
                     for n in declared if n not in names]
    if problems:
        raise ProblemError(file, f"{what} (line {fn.lineno})",
                           f"{'; '.join(problems)}. It is called with one keyword argument per input and scalar: `{call}`")
