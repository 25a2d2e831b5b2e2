"""Vendor baselines (autocomp.targets.vendor and the targets' vendor modules), on any x86-64 CPU.

The libraries run here for real (oneMKL, PyTorch, numpy's BLAS); MKL's bf16 and int8 GEMMs run
on CPUs without AMX too, so their correctness is checked everywhere. What needs AMX (MKL's
speed on the tile unit, oneDNN's AMX-only primitives) stays in test_amx.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autocomp.evaluation import sandbox
from autocomp.outputs import BaselineOutput, VendorPathRow
from autocomp.targets.registry import get_target, resolve_problem
from autocomp.targets.vendor import find_mkl_rt, mkl_paths, pick_best
from conftest import autocomp

pytestmark = pytest.mark.timing  # kernels or libraries timed on the pinned core


def _needs_mkl() -> None:
    if find_mkl_rt() is None:
        pytest.skip("needs the baselines extra (oneMKL missing): pip install 'autocomp[baselines]'")


def _mkl_child(module: str, problem: str) -> dict:
    """`python -m MODULE --mkl DIR`: MKL alone, in a process without torch."""
    proc = subprocess.run([sys.executable, "-m", module, "--mkl", str(resolve_problem(problem).root)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_best_vendor_is_the_fastest_correct_path_of_either_library() -> None:
    def row(name: str, library: str, latency: float, rel_err: float = 0.0, prepacked: bool = False) -> VendorPathRow:
        return VendorPathRow(name=name, library=library, available=True, latency_s=latency, rel_err=rel_err,
                             prepacked=prepacked)

    onednn, mkl = row("torch.matmul", "oneDNN", 2e-4), row("MKL cblas_gemm_bf16bf16f32", "oneMKL", 1e-4)
    down = VendorPathRow(name="MKL s8u8 (mixed sign)", library="oneMKL", available=False, reason="not installed")
    assert pick_best([onednn, mkl, down]) is mkl
    fastest = pick_best([row("torch.matmul", "oneDNN", 5e-5), mkl])
    assert fastest is not None and fastest.library == "oneDNN"
    assert pick_best([onednn, row("wrong", "oneMKL", 1e-6, rel_err=0.5)]) is onednn  # a wrong answer never wins
    assert pick_best([down]) is None
    # a path that packs the weight before the timed call solves an easier problem: only the
    # prepacked comparison counts it
    packed = row("MKL bf16 GEMM, packed B", "oneMKL", 5e-5, prepacked=True)
    assert pick_best([onednn, mkl, packed]) is mkl
    assert pick_best([onednn, mkl, packed], prepacked=True) is packed


def test_mkl_unavailable_is_reported_not_faked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`lib_path` (the documented loader parameter) pointed at a missing file, and at a file that is not MKL."""
    from autocomp.targets.amx.vendor import SUITE

    problem = resolve_problem("amx/gemm-i8-256")
    bogus = tmp_path / "libmkl_rt.so.3"
    paths, version = mkl_paths(problem, SUITE, lib_path=bogus)
    assert version is None and [p.name for p in paths] == ["MKL s8u8 (mixed sign)", "MKL s8u8 (mixed sign), pack + compute",
                                                           "MKL s8u8 (mixed sign), packed B"]
    for p in paths:
        assert p.available is False and p.latency_s is None and p.reason
        assert "cannot load oneMKL" in p.reason and "pip install 'autocomp[baselines]'" in p.reason
    bogus.write_bytes(b"not a shared object")
    paths, _ = mkl_paths(problem, SUITE, lib_path=bogus)
    assert all(p.available is False and "cannot load oneMKL" in (p.reason or "") for p in paths)


@pytest.mark.slow
def test_amx_mkl_paths_are_measured_and_correct() -> None:
    _needs_mkl()
    bf16 = _mkl_child("autocomp.targets.amx.vendor", "amx/gemm-bf16-256")
    assert bf16["mkl"].startswith("2026.2"), bf16
    by_name = {p["name"]: p for p in bf16["paths"]}
    assert set(by_name) == {"MKL cblas_gemm_bf16bf16f32", "MKL bf16 GEMM, pack + compute", "MKL bf16 GEMM, packed B"}
    for p in by_name.values():
        assert p["available"], p
        assert p["rel_err"] < 1e-5 and p["latency_s"] > 0 and p["reps"] >= 10  # fp32 C of exact bf16 products
        assert p["library"].startswith("oneMKL 2026.2")
    assert [n for n, p in by_name.items() if p["prepacked"]] == ["MKL bf16 GEMM, packed B"]
    assert "outside the timed call" in by_name["MKL bf16 GEMM, packed B"]["note"]

    i8 = _mkl_child("autocomp.targets.amx.vendor", "amx/gemm-i8-256")
    by_name = {p["name"]: p for p in i8["paths"]}
    assert set(by_name) == {"MKL s8u8 (mixed sign)", "MKL s8u8 (mixed sign), pack + compute", "MKL s8u8 (mixed sign), packed B"}
    for p in by_name.values():
        assert p["available"] and p["rel_err"] == 0.0, p  # exact int32, checked on the inputs MKL was given
        assert "0..127" in p["note"]
    # fused and conv families keep oneDNN only
    assert _mkl_child("autocomp.targets.amx.vendor", "amx/conv-bf16-14x14x256-256") == {"paths": [], "mkl": None}


@pytest.mark.slow
def test_cpu_gemm_baseline_measures_every_library_and_picks_the_fastest_same_work_path() -> None:
    pytest.importorskip("torch", reason="needs the baselines extra (torch missing): pip install 'autocomp[baselines]'")
    _needs_mkl()
    proc = autocomp("baseline", "cpu/gemm-f32-256", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    by_name = {p["name"]: p for p in row["paths"]}
    assert set(by_name) == {"torch.matmul", "MKL cblas_sgemm", "MKL sgemm, pack + compute", "MKL sgemm, packed B", "numpy.matmul"}
    for p in by_name.values():
        assert p["available"] and p["rel_err"] < 1e-5 and p["latency_s"] > 0, p  # fp32 GEMM against the float64 reference
    assert by_name["numpy.matmul"]["library"].endswith(")") and "(numpy " in by_name["numpy.matmul"]["library"]
    assert [n for n, p in by_name.items() if p["prepacked"]] == ["MKL sgemm, packed B"]
    assert row["available"] and row["best"] == min((p for p in by_name.values() if not p["prepacked"]),
                                                   key=lambda p: p["latency_s"])
    assert row["best_prepacked"] == min(by_name.values(), key=lambda p: p["latency_s"])
    # a single-threaded fp32 GEMM: more than 1 and less than 400 GFLOP/s on one core
    assert 1 < row["best"]["gflops"] < 400, row["best"]


@pytest.mark.slow
@pytest.mark.parametrize("problem, path, core", [("cpu/conv2d-f32", "torch conv2d", None),
                                                  ("cpu/softmax-f32", "torch.softmax", min(os.sched_getaffinity(0)))])
def test_cpu_conv_and_softmax_baselines_are_correct_on_the_timing_core(problem: str, path: str, core: int | None) -> None:
    pytest.importorskip("torch", reason="needs the baselines extra (torch missing): pip install 'autocomp[baselines]'")
    row = get_target("cpu").baselines(resolve_problem(problem), core)  # the real sandboxed child, as bench runs it
    assert row.available and [p.name for p in row.paths] == [path], row
    assert row.best and (row.best.rel_err or 1) < 1e-5 and (row.best.latency_s or 0) > 0 and row.best.prepacked is False
    assert row.cores == [sandbox.timing_core(core)]  # pinned where our kernels are timed ([eval] core when set)


def test_a_target_without_vendor_baselines_says_so() -> None:
    from autocomp.targets.cpu.target import CpuTarget

    class PlainTarget(CpuTarget):  # a target that names no vendor module, as a new plugin might
        name = "plain"
        vendor_module = None

    row = PlainTarget().baselines(resolve_problem("cpu/gemm-f32-256"))
    assert row == BaselineOutput(problem="cpu/gemm-f32-256", available=False, reason="the plain target has no vendor "
                                 "baselines and the problem declares none (baselines.py, see docs/problem-format.md)")


@pytest.mark.slow
def test_baseline_on_a_machine_without_the_target_warns_that_these_are_not_its_timings() -> None:
    """oneDNN and MKL run their non-AMX code on a CPU without AMX: the numbers are real but are
    not AMX timings, and the report must say so (on an AMX machine it must not)."""
    proc = autocomp("baseline", "amx/gemm-bf16-256", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    if get_target("amx").unavailable_reason() is None:
        assert row["warning"] is None
    else:
        assert "not amx timings" in row["warning"] and row["paths"]
        human = autocomp("baseline", "amx/gemm-bf16-256")
        assert "warning: this machine cannot run amx kernels" in " ".join(human.stdout.split())


# ---- baselines that belong to the problem folder (issue 16 §2) ------------------------------------

LAYERNORM_TOML = """
name = "layernorm-rows"
target = "cpu"
description = "LayerNorm over rows of X[32][256], no affine"
flops = 65536
bytes = 65536

[kernel]
entry = "layernorm"
args = ["X", "Y"]

[[inputs]]
name = "X"
dtype = "f32"
shape = [32, 256]
distribution = { kind = "uniform", low = -1.0, high = 1.0 }

[[outputs]]
name = "Y"
dtype = "f32"
shape = [32, 256]
tolerance = { rtol = 1e-4, atol = 1e-4, norm = 1e-5 }
"""
LAYERNORM_C = """#include <math.h>
void layernorm(const float *X, float *Y) {
  for (int i = 0; i < 32; i++) {
    float m = 0, v = 0;
    for (int j = 0; j < 256; j++) m += X[i * 256 + j];
    m /= 256;
    for (int j = 0; j < 256; j++) v += (X[i * 256 + j] - m) * (X[i * 256 + j] - m);
    const float s = 1.0f / sqrtf(v / 256 + 1e-5f);
    for (int j = 0; j < 256; j++) Y[i * 256 + j] = (X[i * 256 + j] - m) * s;
  }
}
"""
LAYERNORM_REF = """import numpy as np
def reference(X):
    x = X.astype(np.float64)
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
"""
LAYERNORM_BASELINES = '''import numpy as np


def baselines(X):
    x = np.ascontiguousarray(X, dtype=np.float32)

    def numpy_rows():
        """numpy float32, one vectorized expression per step"""
        m = x.mean(axis=1, keepdims=True)
        return (x - m) / np.sqrt(((x - m) ** 2).mean(axis=1, keepdims=True) + np.float32(1e-5))

    def wrong():
        return x  # not LayerNorm: must be reported with its error and never chosen
    return {"numpy rows": numpy_rows, "identity (wrong)": wrong}
'''


def _layernorm(folder, baselines: str | None):  # type: ignore[no-untyped-def]
    from autocomp.problem import load_problem

    folder.mkdir()
    (folder / "problem.toml").write_text(LAYERNORM_TOML)
    (folder / "initial.c").write_text(LAYERNORM_C)
    (folder / "reference.py").write_text(LAYERNORM_REF)
    if baselines is not None:
        (folder / "baselines.py").write_text(baselines)
    return load_problem(folder)


@pytest.mark.slow
def test_a_problem_declares_its_own_baselines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """baselines.py beside the reference: each path run in the sandboxed vendor child, pinned,
    checked against the reference and timed like the built-in ones; a wrong one is reported, not chosen."""
    problem = _layernorm(tmp_path / "ln", LAYERNORM_BASELINES)
    row = get_target("cpu").baselines(problem)
    paths = {p.name: p for p in row.paths}
    assert set(paths) == {"numpy rows", "identity (wrong)"}, row
    assert (paths["numpy rows"].rel_err or 1) < 1e-5 and (paths["numpy rows"].latency_s or 0) > 0
    assert paths["numpy rows"].library == "baselines.py (problem folder)"
    assert paths["numpy rows"].note == "numpy float32, one vectorized expression per step"
    assert (paths["identity (wrong)"].rel_err or 0) > 0.1
    assert row.available and row.best and row.best.name == "numpy rows"
    assert row.cores == [sandbox.timing_core(None)]


def test_a_broken_baselines_file_is_reported_not_fatal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    problem = _layernorm(tmp_path / "ln", "def baselines(X):\n    raise RuntimeError('no library here')\n")
    row = get_target("cpu").baselines(problem)
    assert not row.available and "RuntimeError: no library here" in (row.reason or "")


def test_a_problem_without_baselines_in_a_family_without_vendor_paths_says_how_to_add_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    row = get_target("cpu").baselines(_layernorm(tmp_path / "ln", None))
    assert not row.available and "no baselines.py in the problem folder" in (row.reason or "")


def test_a_custom_problem_named_like_a_builtin_never_gets_its_baselines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Once looked up by name: a user's gemmini/gemm-512x512x512 got the built-in's library kernels."""
    import shutil

    from autocomp.problem import load_problem

    builtin = resolve_problem("gemmini/gemm-512x512x512")
    mine = tmp_path / "gemm-512x512x512"
    shutil.copytree(builtin.root, mine, ignore=shutil.ignore_patterns("baselines"))
    problem = load_problem(mine)
    assert problem.name == builtin.name
    row = get_target("gemmini").baselines(problem)
    assert row.available is False and row.reason and row.reason.startswith("no library baseline for gemmini/gemm-512x512x512: put C")
    assert str(mine.resolve() / "baselines") in row.reason


def test_a_target_without_baselines_gets_its_reason_and_no_empty_table(capsys: pytest.CaptureFixture[str]) -> None:
    from autocomp.outputs import BaselineOutput
    from autocomp.report.console import baseline_report

    baseline_report(BaselineOutput(problem="gpu/rowsum-f32", available=False, reason="the gpu target has no vendor baselines"))
    out = capsys.readouterr().out
    assert "unavailable: the gpu target has no vendor baselines" in out
    assert "latency (median)" not in out and "path" not in out
