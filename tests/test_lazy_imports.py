"""Provider SDKs load only when one of their models is used, and Ray only when [eval] executor =
"ray": `import autocomp` and `autocomp --help` (and a scripted run's setup) must not pay for them."""

from __future__ import annotations

import subprocess
import sys

SDKS = ("anthropic", "google.genai", "boto3", "botocore")

CHECK = """
import sys
{setup}
loaded = [m for m in {sdks!r} if m in sys.modules]
assert not loaded, f"imported {{loaded}}"
"""


def _run(setup: str, sdks: tuple[str, ...] = SDKS) -> None:
    proc = subprocess.run([sys.executable, "-c", CHECK.format(setup=setup, sdks=sdks)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_import_autocomp_loads_no_provider_sdk() -> None:
    _run("import autocomp", SDKS + ("openai", "plotly"))


def test_autocomp_help_loads_no_provider_sdk() -> None:
    _run("from autocomp.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass", SDKS + ("openai", "plotly"))
    _run("from autocomp.cli import cli\ntry:\n    cli(['optimize', '--help'])\nexcept SystemExit:\n    pass", SDKS + ("openai",))


def test_the_default_local_pool_imports_nothing_from_ray() -> None:
    """A search's setup and evaluation on the default executor, as `optimize` does them."""
    _run("from autocomp.config import load_config\nfrom autocomp.search.executors import open_executor\n"
         "from autocomp.targets.registry import get_target, resolve_problem\nimport autocomp.runner, autocomp.cli\n"
         "p = resolve_problem('cpu/gemm-f32-256'); t = get_target('cpu'); c = load_config(flags={'models': ['tuner']})\n"
         "ev = t.evaluator(p, c.eval); ex = open_executor(t, p, c.eval, ev)\n"
         "assert ex.submit('int x;').result().outcome.value == 'policy_violation'\nex.shutdown(); ev.close()", ("ray",))


def test_building_providers_loads_only_their_own_sdk() -> None:
    _run("from autocomp.llm.registry import make_provider\nmake_provider('ollama::m')\nmake_provider('replay::/dev/null')")
