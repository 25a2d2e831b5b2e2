"""The Target seam: knowledge pack + kernel languages + evaluator + hardware facts.

Adding a target means adding a folder and one `autocomp.targets` entry point; nothing in
the search or the CLI names a target (docs/writing-a-target.md). Nothing here is specific to
one kernel language: the base class of the C targets is `evaluation/c_target.py`.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autocomp.errors import ProblemError
from autocomp.evaluation.base import EvalSettings, Evaluator
from autocomp.evaluation.result import EvalResult
from autocomp.language import KernelLanguage
from autocomp.outputs import BaselineOutput
from autocomp.problem import PROBLEM_FILE, Problem, ProblemSpec


@dataclass(frozen=True)
class MenuItem:
    name: str
    description: str
    families: tuple[str, ...] = ()  # problem families the item applies to; empty = every family


@dataclass(frozen=True)
class KnowledgePack:
    """What the planning/implementation prompts are filled from. All of it is data files."""

    architecture: str
    menu: tuple[MenuItem, ...]
    rules: tuple[str, ...]

    @classmethod
    def load(cls, directory: Path, shared_rules: Path | None = None) -> "KnowledgePack":
        """The pack in `directory`; `shared_rules` (a TOML file with `rules` and `closing` lists)
        holds rules several targets share, placed before and after the pack's own."""
        menu = tomllib.loads((directory / "menu.toml").read_text())
        rules = tomllib.loads((directory / "rules.toml").read_text())["rules"]
        if shared_rules is not None:
            shared = tomllib.loads(shared_rules.read_text())
            rules = [*shared["rules"], *rules, *shared["closing"]]
        return cls(
            architecture=(directory / "architecture.md").read_text(),
            menu=tuple(MenuItem(i["name"], i.get("description", ""), tuple(i.get("families", ()))) for i in menu["item"]),
            rules=tuple(rules),
        )

    def menu_for(self, family: str) -> tuple[MenuItem, ...]:
        """The menu items that apply to a problem family (e.g. ADMM items stay out of GEMM plans)."""
        return tuple(item for item in self.menu if not item.families or family in item.families)


@dataclass(frozen=True)
class HardwareFacts:
    """Measured facts used for utilization and prompts (never nominal datasheet numbers)."""

    description: str
    peak_flops: dict[str, float]  # dtype family (e.g. "f32") -> FLOP/s per core

    def peak_for(self, problem: Problem) -> float | None:
        dtype = problem.spec.inputs[0].dtype
        return self.peak_flops.get(dtype) or self.peak_flops.get("default")


class Target(ABC):
    """A kind of hardware autocomp can optimize for."""

    name: str
    root: Path  # the target's folder: knowledge/ and problems/ live here
    languages: tuple[KernelLanguage, ...]  # the kernel languages it takes; the first is the default
    vendor_module: str | None = None  # its vendor baselines (a `autocomp.targets.vendor` child module), if any

    def language_for(self, spec: ProblemSpec, file: str = PROBLEM_FILE) -> KernelLanguage:
        """The language `kernel.language` names (none: this target's first), checked against
        the ones this target takes."""
        if spec.kernel.language is None:
            return self.languages[0]
        for language in self.languages:
            if language.key == spec.kernel.language:
                return language
        choices = ", ".join(repr(language.key) for language in self.languages)
        raise ProblemError(file, "kernel.language", f"the {self.name} target takes no {spec.kernel.language!r} kernels; "
                                                    f"expected one of {choices} (or leave it out for {self.languages[0].key!r})")

    @cached_property
    def knowledge(self) -> KnowledgePack:
        return KnowledgePack.load(self.root / "knowledge")

    @property
    def problems_dir(self) -> Path:
        return self.root / "problems"

    def templates(self) -> dict[str, Path]:
        """Parameterized kernels (files with knobs, in any of the target's languages) shipped in
        the target's templates/ folder."""
        folder = self.root / "templates"
        if not folder.is_dir():
            return {}
        return {p.stem: p for p in sorted(p for language in self.languages for p in folder.glob(f"*{language.suffix}"))}

    def resources(self, problem: Problem) -> dict[str, float]:
        """The Ray resources one evaluation of `problem` needs on a node ([eval] executor = "ray"):
        "CPU"/"GPU" or a custom label a node is started with (`ray start --resources='{"amx": 1}'`),
        so evaluations run only where the hardware is. A timed evaluation (`exclusive_timing`)
        also takes one `timing_core`, added by the executor."""
        return {"CPU": 1}

    def unavailable_reason(self) -> str | None:
        """None when this machine can run the target; else one line saying what is missing."""
        return None

    def baselines(self, problem: Problem, core: int | None = None) -> BaselineOutput:
        """The best vendor-library result on this problem, measured like our kernels (pinned to
        `core`, the [eval] core our kernels are timed on; None: the default timing core): every
        path measured, the best same-work and the best prepacked one; see `autocomp.targets.vendor`.
        """
        from autocomp.targets.vendor import BASELINES_FILE, run_child

        if self.vendor_module is None and not (problem.root / BASELINES_FILE).is_file():
            return BaselineOutput(problem=problem.name, available=False,
                                  reason=f"the {self.name} target has no vendor baselines and the problem declares "
                                         f"none ({BASELINES_FILE}, see docs/problem-format.md)")
        return run_child(self.vendor_module or "autocomp.targets.vendor", problem, core)

    @abstractmethod
    def hardware(self) -> HardwareFacts: ...

    @abstractmethod
    def evaluator(self, problem: Problem, settings: EvalSettings) -> Evaluator: ...

    def emulated_evaluator(self, problem: Problem, settings: EvalSettings) -> Evaluator | None:
        """An evaluator that checks kernels on a functional emulator of the hardware, for machines
        without it (correctness only, never timed); None when the target has none."""
        return None

    @abstractmethod
    def feedback(self, problem: Problem, result: EvalResult) -> str:
        """Performance feedback for the planning prompt, in plain words."""


def ops_unit(problem: Problem) -> str:
    """GFLOP/s for floating-point problems, GOP/s when the inputs are integers (int8 GEMMs)."""
    return "GFLOP/s" if problem.spec.inputs[0].dtype in ("f32", "f64", "f16", "bf16") else "GOP/s"
