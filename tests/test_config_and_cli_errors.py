"""Configuration precedence and the one-line, exit-code-2 errors users see."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autocomp.config import load_config
from autocomp.errors import UserError
from autocomp.targets.registry import get_target
from conftest import assert_one_line_error, autocomp


def test_precedence_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('models = ["replay::a.toml"]\n[search]\nbeam = 3\nplans = 5\ncodes = 3\n[eval]\ntrials = 4\n')
    config = load_config(cfg)
    assert (config.search.beam, config.search.plans, config.search.codes, config.eval.trials) == (3, 5, 3, 4)
    monkeypatch.setenv("AUTOCOMP_SEARCH__PLANS", "7")
    config = load_config(cfg)
    assert (config.search.beam, config.search.plans) == (3, 7)  # env beats the file, siblings kept
    config = load_config(cfg, {"search": {"plans": 9}})
    assert (config.search.beam, config.search.plans, config.search.codes) == (3, 9, 3)  # flags beat env


@pytest.mark.parametrize("text, field", [
    ("[search]\nbeem = 3\n", "search.beem"),
    ("[search]\nbeam = 0\n", "search.beam"),
    ("[search]\nmenu_keep = 2\n", "search.menu_keep"),
    ("[eval]\ntrials = 'many'\n", "eval.trials"),
])
def test_bad_config_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('models = ["replay::x.toml"]\n' + text)
    with pytest.raises(UserError, match=field.replace(".", r"\.")) as err:
        load_config(cfg)
    assert str(cfg) in str(err.value)


def test_inconsistent_work_split_is_refused() -> None:
    with pytest.raises(UserError, match="--plans 1 is smaller than the 2 plan models"):
        load_config(None, {"models": "replay::a.toml,replay::b.toml", "search": {"plans": 1}})
    with pytest.raises(UserError, match="no models given"):
        load_config(None, {})


def test_cli_malformed_problem(tmp_path: Path) -> None:
    src = get_target("cpu").problems_dir / "gemm-f32-256"
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    toml = (bad / "problem.toml").read_text().replace('dtype = "f32"', 'dtype = "float32"', 1)
    (bad / "problem.toml").write_text(toml)
    assert_one_line_error(autocomp("eval", str(bad)), "problem.toml", "inputs[0].dtype", "expected one of")


@pytest.mark.slow
def test_cli_malformed_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[search]\nbeam = -1\n")
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--config", str(cfg), "--models", "replay::x"),
                           "search.beam", "greater than or equal to 1")
    cfg.write_text("[search\n")
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--config", str(cfg), "--models", "replay::x"),
                           "invalid TOML")


def test_cli_unknown_model_string(tmp_path: Path) -> None:
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", "gpt-7-ultra", "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(proc, "unknown model string 'gpt-7-ultra'", "replay::MODEL")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_unknown_problem_and_bad_resume(tmp_path: Path) -> None:
    assert_one_line_error(autocomp("eval", "cpu/no-such-problem"), "autocomp problems")
    assert_one_line_error(autocomp("resume", str(tmp_path)), "not a run folder")


def test_cli_problems_json() -> None:
    proc = autocomp("problems", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    names = {r["name"] for r in rows}
    assert {"cpu/gemm-f32-256", "cpu/gemm-f32-512", "cpu/conv2d-f32", "cpu/softmax-f32"} <= names
    assert all(r["target"] and r["description"] for r in rows)


@pytest.mark.slow
def test_cli_eval_json_initial_code() -> None:
    proc = autocomp("eval", "cpu/softmax-f32", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    for key in ("problem", "correct", "outcome", "error", "metric", "value", "baseline_value", "speedup", "utilization"):
        assert key in row
    assert row["correct"] is True and row["outcome"] == "ok" and row["value"] > 0 and 0.5 < row["speedup"] < 2


@pytest.mark.slow
def test_cli_hardware_shows_and_remeasures_the_cached_facts(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # a private cache: never touch the user's

    def run(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "autocomp.cli", "hardware", "cpu", "--json", *args],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first = run()
    cached = list((tmp_path / "autocomp").glob("measured-cpu-f32-*.json"))
    # only a measurement taken on a quiet machine is cached; one under load says it is a lower bound
    busy = "a lower bound, not cached" in first["description"]
    assert len(cached) == (0 if busy else 1) and first["remeasured"] == 0
    assert first["peak_flops"]["f32"] > 1e9 and "GFLOP/s" in first["description"]
    again = run("--remeasure")
    assert again["remeasured"] == len(cached) and again["peak_flops"]["f32"] > 1e9
    assert len(list((tmp_path / "autocomp").glob("measured-cpu-f32-*.json"))) <= 1


def test_env_models_is_a_comma_list_like_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """README: AUTOCOMP_MODELS=tuner. It used to be parsed as JSON and crash with a traceback."""
    monkeypatch.setenv("AUTOCOMP_MODELS", "tuner, replay::a.toml")
    monkeypatch.setenv("AUTOCOMP_CODE_MODELS", "tuner")
    config = load_config(flags={"search": {"plans": 2, "codes": 1}})
    assert (config.models, config.code_models) == (["tuner", "replay::a.toml"], ["tuner"])
    monkeypatch.setenv("AUTOCOMP_MODELS", '["tuner"]')  # a JSON list still works
    assert load_config().models == ["tuner"]


def test_a_bad_value_names_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error blamed the config file for a bad flag or variable it did not even contain."""
    cfg = tmp_path / "good.toml"
    cfg.write_text('models = ["tuner"]\n[search]\niterations = 1\n')
    with pytest.raises(UserError, match=r"^--beam: search\.beam: "):
        load_config(cfg, {"search": {"beam": 0}})
    with pytest.raises(UserError, match=r"^--max-llm-calls: llm\.max_calls: "):
        load_config(cfg, {"llm": {"max_calls": -1}})
    monkeypatch.setenv("AUTOCOMP_SEARCH__BEAM", "abc")
    with pytest.raises(UserError, match=r"^environment variable AUTOCOMP_SEARCH__BEAM: search\.beam: "):
        load_config(cfg)
    monkeypatch.delenv("AUTOCOMP_SEARCH__BEAM")
    cfg.write_text('models = ["tuner"]\n[search]\niteratons = 1\n')
    with pytest.raises(UserError, match=r"good\.toml: search\.iteratons: unknown setting \(did you mean \"iterations\"\?\)"):
        load_config(cfg, {"search": {"beam": 2}})


def test_a_misspelt_variable_is_refused_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTOCOMP_BEEM=2 used to run silently with the default beam."""
    for variable, meant in [("AUTOCOMP_BEEM", "AUTOCOMP_SEARCH__BEAM"), ("AUTOCOMP_SEARCH_BEAM", "AUTOCOMP_SEARCH__BEAM"),
                            ("AUTOCOMP_SEARCH__ITERATONS", "AUTOCOMP_SEARCH__ITERATIONS"), ("AUTOCOMP_MODEL", "AUTOCOMP_MODELS")]:
        monkeypatch.setenv(variable, "2")
        with pytest.raises(UserError, match=rf"^environment variable {variable} is not an autocomp setting \(did you mean {meant}, "):
            load_config(flags={"models": ["tuner"]})
        monkeypatch.delenv(variable)
    # variables that are not meant as settings stay allowed: ours, and a key variable a user named
    monkeypatch.setenv("AUTOCOMP_GEMMINI_CC", "gcc")
    monkeypatch.setenv("AUTOCOMP_OPENAI_KEY", "sk-x")
    monkeypatch.setenv("AUTOCOMP_SEARCH__BEAM", "3")
    monkeypatch.setenv("AUTOCOMP_REUSE__BEAM", "1")  # a field of an optional table is a setting too
    config = load_config(flags={"models": ["tuner"]})
    assert config.search.beam == 3 and config.reuse is not None and config.reuse.beam == 1
    monkeypatch.setenv("AUTOCOMP_BEEM", "2")
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--run-dir", str(tmp_path / "r")),
                          "AUTOCOMP_BEEM", "AUTOCOMP_SEARCH__BEAM", "two underscores")


@pytest.mark.slow
def test_cli_env_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOCOMP_SEARCH", "{not json")
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--run-dir", str(tmp_path / "r")),
                          "environment", '"search"')
    monkeypatch.setenv("AUTOCOMP_SEARCH", '{"beem": 2}')
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--run-dir", str(tmp_path / "r")),
                          "AUTOCOMP_SEARCH", "search.beem", 'did you mean "beam"')
    assert not (tmp_path / "r").exists()


def test_a_key_in_the_config_points_to_api_key_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('models = ["tuner"]\n[llm.providers.openai]\napi_key = "sk-test-SECRET123"\n')
    with pytest.raises(UserError, match="api_key_env") as err:
        load_config(cfg)
    assert "SECRET123" not in str(err.value) and "llm.providers.openai.api_key" in str(err.value)


@pytest.mark.slow
def test_a_core_we_may_not_use_is_a_config_error_not_a_kernel_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, `[eval] core` outside the process's affinity failed every timing run, reported as a
    crash of the kernel; now each command names the setting and the cores it may use."""
    import os

    bad = str(max(os.sched_getaffinity(0)) + 64)
    allowed = ", ".join(map(str, sorted(os.sched_getaffinity(0))))
    assert_one_line_error(autocomp("bench", "cpu", "--core", bad, "--runs", str(tmp_path)), "--core", f"allowed: {allowed}")
    assert_one_line_error(autocomp("baseline", "cpu/softmax-f32", "--core", bad), "--core", f"core {bad}")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[eval]\ncore = {bad}\n")
    assert_one_line_error(autocomp("optimize", "cpu/softmax-f32", "--config", str(cfg), "--models", "tuner",
                                   "--run-dir", str(tmp_path / "r")), "eval.core", f"allowed: {allowed}")
    monkeypatch.setenv("AUTOCOMP_EVAL__CORE", bad)
    assert_one_line_error(autocomp("eval", "cpu/softmax-f32"), "AUTOCOMP_EVAL__CORE", "eval.core")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_eval_takes_a_config_with_only_an_eval_table(tmp_path: Path) -> None:
    """`autocomp eval --config` uses only [eval]; it used to demand `models` like a search."""
    import os

    cfg = tmp_path / "eval.toml"
    cfg.write_text(f"[eval]\nmin_time_s = 0.1\ntrials = 2\ncore = {min(os.sched_getaffinity(0))}\n")
    proc = autocomp("eval", "cpu/softmax-f32", "--config", str(cfg), "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["correct"] is True and row["details"]["caches"] == "warm"
    cold = autocomp("eval", "cpu/softmax-f32", "--config", str(cfg), "--cold-cache")
    assert cold.returncode == 0, cold.stderr
    assert "(same run, interleaved call by call on one core, cold caches)" in " ".join(cold.stdout.split())
