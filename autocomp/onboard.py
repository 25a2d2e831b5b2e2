"""`autocomp new` and `autocomp check`: a user's own kernel as a problem folder, without our source.

`new` writes problem.toml, initial.c and reference.py from what the user has: a C signature
(`--signature "void f(const float *x, float *y, int n)"`) or an existing kernel file
(`--from-kernel my.c --entry f`), shapes and scalar values given as options, and a numpy
reference (`--reference ref.py`) or a stub to fill. What it cannot infer is left as a commented
`AUTOCOMP-TODO` line saying what to write. From the signature: `const T *` is an input,
`T *` an output, `int` a scalar, and T gives the dtype. A family with a template (`--family
gemm`) also gives the params, read off the shapes by the template's `shapes=` declaration.

`check` takes a folder from loaded to ready, each step before the next and every failure named
with its file and field: the static checks of loading (keys, signature, reference parameters),
the entry's signature again after the preprocessor, knobs and their menu items, the family's
templates against the params and shapes, the reference run once in a sandboxed child, and the
initial code compiled, verified on fresh inputs against it and timed. It ends with what a search
would start from: the initial latency, what the tuner can move, the problem's own baselines.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from autocomp.c_signature import CParam, find_definition, mismatch, strip_comments
from autocomp.dtypes import DTYPES
from autocomp.errors import ProblemError, UserError, unreadable
from autocomp.outputs import Argument, CheckOutput, InitialVerdict, NewOutput, ReferenceOutput, ReferenceRun
from autocomp.evaluation.c_language import C_LANGUAGE
from autocomp.problem import INITIAL_STEM, PROBLEM_FILE, REFERENCE_FILE, Problem, load_problem

INITIAL_FILE = INITIAL_STEM + C_LANGUAGE.suffix  # `new` makes problems for C kernels

TODO = "AUTOCOMP-TODO"  # followed by ": what to write" on every line `new` leaves for the user
CTYPE_DTYPES = {dt.ctype: name for name, dt in DTYPES.items() if name != "bf16"} | {
    "int": "i32", "unsigned": "u32", "unsigned int": "u32", "long": "i64", "long long": "i64", "char": "i8",
    "signed char": "i8", "unsigned char": "u8", "short": "i16", "unsigned short": "u16"}
TOLERANCES = {  # starting points from docs/problem-format.md; `check` prints the initial code's error to tune them
    "f32": "{ rtol = 1e-4, atol = 1e-4, norm = 1e-5 }",
    "f64": "{ rtol = 1e-10, atol = 1e-10, norm = 1e-12 }",
    "bf16": "{ rtol = 1e-2, atol = 1e-2, norm = 1e-2 }",
}
INT_RANGES = {"i8": (-128, 127), "u8": (0, 255), "i16": (-1000, 1000), "u16": (0, 1000), "i32": (-1000, 1000),
              "u32": (0, 1000), "i64": (-1000, 1000)}


@dataclass
class NewRequest:
    """What the user gave `autocomp new`."""

    folder: Path
    target: str
    signature: str | None = None
    from_kernel: Path | None = None
    entry: str | None = None
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    scalars: dict[str, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    family: str = "generic"
    flops: str | None = None
    description: str | None = None
    name: str | None = None
    reference: Path | None = None


# ---- parsing what the user typed ---------------------------------------------------------------


def parse_assignments(option: str, values: tuple[str, ...], kind: Callable[[str], Any]) -> dict[str, Any]:
    """`("x=1024,768", ...)` -> {"x": kind("1024,768")}, with the option named in any error."""
    out: dict[str, Any] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name.strip()) or not value.strip():
            raise UserError(f"{option} {raw!r}: expected NAME=VALUE, e.g. {option} x=1024,768")
        try:
            out[name.strip()] = kind(value.strip())
        except ValueError as exc:
            raise UserError(f"{option} {raw!r}: {exc}") from None
    return out


def shape_value(text: str) -> tuple[int, ...]:
    """`1024,768` or `1024x768` -> (1024, 768); every dimension a positive integer."""
    parts = re.split(r"[,x]", text)
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError("a shape is positive integers separated by commas, e.g. 1024,768")
    return tuple(int(p) for p in parts)


def int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def dtype_value(text: str) -> str:
    if text not in DTYPES:
        raise ValueError(f"unknown dtype {text!r}; expected one of {', '.join(DTYPES)}")
    return text


def signature_params(signature: str) -> tuple[str, list[CParam]]:
    """`void f(const float *x, float *y, int n)` -> ("f", params); the kernel must return void."""
    match = re.fullmatch(r"\s*(?:extern\s+)?(\w[\w\s]*?)\s*\b([A-Za-z_]\w*)\s*\((.*)\)\s*;?\s*(\{\s*\})?\s*", signature, re.S)
    if not match:
        raise UserError(f"--signature {signature!r}: expected a C prototype such as \"void f(const float *x, float *y, int n)\"")
    if match.group(1).split() != ["void"]:
        raise UserError(f"--signature: the kernel must return void (it writes its outputs through pointers), "
                        f"not {match.group(1).strip()}")
    params = find_definition(f"void {match.group(2)}({match.group(3)}) {{}}", match.group(2))
    if params is None:
        raise UserError(f"--signature: cannot read the parameters of {signature!r}; write each as `TYPE *NAME` or `int NAME`")
    return match.group(2), params


def kernel_params(path: Path, entry: str | None) -> tuple[str, list[CParam], str]:
    """The entry's name, parameters and the file's code, from an existing kernel file."""
    try:
        code = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--from-kernel: {unreadable(path, exc)}") from None
    if entry is None:
        defined = re.findall(r"^\s*void\s+([A-Za-z_]\w*)\s*\([^;{]*\)\s*\{", strip_comments(code), re.M)
        if len(defined) != 1:
            raise UserError(f"--from-kernel {path}: {'no' if not defined else len(defined)} non-static void functions "
                            f"({', '.join(defined) or 'none'}); name the kernel with --entry NAME")
        entry = defined[0]
    params = find_definition(code, entry)
    if params is None:
        raise UserError(f"--from-kernel {path}: no readable definition of {entry!r} (a function with a body); "
                        f"check --entry, or give its prototype with --signature")
    return entry, params, code


def classify(params: list[CParam], dtypes: dict[str, str]) -> list[Argument]:
    """Inputs, outputs and scalars from C parameter types (`--dtype NAME=bf16` for uint16_t bf16 data)."""
    args = []
    for p in params:
        base, pointers = p.ctype.removeprefix("const ").rstrip(" *"), p.ctype.count("*")
        if pointers == 0:
            if base not in ("int", "int32_t"):
                raise UserError(f"parameter `{p}`: a scalar must be `int` (problem.toml scalars are int); "
                                f"pass other values as a one-element input tensor")
            args.append(Argument(name=p.name, role="scalar", dtype=None))
            continue
        if pointers > 1:
            raise UserError(f"parameter `{p}`: pointers to pointers are not supported; pass one contiguous buffer per tensor")
        dtype = dtypes.get(p.name) or CTYPE_DTYPES.get(base)
        if dtype is None:
            raise UserError(f"parameter `{p}`: no dtype for C type {base!r}; use one of "
                            f"{', '.join(sorted(set(CTYPE_DTYPES)))} or say it with --dtype {p.name}=DTYPE")
        if DTYPES[dtype].ctype != base and not (base in CTYPE_DTYPES and CTYPE_DTYPES[base] == dtype):
            raise UserError(f"--dtype {p.name}={dtype}: the C type of {dtype} is {DTYPES[dtype].ctype}, "
                            f"but the parameter is `{p}`")
        args.append(Argument(name=p.name, role="input" if p.ctype.startswith("const ") else "output", dtype=dtype))
    unknown = [name for name in dtypes if name not in {a.name for a in args}]
    if unknown:
        raise UserError(f"--dtype names {unknown}, which are not parameters ({', '.join(a.name for a in args)})")
    return args


# ---- writing the folder ------------------------------------------------------------------------


def _toml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def _tensor_block(arg: Argument, shape: tuple[int, ...] | None) -> str:
    table = "inputs" if arg.role == "input" else "outputs"
    lines = [f"[[{table}]]", f"name = {_toml_str(arg.name)}", f"dtype = {_toml_str(arg.dtype or '')}"]
    if shape is None:
        lines.append(f"# shape = [D0, D1]  # {TODO}: the logical shape of {arg.name}, outermost first "
                     f"(or pass --shape {arg.name}=D0,D1 to `autocomp new`)")
    else:
        lines.append(f"shape = {list(shape)}")
    assert arg.dtype is not None
    if arg.role == "input":
        if DTYPES[arg.dtype].is_float:
            lines.append('distribution = { kind = "uniform", low = -1.0, high = 1.0 }  # choose what the real workload has')
        else:
            low, high = INT_RANGES[arg.dtype]
            lines.append(f'distribution = {{ kind = "randint", low = {low}, high = {high} }}  # inclusive; choose what the real workload has')
    elif DTYPES[arg.dtype].is_float:
        lines.append(f"tolerance = {TOLERANCES[arg.dtype]}  # a starting point: choose it as docs/problem-format.md (tolerance) says")
    else:
        lines.append("# integer outputs are compared exactly (no tolerance)")
    return "\n".join(lines)


def _int_expression(text: str, env: dict[str, int]) -> int:
    """`2*M*N*K` over params and scalars, with the knob interpreter (never eval)."""
    from autocomp.knobs import KnobError, int_expression

    try:
        return int_expression(text, env, "--flops")
    except KnobError as exc:
        raise UserError(f"{exc}; it may use {', '.join(env) or 'integers only'}") from None


def problem_toml(req: NewRequest, entry: str, args: list[Argument], params: dict[str, int], name: str, signature: str) -> str:
    """The problem.toml text: every field it can fill, a commented AUTOCOMP-TODO line for the rest."""
    env = {**params, **req.scalars}
    tensors = [a for a in args if a.role != "scalar"]
    known = all(a.name in req.shapes for a in tensors)
    out = [f"# Made by `autocomp new`; the format is described in docs/problem-format.md.",
           f"# Lines marked {TODO} need you; `autocomp check {req.folder}` says what is still missing.",
           f"name = {_toml_str(name)}", f"target = {_toml_str(req.target)}", f"family = {_toml_str(req.family)}"]
    if params:
        out.append("params = { " + ", ".join(f"{k} = {v}" for k, v in params.items()) + " }")
    if req.description:
        out.append(f"description = {_toml_str(req.description)}")
    else:
        out.append(f"# description = \"...\"  # {TODO}: one line saying what `{signature}` computes and the layouts "
                   f"(the model reads it)")
    if req.flops:
        out.append(f"flops = {_int_expression(req.flops, env)}  # {req.flops}")
    else:
        out.append(f"# flops = 0  # {TODO}: useful operations per call (e.g. 2*M*N*K for a GEMM), or pass --flops EXPR")
    if known:
        nbytes = sum(math.prod(req.shapes[a.name]) * DTYPES[a.dtype or "f32"].storage.itemsize for a in tensors)
        out.append(f"bytes = {nbytes}  # each input read once, each output written once")
    else:
        out.append(f"# bytes = 0  # {TODO}: minimum memory traffic per call (each input read once, each output written once)")
    scalars = [a for a in args if a.role == "scalar"]
    if scalars:
        given = [a for a in scalars if a.name in req.scalars]
        if given:
            out.append("scalars = { " + ", ".join(f"{a.name} = {req.scalars[a.name]}" for a in given) + " }")
        for a in scalars:
            if a.name not in req.scalars:
                out.append(f"# scalars.{a.name} = 0  # {TODO}: the int passed as {a.name} on every call "
                           f"(write scalars = {{ {a.name} = ... }}, or pass --scalar {a.name}=VALUE)")
    out += ["", "[kernel]", f"entry = {_toml_str(entry)}", f"args = {json.dumps([a.name for a in args])}"]
    out += ["", *[_tensor_block(a, req.shapes.get(a.name)) + "\n" for a in tensors]]
    return "\n".join(out).rstrip() + "\n"


def initial_stub(signature: str) -> str:
    return (f"#include <stddef.h>\n#include <stdint.h>\n\n"
            f"/* The starting code and the speed baseline: write it the straightforward way (plain loops). */\n"
            f"{signature} {{\n  /* {TODO}: compute every output from the inputs */\n}}\n")


def reference_stub(args: list[Argument], shapes: dict[str, tuple[int, ...]]) -> str:
    params = [a.name for a in args if a.role in ("input", "scalar")]
    outputs = [a for a in args if a.role == "output"]
    want = ", ".join(f"{a.name} (shape {list(shapes[a.name]) if a.name in shapes else '...'})" for a in outputs)
    returns = outputs[0].name if len(outputs) == 1 else "{" + ", ".join(f"{a.name!r}: {a.name}" for a in outputs) + "}"
    return (f'"""The trusted answer: numpy, in float64 for float data (see docs/problem-format.md)."""\n\n'
            f"import numpy as np\n\n\n"
            f"def reference({', '.join(params)}):\n"
            f"    # {TODO}: compute {want} from the inputs and `return {returns}`\n"
            f"    raise NotImplementedError(\"write reference() in reference.py (autocomp new left this stub)\")\n")


def create(req: NewRequest) -> NewOutput:
    """Write the problem folder; returns what was inferred and what is left to fill in."""
    from autocomp.targets.registry import get_target

    target = get_target(req.target)
    if req.folder.exists() and (not req.folder.is_dir() or any(req.folder.iterdir())):
        raise UserError(f"{req.folder} already exists and is not empty; choose a new folder (nothing was written)")
    if (req.signature is None) == (req.from_kernel is None):
        raise UserError("give the kernel either as --signature \"void f(const float *x, float *y, int n)\" or as "
                        "--from-kernel FILE.c (with --entry NAME when the file defines several functions)")
    if req.signature is not None:
        entry, params = signature_params(req.signature)
        code = None
    else:
        assert req.from_kernel is not None
        entry, params, code = kernel_params(req.from_kernel, req.entry)
    args = classify(params, req.dtypes)
    names = {a.name for a in args}
    for option, given in (("--shape", req.shapes), ("--scalar", req.scalars)):
        role = "scalar" if option == "--scalar" else None
        stray = [n for n in given if n not in names or (role == "scalar") != (n in {a.name for a in args if a.role == "scalar"})]
        if stray:
            raise UserError(f"{option} names {stray}, which are not {'int scalars' if role else 'tensor parameters'} of {entry}")
    params_out, inferred = dict(req.params), {}
    from autocomp.templates import infer_params, load_templates

    for template in load_templates(target.root / "templates", C_LANGUAGE.suffix).values():
        if template.family == req.family and template.shapes and all(t in req.shapes for t in template.shapes):
            found, why = infer_params(template, req.shapes)
            if why:
                raise UserError(f"--family {req.family}: {why}; the shapes do not fit template {template.name}, "
                                f"which the tuner would use")
            inferred = {k: v for k, v in found.items() if k not in params_out}
            params_out.update(inferred)
            break
    name = req.name or re.sub(r"[^a-z0-9._-]+", "-", req.folder.resolve().name.lower()).strip("-._") or "my-kernel"
    signature = f"void {entry}({', '.join(map(str, params))})"
    toml = problem_toml(req, entry, args, params_out, name, signature)
    if req.reference is not None:
        try:
            reference = req.reference.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--reference: {unreadable(req.reference, exc)}") from None
    else:
        reference = reference_stub(args, req.shapes)
    req.folder.mkdir(parents=True, exist_ok=True)
    (req.folder / PROBLEM_FILE).write_text(toml)
    (req.folder / INITIAL_FILE).write_text(code if code is not None else initial_stub(signature))
    (req.folder / REFERENCE_FILE).write_text(reference)
    left = todos(req.folder)
    if not left:  # complete: every mistake in what was given shows now, naming the file to fix
        load_problem(req.folder)
    return NewOutput(folder=str(req.folder), entry=entry, signature=signature, arguments=args,
                     params_inferred=inferred, todo=left)


def todos(folder: Path) -> list[str]:
    """`FILE:LINE: what to write` for every AUTOCOMP-TODO left in the folder."""
    out = []
    initial = sorted(p.name for p in folder.glob(f"{INITIAL_STEM}.*"))  # initial.c, or another language's
    for file in (PROBLEM_FILE, *initial, REFERENCE_FILE):
        path = folder / file
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if f"{TODO}:" in line and (file != PROBLEM_FILE or line.lstrip().startswith("#")):
                key = re.match(r"\s*#\s*([\w.]+)\s*=", line) if file == PROBLEM_FILE else None
                what = line.split(TODO + ":", 1)[1].strip().rstrip(" */")
                out.append(f"{path}:{number}: " + (f"{key.group(1)}: " if key else "") + what)
    return out


# ---- checking a folder end to end --------------------------------------------------------------


def _preprocessed_signature(problem: Problem, target: Any) -> str | None:
    """The entry's definition after `gcc -E` (macros expanded) against kernel.args; None if it
    agrees or cannot be read (the compile step then reports)."""
    from autocomp.evaluation import sandbox

    toolchain = getattr(target, "toolchain", None)
    if toolchain is None:
        return None
    with tempfile.TemporaryDirectory(prefix="autocomp-check-") as tmp:
        (Path(tmp) / "kernel.c").write_text(problem.initial_code)
        res = sandbox.run([toolchain.cc, *toolchain.cflags, "-E", "-P", "-o", "kernel.i", "kernel.c"], Path(tmp),
                          sandbox.Limits(timeout_s=60), readable=toolchain.readable)
        if not res.ok:
            return None
        found = find_definition((Path(tmp) / "kernel.i").read_text(errors="replace"), problem.spec.kernel.entry)
    return mismatch([a.cparam for a in problem.arguments()], found) if found is not None else None


def run_reference_in_child(problem: Problem, timeout_s: float = 300.0) -> ReferenceRun:
    """The reference called once on fresh inputs, in a sandboxed child (the author's code never
    runs in this process here). A failure's `error` is the whole line for the user, naming the
    file and field as a ProblemError does."""
    from autocomp.evaluation import sandbox

    with tempfile.TemporaryDirectory(prefix="autocomp-reference-") as tmp:
        res = sandbox.run_python("autocomp.onboard", ["--reference", str(problem.root)], Path(tmp),
                                 sandbox.Limits(timeout_s=timeout_s, address_space_bytes=32 << 30), readable=(problem.root,))
    file = str(problem.root / REFERENCE_FILE)
    if res.timed_out:
        return ReferenceRun(ok=False, error=str(ProblemError(
            file, "reference", f"took longer than {timeout_s:.0f} s on one call; vectorize it with numpy")))
    try:
        return ReferenceRun.model_validate_json(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):  # pydantic's ValidationError is a ValueError
        return ReferenceRun(ok=False, error=str(ProblemError(
            file, "reference", f"its sandboxed child failed: {(res.stderr or res.stdout).strip()[-600:]}")))


def _reference_child(folder: str) -> ReferenceRun:
    """In the child: one trial's reference outputs (shape-checked), their range, and the
    degenerate-output check; an exception in reference() comes back as the ProblemError that
    names its line in reference.py (evaluation/checks.py: reference_outputs)."""
    import time

    import numpy as np

    from autocomp.evaluation.checks import Trial, check_not_degenerate

    problem = load_problem(folder)
    trial = Trial(problem, seed=1, extreme=False)
    try:
        start = time.perf_counter()
        expected = trial.expected
        seconds = time.perf_counter() - start
        check_not_degenerate(problem, trial)
    except ProblemError as exc:
        return ReferenceRun(ok=False, error=str(exc))
    return ReferenceRun(ok=True, seconds=seconds, outputs={
        name: ReferenceOutput(shape=list(v.shape), dtype=str(v.dtype), min=float(np.min(v)), max=float(np.max(v)))
        for name, v in expected.items()})


def check(folder: Path, config: Any, log: Callable[[str], None]) -> CheckOutput:
    """Every check of the module docstring, in order; raises UserError at the first mistake."""
    from autocomp.agents.tuner import unknown_menu_items
    from autocomp.knobs import parse_knobs
    from autocomp.targets.peak import above_peak_warning
    from autocomp.targets.registry import get_target
    from autocomp.templates import for_problem

    left = todos(folder)
    if left:
        raise UserError(f"{folder} is not filled in yet; {len(left)} place(s) marked {TODO}:\n  " + "\n  ".join(left))
    problem = load_problem(folder)
    target = get_target(problem.target)
    log(f"loaded {problem.name}: {problem.signature()}")
    why = _preprocessed_signature(problem, target)
    if why:
        raise ProblemError(str(problem.initial_file), problem.spec.kernel.entry,
                           f"after the preprocessor, the definition does not match problem.toml: {why}")
    knobs = parse_knobs(problem.initial_code)  # load_problem has checked the syntax
    unknown = unknown_menu_items(knobs, target, problem.spec.family)
    if unknown:
        raise ProblemError(str(problem.initial_file), "knobs", unknown)
    fits, refused, inapplicable = for_problem(problem, target.root / "templates")  # unset params: the template does not apply
    if refused and not fits:
        raise ProblemError(str(problem.root / PROBLEM_FILE), "family/params",
                           f"family {problem.spec.family!r} selects the {target.name} template(s) "
                           + "; ".join(f"{n}, which cannot serve this problem: {w}" for n, w in refused.items())
                           + f". Fix params (or the shapes), or set family to another name to go without a template")
    reference = run_reference_in_child(problem)
    if not reference.ok:
        raise UserError(reference.error or f"{problem.root / REFERENCE_FILE}: reference: failed")
    log(f"reference ran in {(reference.seconds or 0) * 1e3:.3g} ms: "
        + ", ".join(f"{n} {o.shape} in [{o.min:.3g}, {o.max:.3g}]" for n, o in reference.outputs.items()))
    reason = target.unavailable_reason()
    if reason:
        raise UserError(reason)
    evaluator = target.evaluator(problem, config.eval)
    try:
        result = evaluator.evaluate(problem.initial_code)
    finally:
        evaluator.close()
    metric, value, _ = result.metric_values()
    initial = InitialVerdict(outcome=result.outcome.value, correct=result.correct, error=result.error, metric=metric,
                             value=value, gflops=result.details.get("gflops"), unreliable=result.unreliable,
                             above_peak=above_peak_warning(result.utilization, target.name))
    return CheckOutput(problem=problem.name, folder=str(folder), signature=problem.signature(), reference=reference,
                       initial=initial, tuner=_tuner_start(knobs, fits, inapplicable, target.name, problem.spec.family),
                       baselines=declared_baselines(problem), ready=result.correct)


def _tuner_start(knobs: Any, fits: dict[str, Any], inapplicable: dict[str, str], target: str, family: str) -> str:
    if knobs.knobs:
        return f"knobs {', '.join(knobs.knobs)} in initial.c"
    if fits:
        return f"rewrite as template {', '.join(fits)} and tune its knobs"
    why = ("no template applies (" + "; ".join(f"{n}: {w}" for n, w in inapplicable.items()) + ")" if inapplicable
           else f"{target} has no template for family {family!r}")
    return f"nothing: initial.c declares no knobs and {why}; add knobs (autocomp/knobs.py) or optimize with a model"


def declared_baselines(problem: Problem) -> list[str]:
    """The problem's own baselines: baselines.py, after checking (with ast, never importing it
    here) that it defines `baselines(...)` taking the declared inputs and scalars, and the C
    variants in baselines/ that modeled targets run."""
    import ast

    from autocomp.problem import check_parameters
    from autocomp.targets.vendor import BASELINES_FILE

    path = problem.root / BASELINES_FILE
    variants = sorted(f"baselines/{p.name}" for p in (problem.root / "baselines").glob("*.c"))  # modeled targets' C variants
    if not path.is_file():
        return variants
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ProblemError(str(path), f"line {exc.lineno}", f"syntax error: {exc.msg}") from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "baselines"]
    if not defs:
        raise ProblemError(str(path), "baselines", "expected a function `def baselines(...)` returning {name: callable}")
    check_parameters(problem, defs[-1], str(path), "baselines")
    return [BASELINES_FILE, *variants]


if __name__ == "__main__":  # the sandboxed reference child: `--reference FOLDER`
    if len(sys.argv) == 3 and sys.argv[1] == "--reference":
        try:
            print(_reference_child(sys.argv[2]).model_dump_json())
        except ProblemError as exc:
            print(ReferenceRun(ok=False, error=str(exc)).model_dump_json())
    else:
        sys.exit("usage: python -m autocomp.onboard --reference FOLDER")
