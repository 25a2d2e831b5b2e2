"""The installed targets, found through the `autocomp.targets` entry-point group.

Apart from the registry (which also loads problems) so that loading a problem can ask its
target for its kernel language without an import cycle: this module imports nothing that
imports `autocomp.problem`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

GROUP = "autocomp.targets"


@lru_cache(maxsize=None)
def available_targets() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def unknown_target(name: str) -> str:
    """Why `name` is no target, and which ones there are."""
    known = ", ".join(sorted(available_targets())) or "none (is autocomp installed with `pip install -e .`?)"
    return f"unknown target {name!r}; installed targets: {known}"


@lru_cache(maxsize=None)
def load_target(name: str) -> Any:
    """The target instance named `name` (an `autocomp.targets.base.Target`; typed Any because that
    module imports `autocomp.problem`), or KeyError when none is installed under that name."""
    eps = available_targets()
    if name not in eps:
        raise KeyError(name)
    return eps[name].load()()
