"""The `amx` target on real AMX hardware: problems, peaks, and how broken tile code is judged.

Skipped as a whole on machines without Intel AMX. Broken kernels live in tests/data/amx/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.result import Outcome
from autocomp.targets.amx.target import AmxTarget, memory_ceiling, read_bandwidth
from autocomp.targets.registry import builtin_problems, get_target, resolve_problem

_REASON = AmxTarget().unavailable_reason()
pytestmark = [pytest.mark.skipif(_REASON is not None, reason=f"needs Intel AMX: {_REASON}"), pytest.mark.timing]

DATA = Path(__file__).parent / "data" / "amx"
AMX_PROBLEMS = sorted(p.spec.name for p in builtin_problems() if p.target == "amx")
BIG_FLOPS = 5e9  # above this (the 2048^3 GEMMs) skip the adversarial trial to keep the suite fast


def broken(name: str) -> str:
    return (DATA / f"{name}.c").read_text()


@pytest.fixture(scope="module")
def target():
    return get_target("amx")


@pytest.fixture(scope="module")
def gemm256(target):
    """One evaluator for amx/gemm-bf16-256, shared by the broken-kernel tests in file order."""
    problem = resolve_problem("amx/gemm-bf16-256")
    ev = target.evaluator(problem, EvalSettings(time=False, trials=2))
    yield ev
    ev.close()


def test_registered_and_available(target):
    assert isinstance(target, AmxTarget)
    assert target.unavailable_reason() is None
    assert len(AMX_PROBLEMS) >= 20
    knowledge = target.knowledge
    assert 20 <= len(knowledge.menu) <= 30
    assert knowledge.menu[-1].name == "other methods not listed here"
    assert "_tile_loadconfig" in knowledge.architecture and knowledge.rules


def test_measured_peaks_are_plausible(target):
    hw = target.hardware()
    assert 2e12 < hw.peak_flops["bf16"] < 6e12
    assert 4e12 < hw.peak_flops["i8"] < 12e12
    assert 1.6 < hw.peak_flops["i8"] / hw.peak_flops["bf16"] < 2.4  # int8 does twice the work per instruction
    assert "TFLOP/s" in hw.description and "TOP/s" in hw.description
    assert hw.peak_for(resolve_problem("amx/gemm-bf16-256")) == hw.peak_flops["bf16"]
    assert hw.peak_for(resolve_problem("amx/gemm-i8-256")) == hw.peak_flops["i8"]


@pytest.mark.parametrize("name", AMX_PROBLEMS)
def test_initial_code_is_correct(target, name):
    problem = resolve_problem(f"amx/{name}")
    settings = EvalSettings(time=False, trials=2, adversarial=problem.spec.flops < BIG_FLOPS)
    ev = target.evaluator(problem, settings)
    try:
        result = ev.evaluate(problem.initial_code)
    finally:
        ev.close()
    assert result.outcome is Outcome.OK, result.error


def test_initial_code_timed_with_roofline_feedback(target):
    problem = resolve_problem("amx/gemm-bf16-512")
    ev = target.evaluator(problem, EvalSettings())  # default settings: fully timed
    try:
        result = ev.evaluate(problem.initial_code)
    finally:
        ev.close()
    assert result.outcome is Outcome.OK, result.error
    assert result.latency_s and result.utilization
    assert 0.03 < result.utilization < 1.0  # naive AMX code sits around 30% of the tile peak
    assert 0.5 < result.speedup < 2.0  # it is its own baseline
    text = target.feedback(problem, result)
    assert "Roofline bound for this problem" in text and "compute-bound" in text
    # memory-bound shapes say so
    tall = resolve_problem("amx/gemm-bf16-12544x64x256")
    _, rate = memory_ceiling(tall.spec.bytes)
    assert rate * tall.spec.flops / tall.spec.bytes < target.hardware().peak_flops["bf16"]


def test_measured_bandwidth_orders_the_memory_levels(target):
    """The built-in microbenchmark (cached per machine) sees the hierarchy: L2 reads beat L3,
    L3 beats DRAM, and a problem is bounded by the level its working set fits in."""
    sweeps = dict(read_bandwidth())
    l2, l3, dram = sweeps[512 << 10], sweeps[8 << 20], sweeps[1 << 30]
    assert l2 > l3 > dram > 1e9, sweeps
    assert memory_ceiling(300 << 10) == ("512 KiB working set", l2)
    assert memory_ceiling(2 << 20) == ("8 MiB working set", l3)
    assert memory_ceiling(4 << 30)[1] == dram  # larger than anything measured: the DRAM number
    assert "measured read bandwidth" in target.hardware().description


def test_wrong_vnni_layout_is_wrong_answer(gemm256):
    result = gemm256.evaluate(broken("wrong_vnni"))
    assert result.outcome is Outcome.WRONG_ANSWER, result
    assert "outside tolerance" in result.error


@pytest.mark.parametrize("name", ["bad_colsb", "bad_reserved"])
def test_bad_tile_config_crashes_with_sigsegv(gemm256, name):
    result = gemm256.evaluate(broken(name))
    assert result.outcome is Outcome.CRASH, result
    assert "killed by SIGSEGV" in result.error


def test_tile_store_past_c_crashes(gemm256):
    result = gemm256.evaluate(broken("oob_store"))
    assert result.outcome is Outcome.CRASH, result
    assert "SIGSEGV" in result.error


def test_unconfigured_tile_crashes_with_sigill(gemm256):
    result = gemm256.evaluate(broken("unconfigured_tile"))
    assert result.outcome is Outcome.CRASH, result
    assert "killed by SIGILL" in result.error


def test_kernel_without_tiles_is_policy_violation(gemm256):
    result = gemm256.evaluate(broken("no_tiles"))
    assert result.outcome is Outcome.POLICY_VIOLATION, result
    assert "AMX tile dot-product intrinsics" in result.error


def test_tile_release_alone_does_not_satisfy_the_policy(gemm256):
    """A scalar kernel that only calls _tile_release() is not AMX code."""
    code = broken("no_tiles").replace("      C[(size_t)i * N + j] = acc;\n    }\n", "      C[(size_t)i * N + j] = acc;\n    }\n  _tile_release();\n")
    code = "#include <immintrin.h>\n" + code
    assert "_tile_release();" in code
    result = gemm256.evaluate(code)
    assert result.outcome is Outcome.POLICY_VIOLATION, result
    assert "dot-product intrinsics" in result.error


def test_arch_prctl_in_kernel_is_policy_violation(gemm256):
    code = gemm256.problem.initial_code.replace(
        "#include <string.h>\n", "#include <string.h>\nlong syscall(long, ...);\n"
    ).replace("  _tile_loadconfig(&cfg);", "  syscall(158, 0x1023, 18);\n  _tile_loadconfig(&cfg);")
    result = gemm256.evaluate(code)
    assert result.outcome is Outcome.POLICY_VIOLATION, result
    assert "`syscall`" in result.error


def test_skipping_outputs_that_equal_the_poison_is_caught(target):
    """An int8 output the kernel never writes must not pass just because the answer was 127 (the poison)."""
    problem = resolve_problem("amx/gemm-i8-requant")
    ev = target.evaluator(problem, EvalSettings(time=False, trials=2))
    try:
        r = ev.evaluate(broken("skips_saturated_outputs"))
    finally:
        ev.close()
    assert r.outcome is Outcome.WRONG_ANSWER and "second call" in (r.error or "")


def test_evaluator_still_works_after_crashes(gemm256):
    """Run last in this file: the same evaluator, after all the crashes above, still judges correctly."""
    result = gemm256.evaluate(gemm256.problem.initial_code)
    assert result.outcome is Outcome.OK, result.error


def test_vendor_baseline_is_measured_or_reported_unavailable():
    import json

    from conftest import autocomp

    proc = autocomp("baseline", "amx/gemm-i8-256", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert row["available"] is False and "pip install" in row["reason"]
        return
    assert row["available"] is True and row["best"]["rel_err"] == 0.0  # int8 paths are exact
    assert row["best"]["latency_s"] > 0 and {p["name"] for p in row["paths"]} >= {"oneDNN qlinear s8s8", "oneDNN qlinear s8s8, prepacked"}
    assert row["best"]["prepacked"] is False  # the baseline does the same work as our kernels
    assert row["best_prepacked"]["latency_s"] <= row["best"]["latency_s"]
    requant = json.loads(autocomp("baseline", "amx/gemm-i8-requant", "--json").stdout)
    assert requant["available"] is False and "no vendor path" in requant["reason"]


def test_bench_reports_initial_best_and_vendor(tmp_path):
    import json

    from conftest import autocomp

    proc = autocomp("bench", "amx", "--family", "bmm-bf16", "--runs", str(tmp_path), "--repeat", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (row,) = out["problems"]
    assert row["problem"] == "amx/bmm-bf16-attn-scores" and row["initial_latency_s"] > 0
    assert row["best_latency_s"] is None  # no stored runs under tmp_path
    assert "TFLOP/s" in out["machine"] and out["rounds"] == row["rounds"] == 2
    assert len(row["machine_load_before_rounds"]) == 2  # each round started on a quiet machine, or says how busy
    if row["vendor"]:  # two rounds, two ratios: the reported one is their median, inside their range
        low, high = row["speedup_vs_vendor_range"]
        assert low <= row["speedup_vs_vendor"] <= high and row["speedup_vs_vendor"] == pytest.approx((low + high) / 2)
        assert row["vendor"] == "torch.bmm" and row["vendor_prepacked"] == "torch.bmm"  # bmm has no prepacked path
        # no stored run: the initial code's ratio is in the row, not in the geomean (issue 16)
        assert out["geomean_speedup_vs_vendor"] is None and out["problems_without_a_stored_run"] == [row["problem"]]
    else:
        assert row["speedup_vs_vendor"] is None and row["speedup_vs_vendor_range"] is None


# ---- oneMKL vendor paths (issue #4): measured next to oneDNN, the best of both is the baseline

def _mkl_child(problem: str):
    """`python -m autocomp.targets.amx.vendor --mkl DIR`: MKL alone, in a process without torch."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "autocomp.targets.amx.vendor", "--mkl", str(resolve_problem(problem).root)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _needs_mkl():
    from autocomp.targets.vendor import find_mkl_rt

    if find_mkl_rt() is None:
        pytest.skip("oneMKL is not installed: pip install 'autocomp[baselines]' (mkl==2026.2.0)")


def test_mkl_bf16_runs_on_amx():
    """Correctness and naming of the MKL paths are tested everywhere (test_vendor.py); here, the speed
    says MKL really uses the tile unit."""
    _needs_mkl()
    for p in _mkl_child("amx/gemm-bf16-256")["paths"]:
        # > 400 GFLOP/s is out of reach of AVX-512 bf16 (123 GFLOP/s peak): MKL runs on AMX
        assert p["available"] and p["gflops"] > 400, p


def test_baseline_reports_both_libraries_and_picks_the_faster():
    import json

    from conftest import autocomp

    _needs_mkl()
    pytest.importorskip("torch", reason="oneDNN paths need PyTorch: pip install 'autocomp[baselines]'")
    proc = autocomp("baseline", "amx/gemm-bf16-256", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["available"] and row["mkl"].startswith("2026.2") and row["torch"]
    libraries = {p["library"].split()[0] for p in row["paths"] if p["available"]}
    assert libraries == {"oneDNN", "oneMKL"}, row["paths"]
    correct = [p for p in row["paths"] if p["available"] and p["rel_err"] < 1e-2]
    assert row["best"] == min((p for p in correct if not p["prepacked"]), key=lambda p: p["latency_s"])
    assert row["best_prepacked"] == min(correct, key=lambda p: p["latency_s"])
    assert {p["name"] for p in correct if p["prepacked"]} == {"mkldnn linear, [N][K] weight", "MKL bf16 GEMM, packed B"}
