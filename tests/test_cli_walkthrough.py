"""What a first-time user hits on the command line: unreadable files, broken run folders,
filters that match nothing, a target this machine lacks. Every one is a one-line `error:`
(exit code 2, no traceback) that says what is wrong and what to do, and human tables show
the text they are given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autocomp.store.runstore import RunStore
from autocomp.targets.registry import get_target, resolve_problem
from conftest import FAST_EVAL, assert_one_line_error, autocomp


@pytest.mark.slow
def test_unreadable_kernel_config_and_replay_files_are_one_line_errors(tmp_path: Path) -> None:
    binary = tmp_path / "k.c"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    assert_one_line_error(autocomp("eval", "cpu/gemm-f32-256", str(binary)), str(binary), "not UTF-8 text")
    assert_one_line_error(autocomp("eval", "cpu/gemm-f32-256", "--config", str(tmp_path)),
                           "config file", "is a directory")
    assert_one_line_error(autocomp("eval", "cpu/gemm-f32-256", "--config", str(binary)), "config file", "not UTF-8 text")
    run = tmp_path / "r"
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--models", f"replay::{binary}", "--run-dir", str(run)),
                           "replay file", "not UTF-8 text")
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--models", f"replay::{tmp_path}", "--run-dir", str(run)),
                           "replay file", "is a directory")
    assert not run.exists()


def test_bench_family_that_matches_nothing_names_the_families() -> None:
    assert_one_line_error(autocomp("bench", "cpu", "--family", "gemmm", "--no-vendor"),
                           "no cpu problem of family 'gemmm'", "conv, gemm, softmax")


def test_bench_on_a_target_this_machine_lacks_says_why() -> None:
    reason = get_target("amx").unavailable_reason()
    if reason is None:
        pytest.skip("this machine has AMX: bench amx runs")
    assert_one_line_error(autocomp("bench", "amx", "--no-vendor"), "lacks Intel AMX")


def test_problems_table_shows_index_brackets_verbatim() -> None:
    """rich markup must not eat `[h]`, `[i][k]`: they are the descriptions' array indices."""
    proc = autocomp("problems")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # the table wraps long descriptions
    assert "Kmat[h][j][:]" in text and "KinfT[k][i] = Kinf[i][k]" in text


@pytest.mark.slow
def test_broken_run_folders_are_reported_not_crashed_on(tmp_path: Path, fast_config: Path) -> None:
    root = tmp_path / "runs"
    good = RunStore.create(root / "good", "cpu/gemm-f32-256", "/nowhere", "cpu", {})
    good.close()
    (root / "garbage").mkdir()
    (root / "garbage" / "run.db").write_text("not sqlite")
    (root / "empty").mkdir()
    (root / "empty" / "run.db").touch()

    proc = autocomp("runs", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {Path(r["run_dir"]).name: r for r in json.loads(proc.stdout)}
    assert rows["good"]["problem"] == "cpu/gemm-f32-256" and rows["good"]["status"] == "killed"  # stored as running, no live owner
    assert rows["garbage"]["status"] == "unreadable" and "not a readable run store" in rows["garbage"]["error"]
    assert rows["empty"]["status"] == "unreadable" and "holds no run" in rows["empty"]["error"]
    human = autocomp("runs", str(root))
    assert human.returncode == 0 and "unreadable" in human.stdout, human.stderr

    assert_one_line_error(autocomp("resume", str(root / "garbage")), "not a readable run store")
    assert_one_line_error(autocomp("resume", str(root / "empty")), "holds no run")
    assert_one_line_error(autocomp("bench", "cpu", "--family", "softmax", "--no-vendor", "--runs", str(root)),
                           "run.db", "delete")

    in_the_way = tmp_path / "file"
    in_the_way.write_text("")
    assert_one_line_error(autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--config", str(fast_config),
                                    "--run-dir", str(in_the_way)), "cannot create the run folder", "a file is in the way")


@pytest.mark.slow
def test_an_iteration_without_candidates_says_why(tmp_path: Path) -> None:
    """A knob with two values is spent after one iteration: the next one's log must say why it made
    nothing, not just 'no new candidates'."""
    import shutil

    cfg = tmp_path / "c.toml"
    cfg.write_text(FAST_EVAL)
    folder = tmp_path / "gemm"
    shutil.copytree(resolve_problem("cpu/gemm-f32-256").root, folder)
    initial = folder / "initial.c"
    initial.write_text('#define U 1 /* @knob values=1,2 menu="loop unrolling" */\n' + initial.read_text())
    proc = autocomp("optimize", str(folder), "--models", "tuner", "--iterations", "2", "--beam", "1", "--plans", "1",
                    "--config", str(cfg), "--run-dir", str(tmp_path / "r"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["iterations"] == 2
    # one log line each, not wrapped at 80 columns (stderr is not a terminal here), so it can be grepped
    assert any("no new candidates" in line and "every knob setting reachable from this parent was already evaluated" in line
               for line in proc.stderr.splitlines())


def test_a_tuner_run_on_a_problem_it_cannot_tune_is_refused_before_it_starts(tmp_path: Path) -> None:
    """The tuner has no template for Gemmini's ADMM kernels, whose initial code declares no knobs:
    once every iteration planned nothing and the run exited 0; now it stops before the run folder."""
    assert_one_line_error(autocomp("optimize", "gemmini/admm-0", "--models", "tuner", "--iterations", "1",
                                   "--run-dir", str(tmp_path / "r")),
                          "the tuner has nothing to tune in gemmini/admm-0", "no template for family 'admm'")
    assert not (tmp_path / "r").exists()


def test_eval_report_says_when_the_timing_was_noisy() -> None:
    """The median is what is compared, but a person should see when calls spread widely (a busy or
    shared machine): the report adds a line when the median call took > 1.3x the fastest."""
    from autocomp.outputs import EvalOutput
    from autocomp.report.console import console, eval_report

    def row(median_s: float, fastest_s: float) -> EvalOutput:
        return EvalOutput(problem="cpu/gemm-f32-256", outcome="ok", error=None, correct=True, emulated=False,
                          metric="latency_s", value=median_s, baseline_value=3e-3, gflops=30.0, baseline_gflops=10.0,
                          speedup=3e-3 / median_s, utilization=0.3, flags=[], details={"min_s": fastest_s})

    with console.capture() as quiet:
        eval_report(row(1.0e-3, 0.95e-3))
    with console.capture() as noisy:
        eval_report(row(1.5e-3, 1.0e-3))
    assert "noisy timing" not in quiet.get()
    assert "noisy timing: the median call took 1.50x the fastest one (1 ms)" in " ".join(noisy.get().split())


@pytest.mark.slow
def test_eval_exit_status_says_whether_the_code_is_correct(tmp_path: Path) -> None:
    """0 when correct, 1 when evaluated and wrong (the report still prints, JSON stays valid), 2 on usage errors."""
    from autocomp.targets.registry import resolve_problem

    wrong = tmp_path / "wrong.c"
    code = resolve_problem("cpu/gemm-f32-256").initial_code
    assert "C[(size_t)i * N + j] = acc;" in code
    wrong.write_text(code.replace("C[(size_t)i * N + j] = acc;", "C[(size_t)i * N + j] = acc + 1.0f;"))
    proc = autocomp("eval", "cpu/gemm-f32-256", str(wrong), "--json")
    assert proc.returncode == 1, proc.stderr
    row = json.loads(proc.stdout)
    assert row["correct"] is False and row["outcome"] == "wrong_answer"
    human = autocomp("eval", "cpu/gemm-f32-256", str(wrong))
    assert human.returncode == 1 and "wrong_answer" in human.stdout and "Traceback" not in human.stderr
    assert autocomp("eval", "cpu/gemm-f32-256", "--json").returncode == 0
