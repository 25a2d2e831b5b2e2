"""[eval] placement settings and the placement rule, without a cluster (tests/test_ray_cluster.py
runs the real one)."""

from __future__ import annotations

import pytest

from autocomp.config import load_config
from autocomp.errors import UserError
from autocomp.evaluation.ray_executor import missing_resources, split_resources
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
