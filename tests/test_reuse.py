"""Schedule reuse (`optimize --reuse RUN`): another run's winning schedule applied one step per
iteration with a small beam, then the ordinary search; by the tuner (direct replay) and by a
model (the step in the plan prompt, its menu item the only choice)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from autocomp.knobs import parse_knobs
from autocomp.search.schedule import dissimilarity
from conftest import assert_one_line_error, autocomp, faster, kernel, reply_with_code, write_replay

SOURCE = "gemmini/gemm-512x512x512"


def _run(tmp_path: Path, name: str, problem: str, config: Path, *args: str) -> tuple[dict, str]:
    proc = autocomp("optimize", problem, "--config", str(config), "--codes", "1", "--run-dir", str(tmp_path / name),
                    "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def _settings(db: sqlite3.Connection, where: str) -> list[dict[str, int]]:
    return [parse_knobs(code).setting() for (code,) in db.execute(f"SELECT code FROM candidates WHERE {where} ORDER BY id")]


def test_similar_means_two_shared_dimensions_or_one_aspect_ratio() -> None:
    assert dissimilarity({"M": 12544, "N": 256, "K": 64}, {"M": 12544, "N": 128, "K": 64}) is None
    assert dissimilarity({"M": 1024, "N": 1024, "K": 1024}, {"M": 512, "N": 512, "K": 512}) is None
    assert dissimilarity({"M": 256, "N": 64, "K": 128}, {"M": 512, "N": 128, "K": 256}) is None  # all doubled
    why = dissimilarity({"I": 512, "J": 512, "K": 512}, {"I": 3136, "J": 128, "K": 512})
    assert why and "share 1 dimension(s)" in why and "I 512 -> 3136" in why


@pytest.mark.slow
def test_the_tuner_replays_a_winning_schedule_then_searches(tmp_path: Path, fast_config: Path) -> None:
    source, _ = _run(tmp_path, "source", SOURCE, fast_config, "--models", "tuner", "--iterations", "2", "--beam", "2",
                     "--plans", "2")
    steps = [step["plan_text"] for step in source["schedule"]]
    assert steps and "rewrite as template gemm_ws" in steps[0]
    out, log = _run(tmp_path, "reuse", "gemmini/gemm-3136x512x128", fast_config, "--models", "tuner", "--beam", "3",
                    "--plans", "3", "--iterations", str(len(steps) + 1), "--reuse", str(tmp_path / "source"))
    # not similar by the method's test (one shared dimension): a warning, not a refusal
    assert f"warning: reusing the schedule of {SOURCE}: the shapes share 1 dimension(s)" in log
    assert f"iterations 1-{len(steps)} apply its {len(steps)} steps (beam 2, 2 plans per member)" in log
    db = sqlite3.connect(tmp_path / "reuse" / "run.db")
    config = json.loads(db.execute("SELECT config_json FROM run").fetchone()[0])
    assert [s["plan_text"] for s in config["reuse"]["steps"]] == steps  # copied in: a resume needs no source run
    # iteration 1 rewrites as the same template with the source's knob values (the problem sizes are this one's)
    src = sqlite3.connect(tmp_path / "source" / "run.db")
    first_source = _settings(src, f"id = {source['schedule'][0]['candidate_id']}")[0]
    first = db.execute("SELECT text FROM plans WHERE iteration = 1 ORDER BY id").fetchone()[0]
    assert first.endswith(f"(reused from {SOURCE})") and _settings(db, "iteration = 1")[0] == first_source
    assert parse_knobs(db.execute("SELECT code FROM candidates WHERE iteration = 1").fetchone()[0]).params["I"] == 3136
    for iteration in range(1, len(steps) + 1):  # every reused iteration applies its step, with the small beam
        texts = [t for (t,) in db.execute(f"SELECT text FROM plans WHERE iteration = {iteration}")]
        assert any(t and t.endswith(f"(reused from {SOURCE})") for t in texts), (iteration, texts)
        assert len(json.loads(db.execute(f"SELECT candidate_ids FROM beams WHERE iteration = {iteration}").fetchone()[0])) <= 2
        assert len(texts) <= 2 * 2
    last = [t for (t,) in db.execute(f"SELECT text FROM plans WHERE iteration = {len(steps) + 1}")]
    assert len(last) > 4 and not any(t and "reused from" in t for t in last)  # then the ordinary search
    assert faster(out["best"], 2.5) and out["validation"]["outcome"] == "ok"
    # modeled cycles are deterministic: a child took the lead from a non-initial leader without a duel
    leaders = {best for (best,) in db.execute("SELECT best_id FROM beams")} - {1}
    assert len(leaders) >= 2 and db.execute("SELECT count(*) FROM duels").fetchone()[0] == 0
    resumed = autocomp("resume", str(tmp_path / "reuse"), "--json")  # from the stored steps; nothing new to do
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["candidates"] == out["candidates"]


@pytest.mark.slow
def test_a_source_run_from_another_checkout_is_found_by_its_problem_name(tmp_path: Path, fast_config: Path) -> None:
    """A run keeps the folder of its problem; a run made in another clone or install points to a
    folder that may be gone, and the built-in problem of the same name stands in."""
    _run(tmp_path, "source", "cpu/gemm-f32-256", fast_config, "--models", "tuner", "--iterations", "1", "--beam", "1", "--plans", "1")
    db = sqlite3.connect(tmp_path / "source" / "run.db")
    db.execute("UPDATE run SET problem_dir = ?", (str(tmp_path / "gone" / "gemm-f32-256"),))
    db.commit()
    db.close()
    out, _ = _run(tmp_path, "reuse", "cpu/gemm-f32-512", fast_config, "--models", "tuner", "--iterations", "1",
                  "--reuse", str(tmp_path / "source"))
    plans = [t for (t,) in sqlite3.connect(tmp_path / "reuse" / "run.db").execute("SELECT text FROM plans")]
    assert any(t and t.endswith("(reused from cpu/gemm-f32-256)") for t in plans)


@pytest.mark.slow
def test_a_model_is_shown_the_step_and_given_its_menu_item_only(tmp_path: Path, fast_config: Path) -> None:
    replay = write_replay(tmp_path / "r.toml", ["Chosen item: 1\nReorder the loops to i-k-j."],
                          [reply_with_code(kernel("gemm256_fast.c"))])
    _run(tmp_path, "source", "cpu/gemm-f32-256", fast_config, "--models", f"replay::{replay}", "--iterations", "1",
         "--beam", "1", "--plans", "1")
    src = sqlite3.connect(tmp_path / "source" / "run.db")
    item = src.execute("SELECT menu_item FROM candidates WHERE iteration = 1").fetchone()[0]
    again = write_replay(tmp_path / "again.toml", ["Chosen item: 1\nApply it here."] * 2,
                         [reply_with_code(kernel("gemm256_faster.c"))] * 2)
    _run(tmp_path, "reuse", "cpu/gemm-f32-512", fast_config, "--models", f"replay::{again}", "--iterations", "1",
         "--reuse", str(tmp_path / "source"))
    db = sqlite3.connect(tmp_path / "reuse" / "run.db")
    prompts = [json.loads(r)["messages"][0]["content"] for (r,) in db.execute("SELECT request_json FROM llm_calls WHERE phase = 'plan'")]
    assert len(prompts) == 2  # the reuse phase's 2 plans per member, not --plans 4
    for prompt in prompts:
        assert "The winning optimization schedule of cpu/gemm-f32-256 applied this step" in prompt
        assert "Reorder the loops to i-k-j." in prompt
        menu = prompt.split("## Optimization menu", 1)[1].split("## Rules", 1)[0]
        assert f"1. {item}" in menu and "2. " not in menu
    assert {m for (m,) in db.execute("SELECT menu_item FROM plans")} == {item}


@pytest.mark.slow
def test_reuse_errors_are_one_line(tmp_path: Path, fast_config: Path) -> None:
    _run(tmp_path, "conv", "gemmini/conv-3", fast_config, "--models", "tuner", "--iterations", "1", "--beam", "1", "--plans", "1")
    assert_one_line_error(autocomp("optimize", SOURCE, "--models", "tuner", "--reuse", str(tmp_path / "conv"),
                                   "--run-dir", str(tmp_path / "x")), "gemmini/conv-3", "same target and family")
    assert_one_line_error(autocomp("optimize", SOURCE, "--models", "tuner", "--reuse", str(tmp_path),
                                   "--run-dir", str(tmp_path / "y")), "is not a run folder")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
