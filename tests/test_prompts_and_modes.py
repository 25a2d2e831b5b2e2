"""Prompt contents, single-call mode, and listing runs."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import jinja2
import pytest

from autocomp.agents.base import Tried
from autocomp.agents.llm_agent import render
from autocomp.agents.parsing import extract_menu_items, extract_plan
from autocomp.evaluation.c_target import HARNESS_CONTRACT
from autocomp.targets.base import MenuItem
from autocomp.targets.cpu.target import vector_isa
from autocomp.targets.peak import cpu_flags
from autocomp.targets.registry import get_target, resolve_problem
from conftest import autocomp, faster, kernel, write_replay

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _context() -> dict[str, object]:
    target, problem = get_target("cpu"), resolve_problem("cpu/gemm-f32-256")
    return dict(target="cpu", architecture=target.knowledge.architecture, description=problem.spec.description,
                signature=problem.signature(), language=problem.language.name, fence=problem.language.fence,
                hardware="a test core", rules=list(target.knowledge.rules))


def test_plan_prompt_carries_isa_code_feedback_menu_and_rules() -> None:
    menu = (MenuItem("loop tiling", "tile i and j"), MenuItem("loop unrolling", ""))
    prompt = render("plan.j2", **_context(), parent_code="void gemm(){/*PARENT*/}", feedback="Latency: 1.7 ms", menu=menu, reuse=None,
                    history=())
    ctx = _context()
    assert str(ctx["architecture"]).splitlines()[0] in prompt
    assert "/*PARENT*/" in prompt and "Latency: 1.7 ms" in prompt
    assert "\n1. loop tiling: tile i and j\n2. loop unrolling\n" in prompt  # one item per line
    assert all(f"{i}. {rule}\n" in prompt for i, rule in enumerate(ctx["rules"], 1))  # type: ignore[arg-type]
    assert "exactly ONE" in prompt and "Chosen item: N" in prompt and "planning phase (1 of 2)" in prompt


@pytest.mark.parametrize("name, own", [("cpu", "vector tails must be masked"), ("amx", "_tile_loadconfig (palette_id 1")])
def test_c_targets_share_one_harness_contract_in_their_prompts(name: str, own: str) -> None:
    """The rules about the shared C harness come from one file (evaluation/harness/contract.toml)
    and reach each C target's rendered prompt once, around the target's own rules, with the
    reply format last."""
    contract = tomllib.loads(HARNESS_CONTRACT.read_text())
    target = get_target(name)
    own_rules = tomllib.loads((target.root / "knowledge" / "rules.toml").read_text())["rules"]
    assert not set(own_rules) & set(contract["rules"] + contract["closing"])  # said once, in the contract
    prompt = render("implement.j2", **dict(_context(), target=name, rules=list(target.knowledge.rules)),
                    parent_code="void gemm(){}", feedback="f", plan="PLAN")
    numbered = [line.split(". ", 1)[1] for line in prompt.splitlines() if line[:1].isdigit() and ". " in line]
    rules = numbered[-len(target.knowledge.rules):]
    assert rules == [*contract["rules"], *own_rules, *contract["closing"]]
    assert sum(own in rule for rule in rules) == 1 and "Keep the exact entry function signature" in rules[0]
    assert rules[-1].startswith("Reply with the complete C file")


def test_direct_prompt_lists_one_menu_item_per_line() -> None:
    menu = (MenuItem("loop tiling", "tile i and j"), MenuItem("loop unrolling", ""), MenuItem("packing", "pack B"))
    prompt = render("direct.j2", **_context(), parent_code="x", feedback="Latency: 1.7 ms", menu=menu, reuse=None, history=())
    assert "\n1. loop tiling: tile i and j\n2. loop unrolling\n3. packing: pack B\n" in prompt


def test_the_cpu_hardware_line_names_the_vector_isa_the_code_is_compiled_for() -> None:
    """The knowledge pack can only say "usually AVX-512"; the prompt's hardware line says which."""
    assert vector_isa({"avx2", "fma"}) == "vector ISA AVX2 and FMA, no AVX-512 (16 ymm registers)"
    assert vector_isa({"avx2", "fma", "avx512f", "avx512vl"}) == "vector ISA AVX-512 (F, VL) and FMA (32 zmm registers)"
    assert vector_isa({"sse2"}) == "no AVX2 (SSE only)"
    assert vector_isa(cpu_flags() or set()) in get_target("cpu").hardware().description


def test_implementation_prompt_carries_the_plan_and_the_parents_numbers_but_no_menu() -> None:
    prompt = render("implement.j2", **_context(), parent_code="void gemm(){}", feedback="Latency: 1.7 ms", plan="PLAN-TEXT-42")
    assert "PLAN-TEXT-42" in prompt and "Optimization menu" not in prompt
    assert "## Measured performance of the current code\nLatency: 1.7 ms" in prompt
    assert "void gemm(const float *restrict A, const float *restrict B, float *restrict C)" in prompt


def test_plan_prompt_shows_the_search_history_and_offers_an_own_strategy() -> None:
    history = (Tried("this code", "loop unrolling", "Unroll k by 4.", "compile_error (x undeclared)"),
               Tried("its parent", "loop tiling", "Tile i and j by 64.", "correct, 1.40x the speed of the code it was made from"))
    prompt = render("plan.j2", **_context(), parent_code="x", feedback="f", menu=(MenuItem("loop tiling", ""),), reuse=None,
                    history=history)
    tried = prompt.split("## Already tried (search history)")[1].split("## Optimization menu")[0]
    assert "- from this code: loop unrolling: Unroll k by 4. -> compile_error (x undeclared)\n" in tried
    assert "- from its parent: loop tiling: Tile i and j by 64. -> correct, 1.40x the speed" in tried
    assert "New strategy: NAME" in prompt and "main strategy plus the prerequisites it needs" in prompt
    empty = render("plan.j2", **_context(), parent_code="x", feedback="f", menu=(), reuse=None, history=())
    assert "Already tried" not in empty


def test_repair_and_menu_prompts_carry_what_the_model_needs() -> None:
    prompt = render("repair.j2", **_context(), plan="PLAN-7", code="void gemm(){ BROKEN }", attempt=1,
                    failure="It did not compile. The compiler's errors:\ncand.c:1:1: error: boom")
    assert "PLAN-7" in prompt and "BROKEN" in prompt and "cand.c:1:1: error: boom" in prompt
    assert "keeping the plan's optimization" in prompt and "```c" in prompt
    menu = render("extend_menu.j2", **_context(), initial_code="INIT", feedback="Latency: 2 ms",
                  menu=(MenuItem("loop tiling", "tile"),), count=3)
    assert "INIT" in menu and "Latency: 2 ms" in menu and "1. loop tiling: tile" in menu and "Propose 3 additional" in menu


def test_own_strategies_and_proposed_menu_items_are_parsed() -> None:
    menu = (MenuItem("loop tiling", ""), MenuItem("loop unrolling", ""))
    assert extract_plan("New strategy: **register blocking**\nChosen item: 1 as a prerequisite", menu)[1:] == \
        ("register blocking", True)
    assert extract_plan("New strategy: Loop Tiling\nTile it.", menu)[1:] == ("loop tiling", False)  # a menu item after all
    assert extract_plan("Chosen item: 2\nUnroll.", menu)[1:] == ("loop unrolling", False)
    reply = "<think>hmm</think>Ideas:\n- **pack B**: copy B into panels\n2. loop tiling: again\n- fuse the epilogue - fold the bias\n- x"
    assert extract_menu_items(reply, 5, menu) == (MenuItem("pack B", "copy B into panels"),
                                                 MenuItem("fuse the epilogue", "fold the bias"))
    assert len(extract_menu_items(reply, 1, menu)) == 1


def test_templates_are_strict_about_missing_values() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("plan.j2", **_context(), parent_code="x", menu=())  # no feedback


@pytest.mark.slow
def test_skip_planning_mode_records_each_reply_plan(tmp_path: Path, fast_config: Path) -> None:
    direct = [f"Chosen item: 1\nPlan {i}: reorder loops.\n\n```c\n{kernel('gemm256_fast.c').strip()}\n```" for i in range(2)]
    direct.append("Chosen item: 2\nI could not produce code, sorry.")
    replay = write_replay(tmp_path / "r.toml", [], [], direct=direct)
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", f"replay::{replay}", "--skip-planning", "--config",
                    str(fast_config), "--iterations", "1", "--plans", "3", "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["llm_calls"] == 3 and faster(out["best"], 1.5)
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    rows = db.execute("SELECT plan_text, error, origin FROM candidates WHERE origin = 'direct' ORDER BY id").fetchall()
    assert [r[0].splitlines()[1] for r in rows[:2]] == ["Plan 0: reorder loops.", "Plan 1: reorder loops."]  # distinct plans
    assert rows[2][0] is None and rows[2][1] == "no C code block found in the reply"

    listing = autocomp("runs", str(tmp_path), "--json")
    assert listing.returncode == 0
    runs = json.loads(listing.stdout)
    assert [r["problem"] for r in runs] == ["cpu/gemm-f32-256"] and runs[0]["status"] == "finished"
    assert runs[0]["best_speedup"] > 1.5 and runs[0]["candidates"] == 4
