"""Selection rules of the beam (method section 2, step 6) and work splitting."""

from __future__ import annotations

import random

from autocomp.config import SearchConfig
from autocomp.evaluation.result import EvalResult, Outcome
from autocomp.search.beam import split_work, thin_menu
from autocomp.search.candidate import Candidate
from autocomp.search.selection import keep_factor, select, should_stop_early
from autocomp.targets.base import MenuItem


def cand(cid: int, score: float | None, parent: int | None = None, plan: str = "p", code: str | None = None) -> Candidate:
    result = EvalResult(outcome=Outcome.WRONG_ANSWER) if score is None else EvalResult(outcome=Outcome.OK, speedup=1 / score, latency_s=score)
    return Candidate(cid, f"k{cid}", 1, code or f"code {cid}", parent, plan, None, "m", "m", None, result)


def test_children_must_beat_parent_after_slack_iterations() -> None:
    cfg = SearchConfig(beam=4)
    root = cand(1, 1.0)
    slower = cand(2, 1.05, parent=1, plan="a")
    faster = cand(3, 0.5, parent=1, plan="b")
    assert [c.id for c in select([root], [slower, faster], 1, cfg)] == [3, 1, 2]  # 10% slack early
    assert [c.id for c in select([root], [slower, faster], 3, cfg)] == [3, 1]  # strict later
    assert keep_factor(2, cfg) == 1.1 and keep_factor(3, cfg) == 1.0


def test_incorrect_children_never_enter_and_beam_is_elitist() -> None:
    cfg = SearchConfig(beam=2)
    a, b = cand(1, 0.3), cand(2, 0.6)
    kids = [cand(3, None, parent=1), cand(4, 0.9, parent=2, plan="x")]
    assert [c.id for c in select([a, b], kids, 5, cfg)] == [1, 2]


def test_incumbents_win_ties_and_width_is_respected() -> None:
    cfg = SearchConfig(beam=2)
    parent = cand(1, 1.0)
    kids = [cand(2, 0.5, 1, "a"), cand(3, 0.5, 1, "b"), cand(4, 0.4, 1, "c")]
    assert [c.id for c in select([parent], kids, 4, cfg)] == [4, 2]
    tie = cand(5, 1.0, 1, "d")
    assert [c.id for c in select([parent], [tie], 1, cfg)][0] == 1


def test_one_child_per_parent_and_plan_and_no_duplicate_code() -> None:
    cfg = SearchConfig(beam=4)
    parent = cand(1, 1.0)
    same_plan = [cand(2, 0.5, 1, "same"), cand(3, 0.6, 1, "same")]
    dup_code = [cand(4, 0.7, 1, "x", code="same code"), cand(5, 0.8, 1, "y", code="same code")]
    assert [c.id for c in select([parent], same_plan + dup_code, 3, cfg)] == [2, 4, 1]


def test_early_stop() -> None:
    assert not should_stop_early([1.0, 0.9, 0.9], 0)
    assert should_stop_early([1.0, 0.9, 0.9, 0.9], 2)
    assert not should_stop_early([1.0, 0.9, 0.9, 0.8], 2)
    assert not should_stop_early([1.0, 1.0], 2)


def test_split_work_gives_every_model_work() -> None:
    assert split_work(4, ["a", "b"]) == ["a", "a", "b", "b"]
    assert split_work(5, ["a", "b", "c"]) == ["a", "a", "b", "b", "c"]
    assert split_work(1, ["a"]) == ["a"]


def test_menu_dropout_is_seeded_and_never_empty() -> None:
    menu = tuple(MenuItem(f"item {i}", "") for i in range(16))
    a = thin_menu(menu, 0.25, random.Random("s/1"))
    assert a == thin_menu(menu, 0.25, random.Random("s/1"))
    sizes = [len(thin_menu(menu, 0.25, random.Random(f"s/{i}"))) for i in range(200)]
    assert min(sizes) >= 1 and 2 <= sum(sizes) / len(sizes) <= 6
    assert len(thin_menu(menu, 0.0001, random.Random(1))) == 1


def test_menu_items_tagged_with_families_reach_only_those_families():
    from autocomp.targets.base import KnowledgePack, MenuItem

    pack = KnowledgePack(architecture="", rules=(), menu=(
        MenuItem("tiling", "for everyone"), MenuItem("fuse small matmuls", "admm only", ("admm",)),
        MenuItem("double buffering", "gemm and conv", ("gemm", "conv"))))
    assert [m.name for m in pack.menu_for("admm")] == ["tiling", "fuse small matmuls"]
    assert [m.name for m in pack.menu_for("gemm")] == ["tiling", "double buffering"]
    assert [m.name for m in pack.menu_for("generic")] == ["tiling"]
