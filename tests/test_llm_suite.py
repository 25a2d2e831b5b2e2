"""benchmarks/llm_suite.py end to end through the file relay, answered by a script (not a model):
plans keep the code, code replies break it (a compile error), repairs take the break out. So
with repair on every failed candidate is recovered, with it off none is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from relay import RelayAnswerer

SUITE = Path(__file__).parents[1] / "benchmarks" / "llm_suite.py"
BREAK = "int autocomp_suite_break = ;  /* a compile error */"
FENCED = re.compile(r"```c\n(.*?)```", re.S)


def scripted(phase: str, prompt: str) -> str:
    if phase == "plan":
        return "Chosen item: 1\nKeep the code as it is."
    section = "## Current code" if phase == "code" else "## The code that failed"
    code = FENCED.search(prompt.split(section, 1)[1]).group(1)  # type: ignore[union-attr]
    code = code.replace(BREAK + "\n", "") if phase == "repair" else code + "\n" + BREAK + "\n"
    return f"```c\n{code}```"


@pytest.mark.slow
@pytest.mark.parametrize("repair", [0, 1])
def test_the_suite_runs_through_the_relay_and_counts_repairs(tmp_path: Path, project_entry_points: None, repair: int) -> None:
    relay, cfg = tmp_path / "relay", tmp_path / "cfg.toml"
    cfg.write_text("[llm.providers.files]\ntimeout_s = 60\n")
    with RelayAnswerer(relay, scripted) as answerer:
        proc = subprocess.run([sys.executable, str(SUITE), f"files::{relay}", "--repair", str(repair), "--problems",
                               "gemmini/admm-1", "--out", str(tmp_path / "runs"), "--config", str(cfg)],
                              capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert answerer.errors == []
    row = next(line for line in proc.stdout.splitlines() if line.startswith("gemmini/admm-1")).split()
    best, candidates, correct, calls, repairs = row[1:]
    assert best == "1.00x"  # the script never changes the code's speed
    assert int(calls) == sum(1 for _ in relay.glob("req-*.md"))
    if repair:
        tried = int(candidates) // 2
        assert repairs == f"{tried}/{tried}" and correct == "50%"  # every break repaired
    else:
        assert repairs == "0/0" and correct == "0%"


def test_an_unreliable_headline_is_starred_and_explained() -> None:
    """The table shows the run's headline speedup; one whose measurement lacked clean calls
    carries a * and the timing layer's reason below the table, so it is not compared as a result."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("llm_suite", SUITE)
    suite = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["llm_suite"] = suite  # its dataclass resolves annotations through its module
    try:
        spec.loader.exec_module(suite)  # type: ignore[union-attr]
    finally:
        del sys.modules["llm_suite"]
    out = suite.table([suite.Row("cpu/gemm-f32-256", 2.5, 4, 3, 6, 1, 1, unreliable="3 of 40 calls ran unpreempted"),
                       suite.Row("gemmini/admm-1", 1.0, 2, 1, 3, 0, 0)], "m", 1)
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith(("cpu/", "gemmini/"))}
    assert rows == {"cpu/gemm-f32-256": "2.50x*", "gemmini/admm-1": "1.00x"}
    assert "  cpu/gemm-f32-256: 3 of 40 calls ran unpreempted" in out.splitlines()
