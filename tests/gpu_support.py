"""Shared by the gpu target's tests: skip without the gpu extra (naming the pip command), and
the target found through its entry point (this checkout's pyproject.toml, see conftest)."""

from __future__ import annotations

import importlib.util

import pytest

INSTALL = "pip install -e '.[gpu]'"
MISSING = [m for m in ("torch", "triton") if importlib.util.find_spec(m) is None]
needs_gpu_extra = pytest.mark.skipif(bool(MISSING), reason=f"needs the gpu extra ({', '.join(MISSING)} missing): {INSTALL}")


@pytest.fixture(scope="session")
def gpu_target(project_entry_points: None):  # type: ignore[no-untyped-def]
    from autocomp.targets.registry import get_target

    return get_target("gpu")
