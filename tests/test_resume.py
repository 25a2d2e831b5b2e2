"""Kill -9 in the middle of an iteration, then `autocomp resume`.

Checks: no evaluated candidate is lost (or re-measured), no scripted reply is requested
twice, and the final best is the same as an uninterrupted run's.
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

from autocomp.targets.registry import resolve_problem
from conftest import autocomp, kernel, reply_with_code, write_replay


def _variant(code: str, tag: int) -> str:
    """A functionally identical copy that is a different candidate (distinct code)."""
    return code.replace("void gemm(", f"static const int autocomp_variant_{tag} = {tag};\nvoid gemm(", 1)


def _untagged(code: str) -> str:
    return "\n".join(line for line in code.strip().splitlines() if "autocomp_variant_" not in line)


def _replay(tmp_path: Path) -> Path:
    # `slow` is the initial loop nest, about 4.5x slower than `faster`, so that the winner's
    # identity survives a busy machine (with `gemm256_fast.c`, 1.5x slower, a loaded run once
    # picked the wrong kernel)
    slow, faster = resolve_problem("cpu/gemm-f32-256").initial_code, kernel("gemm256_faster.c")
    codes = [_variant(slow, 0), _variant(slow, 1), _variant(slow, 2), faster, _variant(slow, 3), _variant(faster, 4),
             _variant(slow, 5), _variant(faster, 6), _variant(slow, 7), _variant(faster, 8), _variant(slow, 9), _variant(slow, 10)]
    plans = [f"Chosen item: {1 + i % 5}\nStep {i}: apply the strategy to the loop nest." for i in range(12)]
    return write_replay(tmp_path / "replies.toml", plans, [reply_with_code(c) for c in codes])


ARGS = ["--iterations", "3", "--beam", "2", "--plans", "2", "--codes", "1", "--json"]


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "resume.toml"
    cfg.write_text("[eval]\nmin_time_s = 0.3\ntimeout_s = 10\ntrials = 2\n")
    return cfg


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_kill_and_resume(tmp_path: Path) -> None:
    replay, cfg = _replay(tmp_path), _config(tmp_path)
    model = f"replay::{replay}"

    reference = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(cfg), "--models", model,
                         "--run-dir", str(tmp_path / "reference"), *ARGS, timeout=240)
    assert reference.returncode == 0, reference.stderr
    ref = json.loads(reference.stdout)

    run_dir = tmp_path / "killed"
    db = run_dir / "run.db"
    proc = subprocess.Popen([sys.executable, "-m", "autocomp.cli", "optimize", "cpu/gemm-f32-256", "--config", str(cfg),
                             "--models", model, "--run-dir", str(run_dir), *ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    killed_mid_iteration = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            evaluated_i2 = _rows(db, "SELECT count(*) FROM candidates c JOIN evaluations e ON e.code_hash = c.code_hash WHERE c.iteration = 2")[0][0]
            beam2 = _rows(db, "SELECT count(*) FROM beams WHERE iteration = 2")[0][0]
        except sqlite3.OperationalError:
            evaluated_i2 = beam2 = 0
        if evaluated_i2 >= 1 and beam2 == 0:
            os.killpg(proc.pid, signal.SIGKILL)
            killed_mid_iteration = True
            break
        time.sleep(0.02)
    proc.wait()
    assert killed_mid_iteration, "the run ended before it could be killed in iteration 2"

    before_eval = _rows(db, "SELECT id, code_hash, outcome, latency_s, created FROM evaluations ORDER BY id")
    before_cands = _rows(db, "SELECT id, key, code_hash FROM candidates ORDER BY id")
    before_calls = _rows(db, "SELECT id, request_hash, sample_index FROM llm_calls WHERE status = 'ok' ORDER BY id")
    before_duels = _rows(db, "SELECT id, challenger_id, leader_id, speedup, created FROM duels ORDER BY id")
    assert _rows(db, "SELECT status FROM run")[0][0] == "running"

    resumed = autocomp("resume", str(run_dir), "--json", timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)

    after_eval = _rows(db, "SELECT id, code_hash, outcome, latency_s, created FROM evaluations ORDER BY id")
    after_cands = _rows(db, "SELECT id, key, code_hash FROM candidates ORDER BY id")
    calls = _rows(db, "SELECT request_hash, sample_index FROM llm_calls WHERE status = 'ok'")
    # nothing evaluated before the kill was lost or re-measured
    assert after_eval[: len(before_eval)] == before_eval
    assert after_cands[: len(before_cands)] == before_cands
    assert _rows(db, "SELECT id, challenger_id, leader_id, speedup, created FROM duels ORDER BY id")[: len(before_duels)] == before_duels
    assert _rows(db, "SELECT id, request_hash, sample_index FROM llm_calls WHERE status = 'ok' ORDER BY id")[: len(before_calls)] == before_calls
    # no scripted reply requested twice: every (request, sample) once, and as many calls as the uninterrupted run
    assert len(calls) == len(set(calls)) == ref["llm_calls"]
    assert out["llm_calls"] == ref["llm_calls"] and out["candidates"] == ref["candidates"]
    # same final best: the same kernel (copies that differ only by their variant tag time alike, so
    # noise may pick either copy; the tag is stripped before comparing)
    best = _rows(db, f"SELECT code FROM candidates WHERE id = {out['best']['candidate_id']}")[0][0]
    ref_best = _rows(tmp_path / "reference" / "run.db", f"SELECT code FROM candidates WHERE id = {ref['best']['candidate_id']}")[0][0]
    assert _untagged(best) == _untagged(ref_best) == kernel("gemm256_faster.c").strip()
    assert _rows(db, "SELECT status FROM run")[0][0] == "finished"
    assert _rows(db, "SELECT count(*) FROM events WHERE kind = 'resumed'")[0][0] == 1


def _lucky_and_steady(run_dir: Path):  # type: ignore[no-untyped-def]
    """A run store with two evaluated candidates: 'lucky' (8x in the search) and 'steady' (6x)."""
    from autocomp.evaluation.result import EvalResult, Outcome
    from autocomp.search.candidate import code_hash
    from autocomp.store.runstore import RunStore

    store = RunStore.create(run_dir, "cpu/gemm-f32-256", "/nowhere", "cpu", {})
    ids = {}
    for name, speedup in (("lucky", 8.0), ("steady", 6.0)):
        code = f"/* {name} */ void gemm(void) {{}}"
        ids[name] = store.add_candidate(key=name, iteration=1, origin="planned", code=code, code_hash=code_hash(code))
        store.add_evaluation(code_hash(code), EvalResult(outcome=Outcome.OK, latency_s=1e-3, speedup=speedup), "")
    return store, ids


def test_the_final_pick_is_the_runs_answer_everywhere(tmp_path: Path) -> None:
    """The final re-check can pick another candidate than the last beam's first (a lucky search
    sample): best.c, `runs` and `bench` must all mean the pick, not the beam's first."""
    from autocomp.bench import best_stored

    store, ids = _lucky_and_steady(tmp_path / "runs" / "r")
    store.record_beam(1, [ids["lucky"], ids["steady"]], ids["lucky"], 1 / 8.0)
    assert store.best()[1]["id"] == ids["lucky"]  # still running: the best beam member so far
    store.record_final_pick(ids["steady"], "completed all iterations")
    assert store.best()[1]["id"] == ids["steady"] and store.best()[0] == 1 / 6.0
    assert (tmp_path / "runs" / "r" / "best.c").read_text() == "/* steady */ void gemm(void) {}"
    store.close()

    assert best_stored(tmp_path / "runs")["cpu/gemm-f32-256"][1] == "/* steady */ void gemm(void) {}"
    proc = autocomp("runs", str(tmp_path / "runs"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["best_speedup"] == 6.0


def test_best_c_stays_the_final_pick_while_a_resume_replays_the_beams(tmp_path: Path) -> None:
    """Resuming a finished run replays its iterations (record_beam again); killed there, best.c
    must still be the finished search's pick that `runs` reports, not the last beam's first."""
    store, ids = _lucky_and_steady(tmp_path / "runs" / "r")
    store.record_beam(1, [ids["lucky"], ids["steady"]], ids["lucky"], 1 / 8.0)
    store.record_final_pick(ids["steady"], "completed all iterations")
    store.event("resumed")
    store.record_beam(1, [ids["lucky"], ids["steady"]], ids["lucky"], 1 / 8.0)  # the resume replays iteration 1
    store.close()  # ... and is killed here

    assert (tmp_path / "runs" / "r" / "best.c").read_text() == "/* steady */ void gemm(void) {}"
    proc = autocomp("runs", str(tmp_path / "runs"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["best_speedup"] == 6.0


@pytest.mark.slow
def test_a_resumed_run_is_running_until_its_search_finishes_again(tmp_path: Path) -> None:
    """`runs` reads the status: a resume (of a finished run too) is running while it works, so one
    killed half-way is not listed as finished."""
    from autocomp.runner import resume_run

    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--config", str(_config(tmp_path)),
                    "--iterations", "1", "--beam", "1", "--plans", "1", "--codes", "1", "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    db = run_dir / "run.db"
    assert _rows(db, "SELECT status FROM run")[0][0] == "finished"
    seen = []
    resume_run(run_dir, lambda msg: seen.append(_rows(db, "SELECT status FROM run")[0][0]))
    assert seen[0] == "running" and _rows(db, "SELECT status FROM run")[0][0] == "finished"


@pytest.mark.slow
def test_a_run_whose_problem_folder_is_gone_resumes_through_the_built_in_problem(tmp_path: Path) -> None:
    """A run records its problem's folder; a run copied from another checkout or machine points to
    a folder that may not exist here. Resume then uses the built-in problem of the same name and
    says so; a run of a problem that is neither there nor built in is a one-line error."""
    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--config", str(_config(tmp_path)),
                    "--iterations", "1", "--beam", "1", "--plans", "1", "--codes", "1", "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    before = json.loads(proc.stdout)
    gone = tmp_path / "elsewhere" / "gemm-f32-256"
    con = sqlite3.connect(run_dir / "run.db")
    con.execute("UPDATE run SET problem_dir = ?", (str(gone),))
    con.commit()
    con.close()
    proc = autocomp("resume", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"the run's problem folder {gone} is gone; using the built-in cpu/gemm-f32-256" in proc.stderr
    assert json.loads(proc.stdout)["candidates"] == before["candidates"]  # nothing redone

    con = sqlite3.connect(run_dir / "run.db")
    con.execute("UPDATE run SET problem = 'cpu/no-such-problem'")
    con.commit()
    con.close()
    proc = autocomp("resume", str(run_dir))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith(
        f"the run's problem cpu/no-such-problem is no longer at {gone} and is not a built-in problem; restore that folder to use the run")
