"""The gemmini target end to end: the real CLI, the real harness, the emulator linked into each
candidate, modeled cycles as the metric and the search loop on top (with a scripted model)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from autocomp.evaluation.base import EvalSettings, MetricKind
from autocomp.evaluation.result import Outcome
from autocomp.targets.gemmini.target import GemminiTarget
from autocomp.targets.registry import resolve_problem
from conftest import autocomp, reply_with_code, write_replay

GEMMINI = Path(__file__).parents[1] / "autocomp" / "targets" / "gemmini"
FSM_512 = (GEMMINI / "problems" / "gemm-512x512x512" / "baselines" / "fsm.c").read_text()

CPU_ONLY_ADMM0 = """
void admm_u_update(const float *restrict KinfT, const float *restrict x, const float *restrict d, float *restrict u) {
  for (int j = 0; j < 4; j++) {
    float s = 0;
    for (int k = 0; k < 12; k++) s += KinfT[4 * k + j] * x[k];
    u[j] = -s - d[j];
  }
}
"""


@pytest.fixture(scope="module")
def admm0():
    problem = resolve_problem("gemmini/admm-0")
    ev = GemminiTarget().evaluator(problem, EvalSettings(trials=2))
    yield problem, ev
    ev.close()


def test_initial_code_is_correct_and_its_own_baseline(admm0):
    problem, ev = admm0
    result = ev.evaluate(problem.initial_code, seed=1)
    assert result.outcome is Outcome.OK, result.error
    d = result.details
    assert d["metric"] == "cycles" and d["cycles"] == d["baseline_cycles"] > 0 and result.speedup == 1.0
    assert ev.metric is result.metric is MetricKind.CYCLES and not ev.exclusive_timing  # typed, and no core to itself
    assert result.metric_values() == (MetricKind.CYCLES, d["cycles"], d["baseline_cycles"])
    assert d["cycles_spread"] == 0.0  # the model is deterministic: every call costs the same
    assert d["emulator"]["macs"] >= problem.spec.flops // 2
    text = GemminiTarget().feedback(problem, result)
    for needle in ("Modeled cycles", "Array utilization", "Memory used: scratchpad", "accumulator", "Where the cycles go",
                   "CPU work and issue", "load unit busy", "Instructions:"):
        assert needle in text, text
    # deterministic cycles already order any two kernels: the final pick holds no duel
    assert ev.duel(problem.initial_code, problem.initial_code).speedup is None


def test_feedback_splits_the_execute_units_idle_time(admm0):
    """Start-up (before the first compute), hand-over (between computes) and drain (after the
    last) come from the timing model and, with the computes' own cycles, add up to the total."""
    problem, ev = admm0
    result = ev.evaluate(problem.initial_code, seed=1)
    e = result.details["emulator"]
    start, gaps, drain = e["ex_startup"], e["ex_gaps"], e["ex_drain"]
    assert start > 0 and drain > 0 and gaps >= 0  # loads come before the first compute; the fence after the last
    assert start + gaps + drain < e["cycles"] and e["cycles"] - (start + gaps + drain) <= e["ex_busy"]
    text = GemminiTarget().feedback(problem, result)
    assert f"start-up {start:,} cycles" in text and f"hand-over {gaps:,}" in text and f"drain {drain:,}" in text


def test_the_gemmini_prompt_states_the_cost_model(admm0):
    """The facts models had to infer from feedback are in the rendered plan prompt."""
    from autocomp.agents.llm_agent import render

    problem, _ = admm0
    target = GemminiTarget()
    prompt = render("plan.j2", target="gemmini", architecture=target.knowledge.architecture,
                    description=problem.spec.description, signature=problem.signature(), hardware="h",
                    language=problem.language.name, fence=problem.language.fence,
                    rules=list(target.knowledge.rules), parent_code="x", feedback="f", menu=(), reuse=None, history=())
    for fact in ("`20 x (basic blocks the CPU ran", "held from issue until\n  the instruction *completes*",
                 "`for k: for j: for i:`", "`(i*J + j)*DIM`", "D *replaces*", "come from the current `config_ld`",
                 "It does\n  not apply to the bias / D rows", "the blocks are DIM rows apart",
                 "16 + 10 + 8 = 34 cycles", "start-up", "hand-over", "drain"):
        assert fact in prompt, fact


def test_work_done_on_the_cpu_is_rejected(admm0):
    problem, ev = admm0
    result = ev.evaluate(CPU_ONLY_ADMM0, seed=1)
    assert result.outcome is Outcome.WRONG_ANSWER
    assert "multiply-accumulates ran on the Gemmini array" in result.error and "needs 48" in result.error


def test_emulator_misuse_is_a_crash_with_the_emulator_message(admm0):
    problem, ev = admm0
    bad = problem.initial_code.replace("mvin(x + 4 * kb, 12 + kb, 4, 1);", "mvin(x + 4 * kb, 12 + kb, 4, 5);")
    assert bad != problem.initial_code
    result = ev.evaluate(bad, seed=1)
    assert result.outcome is Outcome.CRASH
    assert "gemmini: error:" in result.error and "rows" in result.error


def test_missing_fence_before_the_cpu_reads_mvout_results_is_wrong(admm0):
    """mvout data reaches DRAM only at a fence (as on hardware, where it may still be in flight)."""
    problem, ev = admm0
    bad = problem.initial_code.replace("  fence();\n", "")
    assert bad != problem.initial_code
    result = ev.evaluate(bad, seed=1)
    assert result.outcome is Outcome.WRONG_ANSWER
    assert "never fenced before the kernel returned" in result.error  # the emulator says why


def test_emulator_internals_are_off_limits(admm0):
    problem, ev = admm0
    sneaky = problem.initial_code.replace("  fence();\n", "  fence();\n  gemu_timing_reset();\n")
    result = ev.evaluate(sneaky, seed=1)
    assert result.outcome is Outcome.POLICY_VIOLATION and "gemu_timing_reset" in result.error


@pytest.mark.slow
def test_cli_eval_reports_cycles_for_the_fsm_library_on_512(tmp_path: Path):
    code = tmp_path / "fsm.c"
    code.write_text(FSM_512)
    proc = autocomp("eval", "gemmini/gemm-512x512x512", str(code), "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["correct"] and row["metric"] == "cycles"
    assert row["value"] < row["baseline_value"] and row["speedup"] > 1.5
    assert type(row["value"]) is int and type(row["baseline_value"]) is int  # cycles are counted, never fractional
    assert 0.8 < row["utilization"] <= 1.0  # the hardware loop keeps the array busy (spec: 86-96%)
    human = autocomp("eval", "gemmini/gemm-512x512x512", str(code))
    assert "modeled cycles" in human.stdout and "array utilization" in human.stdout


def test_check_prints_modeled_cycles_as_whole_numbers():
    """`check --json` once printed 278.0 cycles: a count is an int in every output."""
    folder = resolve_problem("gemmini/admm-0").root
    proc = autocomp("check", str(folder), "--json")
    assert proc.returncode == 0, proc.stderr
    initial = json.loads(proc.stdout)["initial"]
    assert initial["correct"] and initial["metric"] == "cycles"
    assert type(initial["value"]) is int and initial["value"] > 0, initial


@pytest.mark.slow
def test_baseline_command_runs_both_library_variants():
    proc = autocomp("baseline", "gemmini/admm-1", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    names = {p["name"] for p in row["paths"]}
    assert {"library fsm", "library sw"} <= names and row["available"]
    assert all(p["available"] and p["cycles"] > 0 for p in row["paths"])
    assert row["best"]["cycles"] == min(p["cycles"] for p in row["paths"])
    human = autocomp("baseline", "gemmini/admm-1")  # the table a person reads: cycles, not milliseconds
    assert human.returncode == 0, human.stderr
    best = f"best same-work path: {row['best']['name']} ({row['best']['cycles']:,} cycles)"
    assert "autocomp's Gemmini library" in human.stdout and best in human.stdout


@pytest.mark.slow
def test_optimize_with_a_scripted_model_uses_cycles_and_shows_them_in_the_next_prompt(tmp_path: Path, fast_config: Path):
    """Iteration 1: the scripted model offers the hardware-loop kernel and a broken one; the
    FSM kernel wins on cycles, and iteration 2's planning prompt carries its hardware feedback."""
    broken = FSM_512.replace("tiled_matmul_auto(512, 512, 512", "tiled_matmul_auto(512, 512, 256")
    plans = ["Chosen item: 1\nUse the hardware loop instruction for the whole matrix.",
             "Chosen item: 2\nShrink K.", "Chosen item: 3\nKeep it."]
    replay = write_replay(tmp_path / "r.toml", plans, [reply_with_code(FSM_512), reply_with_code(broken), reply_with_code(FSM_512)])
    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "gemmini/gemm-512x512x512", "--config", str(fast_config), "--models", f"replay::{replay}",
                    "--iterations", "2", "--plans", "2", "--codes", "1", "--beam", "1", "--run-dir", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["best"]["metric"] == "cycles" and out["best"]["speedup_vs_initial"] > 1.5
    assert out["best"]["value"] < out["best"]["initial_value"]
    # what a person reads: cycles, never milliseconds (838 cycles once read "0.000838 ms")
    from autocomp.outputs import RunOutput
    from autocomp.report.console import console, optimize_report

    with console.capture() as shown:
        optimize_report(RunOutput.model_validate(out))
    text = " ".join(shown.get().split())
    assert f"{out['best']['value']:,.0f} cycles, " in text and " ms" not in text
    db = sqlite3.connect(run_dir / "run.db")
    outcomes = [r[0] for r in db.execute(
        "SELECT e.outcome FROM candidates c JOIN evaluations e ON e.code_hash = c.code_hash WHERE c.origin = 'planned' ORDER BY c.id")]
    assert outcomes[:2] == ["ok", "wrong_answer"]
    prompts = [json.loads(r[0]) for r in db.execute("SELECT request_json FROM llm_calls WHERE phase = 'plan' ORDER BY id")]
    second = json.dumps(prompts[-1])
    for needle in ("Modeled cycles", "Array utilization", "Memory used", "Where the cycles go"):
        assert needle in second
    assert re.search(r"Modeled cycles for one call: [\d,]+", second)


@pytest.mark.slow
def test_bench_reports_cycles_against_the_library(tmp_path: Path):
    proc = autocomp("bench", "gemmini", "--family", "admm", "--runs", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert [r["problem"] for r in row["problems"]] == ["gemmini/admm-0", "gemmini/admm-1", "gemmini/admm-2"]
    for r in row["problems"]:
        assert r["metric"] == "cycles" and r["initial_cycles"] > 0 and r["vendor"].startswith("library")
        assert r["machine_load_before_rounds"] == []  # modeled cycles need no quiet machine
        assert r["speedup_vs_vendor"] == pytest.approx(r["vendor_cycles"] / r["initial_cycles"], rel=1e-9)


def test_unknown_configuration_is_a_one_line_error_naming_the_field(tmp_path: Path):
    import shutil

    folder = tmp_path / "p"
    shutil.copytree(GEMMINI / "problems" / "admm-0", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "problem.toml"
    toml.write_text(toml.read_text().replace('config = "fp32_4x4"', 'config = "fp64_8x8"'))
    proc = autocomp("eval", str(folder))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {toml}: config: unknown gemmini configuration 'fp64_8x8'; expected one of fp32_4x4, int8_16x16"]
