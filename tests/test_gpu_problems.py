"""The gpu target's problems: every folder loads, its [check] shapes are the real shapes scaled
down consistently, FLOPs and bytes match the formulas at the real shapes, every initial kernel is
correct under Triton's interpreter through the real evaluator, and the GEMM template instantiates
to a kernel the driver's policy accepts and that fits every GEMM problem."""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from autocomp.knobs import parse_knobs
from autocomp.problem import Problem, load_problem
from autocomp.targets.base import Target
from autocomp.templates import for_problem, load_templates

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "autocomp" / "targets" / "gpu"
PROBLEMS = sorted(p.name for p in (FOLDER / "problems").iterdir() if (p / "problem.toml").is_file())
# the GEMM problems, read off problem.toml at collection time (the target loads in a fixture)
GEMMS = [name for name in PROBLEMS if tomllib.loads((FOLDER / "problems" / name / "problem.toml").read_text())["family"] == "gemm"]
MINE = ["attention-causal-bf16-d128", "attention-causal-fp16-d64", "bmm-fp16", "conv2d-fp16", "gemm-bf16-llama-ffn",
        "gemm-bias-gelu-fp16", "gemm-fp16-skinny", "layernorm-bf16", "rmsnorm-fp16", "rowsum-f32"]

pytestmark = pytest.mark.usefixtures("project_entry_points")  # the gpu target's entry point, even on an older install


@pytest.fixture
def target() -> Target:
    from autocomp.targets.registry import get_target

    return get_target("gpu")


def _problem(name: str) -> Problem:
    return load_problem(FOLDER / "problems" / name)


# FLOPs at the real shapes, by the formula each problem.toml states
FLOPS = {
    "gemm": lambda p: 2 * p["M"] * p["N"] * p["K"],
    "gemm-epilogue": lambda p: 2 * p["M"] * p["N"] * p["K"],
    "bmm": lambda p: 2 * p["BATCH"] * p["M"] * p["N"] * p["K"],
    "attention": lambda p: 2 * p["B"] * p["H"] * p["S"] * p["S"] * p["D"],  # causal: half of 4*B*H*S*S*D
    "conv": lambda p: 2 * p["N"] * p["F"] * p["H"] * p["W"] * p["C"] * p["R"] * p["S"],
    "reduction": lambda p: p["M"] * p["N"],
}
NORM_FLOPS_PER_ELEMENT = {"layernorm-bf16": 8, "rmsnorm-fp16": 4}  # nominal, as their problem.toml says


def test_the_ten_problems_of_this_branch_are_shipped() -> None:
    assert set(MINE) <= set(PROBLEMS)


@pytest.mark.parametrize("name", MINE)
def test_problem_loads_with_consistent_check_shapes(name: str, target: Target) -> None:
    problem = _problem(name)
    spec = problem.spec
    assert spec.target == "gpu" and spec.kernel.entry == "kernel" and problem.language is target.languages[0]
    assert problem.initial_file.name == "initial.py"
    check = spec.check
    assert check is not None, "every gpu problem needs [check] shapes: without a GPU nothing else can run it"
    assert set(check.params) == set(spec.params), "the [check] table sets every param at the small shapes"
    for tensor in spec.inputs + spec.outputs:
        small = check.shapes[tensor.name]
        assert len(small) == len(tensor.shape), f"{tensor.name}: [check] shape has another rank"
        assert math.prod(small) <= 100_000, f"{tensor.name}: [check] shape too large for the interpreter"
        for real, little in zip(tensor.shape, small):
            # a dimension equal to some params' real value is that param: its [check] size is the param's [check] value
            named = [p for p, v in spec.params.items() if v == real]
            if named:
                assert little in {check.params[p] for p in named}, \
                    f"{tensor.name}: dimension {real} is param {'/'.join(named)} but [check] gives {little}"


@pytest.mark.parametrize("name", MINE)
def test_flops_and_bytes_at_the_real_shapes(name: str) -> None:
    spec = _problem(name).spec
    # every tensor moved once between HBM and the chip, as each problem.toml says
    assert spec.bytes == sum(t.nbytes for t in spec.inputs + spec.outputs)
    if name in NORM_FLOPS_PER_ELEMENT:
        assert spec.flops == NORM_FLOPS_PER_ELEMENT[name] * spec.params["M"] * spec.params["N"]
    else:
        assert spec.flops == FLOPS[spec.family](spec.params)


@pytest.mark.parametrize("name", MINE)
def test_tolerances_follow_the_dtype(name: str) -> None:
    """fp16 about 1e-2 relative, bf16 about 2e-2 (attention looser), fp32 far tighter; every
    floating output has a norm bound, so a kernel wrong on a few elements cannot pass on atol."""
    spec = _problem(name).spec
    for out in spec.outputs:
        tol = out.tolerance
        assert 0 < tol.norm <= tol.rtol
        loosest = {"f16": 2e-2, "bf16": 5e-2, "f32": 1e-4}[out.dtype]
        assert tol.rtol <= loosest


@pytest.mark.slow
@pytest.mark.parametrize("name", MINE)
def test_initial_kernel_is_correct_under_the_interpreter(name: str, target: Target) -> None:
    """Through the real evaluator: a sandboxed driver child runs the kernel under Triton's
    interpreter at the [check] shapes on fresh seeds and another compares with reference.py."""
    problem = _problem(name)
    evaluator = target.emulated_evaluator(problem)
    result = evaluator.evaluate(problem.initial_code)
    assert result.correct, f"{name}: {result.outcome}: {result.error}"
    assert result.latency_s is None and result.speedup is None, "the interpreter must not report a time"
    assert result.details.get("untimed"), "the result says why nothing was timed"


# ---- the tuner's GEMM template ------------------------------------------------------------------

def test_the_gemm_template_is_a_python_template_of_the_gemm_family() -> None:
    templates = load_templates(FOLDER / "templates", ".py")
    assert templates["gemm"].family == "gemm"
    assert templates["gemm"].shapes == {"A": ("M", "K"), "B": ("K", "N"), "C": ("M", "N")}
    assert len(GEMMS) >= 3  # gemm-fp16-4096, gemm-bf16-llama-ffn, gemm-fp16-skinny


@pytest.mark.parametrize("name", GEMMS)
def test_gemm_template_fits_and_instantiates_to_valid_python(name: str) -> None:
    from autocomp.targets.gpu.policy import check_triton

    problem = _problem(name)
    fit = for_problem(problem, FOLDER / "templates")
    assert "gemm" in fit.fits, fit.refused or fit.inapplicable
    template = fit.fits["gemm"]
    spec = parse_knobs(template.instantiate(problem.spec.params))
    settings = [setting for _, setting in spec.preset_settings()] + [spec.setting()]
    for setting in settings:
        if spec.violated(setting):
            continue
        code = template.instantiate(problem.spec.params, setting)
        ast.parse(code)
        assert check_triton(code) is None
        knobs = parse_knobs(code)
        assert knobs.setting() == setting and knobs.params == {p: problem.spec.params[p] for p in ("M", "N", "K")}


@pytest.mark.slow
def test_gemm_template_instances_are_correct_under_the_interpreter(target: Target) -> None:
    """The template's presets and defaults on the Llama-shaped bf16 GEMM (bf16 tl.dot, masked
    edges at the [check] shapes), evaluated like any candidate."""
    problem = _problem("gemm-bf16-llama-ffn")
    template = for_problem(problem, FOLDER / "templates").fits["gemm"]
    evaluator = target.emulated_evaluator(problem)
    spec = parse_knobs(template.instantiate(problem.spec.params))
    for setting in [s for _, s in spec.preset_settings()] + [spec.setting()]:
        result = evaluator.evaluate(template.instantiate(problem.spec.params, setting))
        assert result.correct, f"{setting}: {result.outcome}: {result.error}"


@pytest.mark.slow
def test_tuner_search_on_a_gpu_gemm_runs_end_to_end_and_times_nothing(tmp_path: Path) -> None:
    """`autocomp optimize gpu/gemm-fp16-skinny --emulate --models tuner` on a machine without a GPU:
    the tuner rewrites the naive kernel as the GEMM template at distinct knob settings, every
    candidate is checked under the interpreter and found correct, and the outputs say nothing was
    timed (so the initial code stays the answer: no speed was measured to prefer another)."""
    from autocomp.store.runstore import RunStore

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    run = subprocess.run([sys.executable, "-m", "autocomp.cli", "optimize", "gpu/gemm-fp16-skinny", "--emulate",
                          "--models", "tuner", "--iterations", "2", "--beam", "1", "--plans", "2", "--codes", "1",
                          "--run-dir", str(tmp_path / "run"), "--json"],
                         capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out["best"]["value"] is None and out["best"]["speedup_vs_initial"] is None
    assert "not timed" in out["best"]["untimed"]
    # nothing was timed, so no candidate can lead: the answer stays the initial code
    assert out["best"]["candidate_id"] == 1 and out["schedule"] == []
    store = RunStore.open(tmp_path / "run")
    try:
        tried = [row for row in store.candidates() if row["origin"] == "planned"]
    finally:
        store.close()
    assert len(tried) == 4
    assert all("rewrite as template gemm" in row["plan_text"] for row in tried)
    assert len({row["code_hash"] for row in tried}) == 4, "each plan slot takes a new knob setting"
    assert all(row["outcome"] == "ok" and row["latency_s"] is None for row in tried)
    assert "preset skinny" in tried[0]["plan_text"]  # M = 16: the template starts from its skinny preset
