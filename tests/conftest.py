"""Shared fixtures: real problems, real gcc, scripted (replay) model files."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
KERNELS = DATA / "kernels"
ADVERSARIAL = DATA / "adversarial"

# Fast, still-honest evaluation settings for search tests (timing shortened, small timeout).
FAST_EVAL = """
[eval]
min_time_s = 0.1
timeout_s = 4
trials = 2
"""


def installed(module: str) -> bool:
    """Whether `module` (dotted names too) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a dotted name whose parent package is missing
        return False


def needs_extra(extra: str, *modules: str) -> pytest.MarkDecorator:
    """Skip, naming the pip command, where an optional extra of pyproject.toml is not installed."""
    missing = [m for m in modules if not installed(m)]
    return pytest.mark.skipif(bool(missing), reason=f"needs the {extra} extra ({', '.join(missing)} missing): "
                                                    f"pip install 'autocomp[{extra}]'")


def kernel(name: str) -> str:
    path = KERNELS / name if (KERNELS / name).exists() else ADVERSARIAL / name
    return path.read_text()


def faster(best: dict, at_least: float) -> bool:
    """A run's answer (`best` of `optimize --json`), a kernel known to be faster, measured so: its
    headline speedup clears `at_least`, or the machine was so busy that too few timed calls ran
    unpreempted and the measurement says so (`unreliable`): the one claim that holds then, since
    a ratio of preempted calls measures the other processes."""
    return bool(best.get("unreliable")) or (best.get("speedup_vs_initial") or 0) > at_least


def reply_with_code(code: str) -> str:
    """A realistic model reply: prose, a fenced block, more prose."""
    return f"Here is the optimized kernel.\n\n```c\n{code.strip()}\n```\n\nThis should be faster because of the plan."


def write_replay(path: Path, plans: list[str], codes: list[str], direct: list[str] | None = None) -> Path:
    """Write a replay:: file (TOML arrays of multi-line literal strings)."""

    def arr(name: str, items: list[str]) -> str:
        for item in items:
            assert "'''" not in item
        return f"{name} = [\n" + ",\n".join(f"'''\n{item}'''" for item in items) + "\n]\n"

    text = arr("plan", plans) + arr("code", codes) + (arr("direct", direct) if direct else "")
    path.write_text(text)
    return path


def autocomp(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real `autocomp` command in a child process."""
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "autocomp.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def _measure_the_cpu_peak_once() -> None:
    """The cpu peak, measured once for the session into the private cache even when the test
    suite itself keeps the machine busy (autocomp caches only quiet measurements, so every
    `autocomp` child would otherwise measure it again). Tests about peak caching use their own
    cache folders."""
    import json

    from autocomp.targets.cpu.target import PEAK_CFLAGS, PEAK_SOURCE
    from autocomp.targets.peak import cache_path, machine_key, measured_output

    path = cache_path("cpu-f32", PEAK_SOURCE, PEAK_CFLAGS)
    try:
        measured = measured_output("cpu-f32", PEAK_SOURCE, PEAK_CFLAGS)
    except (OSError, RuntimeError):  # no compiler here: the tests that need one say so themselves
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"name": "cpu-f32", "stdout": measured.stdout, "machine": machine_key()}))


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Every test (and every `autocomp` child it starts) caches its hardware measurements in a
    temporary folder, never in the user's ~/.cache/autocomp: a peak measured while the test
    suite loads the machine would read low there and flag every later real run."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    _measure_the_cpu_peak_once()
    yield Path(os.environ["XDG_CACHE_HOME"])
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture(scope="session")
def project_entry_points(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Make the entry points pyproject.toml declares visible, through the real mechanism
    (package metadata on sys.path), in this process and in `autocomp` children.

    The venv's installed metadata can be older than this checkout's pyproject.toml (it is
    written at install time); a test of a provider added since then would otherwise not find
    it. Where the installed metadata already has every entry point, nothing changes."""
    from importlib.metadata import entry_points

    from autocomp.llm import registry

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    declared = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["entry-points"]
    missing = {group: names for group, names in declared.items()
               if set(names) - {ep.name for ep in entry_points(group=group)}}
    if not missing:
        return
    site = tmp_path_factory.mktemp("entry-points")
    info = site / "autocomp_checkout_entry_points-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: autocomp-checkout-entry-points\nVersion: 0\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items()) + "\n"
        for group, names in missing.items()))
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    registry._group.cache_clear()
    from autocomp.targets import plugins

    plugins.available_targets.cache_clear()
    plugins.load_target.cache_clear()


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "fast.toml"
    path.write_text(FAST_EVAL)
    return path


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """A user error: exit code 2 and one `error:` line on stderr naming every needle, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_all_correct(evaluator, code: str, settings: list[dict[str, int]], close: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Every knob setting of `code` passes `evaluator` (closed afterwards, unless a fixture shares it: close=False)."""
    from autocomp.knobs import set_defines

    try:
        for setting in settings:
            result = evaluator.evaluate(set_defines(code, setting))
            assert result.correct, (setting, result.error)
    finally:
        if close:
            evaluator.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for xdist (`make test-fast` runs with --dist loadgroup): tests marked `timing` share
    the pinned timing core, so they all go to one worker and run one after another; a test that
    uses a module-scoped fixture (a built evaluator, a finished run) stays with its module, so the
    fixture is built once, not once per worker; the rest spread freely."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:  # the test chose its group
            continue
        if item.get_closest_marker("timing") is not None:
            item.add_marker(pytest.mark.xdist_group("timing"))
        elif any(defs[-1].scope in ("module", "class") for defs in item._fixtureinfo.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
