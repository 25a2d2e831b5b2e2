"""Hostile GPU candidates (tests/data/gpu_hostile/, one cheat per file) against the real
evaluator under Triton's interpreter: each is refused with a recorded outcome and a clear error.

Two layers stop them (docs/evaluation-hygiene.md, "GPU kernels"): the static policy on the
source, and the trusted driver at run time (PyTorch ops trapped during the call, a Triton
launch required, fresh inputs and poisoned outputs per trial, an audit hook on processes,
sockets and writes, timers and synchronize checked by identity, a result line the candidate
cannot forge). Candidates the driver must stop on its own are run a second time with the
static layer switched off."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gpu_support import gpu_target, needs_gpu_extra  # noqa: F401  (fixture)

HOSTILE = Path(__file__).parent / "data" / "gpu_hostile"
pytestmark = needs_gpu_extra

# file -> (outcome, words the error must contain), with the static policy on
STATIC = {
    "functional_softmax.py": ("policy_violation", "torch.nn"),
    "import_reference.py": ("policy_violation", "imports importlib"),
    "read_reference_file.py": ("policy_violation", "imports os"),
    "patch_synchronize.py": ("policy_violation", ".synchronize"),
    "patch_timer.py": ("policy_violation", "__import__"),
    "side_stream.py": ("policy_violation", "another stream"),
    "network.py": ("policy_violation", "imports socket"),
    "network_runtime.py": ("policy_violation", "__import__"),
    "subprocess_run.py": ("policy_violation", "imports subprocess"),
    "fork_runtime.py": ("policy_violation", "__import__"),
    "write_outside.py": ("policy_violation", "open"),
}

# file -> (outcome, words), each needing the candidate to run (the static policy passes them)
RUNTIME = {
    "torch_softmax.py": ("policy_violation", "aten._softmax"),
    "tensor_method_softmax.py": ("policy_violation", "aten._softmax"),
    "no_launch.py": ("policy_violation", "no Triton kernel was launched"),
    "cached_outputs.py": ("wrong_answer", "trial 1"),
    "modify_input.py": ("wrong_answer", "modified its input X"),
    "forged_result.py": ("wrong_answer", "output Y"),
}

# with the static policy switched off: what the driver alone makes of the static layer's cases
DRIVER_ONLY = {
    "import_reference.py": ("compile_error", "No module named 'reference'"),  # not on its path; the trap would catch a call
    "read_reference_file.py": ("policy_violation", "aten._softmax"),  # found and run: its PyTorch ops are trapped
    "patch_timer.py": ("policy_violation", "replaced time.perf_counter"),
    "network_runtime.py": ("policy_violation", "tried to use the network"),
    "fork_runtime.py": ("policy_violation", "tried to start a process (os.fork)"),
    "write_outside.py": ("policy_violation", "tried to write /tmp/autocomp-hostile-note"),
}


def test_every_hostile_file_is_covered() -> None:
    assert {p.name for p in HOSTILE.glob("*.py")} == set(STATIC) | set(RUNTIME)


@pytest.fixture(scope="module")
def softmax(gpu_target):  # type: ignore[no-untyped-def]
    from autocomp.config import EvalConfig
    from autocomp.problem import load_problem

    problem = load_problem(gpu_target.problems_dir / "softmax-fp16")
    evaluator = gpu_target.emulated_evaluator(problem, EvalConfig(trials=2))
    yield evaluator
    evaluator.close()


@pytest.mark.parametrize("name", sorted(STATIC))
def test_the_static_policy_refuses(softmax, name: str) -> None:  # type: ignore[no-untyped-def]
    outcome, words = STATIC[name]
    result = softmax.evaluate((HOSTILE / name).read_text())
    assert result.outcome.value == outcome and words in result.error, result


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_the_driver_refuses_at_run_time(softmax, name: str) -> None:  # type: ignore[no-untyped-def]
    outcome, words = RUNTIME[name]
    result = softmax.evaluate((HOSTILE / name).read_text())
    assert result.outcome.value == outcome and words in result.error, result
    assert not result.correct and result.latency_s is None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DRIVER_ONLY))
def test_the_driver_alone_refuses_with_the_static_policy_off(softmax, monkeypatch: pytest.MonkeyPatch,
                                                             name: str) -> None:  # type: ignore[no-untyped-def]
    from autocomp.targets.gpu import policy

    monkeypatch.setattr(policy, "check_triton", lambda code: None)
    outcome, words = DRIVER_ONLY[name]
    result = softmax.evaluate((HOSTILE / name).read_text())
    assert result.outcome.value == outcome and words in result.error, result
    assert not Path("/tmp/autocomp-hostile-note").exists()
