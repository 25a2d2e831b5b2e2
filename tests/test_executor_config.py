"""[eval] placement settings and the placement rule, without a cluster (tests/test_ray_cluster.py
runs the real one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autocomp.config import load_config
from autocomp.errors import UserError
from autocomp.evaluation import ray_executor
from autocomp.evaluation.c_kernel import EvalSettings
from autocomp.evaluation.ray_executor import Recipe, missing_resources, recipe_for, split_resources
from autocomp.targets.registry import get_target, resolve_problem


def test_the_local_pool_is_the_default_and_ray_is_chosen_by_config(tmp_path) -> None:
    assert load_config(flags={"models": ["tuner"]}).eval.executor == "local"
    path = tmp_path / "ray.toml"
    path.write_text('models = ["tuner"]\n[eval]\nexecutor = "ray"\naddress = "ray://head:10001"\nresources = {special = 1}\n')
    config = load_config(path)
    assert (config.eval.executor, config.eval.address, config.eval.resources) == ("ray", "ray://head:10001", {"special": 1})
    assert "executor" not in config.eval.evaluator_settings().model_dump()  # the evaluator never sees placement


def test_an_unknown_executor_names_the_field(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('models = ["tuner"]\n[eval]\nexecutor = "slurm"\n')
    with pytest.raises(UserError, match=r"eval\.executor: .*'local' or 'ray'"):
        load_config(path)


def test_targets_declare_what_an_evaluation_needs() -> None:
    assert get_target("amx").resources(resolve_problem("amx/gemm-bf16-512")) == {"CPU": 1, "amx": 1}
    assert get_target("gemmini").resources(resolve_problem("gemmini/conv-3")) == {"CPU": 1}
    assert split_resources({"CPU": 1, "amx": 1, "timing_core": 1}) == {"num_cpus": 1, "num_gpus": 0,
                                                                       "resources": {"amx": 1, "timing_core": 1}}


def test_placement_needs_one_live_node_with_everything() -> None:
    """The shape of `ray.nodes()`: a dead node's resources do not count, and two nodes that each
    have half of what an evaluation needs are not one node that has it all."""
    nodes = [{"Alive": True, "Resources": {"CPU": 2.0, "timing_core": 1.0}},
             {"Alive": True, "Resources": {"CPU": 2.0, "amx": 1.0}},
             {"Alive": False, "Resources": {"CPU": 2.0, "amx": 1.0, "timing_core": 1.0}}]
    assert missing_resources({"CPU": 1, "timing_core": 1}, nodes) is None
    assert missing_resources({"CPU": 1, "amx": 1, "timing_core": 1}, nodes) in (["timing_core"], ["amx"])
    assert missing_resources({"CPU": 1, "gpu_a100": 1}, nodes) == ["gpu_a100"]
    assert missing_resources({"CPU": 1}, nodes[2:]) == ["CPU"]


def _recipes(n: int) -> list[Recipe]:
    """n recipes for one problem that differ in their settings, as a long-lived worker sees runs come and go."""
    root = resolve_problem("cpu/softmax-f32").root
    return [recipe_for("cpu", root, EvalSettings(trials=2 + i).model_dump_json()) for i in range(n)]


def test_a_worker_keeps_the_evaluators_of_its_last_recipes_and_closes_the_older_ones() -> None:
    """A Ray worker outlives runs: it once kept every evaluator it built (scratch folder, compiled
    objects) until it died. Built on the worker's own code path, without a cluster."""
    recipes = _recipes(ray_executor.KEPT_RECIPES + 2)
    try:
        first = ray_executor._evaluator(recipes[0], None)
        assert ray_executor._evaluator(recipes[0], None) is first  # reused, not rebuilt
        pinned = ray_executor._evaluator(recipes[0], 1)  # one per timing core
        built = [ray_executor._evaluator(r, None) for r in recipes[1:]]
        assert not first.workdir.exists() and not pinned.workdir.exists()  # the oldest recipe's, both cores
        assert not built[0].workdir.exists()
        assert all(e.workdir.is_dir() for e in built[2:])
        assert ray_executor._evaluator(recipes[2], None) is built[1]  # used again: now the most recent
        ray_executor._evaluator(_recipes(ray_executor.KEPT_RECIPES + 3)[-1], None)
        assert built[1].workdir.is_dir() and not built[2].workdir.exists()
    finally:
        ray_executor.close_evaluators()
    assert not any(e.workdir.exists() for e in built)


def test_a_worker_that_exits_closes_its_evaluators(tmp_path) -> None:
    script = ("from autocomp.evaluation import ray_executor\n"
              "from autocomp.evaluation.c_kernel import EvalSettings\n"
              "from autocomp.targets.registry import resolve_problem\n"
              "root = resolve_problem('cpu/softmax-f32').root\n"
              "for cores in (None, 0):\n"
              "    print(ray_executor._evaluator(ray_executor.recipe_for('cpu', root, EvalSettings().model_dump_json()), cores).workdir)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    workdirs = [Path(line) for line in proc.stdout.split()]
    assert len(workdirs) == 2 and not any(w.exists() for w in workdirs)
