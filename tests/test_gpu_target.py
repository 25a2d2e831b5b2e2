"""The gpu target without a GPU: languages, device facts, the interpreter evaluator through the
real sandboxed driver (initial codes correct, a wrong kernel caught, bf16 tl.dot fixed,
results that say they were not timed), CUDA C++ compiled by real nvcc, and `autocomp eval`
and `autocomp optimize` end to end with a scripted (replay) model."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gpu_support import gpu_target, needs_gpu_extra  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
UNTIMED = "checked under Triton's interpreter on small shapes; not timed"
pytestmark = needs_gpu_extra


def _problem(target, name):  # type: ignore[no-untyped-def]
    from autocomp.problem import load_problem

    return load_problem(target.problems_dir / name)


def _settings():  # type: ignore[no-untyped-def]
    from autocomp.config import EvalConfig

    return EvalConfig(trials=2)


def _check(target, problem, code: str):  # type: ignore[no-untyped-def]
    """`code` through the real interpreter evaluator, which is closed after."""
    evaluator = target.emulated_evaluator(problem, _settings())
    try:
        return evaluator.evaluate(code)
    finally:
        evaluator.close()


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", "autocomp.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900, cwd=cwd)


def test_problems_load_in_their_languages(gpu_target) -> None:  # type: ignore[no-untyped-def]
    from autocomp.targets.gpu.languages import CUDA, TRITON

    assert gpu_target.languages[0] is TRITON
    gemm, cuda = _problem(gpu_target, "gemm-fp16-4096"), _problem(gpu_target, "softmax-fp16-cuda")
    assert gemm.language is TRITON and gemm.initial_file.name == "initial.py"
    assert cuda.language is CUDA and cuda.initial_file.name == "initial.cu"
    assert "def kernel(A, B, C)" in gemm.signature() and "f16 tensor of shape [4096, 4096]" in gemm.signature()
    assert "void kernel(torch::Tensor X, torch::Tensor Y)" in cuda.signature()


def test_an_initial_code_that_breaks_the_rules_is_a_problem_error(gpu_target, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from autocomp.errors import ProblemError
    from autocomp.problem import load_problem

    folder = tmp_path / "p"
    shutil.copytree(gpu_target.problems_dir / "softmax-fp16", folder)
    (folder / "initial.py").write_text("import os\n\ndef kernel(X, Y):\n    pass\n")
    with pytest.raises(ProblemError, match="imports os"):
        load_problem(folder)
    (folder / "initial.py").write_text("def kernel(X, Out):\n    pass\n")
    with pytest.raises(ProblemError, match="kernel.args"):
        load_problem(folder)


def test_without_a_gpu_the_target_says_so_and_names_the_interpreter(gpu_target) -> None:  # type: ignore[no-untyped-def]
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert gpu_target.unavailable_reason().startswith("no CUDA GPU") and "--emulate" in gpu_target.unavailable_reason()
    assert "no CUDA GPU" in gpu_target.hardware().description and gpu_target.hardware().peak_flops == {}
    assert gpu_target.resources(_problem(gpu_target, "softmax-fp16")) == {"CPU": 1, "GPU": 1}


def test_nominal_peaks_are_looked_up_by_device_name() -> None:
    from autocomp.targets.gpu.target import nominal_specs

    assert nominal_specs("NVIDIA H100 80GB HBM3")["name"] == "NVIDIA H100 SXM"
    assert nominal_specs("NVIDIA H100 PCIe")["tflops"]["f16"] == 756.5
    assert nominal_specs("NVIDIA H200")["tflops"]["bf16"] == 989.4
    assert nominal_specs("Some Future GPU") is None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemm-fp16-4096", "softmax-fp16"])
def test_initial_code_is_correct_under_the_interpreter_and_untimed(gpu_target, name: str) -> None:  # type: ignore[no-untyped-def]
    """The real evaluator: policy, then the driver's candidate child and the checker child."""
    problem = _problem(gpu_target, name)
    evaluator = gpu_target.emulated_evaluator(problem, _settings())
    try:
        result = evaluator.evaluate(problem.initial_code)
        duel = evaluator.duel(problem.initial_code, problem.initial_code)
    finally:
        evaluator.close()
    assert result.correct, result.error
    assert result.latency_s is None and result.speedup is None and result.utilization is None
    assert result.details["untimed"] == UNTIMED and result.details["timed"] is False
    assert result.details["launches"] >= 2 and UNTIMED in result.summary()
    assert not evaluator.exclusive_timing
    assert duel.correct and duel.speedup is None  # no duel is timed under the interpreter


@pytest.mark.slow
def test_a_wrong_kernel_is_caught_with_the_element_named(gpu_target) -> None:  # type: ignore[no-untyped-def]
    """An off-by-one load mask: each row's last element is read as -inf (its output is 0)."""
    problem = _problem(gpu_target, "softmax-fp16")
    wrong = problem.initial_code.replace("mask=cols < N, other", "mask=cols < N - 1, other")
    assert wrong != problem.initial_code
    result = _check(gpu_target, problem, wrong)
    assert result.outcome.value == "wrong_answer", result
    assert "output Y" in result.error and "trial 0" in result.error


@pytest.mark.slow
def test_bf16_dot_is_exact_under_the_interpreter(gpu_target, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Triton 3.9's interpreter multiplies bf16 bit patterns in tl.dot (triton-lang/triton#11584);
    the driver converts bf16 operands first, so a bf16 GEMM is checked like an fp16 one."""
    from autocomp.problem import load_problem

    folder = tmp_path / "gemm-bf16"
    shutil.copytree(gpu_target.problems_dir / "gemm-fp16-4096", folder)
    toml = (folder / "problem.toml").read_text().replace('dtype = "f16"', 'dtype = "bf16"').replace(
        'name = "gemm-fp16-4096"', 'name = "gemm-bf16-check"')
    (folder / "problem.toml").write_text(toml)
    problem = load_problem(folder)
    result = _check(gpu_target, problem, problem.initial_code)
    assert result.correct, result.error


# ---- CUDA C++ ------------------------------------------------------------------------------------

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc", path="/usr/local/bin:/usr/bin:/bin") is None,
                                reason="needs nvcc (the CUDA toolkit) on /usr/local/bin, /usr/bin or /bin")


def test_cuda_static_rules_refuse_streams_and_pytorch_ops(gpu_target) -> None:  # type: ignore[no-untyped-def]
    problem = _problem(gpu_target, "softmax-fp16-cuda")
    evaluator = gpu_target.emulated_evaluator(problem, _settings())
    try:
        streams = evaluator.evaluate(problem.initial_code.replace("const int rows", "cudaStream_t s; cudaStreamCreate(&s);\n    const int rows"))
        torch_op = evaluator.evaluate("void kernel(torch::Tensor X, torch::Tensor Y) { Y.copy_(at::softmax(X, 1)); }")
    finally:
        evaluator.close()
    assert streams.outcome.value == "policy_violation" and "streams" in streams.error
    assert torch_op.outcome.value == "policy_violation" and "PyTorch" in torch_op.error


@pytest.mark.slow
@needs_nvcc
def test_a_cuda_compile_error_goes_back_with_nvccs_message(gpu_target) -> None:  # type: ignore[no-untyped-def]
    problem = _problem(gpu_target, "softmax-fp16-cuda")
    broken = problem.initial_code.replace("m = scratch[0];", "m = scratch[0] +;")
    result = _check(gpu_target, problem, broken)
    assert result.outcome.value == "compile_error", result
    assert "nvcc failed" in result.error and "expected an expression" in result.error


@pytest.mark.slow
@needs_nvcc
def test_a_cuda_kernel_that_compiles_is_not_called_correct_without_a_gpu(gpu_target) -> None:  # type: ignore[no-untyped-def]
    """nvcc builds the initial code against torch's headers (minutes on a loaded machine); then
    nothing can run it here, so it is UNVERIFIED, never correct and never timed."""
    problem = _problem(gpu_target, "softmax-fp16-cuda")
    result = _check(gpu_target, problem, problem.initial_code)
    assert result.outcome.value == "unverified" and not result.correct, result
    assert "compiled; not run (no GPU)" in result.error and result.latency_s is None


# ---- the CLI end to end ---------------------------------------------------------------------------

@pytest.mark.slow
def test_eval_emulate_says_untimed_in_text_and_json(gpu_target) -> None:  # type: ignore[no-untyped-def]
    text = _cli("eval", "gpu/softmax-fp16", "--emulate")
    assert text.returncode == 0, text.stderr
    assert UNTIMED in text.stdout
    out = _cli("eval", "gpu/softmax-fp16", "--emulate", "--json")
    row = json.loads(out.stdout)
    assert row["correct"] and row["emulated"] and row["value"] is None and row["details"]["untimed"] == UNTIMED


def test_eval_without_emulate_names_the_missing_gpu(gpu_target) -> None:  # type: ignore[no-untyped-def]
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    proc = _cli("eval", "gpu/softmax-fp16")
    assert proc.returncode == 2 and "no CUDA GPU" in proc.stderr and "--emulate" in proc.stderr
    assert "Traceback" not in proc.stderr


TRITON_REPLY = '''Plan followed: more warps per row.

```python
import torch
import triton
import triton.language as tl


@triton.jit
def softmax_row(X, Y, N, stride_x, stride_y, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(X + row * stride_x + cols, mask=cols < N, other=-float("inf")).to(tl.float32)
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(Y + row * stride_y + cols, (e / tl.sum(e, axis=0)).to(Y.dtype.element_ty), mask=cols < N)


def kernel(X, Y):
    M, N = X.shape
    softmax_row[(M,)](X, Y, N, X.stride(0), Y.stride(0), BLOCK=triton.next_power_of_2(N), num_warps=8)
```
'''


@pytest.mark.slow
def test_a_replay_search_runs_under_the_interpreter_and_says_nothing_was_timed(gpu_target, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`autocomp optimize gpu/softmax-fp16 --emulate` with a scripted (replay) model: one plan, one
    Triton kernel, checked in the sandbox; the log, --json, summary.json and report.html all
    say it was not timed, and no number stands in for a timing."""
    from tests.conftest import write_replay

    replay = write_replay(tmp_path / "replies.toml", ["Use 8 warps per row."], [TRITON_REPLY])
    run_dir = tmp_path / "run"
    proc = _cli("optimize", "gpu/softmax-fp16", "--emulate", "--models", f"replay::{replay}", "--iterations", "1",
                "--beam", "1", "--plans", "1", "--codes", "1", "--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"best candidate #1: correct; {UNTIMED}" in proc.stdout
    assert f"iteration 1: 1 candidates (ok 1)" in proc.stderr + proc.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["candidates"] == 2
    assert summary["best"]["untimed"] == UNTIMED and summary["best"]["value"] is None
    assert summary["best"]["speedup_vs_initial"] is None
    report = html.unescape((run_dir / "report.html").read_text())
    assert UNTIMED in report and 'href="candidates/00002.py"' in report
    assert (run_dir / "best.py").read_text() == (run_dir / "candidates" / "00001.py").read_text()  # untimed: no lead change
    assert not (run_dir / "best.c").exists() and f"best code: {run_dir}/best.py," in " ".join(proc.stdout.split())
    runs = _cli("runs", str(tmp_path), "--json")
    assert json.loads(runs.stdout)[0]["best_speedup"] is None


def test_optimize_emulate_is_refused_up_front_where_it_cannot_work(tmp_path: Path) -> None:
    """No emulator (cpu), or emulation on a cluster: one error line, and no run folder left behind."""
    no_emulator = _cli("optimize", "cpu/gemm-f32-256", "--emulate", "--models", "tuner", "--run-dir", str(tmp_path / "a"))
    assert no_emulator.returncode == 2 and "has no emulator" in no_emulator.stderr, no_emulator.stderr
    on_ray = _cli("optimize", "cpu/gemm-f32-256", "--emulate", "--executor", "ray", "--models", "tuner",
                  "--run-dir", str(tmp_path / "b"))
    assert on_ray.returncode == 2 and "needs the local executor" in on_ray.stderr, on_ray.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
