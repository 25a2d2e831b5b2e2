"""The search, the agents and the prompt templates know no target and no kernel language: a
plug-in target of another language (registered here through a real entry point) gets prompts
in its language and fence, and its replies are read with its fence and definition pattern."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autocomp.agents.base import AgentContext, CodeJob, Parent, PlanJob
from autocomp.agents.llm_agent import LLMAgent
from autocomp.problem import load_problem
from autocomp.store.runstore import RunStore
from autocomp.targets import plugins
from autocomp.targets.registry import get_target
from conftest import write_replay

PACKAGE = Path(__file__).resolve().parent.parent / "autocomp"
NEUTRAL = [PACKAGE / "search", PACKAGE / "agents"]  # prompt templates are agents/prompts/*.j2
# target names, and what only C code or a C problem has
FORBIDDEN = re.compile(r"\b(cpu|amx|gemmini)\b|```c\b|\bC (file|code|signature|block)\b|c_signature|initial\.c\b", re.I)

TOY_TARGET = '''
from pathlib import Path

from autocomp.errors import UserError
from autocomp.language import KernelLanguage
from autocomp.targets.base import HardwareFacts, Target

TOY = KernelLanguage(
    key="toy", name="Toy (Python)", fence="python", accepted_fences=("", "python", "py"), suffix=".py",
    definition=r"^\\s*def\\s+{entry}\\s*\\(",
    signature=lambda p: f"def {p.spec.kernel.entry}({', '.join(p.spec.kernel.args)}) -> None",
)


class ToyTarget(Target):
    """Exists only to show that a target of another language plugs in; it evaluates nothing."""

    name = "toy"
    root = Path(__file__).parent / "toy"
    languages = (TOY,)

    def hardware(self):
        return HardwareFacts("a toy device", {})

    def evaluator(self, problem, settings):
        raise UserError("the toy target evaluates nothing; it exists for tests of prompts and parsing")

    def feedback(self, problem, result):
        return "nothing measured"
'''

TOY_PROBLEM = '''name = "double"
target = "toy"
description = "y = 2 * x"
flops = 16
bytes = 128

[kernel]
entry = "kernel"
args = ["x", "y"]

[[inputs]]
name = "x"
dtype = "f32"
shape = [16]
distribution = { kind = "uniform" }

[[outputs]]
name = "y"
dtype = "f32"
shape = [16]
tolerance = { rtol = 1e-6, atol = 1e-6 }
'''
INITIAL = "def kernel(x, y):\n    y[:] = x + x\n"
FASTER = "def kernel(x, y):\n    y[:] = 2 * x\n"


def test_search_agents_and_prompts_name_no_target_or_language() -> None:
    hits = []
    for folder in NEUTRAL:
        for path in sorted(p for p in folder.rglob("*") if p.suffix in (".py", ".j2")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if FORBIDDEN.search(line):
                    hits.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert len(list((PACKAGE / "agents" / "prompts").glob("*.j2"))) >= 6  # the walk sees the templates
    assert not hits, "target or language named where the core must stay neutral:\n" + "\n".join(hits)


@pytest.fixture
def toy_target(tmp_path: Path) -> Iterator[None]:
    """`toy` installed as an `autocomp.targets` entry point (package metadata on sys.path), then removed."""
    site = tmp_path / "site"
    (site / "toy_target_pkg").mkdir(parents=True)
    (site / "toy_target_pkg" / "__init__.py").write_text(TOY_TARGET)
    (site / "toy_target_pkg" / "toy" / "knowledge").mkdir(parents=True)
    knowledge = site / "toy_target_pkg" / "toy" / "knowledge"
    (knowledge / "architecture.md").write_text("A toy device that runs Python.\n")
    (knowledge / "menu.toml").write_text('[[item]]\nname = "vectorize"\ndescription = "one array expression"\n')
    (knowledge / "rules.toml").write_text('rules = ["Write the outputs in place."]\n')
    info = site / "toy_target_pkg-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-target-pkg\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[autocomp.targets]\ntoy = toy_target_pkg:ToyTarget\n")
    sys.path.insert(0, str(site))
    plugins.available_targets.cache_clear()
    plugins.load_target.cache_clear()
    try:
        yield
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("toy_target_pkg", None)
        plugins.available_targets.cache_clear()
        plugins.load_target.cache_clear()


def _toy_problem(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A problem folder of the toy target: y = 2 * x in its Python-like language."""
    folder = tmp_path / "double"
    folder.mkdir()
    (folder / "problem.toml").write_text(TOY_PROBLEM)
    (folder / "initial.py").write_text(INITIAL)
    (folder / "reference.py").write_text("def reference(x):\n    return 2 * x\n")
    return load_problem(folder)


def test_a_plugin_target_of_another_language_gets_its_fences(toy_target: None, tmp_path: Path) -> None:
    problem, target = _toy_problem(tmp_path), get_target("toy")
    assert problem.language.key == "toy" and problem.initial_code == INITIAL
    assert problem.signature() == "def kernel(x, y) -> None"

    usage = "y = torch.empty(16)\nkernel(x, y)\n"
    c_block = "void kernel(const float *x, float *y) { }\n"
    code_reply = f"Here it is.\n```python\n{FASTER}```\nCall it so:\n```py\n{usage}```\nor in C:\n```c\n{c_block}```\n"
    replay = write_replay(tmp_path / "replay.toml", ["Chosen item: 1\nUse one array expression."], [code_reply])
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "toy", {})
    agent = LLMAgent(f"replay::{replay}", AgentContext(problem, target, target.knowledge, store, None, None))
    parent = Parent(1, INITIAL, "nothing measured")
    plan = agent.plan(PlanJob(parent, target.knowledge.menu, 0, 0, 0))
    assert plan.error is None and plan.menu_item == "vectorize"
    code = agent.implement(CodeJob(parent, plan.text or "", 0, 0, 0))
    assert code.error is None and code.code == FASTER  # its own definition: not the usage, not the C block

    prompts = [json.loads(row["request_json"])["messages"][-1]["content"] for row in store.llm_calls()]
    assert len(prompts) == 2
    for prompt in prompts:
        assert f"```python\n{INITIAL}" in prompt and "exact Toy (Python) signature): `def kernel(x, y) -> None`" in prompt
        assert "```c" not in prompt and " C " not in prompt
    assert "Reply with the complete Toy (Python) file\nin a single ```python fenced block." in prompts[1]


def test_a_reply_without_the_languages_code_says_which_language(toy_target: None, tmp_path: Path) -> None:
    problem, target = _toy_problem(tmp_path), get_target("toy")
    replay = write_replay(tmp_path / "replay.toml", [], ["I would rather not write code today."])
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "toy", {})
    agent = LLMAgent(f"replay::{replay}", AgentContext(problem, target, target.knowledge, store, None, None))
    code = agent.implement(CodeJob(Parent(1, INITIAL, "f"), "plan", 0, 0, 0))
    assert code.code is None and code.error == "no Toy (Python) code block found in the reply"
