"""AMX kernels checked on the functional emulator, on any x86-64 CPU with AVX2 (AMX or not).

What runs here: the emulator follows the hardware (the broken kernels of tests/data/amx fail the
way they do on a real AMX core), every AMX problem's initial code is correct, and every knob
setting the tuner starts the GEMM and conv templates from (presets and defaults), plus random
valid settings, computes the right answer. Speed needs the real tile unit: see test_amx.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.result import Outcome
from autocomp.knobs import parse_knobs, set_defines
from autocomp.problem import Problem
from autocomp.targets.amx.emulation import emulated_evaluator, unavailable_reason
from autocomp.targets.registry import builtin_problems, get_target, resolve_problem
from conftest import assert_all_correct

_REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"AMX emulator: {_REASON}")

DATA = Path(__file__).parent / "data" / "amx"
EMULATED_FLOPS = 1.1e9  # the emulator runs ~0.5 GMAC/s: 1024^3 and 2048^3 problems stay with the hardware tests
SMALL = sorted(p.spec.name for p in builtin_problems() if p.target == "amx" and p.spec.flops <= EMULATED_FLOPS)
TEMPLATES = {"gemm-bf16": "gemm_bf16", "gemm-i8": "gemm_i8", "conv-bf16": "conv_bf16"}  # family -> template
TEMPLATED = [p.spec.name for p in builtin_problems()
             if p.target == "amx" and p.spec.flops <= EMULATED_FLOPS and p.spec.family in TEMPLATES]


def _evaluator(problem: Problem):  # type: ignore[no-untyped-def]
    return emulated_evaluator(problem, EvalSettings(time=False, trials=2, timeout_s=120))


def _template(problem: Problem) -> str:
    """The template of the problem's family with the problem's shape filled in."""
    text = get_target("amx").templates()[TEMPLATES[problem.spec.family]].read_text()
    assert f"@template family={problem.spec.family}" in text
    return set_defines(text, {p: problem.spec.params[p] for p in parse_knobs(text).params})


@pytest.fixture(scope="module")
def gemm256():
    ev = _evaluator(resolve_problem("amx/gemm-bf16-256"))
    yield ev
    ev.close()


@pytest.fixture(scope="module")
def emulated():  # type: ignore[no-untyped-def]
    """One emulated evaluator per problem for the whole module: its harness is built once (seconds
    on a loaded machine), not once per test that checks the problem."""
    built: dict[str, object] = {}

    def get(name: str):  # type: ignore[no-untyped-def]
        if name not in built:
            built[name] = _evaluator(resolve_problem(f"amx/{name}"))
        return built[name]

    yield get
    for ev in built.values():
        ev.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name, outcome, says", [
    ("wrong_vnni", Outcome.WRONG_ANSWER, "outside tolerance"),
    pytest.param("bad_colsb", Outcome.CRASH, "a tile row holds at most 64 bytes", marks=pytest.mark.slow),
    pytest.param("bad_reserved", Outcome.CRASH, "reserved bytes 2..15 must be zero", marks=pytest.mark.slow),
    pytest.param("unconfigured_tile", Outcome.CRASH, "killed by SIGILL", marks=pytest.mark.slow),
    ("oob_store", Outcome.CRASH, "killed by SIGSEGV"),
    ("no_tiles", Outcome.POLICY_VIOLATION, "no AMX tile dot-product"),
])
def test_broken_kernels_fail_as_on_hardware(gemm256, name: str, outcome: Outcome, says: str) -> None:
    result = gemm256.evaluate((DATA / f"{name}.c").read_text())
    assert result.outcome is outcome, result
    assert says in (result.error or ""), result.error


@pytest.mark.slow
def test_tile_shape_mismatch_and_misaligned_stores_fault(gemm256) -> None:
    problem = resolve_problem("amx/gemm-bf16-256")
    good = problem.initial_code
    assert gemm256.evaluate(good).outcome is Outcome.OK
    # B tile given 8 rows while A holds 32 bf16 pairs... rows: a shape mismatch is #UD on hardware
    mismatch = good.replace("_tile_loadconfig(&cfg);", "cfg.rows[2] = 8;\n  _tile_loadconfig(&cfg);", 1)
    assert mismatch != good
    result = gemm256.evaluate(mismatch)
    assert result.outcome is Outcome.CRASH and "tile shapes do not match" in (result.error or ""), result
    # an aligned AVX-512 store to an address that is not 64-byte aligned is #GP
    template = _template(problem)
    misaligned = template.replace("_mm512_store_si512(d0,", "_mm512_store_si512((char *)d0 + 4,", 1)
    assert misaligned != template
    result = gemm256.evaluate(misaligned)
    assert result.outcome is Outcome.CRASH and "not 64-byte aligned" in (result.error or ""), result


def test_emulator_never_times() -> None:
    with pytest.raises(ValueError, match="correctness only"):
        emulated_evaluator(resolve_problem("amx/gemm-bf16-256"), EvalSettings())


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL)
def test_initial_code_is_correct_on_the_emulator(emulated, name: str) -> None:  # type: ignore[no-untyped-def]
    result = emulated(name).evaluate(resolve_problem(f"amx/{name}").initial_code)
    assert result.outcome is Outcome.OK, result.error


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEMPLATED))
def test_every_template_starting_point_is_correct(emulated, name: str) -> None:  # type: ignore[no-untyped-def]
    """The presets that apply to the shape and the defaults: what `--models tuner` starts from."""
    problem = resolve_problem(f"amx/{name}")
    code = _template(problem)
    spec = parse_knobs(code)
    starts = [setting for _, setting in spec.preset_settings()] + ([spec.setting()] if spec.violated(spec.setting()) is None else [])
    assert starts, "no valid starting point"
    assert_all_correct(emulated(name), code, starts, close=False)


@pytest.mark.slow
@pytest.mark.parametrize("name, huge_shape", [("gemm-bf16-784x256x1024", 2048), ("gemm-i8-1024", 2048)])
def test_huge_preset_is_correct_on_a_smaller_shape(name: str, huge_shape: int) -> None:
    """The `huge` preset (CNT 2, PACKA 3, PFN 2 ...) only applies at 2048^3, too slow to emulate;
    its knob setting is checked on the smallest problem where it satisfies every constraint too:
    bf16 on 784x256x1024 (two K blocks of KC 512, a partial M block; a fifth of 1024^3's work),
    int8 at 1024^3 (its KC 1024 and NC 512 fit no smaller problem)."""
    problem = resolve_problem(f"amx/{name}")
    code = _template(problem)
    big = parse_knobs(set_defines(code, {"M": huge_shape, "N": huge_shape, "K": huge_shape}))
    (setting,) = [s for label, s in big.preset_settings() if label == "huge"]
    assert parse_knobs(code).violated(setting) is None
    assert_all_correct(emulated_evaluator(problem, EvalSettings(time=False, trials=2, adversarial=False, timeout_s=300)),
                       code, [setting])


@pytest.mark.slow
def test_every_conv_template_setting_is_correct(emulated) -> None:  # type: ignore[no-untyped-def]
    """All 8 settings of the conv template (register blocking MB x NB, loop order) on the shape
    where pixel blocks cross rows most often (W = 14: 16-pixel blocks over rows of 16)."""
    problem = resolve_problem("amx/conv-bf16-14x14x256-256")
    code = _template(problem)
    spec = parse_knobs(code)
    settings = [{"MB": mb, "NB": nb, "ORDER": order} for mb in (1, 2) for nb in (1, 2) for order in (0, 1)]
    assert all(spec.violated(s) is None for s in settings) and set(spec.knobs) == {"MB", "NB", "ORDER"}
    assert_all_correct(emulated(problem.spec.name), code, settings, close=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemm-bf16-256", "gemm-i8-256"])
def test_random_template_settings_are_correct(emulated, name: str) -> None:  # type: ignore[no-untyped-def]
    """Settings no preset names, 3 per problem: each costs a compile (~5 s on a loaded machine),
    while the knob combinations come from the seeded draw, so a new seed covers others."""
    problem = resolve_problem(f"amx/{name}")
    code = _template(problem)
    spec = parse_knobs(code)
    rng = random.Random(f"emulated/{name}")
    settings: list[dict[str, int]] = []
    while len(settings) < 3:
        setting = {k: rng.choice(knob.values) for k, knob in spec.knobs.items()}
        if spec.violated(setting) is None:
            settings.append(setting)
    assert_all_correct(emulated(name), code, settings, close=False)


@pytest.mark.slow
def test_eval_emulate_on_the_command_line(tmp_path: Path) -> None:
    import json

    from conftest import autocomp

    ok = autocomp("eval", "amx/gemm-i8-256", "--emulate", "--json")
    assert ok.returncode == 0, ok.stderr
    row = json.loads(ok.stdout)
    assert row["outcome"] == "ok" and row["emulated"] is True and row["value"] is None and row["speedup"] is None
    wrong = autocomp("eval", "amx/gemm-bf16-256", str(DATA / "wrong_vnni.c"), "--emulate")
    assert wrong.returncode == 1, wrong.stderr  # evaluated, not correct
    assert "wrong_answer" in wrong.stdout and "functional emulator" in wrong.stdout and "not timed" in wrong.stdout
    none = autocomp("eval", "cpu/gemm-f32-256", "--emulate")
    assert none.returncode != 0 and "the cpu target has no emulator; run without --emulate" in none.stderr


def test_an_intrinsic_the_emulator_lacks_is_named(gemm256) -> None:
    code = resolve_problem("amx/gemm-bf16-256").initial_code.replace(
        "  _tile_release();", "  C[0] += _mm512_reduce_add_ps(_mm512_set1_ps(0.0f));\n  _tile_release();", 1)
    result = gemm256.evaluate(code)
    assert result.outcome is Outcome.COMPILE_ERROR, result
    assert "the AMX emulator does not emulate _mm512_reduce_add_ps" in (result.error or "")
