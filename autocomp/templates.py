"""Kernel templates: a target's parameterized kernels (files with knobs, in one of the target's
kernel languages) and the problems they fit.

A template's first line says which problems it is written for, in a comment of its language:

    /* @template family=gemm shapes="A[M][K] B[K][N] C[M][N]" */     (C)
    # @template family=gemm shapes="A[M][K] B[K][N] C[M][N]"          (Python: Triton)

`family` picks it for a problem; `shapes` says how its `@param`s size each tensor, so a problem
whose params disagree with its own tensor shapes (which would make every instance read past
its buffers) is refused with the field to fix, and a new problem's params can be read off its
shapes (`infer_params`). The template's entry definition must pass the problem's language's
checks of initial code (`KernelLanguage.check_initial`: for C, the problem's signature), since the
evaluator calls it as it calls the initial code. See autocomp/knobs.py for the knob syntax.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from autocomp.errors import ProblemError
from autocomp.knobs import KnobError, KnobSpec, parse_knobs, set_defines

if TYPE_CHECKING:
    from autocomp.problem import Problem

HEADER = re.compile(r"@template\s+family=([\w.-]+)(?:\s+shapes=\"([^\"]*)\")?")
SHAPE = re.compile(r"([A-Za-z_]\w*)((?:\[\w+\])+)")  # a dimension is a @param or a fixed size: X[1][CI][H][WD]
SEARCH_CAP = 200_000  # settings tried when looking for one that satisfies the constraints


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    family: str
    shapes: dict[str, tuple[str, ...]]  # tensor -> each dimension: a @param name or a fixed size (empty: not declared)
    text: str

    @property
    def params(self) -> dict[str, int]:
        return parse_knobs(self.text).params

    def instantiate(self, params: dict[str, int], knobs: dict[str, int] | None = None) -> str:
        """The template with its @params set from `params` and the given knob values."""
        return set_defines(self.text, {**{p: params[p] for p in self.params}, **(knobs or {})})

    def missing_params(self, problem: "Problem") -> str | None:
        """Why the template does not apply at all (None: it does): the problem sets none of some
        of its @params, so it does not claim to be this template's kind of problem."""
        missing = [p for p in self.params if p not in problem.spec.params]
        if missing:
            return f"params has no {', '.join(missing)} (template {self.name} needs {', '.join(self.params)})"
        return None

    def mismatch(self, problem: "Problem") -> str | None:
        """Why this template, whose params the problem sets, cannot serve it (None: it can): a
        signature other than the problem's, params that disagree with the shapes, or no knob
        setting its constraints allow. Any of these made every instance fail."""
        spec = problem.spec
        language = problem.language
        if not re.search(language.defines(spec.kernel.entry), self.text, re.M):
            return (f"template {self.name} defines no {language.name} function {spec.kernel.entry!r} (kernel.entry); "
                    f"name the entry and arguments as the template does to use it")
        if language.check_initial is not None:  # the entry's parameters, as the initial code's are checked
            try:
                language.check_initial(problem, self.instantiate(spec.params), str(self.path))
            except ProblemError as exc:
                return f"template {self.name}: {str(exc).removeprefix(f'{self.path}: ')}"
        tensors = {t.name: t for t in spec.inputs + spec.outputs}
        for tensor, dims in self.shapes.items():
            if tensor not in tensors:
                continue  # the signature check above already named every argument
            shape = tensors[tensor].shape
            want = tuple(_size(d, spec.params) for d in dims)
            if shape != want:
                bound = ", ".join(f"{d} = {spec.params[d]}" for d in dict.fromkeys(dims) if not d.isdigit())
                return (f"{tensor} has shape {list(shape)} but template {self.name} sizes it "
                        f"{_spelled(tensor, dims)} = {list(want)} from params ({bound}); make params agree with the shapes")
        try:
            spec_knobs = parse_knobs(self.instantiate(spec.params))
        except KnobError as exc:
            return f"template {self.name}: {exc}"
        if not _any_valid_setting(spec_knobs):
            rules = "; ".join(expr for expr, _ in spec_knobs.constraints)
            return f"no knob setting of template {self.name} satisfies its constraints for these params ({rules})"
        return None


def _any_valid_setting(spec: KnobSpec) -> bool:
    """Some combination of knob values satisfies the constraints (exhaustive up to SEARCH_CAP
    settings; beyond that it is assumed, and the tuner's own search reports a failure)."""
    names = list(spec.knobs)
    for count, values in enumerate(itertools.product(*(spec.knobs[n].values for n in names))):
        if count >= SEARCH_CAP or spec.violated(dict(zip(names, values))) is None:
            return True
    return False


def _size(dim: str, params: dict[str, int]) -> int:
    return int(dim) if dim.isdigit() else params[dim]


def _spelled(tensor: str, dims: tuple[str, ...]) -> str:
    return tensor + "".join(f"[{d}]" for d in dims)


def load_templates(folder: Path, suffix: str) -> dict[str, Template]:
    """Every template in `folder` written in the language of file `suffix` (".c") that has a
    `@template` header, by file stem."""
    found = {}
    for path in sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []:
        text = path.read_text()
        header = HEADER.search(text)
        if header:
            shapes = {m.group(1): tuple(re.findall(r"\[(\w+)\]", m.group(2))) for m in SHAPE.finditer(header.group(2) or "")}
            found[path.stem] = Template(path.stem, path, header.group(1), shapes, text)
    return found


def infer_params(template: Template, shapes: dict[str, tuple[int, ...]]) -> tuple[dict[str, int], str | None]:
    """The template's params read off the tensors' shapes: (params, None), or ({}, why) when a
    param would take two values or a tensor's rank differs."""
    params: dict[str, int] = {}
    for tensor, dims in template.shapes.items():
        if tensor not in shapes:
            return {}, f"template {template.name} needs tensor {_spelled(tensor, dims)}"
        shape = shapes[tensor]
        if len(shape) != len(dims):
            return {}, f"{tensor} has {len(shape)} dimensions; template {template.name} expects {_spelled(tensor, dims)}"
        for name, size in zip(dims, shape):
            if name.isdigit():
                if int(name) != size:
                    return {}, f"{tensor} = {list(shape)}; template {template.name} expects {_spelled(tensor, dims)}"
            elif params.setdefault(name, size) != size:
                return {}, f"{name} would be both {params[name]} and {size} ({_spelled(tensor, dims)} = {list(shape)})"
    return params, None


class TemplateFit(NamedTuple):
    """The templates of a problem's family, sorted by whether they can serve it."""

    fits: dict[str, Template]
    refused: dict[str, str]  # the problem sets the template's params but conflicts with it: a mistake to report
    inapplicable: dict[str, str]  # the problem does not set the template's params: not its kind of problem


def for_problem(problem: "Problem", folder: Path) -> TemplateFit:
    """The templates in `folder` for the problem's family, each with why it cannot serve the problem."""
    out = TemplateFit({}, {}, {})
    for name, template in load_templates(folder, problem.language.suffix).items():
        if template.family != problem.spec.family:
            continue
        absent = template.missing_params(problem)
        why = None if absent else template.mismatch(problem)
        if absent:
            out.inapplicable[name] = absent
        elif why:
            out.refused[name] = why
        else:
            out.fits[name] = template
    return out
