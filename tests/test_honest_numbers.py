"""The numbers a user reads first must be the trustworthy ones (issue 16 §1): the re-checked
speedup leads everywhere, a disagreement with the search is said beside it, peaks measured
under load are never cached, any result above the peak is flagged with the remedy, units
match the metric, and every `--json` output (errors included) has one typed definition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.headline import AGREEMENT, headline
from autocomp.outputs import ErrorOutput, EvalOutput, HardwareOutput, RunRow
from autocomp.search.candidate import code_hash
from autocomp.store.runstore import RunStore
from conftest import autocomp
from test_evaluation import busy_loops


def _ok(speedup: float) -> EvalResult:
    return EvalResult(outcome=Outcome.OK, latency_s=1e-3, baseline_latency_s=speedup * 1e-3, speedup=speedup)


def test_the_headline_is_the_recheck_and_a_disagreement_is_said() -> None:
    far = headline(_ok(27.47), _ok(7.11))  # the figures seen on cpu/gemm-f32-512 under load
    assert far.speedup_vs_initial == 7.11 and far.source == "re-check" and far.search_speedup == 27.47
    assert far.disagreement and "27.47x" in far.disagreement and "7.11x" in far.disagreement
    near = headline(_ok(6.77), _ok(6.37))
    assert near.speedup_vs_initial == 6.37 and near.disagreement is None and 6.77 / 6.37 < AGREEMENT
    assert headline(_ok(3.0), None).source == "search"  # nothing re-checked (e.g. the answer is the initial code)
    failed = headline(_ok(3.0), EvalResult(outcome=Outcome.WRONG_ANSWER, error="differs"))
    assert failed.speedup_vs_initial is None and "re-check on fresh inputs failed (wrong_answer)" in (failed.disagreement or "")


def _finished_run(run_dir: Path, search: float, recheck: float, search_mark: str | None = None,
                  recheck_mark: str | None = None) -> None:
    """A run store as a finished search leaves it: the answer, its search evaluation and its re-check
    (each optionally marked unreliable, as the timing layer marks one with too few clean calls)."""
    store = RunStore.create(run_dir, "cpu/gemm-f32-512", "/nowhere", "cpu", {})
    code = "/* the answer */ void gemm(void) {}"
    cid = store.add_candidate(key="i1/c1/p0/k0", iteration=1, origin="planned", code=code, code_hash=code_hash(code))
    store.add_evaluation(code_hash(code), _ok(search).model_copy(update={"unreliable": search_mark}), "")
    store.record_beam(1, [cid], cid, 1 / search)
    checked = _ok(recheck).model_copy(update={"unreliable": recheck_mark})
    store.event("final_validation", candidate_id=cid, result=checked.model_dump(mode="json"))
    store.set_status("finished", "completed all iterations")
    store.record_final_pick(cid, "completed all iterations")
    store.close()


def test_runs_leads_with_the_rechecked_speedup(tmp_path: Path) -> None:
    """`runs` published 27.47x where the re-check on fresh inputs measured 7.11x."""
    _finished_run(tmp_path / "runs" / "r", search=27.47, recheck=7.11)
    proc = autocomp("runs", str(tmp_path / "runs"), "--json")
    assert proc.returncode == 0, proc.stderr
    [row] = [RunRow.model_validate(r) for r in json.loads(proc.stdout)]
    assert row.best_speedup == 7.11 and row.best_speedup_source == "re-check" and row.search_best_speedup == 27.47
    assert row.status == "finished" and row.disagreement
    human = " ".join(autocomp("runs", str(tmp_path / "runs")).stdout.split())
    assert "7.11x (re-checked; search said 27.47x)" in human and "27.47x (" not in human


def test_the_report_leads_with_the_rechecked_speedup(tmp_path: Path) -> None:
    from autocomp.report.html import write_report

    _finished_run(tmp_path / "r", search=27.47, recheck=7.11)
    page = write_report(tmp_path / "r").read_text()
    assert "7.11x vs the initial code\n(re-checked on fresh inputs" in page
    assert "Search and re-check disagree: the search measured 27.47x, the re-check 7.11x" in page


MARK = "too few calls ran without being preempted (candidate 2 of 8); for a clean number: a quieter machine"


def test_the_headline_carries_the_unreliable_mark_of_its_own_measurement(tmp_path: Path) -> None:
    """The timing layer's mark (EvalResult.unreliable) reaches every output through the headline:
    the re-check's mark when the re-check leads (the search's then stays with the search's figure),
    the search's when nothing was re-checked."""
    assert headline(_ok(3.0).model_copy(update={"unreliable": MARK}), _ok(2.9)).unreliable is None
    assert headline(_ok(3.0), _ok(2.9).model_copy(update={"unreliable": MARK})).unreliable == MARK
    assert headline(_ok(3.0).model_copy(update={"unreliable": MARK}), None).unreliable == MARK
    _finished_run(tmp_path / "runs" / "r", search=3.0, recheck=2.9, recheck_mark=MARK)
    proc = autocomp("runs", str(tmp_path / "runs"), "--json")
    assert proc.returncode == 0, proc.stderr
    [row] = [RunRow.model_validate(r) for r in json.loads(proc.stdout)]
    assert row.best_speedup == 2.9 and row.unreliable == MARK
    human = " ".join(autocomp("runs", str(tmp_path / "runs")).stdout.split())
    assert "2.90x (unreliable)" in human and "`autocomp runs --json` says why" in human
    from autocomp.report.html import write_report

    page = write_report(tmp_path / "runs" / "r").read_text()
    assert f"Unreliable timing: {MARK}" in page


def _with_cache(cache: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": str(cache)}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autocomp.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_a_peak_measured_under_load_is_not_cached(tmp_path: Path) -> None:
    """The peak was one short sample cached forever: taken on a busy machine (49 GFLOP/s against
    about 100 quiet), it made every later kernel read 150-189% of peak. Under load it is now
    used for that process only, said to be a lower bound, and measured again next time."""
    from autocomp.targets.cpu.target import PEAK_CFLAGS, PEAK_SOURCE
    from autocomp.targets.peak import cache_path

    env = _with_cache(tmp_path)
    with busy_loops(*sorted(os.sched_getaffinity(0))):
        proc = _cli(env, "hardware", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = HardwareOutput.model_validate_json(proc.stdout)
    assert "a lower bound, not cached" in facts.description and facts.peak_flops["f32"] > 0
    os.environ["XDG_CACHE_HOME"], saved = str(tmp_path), os.environ["XDG_CACHE_HOME"]
    try:
        assert not cache_path("cpu-f32", PEAK_SOURCE, PEAK_CFLAGS).exists()
    finally:
        os.environ["XDG_CACHE_HOME"] = saved


def test_a_result_above_the_peak_is_flagged_with_the_remedy(tmp_path: Path) -> None:
    """A stale peak far below what the core does (as a busy machine once cached) makes the
    initial code read several times the peak: flagged in --json and in words, with the command
    that fixes it; `--remeasure` forgets that peak."""
    from autocomp.targets.cpu.target import PEAK_CFLAGS, PEAK_SOURCE
    from autocomp.targets.peak import cache_path, machine_key

    saved = os.environ["XDG_CACHE_HOME"]
    os.environ["XDG_CACHE_HOME"] = str(tmp_path)
    try:
        stale = cache_path("cpu-f32", PEAK_SOURCE, PEAK_CFLAGS)
    finally:
        os.environ["XDG_CACHE_HOME"] = saved
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"name": "cpu-f32", "stdout": "1.000000e+08\n", "machine": machine_key()}))  # 0.1 GFLOP/s
    env = _with_cache(tmp_path)
    proc = _cli(env, "eval", "cpu/gemm-f32-256", "--json")
    assert proc.returncode == 0, proc.stderr
    row = EvalOutput.model_validate_json(proc.stdout)
    assert row.utilization and row.utilization > 1
    assert row.above_peak and "impossible" in row.above_peak and "autocomp hardware cpu --remeasure" in row.above_peak
    human = " ".join(_cli(env, "eval", "cpu/gemm-f32-256").stdout.split())
    assert "above peak:" in human and "autocomp hardware cpu --remeasure" in human
    remeasured = _cli(env, "hardware", "cpu", "--remeasure", "--json")
    assert HardwareOutput.model_validate_json(remeasured.stdout).remeasured == 1


@pytest.mark.parametrize("args", [["eval", "no/such-problem"], ["runs", __file__], ["resume", "/nonexistent/run"],
                                  ["optimize", "cpu/gemm-f32-256", "--models", "nosuch::m"], ["eval", "--nosuchflag", "x"]])
def test_every_error_is_one_json_object_on_stdout_with_json(args: list[str]) -> None:
    proc = autocomp(*args, "--json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    error = ErrorOutput.model_validate_json(proc.stdout)  # exactly one object: the whole of stdout
    assert error.kind == "user_error" and error.exit_code == 2 and error.error in proc.stderr


def test_a_reference_that_raises_or_names_other_parameters_is_a_clear_error(tmp_path: Path) -> None:
    import shutil

    from autocomp.targets.registry import resolve_problem

    folder = tmp_path / "p"
    shutil.copytree(resolve_problem("cpu/gemm-f32-256").root, folder)
    # other parameter names are caught when the folder loads (read with ast, line named), before any call
    for body, needle in (("def reference(A, B):\n    raise ValueError('boom')\n", "reference: reference() raised ValueError: boom"),
                         ("def reference(X, Y):\n    return X @ Y\n", "reference (line 1): parameter 'X' is not a declared input")):
        (folder / "reference.py").write_text(body)
        proc = autocomp("eval", str(folder), "--json")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        error = ErrorOutput.model_validate_json(proc.stdout)
        assert "reference.py: reference" in error.error and needle in error.error, error.error


def test_modeled_cycles_are_never_printed_as_milliseconds() -> None:
    """Issue 16/21: 838 modeled cycles were shown as "0.000838 ms"."""
    from autocomp.evaluation.base import MetricKind

    assert MetricKind("cycles").format(838) == "838 cycles" and MetricKind("latency_s").format(0.0006112) == "0.6112 ms"


def test_the_unknown_price_hint_names_its_config_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Console markup ate "[llm.prices]": the hint read "add them under  in the config"."""
    from autocomp.outputs import LlmUsage, LlmUsageRow
    from autocomp.report.console import llm_usage

    one = LlmUsageRow(calls=1, failed=0, input_tokens=1, output_tokens=1, cached_tokens=0, reasoning_tokens=0,
                      cost_usd=None, unpriced_calls=1)
    llm_usage(LlmUsage(**one.model_dump(), by_model={"openai::m": one}, by_phase={"code": one}))
    assert "add them under [llm.prices] in the config" in " ".join(capsys.readouterr().out.split())


def test_resume_help_says_what_it_measures_again() -> None:
    text = " ".join(autocomp("resume", "--help").stdout.split())
    assert "final re-checks of the answer" in text and "are measured again" in text


def test_make_clean_never_deletes_stored_runs() -> None:
    makefile = Path(__file__).parents[1] / "Makefile"
    dry = subprocess.run(["make", "-n", "-f", str(makefile), "clean"], capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    assert "rm -rf" in dry.stdout and " runs" not in dry.stdout.split("#")[0]


@pytest.mark.slow
def test_bench_leaves_problems_without_a_stored_run_out_of_its_geomeans(tmp_path: Path) -> None:
    """`bench` counted a problem nobody optimized (its initial code against the vendor) in the
    geomean vs the vendor (seen: 0.48x). Such a problem is listed, not averaged; throughput is
    in GFLOP/s."""
    from autocomp.outputs import BenchOutput

    proc = autocomp("bench", "cpu", "--family", "softmax", "--runs", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = BenchOutput.model_validate_json(proc.stdout)
    [row] = out.problems
    assert row.best_run is None and row.initial_gflops and row.best_gflops is None
    if row.vendor is None:
        pytest.skip(f"no vendor baseline for softmax here ({row.vendor_note}): nothing to leave out")
    assert row.speedup_vs_vendor is not None  # the row still says how the initial code compares
    assert out.problems_without_a_stored_run == ["cpu/softmax-f32"]
    assert out.geomean_speedup_vs_vendor is None and out.geomean_speedup_vs_initial is None
