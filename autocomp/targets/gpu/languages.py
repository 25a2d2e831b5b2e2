"""The gpu target's kernel languages: Triton (Python, the default) and CUDA C++.

Both are checked at load time the way the evaluator will see them: the entry defined with
`kernel.args` as its parameters, and the target's static rules (policy.py) satisfied, so a
broken initial code is a problem-folder error, not a failed first evaluation.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from autocomp.errors import ProblemError
from autocomp.language import KernelLanguage
from autocomp.targets.gpu import policy


def _describe(problem: Any) -> str:
    """One line per argument: dtype, shape and role, so prompts say what each parameter holds."""
    lines = []
    for arg in problem.arguments():
        if arg.tensor is None:
            lines.append(f"#   {arg.name}: int scalar = {problem.spec.scalars[arg.name]}")
        else:
            role = "output, preallocated and contiguous: write it in place" if arg.is_output else "input, read-only"
            lines.append(f"#   {arg.name}: {arg.tensor.dtype} tensor of shape {list(arg.tensor.shape)}, on the GPU ({role})")
    return "\n".join(lines)


def triton_signature(problem: Any) -> str:
    spec = problem.spec
    return (f"def {spec.kernel.entry}({', '.join(spec.kernel.args)}) -> None\n"
            f"# arguments (torch tensors and Python ints), in this order:\n{_describe(problem)}\n"
            "# it launches @triton.jit kernels that compute the outputs; it may import only torch, triton, "
            "triton.language and math")


def cuda_signature(problem: Any) -> str:
    spec = problem.spec
    tensors = {t.name for t in spec.inputs + spec.outputs}
    params = ", ".join(f"torch::Tensor {a}" if a in tensors else f"int64_t {a}" for a in spec.kernel.args)
    return (f"void {spec.kernel.entry}({params})\n# built with torch.utils.cpp_extension.load_inline; arguments:\n"
            f"{_describe(problem)}\n# it launches your __global__ kernels on the current stream")


def check_triton_initial(problem: Any, code: str, file: str) -> None:
    found = policy.check_triton(code)
    if found is not None:
        raise ProblemError(file, "(code)", f"the initial code breaks the gpu target's rules: {found[1]}")
    entry = problem.spec.kernel.entry
    defs = [n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef) and n.name == entry]
    if not defs:
        raise ProblemError(file, "kernel.entry", f"no top-level `def {entry}(...)`; define it or set kernel.entry")
    _same_arguments(problem, file, [a.arg for a in defs[-1].args.args])


def check_cuda_initial(problem: Any, code: str, file: str) -> None:
    found = policy.check_cuda(code)
    if found is not None:
        raise ProblemError(file, "(code)", f"the initial code breaks the gpu target's rules: {found[1]}")
    entry = problem.spec.kernel.entry
    match = re.search(rf"\bvoid\s+{re.escape(entry)}\s*\(([^)]*)\)\s*\{{", code)
    if match is None:
        raise ProblemError(file, "kernel.entry", f"no host function `void {entry}(...) {{` is defined here")
    _same_arguments(problem, file, [re.split(r"[\s*&]+", p.strip())[-1] for p in match.group(1).split(",") if p.strip()])


def _same_arguments(problem: Any, file: str, names: list[str]) -> None:
    """The entry's parameter names are kernel.args, in order: the driver passes them by position."""
    if names != list(problem.spec.kernel.args):
        raise ProblemError(file, problem.spec.kernel.entry, f"takes ({', '.join(names)}) but problem.toml's kernel.args is "
                                                            f"({', '.join(problem.spec.kernel.args)}); make them agree")


TRITON = KernelLanguage(
    key="triton", name="Triton (Python)", fence="python", accepted_fences=("", "python", "py"), suffix=".py",
    definition=r"^\s*def\s+{entry}\s*\(", signature=triton_signature, check_initial=check_triton_initial,
)

CUDA = KernelLanguage(
    key="cuda", name="CUDA C++", fence="cuda", accepted_fences=("", "cuda", "cu", "cpp", "c++"), suffix=".cu",
    definition=r"\b{entry}\s*\([^;{}]*\)\s*\{", signature=cuda_signature, check_initial=check_cuda_initial,
)
