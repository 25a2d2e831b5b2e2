"""The language a target's kernels are written in, as the rest of autocomp needs to know it.

Prompts name the language and ask for its fence, the reply parser takes blocks with its fence
tags and finds the entry's definition with its pattern, and problem folders hold the initial code
under its file suffix. A target declares its languages (`Target.languages`); nothing in the
search, the agents or the prompt templates names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class KernelLanguage:
    key: str  # what `kernel.language` in problem.toml names: "c", "triton", "cuda"
    name: str  # how prompts name it: "C", "Triton (Python)"
    fence: str  # the fence tag prompts ask for: "c", "python"
    accepted_fences: tuple[str, ...]  # fence tags the reply parser takes as this language ("" = untagged)
    suffix: str  # file suffix of initial code and templates: ".c", ".py"
    definition: str  # a regex with `{entry}` matching a DEFINITION of the entry function (not a call)
    # (Problem) -> how the entry is shown in prompts; typed Any because autocomp.problem imports this module
    signature: Callable[[Any], str]
    # (Problem, code, file) -> None: load-time checks of the initial code, raising ProblemError
    check_initial: Callable[[Any, str, str], None] | None = None
    # (reply text, entry) -> code: where a reply may hold the kernel outside any fence; None: fenced blocks only
    unfenced: Callable[[str, str], str | None] | None = None

    def defines(self, entry: str) -> str:
        """The definition pattern for `entry`, ready for `re.compile` (entry escaped)."""
        return self.definition.replace("{entry}", re.escape(entry))
