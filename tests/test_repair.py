"""Repair: a failed candidate goes back to its code model with the precise failure.

Real searches on cpu/gemm-f32-256 (real gcc, real harness) with a scripted model (replay::,
not an LLM) and with the file relay (files::, answered by this test), plus the failure
report on real evaluator output.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.search.repair import compiler_errors, failure_report
from autocomp.targets.registry import get_target, resolve_problem
from conftest import FAST_EVAL, autocomp, faster, kernel, reply_with_code, write_replay
from relay import RelayAnswerer, phase_of

pytestmark = pytest.mark.timing  # kernels timed on the pinned core


def _rows(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _replay_with_repairs(path: Path, repairs: list[str]) -> Path:
    plans = ["Chosen item: 1\nReorder the loops to i-k-j.", "Chosen item: 2\nUnroll the inner loop by 4."]
    codes = [reply_with_code(kernel("compile_error.c")), reply_with_code(kernel("returns_zeros.c"))]
    write_replay(path, plans, codes)
    with path.open("a") as f:
        f.write("repair = [\n" + ",\n".join(f"'''\n{r}'''" for r in repairs) + "\n]\n")
    return path


def test_failure_report_keeps_the_compiler_errors_and_their_source_lines() -> None:
    gcc = ("cand.c: In function 'gemm':\n"
           "cand.c:3:10: warning: unused variable 'x' [-Wunused-variable]\n    3 |   int x;\n      |       ^\n"
           "cand.c:4:46: error: 'undeclared_scale' undeclared (first use in this function)\n"
           "    4 |   C[i] = A[i] * undeclared_scale + B[i];\n      |                 ^~~~~~~~~~~~~~~~\n"
           "cand.c:4:46: note: each undeclared identifier is reported only once\n")
    trimmed = compiler_errors(gcc)
    assert trimmed.splitlines() == ["cand.c:4:46: error: 'undeclared_scale' undeclared (first use in this function)",
                                    "    4 |   C[i] = A[i] * undeclared_scale + B[i];",
                                    "      |                 ^~~~~~~~~~~~~~~~"]
    report = failure_report(EvalResult(outcome=Outcome.COMPILE_ERROR, error=gcc))
    assert report.startswith("It did not compile") and "warning" not in report
    wrong = failure_report(EvalResult(outcome=Outcome.WRONG_ANSWER, error="output C: 5 of 9 elements outside tolerance"))
    assert "wrong answer" in wrong and "5 of 9" in wrong


@pytest.mark.slow
def test_a_compile_error_and_a_wrong_answer_are_repaired(tmp_path: Path, fast_config: Path) -> None:
    """The compile error is repaired into the faster kernel, the wrong answer into a correct
    one; each repair prompt carries its plan and the precise failure."""
    plain = "/* repaired: the initial loop nest */\n" + resolve_problem("cpu/gemm-f32-256").initial_code
    replay = _replay_with_repairs(tmp_path / "r.toml", [reply_with_code(kernel("gemm256_fast.c")), reply_with_code(plain)])
    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(fast_config), "--models", f"replay::{replay}",
                    "--iterations", "1", "--plans", "2", "--codes", "1", "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    db = run_dir / "run.db"
    rows = _rows(db, "SELECT c.id, c.key, c.origin, c.parent_id, c.plan_text, e.outcome FROM candidates c "
                     "LEFT JOIN evaluations e ON e.code_hash = c.code_hash ORDER BY c.id")
    by_key = {r[1]: r for r in rows}
    assert by_key["i1/c1/p0/k0"][5] == "compile_error" and by_key["i1/c1/p1/k0"][5] == "wrong_answer"
    fixed_compile, fixed_wrong = by_key["i1/c1/p0/k0/r1"], by_key["i1/c1/p1/k0/r1"]
    assert fixed_compile[2] == fixed_wrong[2] == "repair" and fixed_compile[3] == fixed_wrong[3] == 1  # children of the root
    assert fixed_compile[4] == by_key["i1/c1/p0/k0"][4] and fixed_compile[5] == "ok" and fixed_wrong[5] == "ok"
    assert out["best"]["candidate_id"] == fixed_compile[0] and faster(out["best"], 1.2)
    assert out["candidates"] == 5 and out["llm_calls"] == 6  # 2 plans, 2 codes, 2 repairs
    prompts = [json.loads(r[0])["messages"][0]["content"]
               for r in _rows(db, "SELECT request_json FROM llm_calls WHERE phase = 'repair' ORDER BY id")]
    assert len(prompts) == 2
    compile_prompt, wrong_prompt = sorted(prompts, key=lambda p: "undeclared_scale" not in p.split("## What went wrong")[1])
    assert "Reorder the loops to i-k-j." in compile_prompt and "error: 'undeclared_scale' undeclared" in compile_prompt
    failure = wrong_prompt.split("## What went wrong")[1]
    assert "Unroll the inner loop by 4." in wrong_prompt and "first at index" in failure and "expected" in failure
    assert "elements outside tolerance" in failure  # how many differ
    page = (run_dir / "report.html").read_text()
    assert f"#1 (repair of #{by_key['i1/c1/p0/k0'][0]})" in page and f"#1 (repair of #{by_key['i1/c1/p1/k0'][0]})" in page


@pytest.mark.slow
def test_repair_off_makes_no_repair_call(tmp_path: Path, fast_config: Path) -> None:
    replay = _replay_with_repairs(tmp_path / "r.toml", [reply_with_code(kernel("gemm256_fast.c"))])
    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(fast_config), "--models", f"replay::{replay}",
                    "--iterations", "1", "--plans", "2", "--codes", "1", "--repair", "0", "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    assert _rows(run_dir / "run.db", "SELECT count(*) FROM llm_calls WHERE phase = 'repair'")[0][0] == 0
    assert _rows(run_dir / "run.db", "SELECT count(*) FROM candidates WHERE origin = 'repair'")[0][0] == 0
    assert json.loads(proc.stdout)["llm_calls"] == 4


@pytest.mark.slow
def test_a_run_killed_mid_repair_resumes_without_repeating_a_call(tmp_path: Path, project_entry_points: None) -> None:
    """The model answers through files (this test answers them); the run is killed while its
    repair request waits for a reply. The resumed run asks only for that repair."""
    relay = tmp_path / "relay"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FAST_EVAL + "[llm.providers.files]\ntimeout_s = 120\n")
    args = ["--config", str(cfg), "--models", f"files::{relay}", "--iterations", "1", "--plans", "1", "--codes", "1"]
    run_dir = tmp_path / "run"

    def first_session(phase: str, prompt: str) -> str | None:
        if phase == "plan":
            return "Chosen item: 1\nReorder the loops to i-k-j."
        if phase == "code":
            return reply_with_code(kernel("compile_error.c"))
        return None  # the repair is never answered: the run is killed while it waits

    proc = subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", "cpu/gemm-f32-256", *args,
                             "--run-dir", str(run_dir), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    with RelayAnswerer(relay, first_session):
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if any(phase_of(p) == "repair" for p in relay.glob("req-*.md")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it asked for a repair"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    db = run_dir / "run.db"
    before = _rows(db, "SELECT id, phase FROM llm_calls WHERE status = 'ok' ORDER BY id")
    assert [phase for _, phase in before] == ["plan", "code"]
    requests_before = sorted(p.name for p in relay.glob("req-*.md"))
    assert len(requests_before) == 3

    def second_session(phase: str, prompt: str) -> str | None:
        assert phase == "repair", f"the resumed run asked a {phase} call again"
        return reply_with_code(kernel("gemm256_fast.c"))

    with RelayAnswerer(relay, second_session) as answerer:
        resumed = autocomp("resume", str(run_dir), "--json", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert answerer.errors == []
    out = json.loads(resumed.stdout)
    after = _rows(db, "SELECT id, phase FROM llm_calls WHERE status = 'ok' ORDER BY id")
    assert after[:2] == before and [phase for _, phase in after[2:]] == ["repair"]  # nothing asked twice
    assert sorted(p.name for p in relay.glob("req-*.md")) == [*requests_before, "req-0004.md"]
    repaired = _rows(db, "SELECT id, origin FROM candidates WHERE key = 'i1/c1/p0/k0/r1'")
    assert repaired and repaired[0][1] == "repair" and out["best"]["candidate_id"] == repaired[0][0]


@pytest.mark.slow
def test_own_strategies_extended_menus_and_search_history(tmp_path: Path, fast_config: Path) -> None:
    """A plan that names its own strategy is recorded with it and shown in the report; the menu
    items proposed before the search are stored, offered and used, and not asked for again on
    resume; the second iteration's plan prompt shows what the first one tried and measured."""
    problem = resolve_problem("cpu/gemm-f32-256")
    shipped = get_target("cpu").knowledge.menu_for(problem.spec.family)
    plain = problem.initial_code
    plans = ["New strategy: cache blocking for L1\nBlock i and k so a panel of B stays in L1.",
             f"Chosen item: {len(shipped) + 1}\nKeep a 4x16 block of C in registers.",
             "Chosen item: 1\nTile j.", "Chosen item: 2\nUnroll k."]
    codes = [reply_with_code(kernel("gemm256_fast.c")), reply_with_code("/* variant 1 */\n" + plain),
             reply_with_code("/* variant 2 */\n" + plain), reply_with_code("/* variant 3 */\n" + plain)]
    replay = write_replay(tmp_path / "r.toml", plans, codes)
    with replay.open("a") as f:
        f.write("menu = ['''\n- register tiling for this GEMM: keep a 4x16 block of C in registers\n"
                "- transpose B once: read B along rows'''\n]\n")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FAST_EVAL + "[search]\nextend_menu = 2\nmenu_keep = 1.0\n")
    run_dir = tmp_path / "run"
    args = ["--config", str(cfg), "--models", f"replay::{replay}", "--iterations", "2", "--beam", "1", "--plans", "2",
            "--codes", "1", "--run-dir", str(run_dir), "--json"]
    proc = autocomp("optimize", "cpu/gemm-f32-256", *args)
    assert proc.returncode == 0, proc.stderr
    db = run_dir / "run.db"
    assert [r[0] for r in _rows(db, "SELECT menu_item FROM plans WHERE iteration = 1 ORDER BY id")] == \
        ["cache blocking for L1", "register tiling for this GEMM"]
    prompts = [json.loads(r[0])["messages"][0]["content"]
               for r in _rows(db, "SELECT request_json FROM llm_calls WHERE phase = 'plan' ORDER BY id")]
    assert all(f"{len(shipped) + 1}. register tiling for this GEMM: keep a 4x16 block" in p for p in prompts)
    assert all("New strategy: NAME" in p for p in prompts)
    assert "Already tried" not in prompts[0]
    history = prompts[2].split("## Already tried")[1].split("## Optimization menu")[0]
    assert "cache blocking for L1: Block i and k so a panel of B stays in L1." in history
    assert "x the speed of the code it was made from" in history
    # the fast kernel leads iteration 2, unless its timing was unreliable (a busy machine), which
    # keeps it level with the initial code, and the history then says why
    assert "(this step led to the current code)" in history or "unreliable timing" in history
    assert "register tiling for this GEMM: Keep a 4x16 block of C in registers." in history
    page = (run_dir / "report.html").read_text()
    assert "cache blocking for L1 (own strategy)" in page and "register tiling for this GEMM (proposed for this problem)" in page
    assert "transpose B once" in page  # the proposed items are listed
    out = json.loads(proc.stdout)
    assert out["schedule"][0]["menu_item"] == "cache blocking for L1" and out["schedule"][0]["strategy"] == "own"
    assert _rows(db, "SELECT count(*) FROM llm_calls WHERE phase = 'menu'")[0][0] == 1
    resumed = autocomp("resume", str(run_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _rows(db, "SELECT count(*) FROM llm_calls WHERE phase = 'menu'")[0][0] == 1  # stored, not asked again
    assert len(_rows(db, "SELECT data_json FROM events WHERE kind = 'menu_extension'")) == 1


def test_the_history_marks_an_effect_whose_timing_was_unreliable() -> None:
    """A measured effect in the plan prompt's history keeps the timing layer's unreliable mark
    (of the candidate or of the code it was made from), so a model is not steered by a ratio
    taken from too few unpreempted calls. Rows as the run store returns them."""
    from autocomp.search.beam import _effect

    def row(score: float, details: dict | None) -> dict:
        return {"code": "int x;", "outcome": "ok", "eval_error": None, "score": score,
                "details_json": json.dumps(details) if details is not None else None}

    parent = row(2.0, {"caches": "warm"})
    clean = _effect(row(1.0, {}), parent)
    assert clean == "correct, 2.00x the speed of the code it was made from"
    shaky = _effect(row(1.0, {"unreliable": "2 of 40 calls ran unpreempted"}), parent)
    assert shaky.startswith("correct, 2.00x the speed") and "unreliable timing" in shaky
    assert "unreliable timing" in _effect(row(1.0, None), row(2.0, {"unreliable": "too few clean calls"}))
