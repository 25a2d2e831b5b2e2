"""Problem folders: `problem.toml` + `initial.c` + `reference.py`.

A problem is the user-facing contract (see docs/problem-format.md). Loading validates
everything up front so a typo surfaces as `problem.toml: inputs[1].dtype: ...` instead of
a confusing failure deep inside an evaluation.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable, Literal, NamedTuple, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autocomp.c_signature import CParam, find_definition, mismatch
from autocomp.dtypes import DTYPES, DType
from autocomp.errors import ProblemError
from autocomp.knobs import KnobError, parse_knobs

PROBLEM_FILE, INITIAL_FILE, REFERENCE_FILE = "problem.toml", "initial.c", "reference.py"


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
    """A validated problem folder, plus what is derived from it (C signature, reference)."""

    def __init__(self, root: Path, spec: ProblemSpec, initial_code: str) -> None:
        self.root, self.spec, self.initial_code = root, spec, initial_code
        self._reference: Callable[..., Any] | None = None

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
_TABLES: dict[str, type[BaseModel]] = {"kernel": Kernel, "inputs": Input, "outputs": Output, "tolerance": Tolerance}


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
        raise ProblemError(str(toml_path), "(file)", "not found; a problem folder needs problem.toml, initial.c and reference.py")
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
    for required in (INITIAL_FILE, REFERENCE_FILE):
        if not (root / required).is_file():
            raise ProblemError(str(root / required), "(file)", f"not found; every problem folder needs {required}")
    problem = Problem(root.resolve(), spec, (root / INITIAL_FILE).read_text())
    check_initial_code(problem, problem.initial_code, str(root / INITIAL_FILE))
    check_reference_signature(problem, root / REFERENCE_FILE)
    return problem


def check_initial_code(problem: Problem, code: str, file: str) -> None:
    """The entry's definition in `code` takes the parameters problem.toml declares, and every
    `@param` it declares has the problem's value: either mistake otherwise shows up only when
    the kernel runs (reading the wrong buffers: a SIGSEGV, or a wrong answer on every call).

    Checked on the source as written; a definition built by macros cannot be read here and is
    checked on the preprocessed source by `autocomp check`."""
    entry = problem.spec.kernel.entry
    expected = [arg.cparam for arg in problem.arguments()]
    if not re.search(rf"\b{re.escape(entry)}\s*\(", code):
        raise ProblemError(file, "kernel.entry", f"no function {entry!r} is defined here; define `{problem.c_signature()}` "
                                                 f"or set kernel.entry in problem.toml to the function's name")
    found = find_definition(code, entry)
    if found is not None:
        why = mismatch(expected, found)
        if why:
            raise ProblemError(file, entry, f"the definition does not match problem.toml: {why}. The harness calls "
                                            f"`{problem.c_signature()}`; change the code or kernel.args / the tensors' dtypes")
    try:
        declared = parse_knobs(code).params
    except KnobError as exc:
        raise ProblemError(file, "knobs", f"{exc}; see autocomp/knobs.py for the syntax") from None
    for name, value in declared.items():
        have = problem.spec.params.get(name)
        if have is None:
            raise ProblemError(file, f"@param {name}", f"not in problem.toml's params; add `{name} = {value}` to params")
        if have != value:
            raise ProblemError(file, f"@param {name}", f"#define {name} {value}, but problem.toml has params.{name} = {have}; "
                                                       f"make them agree")


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
