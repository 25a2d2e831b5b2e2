"""The offline tuner: determinism, constraints, a real run that improves, a mixed ensemble."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from autocomp.agents.base import AgentContext, CodeJob, Parent, PlanJob
from autocomp.agents.tuner import TunerAgent
from autocomp.evaluation.base import EvalSettings
from autocomp.knobs import parse_knobs, set_defines
from autocomp.problem import Problem, load_problem
from autocomp.store.runstore import RunStore
from autocomp.targets.base import MenuItem
from autocomp.targets.registry import get_target, resolve_problem
from conftest import assert_all_correct, autocomp, faster, kernel, reply_with_code, write_replay

KNOBBED = """#define M 64 /* @param M */
#define A 1 /* @knob values=1,2,4,8 menu="register blocking" */
#define B 16 /* @knob values=16,32,64 menu="cache blocking" */
/* @constraint A * B <= 128 */
void gemm(const float *restrict A_, const float *restrict B_, float *restrict C) { (void)A_; (void)B_; (void)C; }
"""


def _agent(tmp_path: Path, seed: int = 1) -> TunerAgent:
    problem = resolve_problem("cpu/gemm-f32-256")
    target = get_target("cpu")
    store = RunStore.create(tmp_path / f"run{seed}", problem.name, str(problem.root), "cpu", {})
    return TunerAgent("tuner", AgentContext(problem, target, target.knowledge, store, None, None, seed))


def _jobs(parents: list[Parent], n: int, menu: tuple[MenuItem, ...], seed: int = 0) -> list[PlanJob]:
    """One iteration's plan jobs as the search builds them: beam order, then slot; each knows the earlier ones."""
    jobs: list[PlanJob] = []
    for parent in parents:
        for p in range(n):
            jobs.append(PlanJob(parent, menu, p, len(jobs), seed + len(jobs), tuple(jobs)))
    return jobs


def _plans(agent: TunerAgent, code: str, n: int, menu_names: tuple[str, ...] = ("other",)) -> list[str | None]:
    menu = tuple(MenuItem(name, "") for name in menu_names)
    return [agent.plan(job).text for job in _jobs([Parent(7, code, "")], n, menu)]


def test_plans_are_deterministic_distinct_and_respect_constraints(tmp_path: Path) -> None:
    # moves: A 1->2|4|8 and B 16->32|64 (A=8 with B=32 would break A * B <= 128, but only one knob moves)
    a, b = _plans(_agent(tmp_path, 1), KNOBBED, 5), _plans(_agent(tmp_path / "x", 1), KNOBBED, 5)
    assert a == b and len(set(a)) == 5
    spec = parse_knobs(KNOBBED)
    agent = _agent(tmp_path / "y", 1)
    for text in a:
        code = agent.implement(CodeJob(Parent(7, KNOBBED, ""), text or "", 0, 0, 0)).code
        assert code is not None
        assert spec.violated(parse_knobs(code).setting()) is None  # 8 * 32 > 128 is never proposed
    assert _plans(_agent(tmp_path / "z", 2), KNOBBED, 5) != a  # another seed, another order
    moved = parse_knobs(agent.implement(CodeJob(Parent(7, KNOBBED.replace("#define A 1 ", "#define A 8 "), ""),
                                                "menu item: cache blocking; knob B 16 -> 32", 0, 0, 0)).code or "")
    assert moved.setting() == {"A": 8, "B": 32}  # implementing applies exactly what the plan says


def test_offered_menu_items_steer_the_move(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    plans = _plans(agent, KNOBBED, 2, ("cache blocking",))
    assert all(p and p.startswith("menu item: cache blocking; knob B ") for p in plans)


def test_evaluated_settings_are_not_proposed_again(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    first = _plans(agent, KNOBBED, 1)[0]
    code = agent.implement(CodeJob(Parent(7, KNOBBED, ""), first or "", 0, 0, 0)).code
    agent.ctx.store.add_candidate(key="x", iteration=1, origin="planned", code=code)
    assert first not in _plans(agent, KNOBBED, 8)


def test_pairs_follow_single_moves_then_slots_fail_instead_of_repeating_a_setting(tmp_path: Path) -> None:
    plans = _plans(_agent(tmp_path), KNOBBED, 7)  # A=1, B=16: five single-knob moves, one pair of neighbour moves
    assert len(set(plans[:5])) == 5 and all(p and p.count(" -> ") == 1 for p in plans[:5])
    assert plans[5:] == ["menu item: register blocking; knob A 1 -> 2, knob B 16 -> 32", None]
    # at A=8 the constraint A * B <= 128 closes B to single moves; the pair lowers A as it raises B
    wide = _plans(_agent(tmp_path / "w"), KNOBBED.replace("#define A 1 ", "#define A 8 "), 5, ("cache blocking",))
    assert wide[3:] == ["menu item: cache blocking; knob B 16 -> 32, knob A 8 -> 4", None]  # the offered item leads
    code = _agent(tmp_path / "v").implement(CodeJob(Parent(7, KNOBBED.replace("#define A 1 ", "#define A 8 "), ""), wide[3] or "", 0, 0, 0)).code
    assert parse_knobs(code or "").setting() == {"A": 4, "B": 32}


def test_beam_members_in_one_iteration_never_plan_the_same_setting(tmp_path: Path) -> None:
    """Two parents that differ in one knob reach the same settings by moving it (A=1 and A=2 both
    reach A=4 and A=8): the later parent's slots take other settings, and the choice does not depend
    on which plan runs first."""
    agent = _agent(tmp_path)
    menu = (MenuItem("register blocking", ""),)  # steer every slot to knob A first
    parents = [Parent(7, KNOBBED, ""), Parent(8, KNOBBED.replace("#define A 1 ", "#define A 2 "), "")]
    for parent in parents:  # beam members are candidates of the run
        agent.ctx.store.add_candidate(key=f"c{parent.id}", iteration=0, origin="planned", code=parent.code)
    jobs = _jobs(parents, 2, menu)
    plans = [agent.plan(job).text or "" for job in reversed(jobs)][::-1]
    settings = {tuple(sorted(parse_knobs(agent.implement(CodeJob(job.parent, plan, 0, 0, 0)).code or "").setting().items()))
                for job, plan in zip(jobs, plans)}
    assert len(settings) == 4
    assert all("knob A 1 -> " in p for p in plans[:2]) and all("knob B 16 -> " in p for p in plans[2:])


def test_template_plan_and_failures_are_recorded_not_raised(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    plan = agent.plan(PlanJob(Parent(1, kernel("gemm256_fast.c"), ""), agent.ctx.knowledge.menu, 0, 0, 0))
    assert plan.text == "menu item: use a tuned template; rewrite as template gemm_f32"
    code = agent.implement(CodeJob(Parent(1, "", ""), plan.text, 0, 0, 0)).code
    assert code and "#define M 256 /* @param M */" in code
    bad = agent.plan(PlanJob(Parent(1, "#define X 1 /* @knob values=2 */", ""), agent.ctx.knowledge.menu, 0, 0, 0))
    assert bad.text is None and "line 1" in (bad.error or "")
    none = agent.implement(CodeJob(Parent(1, KNOBBED, ""), "make it faster", 0, 0, 0))
    assert none.code is None and "names no knob change" in (none.error or "")


@pytest.mark.slow
def test_real_tuner_run_improves_and_records_plans_like_a_model(tmp_path: Path, fast_config: Path) -> None:
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--config", str(fast_config),
                    "--iterations", "2", "--beam", "2", "--plans", "3", "--codes", "1",
                    "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert faster(out["best"], 3) and out["llm_calls"] == 0
    assert out["schedule"][0]["menu_item"] == "use a tuned template"
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    knob_plans = [r[0] for r in db.execute("SELECT text FROM plans WHERE iteration = 2")]
    assert knob_plans and all("; knob " in p and " -> " in p for p in knob_plans)
    assert out["validation"]["outcome"] == "ok"


@pytest.mark.slow
def test_a_time_budget_stops_at_an_iteration_boundary(tmp_path: Path, fast_config: Path) -> None:
    """--max-minutes counts from the start (the initial code's evaluation included) and stops before
    an iteration that would overrun; the run still ends normally with its best and a re-check."""
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", "tuner", "--config", str(fast_config),
                    "--iterations", "3", "--beam", "1", "--plans", "1", "--codes", "1", "--max-minutes", "0.001",
                    "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["iterations"] == 0 and out["stopped"].startswith("time budget: ") and "--max-minutes 0.001" in out["stopped"]
    assert out["best"]["iteration"] == 0  # the initial code is the answer


@pytest.mark.slow
def test_mixed_ensemble_with_a_replay_model(tmp_path: Path, fast_config: Path) -> None:
    replay = write_replay(tmp_path / "r.toml", ["Chosen item: 1\nReorder to i-k-j."] * 2,
                          [reply_with_code(kernel("gemm256_fast.c"))] * 4)
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", f"tuner,replay::{replay}", "--config", str(fast_config),
                    "--iterations", "1", "--plans", "4", "--codes", "2", "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    by_model = dict(db.execute("SELECT plan_model, count(*) FROM candidates WHERE origin = 'planned' GROUP BY plan_model"))
    coders = {r[0] for r in db.execute("SELECT DISTINCT code_model FROM candidates WHERE origin = 'planned'")}
    assert by_model == {"tuner": 4, f"replay::{replay}": 4} and coders == {"tuner", f"replay::{replay}"}
    outcomes = dict(db.execute("SELECT c.code_model, e.outcome FROM candidates c JOIN evaluations e USING (code_hash) WHERE c.origin='planned' AND c.plan_model = c.code_model"))
    assert outcomes["tuner"] == "ok" and outcomes[f"replay::{replay}"] == "ok"


def test_template_defaults_that_break_a_constraint_are_replaced_by_a_valid_setting(tmp_path: Path) -> None:
    problem, target = resolve_problem("amx/gemm-bf16-12544x64x256"), get_target("amx")
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "amx", {})
    agent = TunerAgent("tuner", AgentContext(problem, target, target.knowledge, store, None, None, 3))
    texts = set()
    for job in _jobs([Parent(1, problem.initial_code, "")], 4, target.knowledge.menu, 1000):
        plan = agent.plan(job)
        assert plan.text and plan.text.startswith("menu item: use a tuned template; rewrite as template gemm_bf16")
        code = agent.implement(CodeJob(Parent(1, "", ""), plan.text, 0, 0, 0)).code
        spec = parse_knobs(code or "")
        assert spec.params == {"M": 12544, "N": 64, "K": 256} and spec.violated(spec.setting()) is None
        texts.add(plan.text)
    assert len(texts) == 4  # different slots explore different settings


def test_first_template_instance_comes_from_the_shape_class_preset(tmp_path: Path) -> None:
    problem, target = resolve_problem("amx/gemm-i8-12544x64x256"), get_target("amx")
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "amx", {})
    agent = TunerAgent("tuner", AgentContext(problem, target, target.knowledge, store, None, None, 3))
    job = PlanJob(Parent(1, problem.initial_code, ""), target.knowledge.menu, 0, 0, 7)
    plan = agent.plan(job)
    assert plan.text and plan.text.endswith("(preset stream)")
    code = agent.implement(CodeJob(Parent(1, "", ""), plan.text, 0, 0, 0)).code or ""
    setting = parse_knobs(code).setting()
    assert setting["ORDER"] == 3 and setting["MREV"] == 1 and setting["KC"] == 256 and setting["NC"] == 64
    # once the run holds that instance, slot 0 moves on to the next applicable preset, then to neighbours
    store.add_candidate(key="s", iteration=1, origin="planned", code=code)
    second = agent.plan(job).text or ""
    assert second.endswith("(preset skinny)")
    store.add_candidate(key="k", iteration=1, origin="planned",
                        code=agent.implement(CodeJob(Parent(1, "", ""), second, 0, 0, 0)).code)
    # the remaining applicable presets (deep: N <= 256 && K >= 4N), then single-knob moves
    third = agent.plan(job).text or ""
    assert third.endswith("(preset deep)")
    store.add_candidate(key="d", iteration=1, origin="planned",
                        code=agent.implement(CodeJob(Parent(1, "", ""), third, 0, 0, 0)).code)
    fourth = agent.plan(job).text or ""
    assert fourth.endswith("(neighbour of preset stream)")
    moved = parse_knobs(agent.implement(CodeJob(Parent(1, "", ""), fourth, 0, 0, 0)).code or "").setting()
    assert sum(moved[k] != setting[k] for k in setting) == 1


def _reshaped(tmp_path: Path, base: str, template: str, params: dict[str, int], shapes: dict[str, list[int]],
              flops: int, nbytes: int) -> Problem:
    """A copy of built-in problem `base` with other sizes, whose initial code is `template` at those sizes."""
    import re
    import shutil

    folder = tmp_path / f"{base.split('/')[1]}-reshaped"
    shutil.copytree(resolve_problem(base).root, folder)
    toml = (folder / "problem.toml").read_text()
    toml = re.sub(r"^params = .*$", "params = { " + ", ".join(f"{k} = {v}" for k, v in params.items()) + " }", toml, flags=re.M)
    toml = re.sub(r"^flops = \d+", f"flops = {flops}", re.sub(r"^bytes = \d+", f"bytes = {nbytes}", toml, flags=re.M), flags=re.M)
    for tensor, shape in shapes.items():
        toml = re.sub(rf'(name = "{tensor}"\ndtype = "f32"\nshape = )\[[^\]]*\]', rf"\g<1>{shape}", toml)
    (folder / "problem.toml").write_text(toml)
    (folder / "initial.c").write_text(set_defines(get_target("cpu").templates()[template].read_text(), params))
    problem = load_problem(folder)
    assert {t.name: list(t.shape) for t in (*problem.spec.inputs, *problem.spec.outputs)} == shapes
    return problem


def _all_correct(problem: Problem, settings: list[dict[str, int]]) -> None:
    assert_all_correct(get_target("cpu").evaluator(problem, EvalSettings(time=False, trials=2)), problem.initial_code, settings)


def test_cpu_template_is_correct_when_the_register_block_does_not_divide_m(tmp_path: Path) -> None:
    """MR need not divide M (the 6 x 16 block suits AVX2 on power-of-two shapes): the last strip of
    M % MR rows, packed A or not, checked by the real evaluator on an odd-shaped problem folder."""
    problem = _reshaped(tmp_path, "cpu/gemm-f32-256", "gemm_f32", {"M": 100, "N": 32, "K": 128},
                        {"A": [100, 128], "B": [128, 32], "C": [100, 32]}, 2 * 100 * 32 * 128, 4 * (100 * 128 + 128 * 32 + 100 * 32))
    _all_correct(problem, [{"MR": 6, "NV": 1, "KC": 64, "PACK_A": 1, "UNROLL": 2}, {"MR": 8, "NV": 2, "KC": 128, "PACK_A": 0, "UNROLL": 1},
                           {"MR": 3, "NV": 2, "KC": 64, "PACK_A": 1, "UNROLL": 4}])


@pytest.mark.slow
def test_cpu_conv_template_is_correct_on_odd_shapes(tmp_path: Path) -> None:
    """The conv template reads the GEMM's B matrix straight out of the zero-bordered input; odd
    sizes (channels not a multiple of the block, rows not a multiple of the vector) still give
    the reference's answer, for every loop order and packing."""
    ci, co, h, w = 5, 7, 9, 13
    problem = _reshaped(tmp_path, "cpu/conv2d-f32", "conv_f32", {"CI": ci, "CO": co, "H": h, "WD": w, "KH": 3, "PAD": 1},
                        {"X": [1, ci, h, w], "W": [co, ci, 3, 3], "Y": [1, co, h, w]},
                        2 * co * h * w * ci * 9, 4 * (ci * h * w + co * ci * 9 + co * h * w))
    _all_correct(problem, [{"MR": 6, "NV": 1, "PACK_W": 1, "ORDER": 0, "UNROLL": 3}, {"MR": 4, "NV": 2, "PACK_W": 0, "ORDER": 1, "UNROLL": 1},
                           {"MR": 3, "NV": 1, "PACK_W": 1, "ORDER": 1, "UNROLL": 1}, {"MR": 8, "NV": 2, "PACK_W": 0, "ORDER": 0, "UNROLL": 1}])


@pytest.mark.slow
def test_real_tuner_run_on_a_convolution_improves(tmp_path: Path, fast_config: Path) -> None:
    """The tuner rewrites the naive conv as the conv template and moves its knobs: several times
    faster than the initial loops (vendor comparisons belong to benchmarks, not tests)."""
    proc = autocomp("optimize", "cpu/conv2d-f32", "--models", "tuner", "--config", str(fast_config),
                    "--iterations", "2", "--beam", "2", "--plans", "3", "--codes", "1",
                    "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["schedule"][0]["menu_item"] == "use a tuned template" and faster(out["best"], 5)
    assert out["validation"]["outcome"] == "ok"


def test_conv_template_is_not_offered_for_another_kernel_size(tmp_path: Path) -> None:
    problem = _reshaped(tmp_path, "cpu/conv2d-f32", "conv_f32", {"CI": 4, "CO": 4, "H": 8, "WD": 8, "KH": 5, "PAD": 2},
                        {"X": [1, 4, 8, 8], "W": [4, 4, 5, 5], "Y": [1, 4, 8, 8]}, 2 * 4 * 64 * 4 * 25, 4 * (256 + 400 + 256))
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "cpu", {})
    target = get_target("cpu")
    agent = TunerAgent("tuner", AgentContext(problem, target, target.knowledge, store, None, None, 1))
    plan = agent.plan(PlanJob(Parent(1, "void conv2d(void) {}", ""), target.knowledge.menu, 0, 0, 0))
    assert plan.text is None and "no knob setting of template conv_f32 satisfies its constraints" in (plan.error or "")


def test_amx_convolutions_get_the_conv_template(tmp_path: Path) -> None:
    problem, target = resolve_problem("amx/conv-bf16-56x56x64-64"), get_target("amx")
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "amx", {})
    agent = TunerAgent("tuner", AgentContext(problem, target, target.knowledge, store, None, None, 1))
    plan = agent.plan(PlanJob(Parent(1, problem.initial_code, ""), target.knowledge.menu, 0, 0, 0))
    assert plan.text == "menu item: use a tuned template; rewrite as template conv_bf16"
    code = agent.implement(CodeJob(Parent(1, "", ""), plan.text, 0, 0, 0)).code
    assert parse_knobs(code or "").params == {"H": 56, "W": 56, "Cin": 64, "Cout": 64}


@pytest.mark.slow
def test_cpu_softmax_template_is_correct_on_other_shapes(tmp_path: Path) -> None:
    """The vectorized exp and the three passes on a small odd shape, every knob combination."""
    problem = _reshaped(tmp_path, "cpu/softmax-f32", "softmax_f32", {"ROWS": 7, "COLS": 64},
                        {"X": [7, 64], "Y": [7, 64]}, 5 * 7 * 64, 2 * 4 * 7 * 64)
    _all_correct(problem, [{"UNROLL": u, "RECOMPUTE": r, "DIVIDE": d} for u in (1, 2, 4) for r in (0, 1) for d in (0, 1)])


def test_cpu_softmax_template_is_correct_when_the_vector_step_does_not_divide_the_row(tmp_path: Path) -> None:
    """COLS = 1000 (not a multiple of 16) was refused by a constraint; the tail now goes one
    column at a time through the same exp."""
    problem = _reshaped(tmp_path, "cpu/softmax-f32", "softmax_f32", {"ROWS": 5, "COLS": 1000},
                        {"X": [5, 1000], "Y": [5, 1000]}, 5 * 5 * 1000, 2 * 4 * 5 * 1000)
    _all_correct(problem, [{"UNROLL": u, "RECOMPUTE": r, "DIVIDE": d} for u, r, d in ((4, 0, 0), (2, 1, 1), (1, 0, 1))])


@pytest.mark.slow
def test_real_tuner_run_on_softmax_improves(tmp_path: Path, fast_config: Path) -> None:
    proc = autocomp("optimize", "cpu/softmax-f32", "--models", "tuner", "--config", str(fast_config),
                    "--iterations", "1", "--plans", "2", "--codes", "1", "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["schedule"][0]["menu_item"] == "use a tuned template" and faster(out["best"], 4)


@pytest.mark.slow
def test_real_tuner_run_on_a_gemmini_convolution_improves(tmp_path: Path, fast_config: Path) -> None:
    """Gemmini conv: the tuner starts from the conv template's small-image preset (a 14x14 image)
    and moves its knobs; modeled cycles are deterministic, so the speedup bound is tight."""
    proc = autocomp("optimize", "gemmini/conv-3", "--models", "tuner", "--config", str(fast_config),
                    "--iterations", "2", "--beam", "2", "--plans", "3", "--codes", "1",
                    "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    first = out["schedule"][0]
    assert first["menu_item"] == "use a tuned template" and "rewrite as template conv_ws" in first["plan_text"]
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    assert "(preset small_image)" in db.execute("SELECT text FROM plans WHERE iteration = 1 ORDER BY id").fetchone()[0]
    assert out["best"]["speedup_vs_initial"] > 3.0 and out["best"]["metric"] == "cycles"
    assert out["validation"]["outcome"] == "ok"


def test_cpu_gemm_template_is_correct_for_any_m_n_k(tmp_path: Path) -> None:
    """No shape is refused: N not a multiple of the panel width (the last panel is zero-padded and
    copied out), K not a multiple of KC (a shorter last block) and M not a multiple of MR, alone and
    together, packed A or not, checked by the real evaluator."""
    m, n, k = 13, 37, 70
    problem = _reshaped(tmp_path, "cpu/gemm-f32-256", "gemm_f32", {"M": m, "N": n, "K": k},
                        {"A": [m, k], "B": [k, n], "C": [m, n]}, 2 * m * n * k, 4 * (m * k + k * n + m * n))
    _all_correct(problem, [{"MR": 6, "NV": 1, "KC": 64, "PACK_A": 1, "UNROLL": 2}, {"MR": 4, "NV": 2, "KC": 64, "PACK_A": 0, "UNROLL": 4},
                           {"MR": 1, "NV": 2, "KC": 128, "PACK_A": 1, "UNROLL": 1}, {"MR": 8, "NV": 1, "KC": 128, "PACK_A": 0, "UNROLL": 2}])


def test_cpu_gemm_template_fits_an_awkward_shape(tmp_path: Path) -> None:
    """77 x 1000 x 333 (N not a multiple of 16, K of any block) once got no template at all."""
    m, n, k = 77, 1000, 333
    problem = _reshaped(tmp_path, "cpu/gemm-f32-256", "gemm_f32", {"M": m, "N": n, "K": k},
                        {"A": [m, k], "B": [k, n], "C": [m, n]}, 2 * m * n * k, 4 * (m * k + k * n + m * n))
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "cpu", {})
    target = get_target("cpu")
    agent = TunerAgent("tuner", AgentContext(problem, target, target.knowledge, store, None, None, 1))
    plan = agent.plan(PlanJob(Parent(1, "void gemm(const float *A, const float *B, float *C) {}", ""), target.knowledge.menu, 0, 0, 0))
    assert plan.text and "rewrite as template gemm_f32" in plan.text, plan.error
    _all_correct(problem, [{"MR": 6, "NV": 1, "KC": 256, "PACK_A": 1, "UNROLL": 1}, {"MR": 4, "NV": 2, "KC": 512, "PACK_A": 0, "UNROLL": 2}])


def test_every_builtin_problem_fits_the_templates_of_its_family() -> None:
    """The templates' `shapes=` declarations, checked against every shipped problem (non-square
    GEMMs included): a wrong one would refuse a problem the template serves."""
    from autocomp.targets.registry import builtin_problems
    from autocomp.templates import for_problem

    fitted = 0
    for problem in builtin_problems():
        fits, refused, inapplicable = for_problem(problem, get_target(problem.target).root / "templates")
        assert not refused and not inapplicable, (problem.name, refused, inapplicable)
        fitted += bool(fits)
    assert fitted >= 30
