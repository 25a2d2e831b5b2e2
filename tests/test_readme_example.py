"""The README's worked example ("Optimizing your own kernel"), run exactly as written: every block
tagged `<!-- example: FILE -->` is saved as FILE and every `<!-- example: commands -->` block is run,
in document order, in a fresh folder. A change that breaks the walkthrough breaks this test."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from conftest import autocomp, faster

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", re.S)


def example_blocks() -> list[tuple[str, str]]:
    section = README.read_text().split("## Optimizing your own kernel", 1)[1].split("\n## ", 1)[0]
    blocks = BLOCK.findall(section)
    assert [tag for tag, _ in blocks] == ["layernorm.c", "layernorm_ref.py", "commands", "layernorm/baselines.py", "commands"]
    return blocks


def commands(block: str) -> list[list[str]]:
    """Each `.venv/bin/autocomp ...` command of a shell block (backslash continuations joined)."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            assert argv[0] == ".venv/bin/autocomp", line
            out.append(argv[1:])
    return out


@pytest.mark.slow
def test_the_readme_worked_example_runs_as_written(tmp_path: Path) -> None:
    outputs = []
    for tag, body in example_blocks():
        if tag != "commands":
            (tmp_path / tag).write_text(body)
            continue
        for argv in commands(body):
            proc = autocomp(*argv, cwd=tmp_path)
            assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
            outputs.append((argv[0], proc.stdout))
    assert [name for name, _ in outputs] == ["new", "check", "optimize", "baseline"]
    new_out, check_out, _, baseline_out = (text for _, text in outputs)
    assert "initial code ok" in new_out and "the tuner would start from: knobs ACC in initial.c" in new_out
    assert "the problem's own baselines (baselines.py)" in check_out and "ready" in check_out
    summary = json.loads((tmp_path / "runs" / "layernorm" / "summary.json").read_text())
    assert summary["validation"]["outcome"] == "ok"
    assert faster(summary["best"], 1.5)  # partial sums let gcc vectorize the reductions
    assert summary["schedule"][0]["menu_item"] == "explicit reassociation of reductions"
    assert "numpy float32" in baseline_out and "baselines.py (problem folder)" in baseline_out
