"""C as a kernel language: how prompts show a C kernel, how replies hold one, and the load-time
checks of a C problem's initial code. Shared by every C target (cpu, amx, gemmini)."""

from __future__ import annotations

import re

from autocomp.c_signature import find_definition, mismatch
from autocomp.errors import ProblemError
from autocomp.knobs import KnobError, parse_knobs
from autocomp.language import KernelLanguage
from autocomp.problem import Problem

_C_LINE = re.compile(r"\s*(#include|#define|typedef|static|void|int|float|double|const|struct)\b")


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


def unfenced_c(text: str, entry: str) -> str | None:
    """A reply that defines `void entry(` outside any fence: the code from its first C-looking
    line to its last closing brace (the prose around it dropped)."""
    if not (re.search(rf"\bvoid\s+{re.escape(entry)}\s*\(", text) and "{" in text):
        return None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _C_LINE.match(line):
            body = "\n".join(lines[i:])
            end = body.rfind("}")
            return body[: end + 1] + "\n" if end >= 0 else None
    return None


C_LANGUAGE = KernelLanguage(
    key="c", name="C", fence="c", accepted_fences=("", "c", "cpp", "c++", "h"), suffix=".c",
    definition=r"\b{entry}\s*\([^;{}]*\)\s*\{",
    signature=Problem.c_signature, check_initial=check_initial_code, unfenced=unfenced_c,
)
