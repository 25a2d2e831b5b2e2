"""The kernel-language seam: a problem's language comes from its target (`kernel.language`
picks among the target's), its initial code is `initial<suffix>`, prompts and the reply parser
take fences and definitions from the language; the `[check]` table of small shapes; f16."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from autocomp.agents.llm_agent import render
from autocomp.agents.parsing import extract_code
from autocomp.dtypes import DTYPES
from autocomp.errors import ProblemError
from autocomp.evaluation.base import EvalSettings
from autocomp.evaluation.c_language import C_LANGUAGE
from autocomp.evaluation.result import Outcome
from autocomp.language import KernelLanguage
from autocomp.problem import load_problem
from autocomp.targets.registry import get_target

GEMM_DIR = get_target("cpu").problems_dir / "gemm-f32-256"
CHECK_TABLE = '\n[check]\nparams = { N = 8 }\nshapes = { A = [8, 8], B = [8, 8], C = [8, 8] }\n'

PYTHON = KernelLanguage(
    key="triton", name="Triton (Python)", fence="python", accepted_fences=("", "python", "py"), suffix=".py",
    definition=r"^\s*def\s+{entry}\s*\(", signature=lambda p: f"def {p.spec.kernel.entry}({', '.join(p.spec.kernel.args)})",
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dst = tmp_path / "gemm-f32-256"
    shutil.copytree(GEMM_DIR, dst)
    return dst


def edit_toml(folder: Path, old: str, new: str) -> None:
    path = folder / "problem.toml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))


def load_error(folder: Path) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        load_problem(folder)
    return info.value


def test_a_c_targets_problem_is_c_by_default_and_by_name(folder: Path) -> None:
    problem = load_problem(folder)
    assert problem.language is C_LANGUAGE and get_target("cpu").languages[0] is C_LANGUAGE
    assert problem.initial_file == folder.resolve() / "initial.c"
    assert problem.signature() == problem.c_signature()
    edit_toml(folder, 'entry = "gemm"', 'entry = "gemm"\nlanguage = "c"')
    assert load_problem(folder).language is C_LANGUAGE


def test_a_language_the_target_lacks_names_the_field_and_the_choices(folder: Path) -> None:
    edit_toml(folder, 'entry = "gemm"', 'entry = "gemm"\nlanguage = "triton"')
    err = load_error(folder)
    assert err.file == str(folder / "problem.toml") and err.field == "kernel.language"
    assert "cpu target takes no 'triton' kernels; expected one of 'c'" in str(err)


def test_an_unknown_target_is_an_error_on_the_target_field(folder: Path) -> None:
    edit_toml(folder, 'target = "cpu"', 'target = "tpu"')
    err = load_error(folder)
    assert err.field == "target" and "unknown target 'tpu'; installed targets: " in str(err) and "cpu" in str(err)


def test_the_check_table_gives_every_tensor_a_small_shape(folder: Path) -> None:
    (folder / "problem.toml").write_text((folder / "problem.toml").read_text() + CHECK_TABLE)
    check = load_problem(folder).spec.check
    assert check is not None and check.shapes == {"A": (8, 8), "B": (8, 8), "C": (8, 8)} and check.params == {"N": 8}
    assert check.scalars == {}


@pytest.mark.parametrize("table, message", [
    ("shapes = { A = [8, 8], B = [8, 8] }", "check.shapes: must give every input and output a small shape; missing ['C']"),
    ("shapes = { A = [8, 8], B = [8, 8], C = [8, 8], D = [1, 1] }", "check.shapes: names ['D'], which are not inputs or outputs"),
    ("shapes = { A = [8, 0], B = [8, 8], C = [8, 8] }", "check.shapes.A: must be 2 positive integers"),
    ("shapes = { A = [64], B = [8, 8], C = [8, 8] }", "check.shapes.A: must be 2 positive integers (the rank of its shape [256, 256]), got [64]"),
    ("shapes = { A = [8, 8], B = [8, 8], C = [8, 8] }\nparams = { Q = 8 }", "check.params: names ['Q'], which are not in the problem's params"),
    ("shapes = { A = [8, 8], B = [8, 8], C = [8, 8] }\nscalars = { n = 8 }", "check.scalars: names ['n'], which are not in the problem's scalars"),
    ("shapes = { A = [8, 8], B = [8, 8], C = [8, 8] }\nshape = 1", "unknown field; did you mean `shapes`?"),
])
def test_a_bad_check_table_names_what_to_fix(folder: Path, table: str, message: str) -> None:
    (folder / "problem.toml").write_text((folder / "problem.toml").read_text() + f"\n[check]\n{table}\n")
    err = load_error(folder)
    assert err.field.startswith("check"), str(err)
    assert message in str(err), str(err)


def test_prompts_ask_for_the_problems_language_and_fence(folder: Path) -> None:
    problem, target = load_problem(folder), get_target("cpu")
    common = dict(target="x", architecture="arch", description="d", hardware="h", rules=["r"], parent_code="CODE",
                  feedback="f", plan="p", menu=(), reuse=None, history=(), code="CODE", failure="boom", attempt=1,
                  initial_code="CODE", count=2)
    for template in ("plan.j2", "implement.j2", "implement_edits.j2", "direct.j2", "repair.j2", "extend_menu.j2"):
        c_prompt = render(template, **common, signature=problem.signature(), language=problem.language.name, fence="c")
        py_prompt = render(template, **common, signature="def kernel(A, B, C)", language=PYTHON.name, fence=PYTHON.fence)
        assert "```c\nCODE\n```" in c_prompt and "```python\nCODE\n```" in py_prompt, template
        assert "```c" not in py_prompt and " C file" not in py_prompt and "C signature" not in py_prompt, template
    assert "complete Triton (Python) file\nin a single ```python fenced block" in render(
        "implement.j2", **common, signature="def kernel(A, B, C)", language=PYTHON.name, fence=PYTHON.fence)
    assert target.languages == (C_LANGUAGE,)


def test_the_parser_takes_the_languages_fences_and_definitions() -> None:
    kernel = "import triton\n\ndef kernel(A, B, C):\n    C.copy_(A @ B)\n"
    usage = "kernel(A, B, C)\n"
    reply = f"Plan.\n```python\n{kernel}```\nUse it so:\n```py\n{usage}```\nAnd in C:\n```c\nvoid kernel(float *A) {{ }}\n```"
    assert extract_code(reply, "kernel", PYTHON) == kernel  # the definition, not the later usage or the C block
    assert extract_code(reply, "kernel", C_LANGUAGE) == "void kernel(float *A) { }\n"
    assert extract_code("no code at all, only talk of kernel(A)", "kernel", PYTHON) is None  # no unfenced reader


def test_f16_is_a_c_dtype_verified_end_to_end(tmp_path: Path) -> None:
    """An f16 problem on the cpu target: `_Float16` buffers built, poisoned, run by real gcc code
    and compared (a kernel that skips the last element is caught)."""
    assert DTYPES["f16"].ctype == "_Float16" and DTYPES["f16"].storage == np.dtype(np.float16)
    (tmp_path / "problem.toml").write_text(
        'name = "scale-f16"\ntarget = "cpu"\ndescription = "y = 2x"\nflops = 64\nbytes = 256\n'
        '[kernel]\nentry = "scale"\nargs = ["x", "y"]\n'
        '[[inputs]]\nname = "x"\ndtype = "f16"\nshape = [64]\ndistribution = { kind = "uniform" }\n'
        '[[outputs]]\nname = "y"\ndtype = "f16"\nshape = [64]\ntolerance = { rtol = 1e-3, atol = 1e-3 }\n')
    good = "void scale(const _Float16 *restrict x, _Float16 *restrict y) { for (int i = 0; i < 64; i++) y[i] = 2 * x[i]; }\n"
    (tmp_path / "initial.c").write_text(good)
    (tmp_path / "reference.py").write_text("def reference(x):\n    return 2 * x\n")
    problem = load_problem(tmp_path)
    assert problem.c_signature() == "void scale(const _Float16 *restrict x, _Float16 *restrict y)"
    evaluator = get_target("cpu").evaluator(problem, EvalSettings(time=False, trials=2, timeout_s=20))
    try:
        assert evaluator.evaluate(good).outcome is Outcome.OK
        short = evaluator.evaluate(good.replace("i < 64", "i < 63"))
        assert short.outcome is Outcome.WRONG_ANSWER and "NaN" in (short.error or "")
    finally:
        evaluator.close()


def test_a_targets_templates_are_its_languages_files(tmp_path: Path) -> None:
    from autocomp.targets.base import HardwareFacts, Target

    class TwoLanguages(Target):
        name, root, languages = "two", tmp_path, (C_LANGUAGE, PYTHON)

        def hardware(self) -> HardwareFacts:
            return HardwareFacts("none", {})

        def evaluator(self, problem, settings):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def feedback(self, problem, result):  # type: ignore[no-untyped-def]
            return ""

    (tmp_path / "templates").mkdir()
    for name in ("gemm.c", "gemm_triton.py", "notes.md"):
        (tmp_path / "templates" / name).write_text("x")
    assert set(TwoLanguages().templates()) == {"gemm", "gemm_triton"}


def test_a_c_target_swaps_one_stage_and_keeps_the_rest(tmp_path: Path) -> None:
    """The C pipeline's stages are named: a target replaces the time stage and the policy,
    build and verify stages still run (a wrong kernel is still caught by the default verify)."""
    from dataclasses import replace

    from autocomp.evaluation.c_kernel import C_STAGES, CandidateRun, CKernelEvaluator
    from autocomp.evaluation.result import EvalResult, MetricKind

    def count_trials(ev: CKernelEvaluator, run: CandidateRun) -> EvalResult:
        assert run.verification is not None  # the default verify stage ran first
        return EvalResult(outcome=Outcome.OK, details={"timed": False, "verified_trials": len(run.trials)})

    problem = load_problem(GEMM_DIR)
    target = get_target("cpu")
    assert target.evaluator(problem, EvalSettings(time=False)).metric is MetricKind.LATENCY
    ev = CKernelEvaluator(problem, target.toolchain, EvalSettings(trials=2, adversarial=False, timeout_s=20), None,
                          stages=replace(C_STAGES, time=count_trials))
    try:
        assert ev.evaluate(problem.initial_code).details == {"timed": False, "verified_trials": 2}
        assert ev.evaluate("int gemm;").outcome is Outcome.POLICY_VIOLATION  # the default policy stage
        wrong = problem.initial_code.replace("= acc;", "= acc + 1.0f;")
        assert wrong != problem.initial_code and ev.evaluate(wrong).outcome is Outcome.WRONG_ANSWER
    finally:
        ev.close()
