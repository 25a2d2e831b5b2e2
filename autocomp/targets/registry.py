"""Target lookup through the `autocomp.targets` entry-point group, and problem lookup."""

from __future__ import annotations

from pathlib import Path

from autocomp.errors import UserError
from autocomp.problem import Problem, load_problem
from autocomp.targets.base import Target
from autocomp.targets.plugins import available_targets, load_target, unknown_target

__all__ = ["available_targets", "builtin_problems", "get_target", "resolve_problem", "run_problem"]


def get_target(name: str) -> Target:
    try:
        target: Target = load_target(name)
    except KeyError:
        raise UserError(unknown_target(name)) from None
    return target


def builtin_problems() -> list[Problem]:
    problems = []
    for name in sorted(available_targets()):
        pdir = get_target(name).problems_dir
        if pdir.is_dir():
            problems += [load_problem(p) for p in sorted(pdir.iterdir()) if (p / "problem.toml").is_file()]
    return problems


def resolve_problem(ref: str) -> Problem:
    """A built-in name like `cpu/gemm-f32-256`, or a path to a problem folder."""
    path = Path(ref)
    if path.is_dir():
        return load_problem(path)
    target, _, name = ref.partition("/")
    if name and target in available_targets():
        folder = get_target(target).problems_dir / name
        if folder.is_dir():
            return load_problem(folder)
    raise UserError(f"no problem {ref!r}: give a built-in name (see `autocomp problems`) or a path to a problem folder")


def run_problem(folder: str, name: str) -> Problem:
    """The problem a stored run optimized: its recorded folder, or, when that is gone (a run made
    in another checkout or install, or copied from another machine), the built-in problem of the
    same name."""
    if (Path(folder) / "problem.toml").is_file():
        return load_problem(folder)
    try:
        return resolve_problem(name)
    except UserError:
        raise UserError(f"the run's problem {name} is no longer at {folder} and is not a built-in problem; "
                        "restore that folder to use the run") from None
