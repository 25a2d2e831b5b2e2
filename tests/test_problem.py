"""Loading and validating problem folders (autocomp/problem.py), the degenerate-reference
check, and bf16 conversions (autocomp/dtypes.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from autocomp.dtypes import DTYPES, bf16_bits, bf16_values, to_logical, to_storage
from autocomp.errors import ProblemError, UserError
from autocomp.evaluation.checks import Trial, check_not_degenerate
from autocomp.problem import Normal, RandInt, Uniform, load_problem
from autocomp.targets.registry import get_target, resolve_problem

GEMM_DIR = get_target("cpu").problems_dir / "gemm-f32-256"
GEMM_SIGNATURE = "void gemm(const float *restrict A, const float *restrict B, float *restrict C)"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private, valid copy of cpu/gemm-f32-256 to break in each test."""
    dst = tmp_path / "gemm-f32-256"
    shutil.copytree(GEMM_DIR, dst)
    return dst


def edit_toml(folder: Path, old: str, new: str) -> Path:
    path = folder / "problem.toml"
    text = path.read_text()
    assert old in text, f"{old!r} not in problem.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def load_error(folder: Path) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        load_problem(folder)
    return info.value


# ---- valid problems ---------------------------------------------------------------------------


def test_valid_problem_loads(folder: Path) -> None:
    problem = load_problem(folder)
    assert problem.c_signature() == GEMM_SIGNATURE
    assert problem.name == "cpu/gemm-f32-256" and problem.target == "cpu"
    assert problem.root == folder.resolve()
    assert problem.initial_code == (folder / "initial.c").read_text()
    spec = problem.spec
    assert spec.flops == 2 * 256**3 and spec.bytes == 3 * 256 * 256 * 4
    assert spec.kernel.entry == "gemm" and spec.kernel.args == ("A", "B", "C")
    assert [t.name for t in spec.inputs] == ["A", "B"] and [t.name for t in spec.outputs] == ["C"]
    assert isinstance(spec.inputs[0].distribution, Uniform)
    assert spec.inputs[0].nbytes == 256 * 256 * 4 and spec.inputs[0].dt is DTYPES["f32"]
    assert spec.outputs[0].tolerance.rtol == 1e-4 and spec.outputs[0].tolerance.norm == 1e-5


def test_builtin_problem_signature() -> None:
    assert resolve_problem("cpu/gemm-f32-256").c_signature() == GEMM_SIGNATURE


def test_resolve_problem_accepts_a_path(folder: Path) -> None:
    assert resolve_problem(str(folder)).root == folder.resolve()


def test_resolve_unknown_problem_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no problem 'cpu/nope'"):
        resolve_problem("cpu/nope")


def test_reference_computes_float64_product(folder: Path) -> None:
    problem = load_problem(folder)
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (256, 256)).astype(np.float32), rng.uniform(-1, 1, (256, 256)).astype(np.float32)
    out = problem.reference()(A=a, B=b)
    assert out.dtype == np.float64 and out.shape == (256, 256)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64))


def test_signature_with_scalars_and_other_dtypes(folder: Path) -> None:
    edit_toml(folder, 'args = ["A", "B", "C"]', 'args = ["n", "A", "B", "C"]')
    edit_toml(folder, "[kernel]", "[scalars]\nn = 256\n\n[kernel]")
    edit_toml(folder, 'name = "B"\ndtype = "f32"', 'name = "B"\ndtype = "bf16"')
    edit_toml(folder, 'name = "C"\ndtype = "f32"', 'name = "C"\ndtype = "i32"')
    (folder / "initial.c").write_text("#include <stdint.h>\nvoid gemm(int n, const float *A, const uint16_t *B, int32_t *C) {}\n")
    (folder / "reference.py").write_text("def reference(A, B, n):\n    return A @ B\n")
    problem = load_problem(folder)
    assert problem.spec.scalars == {"n": 256}
    assert problem.c_signature() == (
        "void gemm(int n, const float *restrict A, const uint16_t *restrict B, int32_t *restrict C)")


def test_other_distributions_load(folder: Path) -> None:
    edit_toml(folder, '{ kind = "uniform", low = -1.0, high = 1.0 }', '{ kind = "normal", std = 0.0625 }')
    edit_toml(folder, '{ kind = "uniform", low = -1.0, high = 1.0 }', '{ kind = "randint", low = -8, high = 8 }')
    spec = load_problem(folder).spec
    assert spec.inputs[0].distribution == Normal(kind="normal", mean=0.0, std=0.0625)
    assert spec.inputs[1].distribution == RandInt(kind="randint", low=-8, high=8)


# ---- malformed problems: each error names file, field and expectation --------------------------


def test_missing_problem_toml(folder: Path) -> None:
    (folder / "problem.toml").unlink()
    err = load_error(folder)
    assert str(err).startswith(f"{folder / 'problem.toml'}: (file): not found")
    assert "needs problem.toml, its initial code (initial.c for C targets) and reference.py" in str(err)
    assert isinstance(err, UserError) and err.file == str(folder / "problem.toml")


def test_invalid_toml_syntax(folder: Path) -> None:
    edit_toml(folder, 'target = "cpu"', 'target = "cpu')
    err = load_error(folder)
    assert str(err).startswith(f"{folder / 'problem.toml'}: (syntax): invalid TOML:")
    assert err.field == "(syntax)"
    assert "line 2" in str(err)  # tomllib's position of the unterminated string


@pytest.mark.parametrize("old, new, field, expectation", [
    ("flops = 33554432     # 2*M*N*K\n", "", "flops", "required field is missing"),
    ("flops = 33554432", "flops = 0", "flops", "greater than 0"),
    ('dtype = "f32"', 'dtype = "f33"', "inputs[0].dtype",
     "unknown dtype 'f33'; expected one of f32, f64, f16, bf16, i8, u8, i16, u16, i32, u32, i64"),
    ("shape = [256, 256]", "shape = [-1, 256]", "inputs[0].shape",
     "every dimension must be a positive integer, got [-1, 256]"),
    ("shape = [256, 256]", "shape = []", "inputs[0].shape", "at least 1 item"),
    ('kind = "uniform"', 'kind = "gaussian"', "inputs[0].distribution",
     "unknown distribution kind; expected uniform, normal or randint"),
    ('family = "gemm"', 'famly = "gemm"', "famly", "unknown field; did you mean `family`?"),
    ("tolerance = { rtol", "tolerence = { rtol", "outputs[0].tolerence", "unknown field; did you mean `tolerance`?"),
    ("low = -1.0, high = 1.0 }", "low = -1.0, hi = 1.0 }", "inputs[0].distribution.hi", "unknown field; did you mean `high`?"),
    ("shape = [256, 256]", "shap = [256, 256]", "inputs[0].shap", "did you mean `shape`?"),  # not "shape: missing"
    ('entry = "gemm"', 'entyr = "gemm"', "kernel.entyr", "did you mean `entry`? (this table's fields: entry, args"),
    ("flops = 33554432", "flop = 33554432", "flop", "did you mean `flops`?"),
    ('entry = "gemm"', 'entry = "gemm kernel"', "kernel.entry", "should match pattern"),
    ('name = "gemm-f32-256"', 'name = "Gemm F32"', "name", "should match pattern"),
    ("rtol = 1e-4", "rtol = -1e-4", "outputs[0].tolerance.rtol", "greater than or equal to 0"),
    ('dtype = "f32"\nshape = [256, 256]\ndistribution',
     'dtype = "f32"\nshape = [256, 256]\nlayout = "diagonal"\ndistribution', "inputs[0].layout", "'row-major' or 'col-major'"),
])
def test_malformed_field(folder: Path, old: str, new: str, field: str, expectation: str) -> None:
    edit_toml(folder, old, new)
    err = load_error(folder)
    assert err.file == str(folder / "problem.toml")
    assert err.field == field
    assert str(err).startswith(f"{folder / 'problem.toml'}: {field}: ")
    assert expectation in str(err)


def test_kernel_args_naming_an_undeclared_tensor(folder: Path) -> None:
    edit_toml(folder, 'args = ["A", "B", "C"]', 'args = ["A", "B", "D"]')
    err = load_error(folder)
    assert str(err).startswith(str(folder / "problem.toml"))
    assert "kernel.args names ['D'] that are not declared; expected names from ['A', 'B', 'C']" in str(err)


def test_kernel_args_must_pass_every_tensor(folder: Path) -> None:
    edit_toml(folder, 'args = ["A", "B", "C"]', 'args = ["A", "C"]')
    err = load_error(folder)
    assert "kernel.args must pass every declared tensor and scalar; missing ['B']" in str(err)


def test_duplicate_tensor_names(folder: Path) -> None:
    edit_toml(folder, 'name = "B"', 'name = "A"')
    edit_toml(folder, 'args = ["A", "B", "C"]', 'args = ["A", "C"]')
    err = load_error(folder)
    assert "names must be unique across inputs, outputs and scalars: ['A']" in str(err)


@pytest.mark.parametrize("missing", ["initial.c", "reference.py"])
def test_missing_companion_file(folder: Path, missing: str) -> None:
    (folder / missing).unlink()
    err = load_error(folder)
    assert err.file == str(folder / missing)
    assert str(err) == f"{folder / missing}: (file): not found; every cpu problem folder needs {missing}"


def test_reference_that_fails_to_import_is_reported_when_called(folder: Path) -> None:
    (folder / "reference.py").write_text("import numpy as np\nimport no_such_module_xyz\n\ndef reference(A, B):\n    return A @ B\n")
    problem = load_problem(folder)  # loading does not import the reference
    with pytest.raises(ProblemError) as info:
        problem.reference()
    err = info.value
    assert err.file == str(folder.resolve() / "reference.py") and err.field == "reference"
    assert "failed to import" in str(err) and "no_such_module_xyz" in str(err)


def test_reference_without_function(folder: Path) -> None:
    (folder / "reference.py").write_text("def ref(A, B):\n    return A @ B\n")
    with pytest.raises(ProblemError, match=r"reference\.py: reference: expected a function `def reference\(\.\.\.\)`"):
        load_problem(folder).reference()


# ---- degenerate references (docs/evaluation-hygiene.md R2.4) ------------------------------------------------------


def trial(folder: Path) -> Trial:
    return Trial(load_problem(folder), seed=1234, extreme=False)


def test_real_reference_is_not_degenerate(folder: Path) -> None:
    problem = load_problem(folder)
    check_not_degenerate(problem, Trial(problem, seed=1234, extreme=False))  # does not raise


@pytest.mark.parametrize("body, scale", [
    ("return np.zeros((256, 256))", "max |value| 0"),
    ("return np.full((256, 256), 3.0)", "max |value| 3"),
    ("return 1e-7 * (A.astype(np.float64) @ B.astype(np.float64))", "atol 0.0001"),
])
def test_degenerate_reference_is_rejected(folder: Path, body: str, scale: str) -> None:
    (folder / "reference.py").write_text(f"import numpy as np\n\ndef reference(A, B):\n    {body}\n")
    problem = load_problem(folder)
    with pytest.raises(ProblemError) as info:
        check_not_degenerate(problem, Trial(problem, seed=1234, extreme=False))
    err = info.value
    assert err.file == str(folder.resolve() / "reference.py") and err.field == "outputs.C"
    assert "the reference output is degenerate" in str(err) and scale in str(err)
    assert "a no-op kernel pass" in str(err)


def test_reference_with_wrong_shape_is_rejected(folder: Path) -> None:
    (folder / "reference.py").write_text("import numpy as np\n\ndef reference(A, B):\n    return np.ones((4, 4))\n")
    with pytest.raises(ProblemError, match=r"output 'C' has shape \(4, 4\), problem.toml declares \[256, 256\]"):
        trial(folder).expected


# ---- bf16 ------------------------------------------------------------------------------------------


def test_bf16_exact_values_round_trip() -> None:
    exact = np.array([0.0, -0.0, 1.0, -2.5, 0.15625, 3.0e38, 1.0e-38, np.inf, -np.inf], dtype=np.float32)
    bits = bf16_bits(exact)
    assert bits.dtype == np.uint16
    assert list(bits[:5]) == [0x0000, 0x8000, 0x3F80, 0xC020, 0x3E20]
    exact = bf16_values(bits)  # 3e38 and 1e-38 are not exact in bf16: use their rounded values
    np.testing.assert_array_equal(bf16_values(bf16_bits(exact)), exact)
    np.testing.assert_array_equal(np.signbit(bf16_values(bf16_bits(exact))), np.signbit(exact))


def test_bf16_every_finite_pattern_round_trips() -> None:
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    values = bf16_values(bits)
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(bf16_bits(values[finite]), bits[finite])
    assert np.isnan(bf16_values(bf16_bits(np.array([np.nan], dtype=np.float32))))[0]


@pytest.mark.parametrize("value, expected", [
    (1.0 + 2.0**-8, 0x3F80),               # halfway between 0x3F80 and 0x3F81: ties to even (down)
    (1.0 + 3 * 2.0**-8, 0x3F82),           # halfway between 0x3F81 and 0x3F82: ties to even (up)
    (1.0 + 2.0**-8 + 2.0**-20, 0x3F81),    # just above halfway: rounds up
    (1.0 + 2.0**-8 - 2.0**-20, 0x3F80),    # just below halfway: rounds down
    (-(1.0 + 3 * 2.0**-8), 0xBF82),        # sign-magnitude: same rule for negatives
    (3.4e38, 0x7F80),                      # above the largest bf16: rounds to +inf
])
def test_bf16_round_to_nearest_even(value: float, expected: int) -> None:
    assert int(bf16_bits(np.array([value], dtype=np.float32))[0]) == expected


def test_bf16_rounding_error_is_at_most_half_an_ulp() -> None:
    x = np.random.default_rng(7).uniform(-100, 100, 100_000).astype(np.float32)
    rounded = bf16_values(bf16_bits(x)).astype(np.float64)
    rel = np.abs(rounded - x) / np.abs(x)
    assert rel.max() <= 2.0**-8


def test_storage_and_logical_conversions() -> None:
    bf16 = DTYPES["bf16"]
    logical = np.array([[1.0, -0.5], [1.0 + 2.0**-7, 2.0]])
    stored = to_storage(bf16, logical)
    assert stored.dtype == np.uint16 and stored.shape == (2, 2)
    np.testing.assert_array_equal(to_logical(bf16, stored), logical.astype(np.float32))
    i8 = DTYPES["i8"]
    assert to_storage(i8, np.array([-128, 127])).dtype == np.int8
    assert DTYPES["f32"].ctype == "float" and DTYPES["bf16"].ctype == "uint16_t" and not i8.is_float


@pytest.mark.xfail(strict=True, reason=(
    "dtypes.py bf16_bits (lines 38-42) adds the rounding bias to NaN patterns too: float32 NaNs with a "
    "large payload carry into the sign bit (0x7FFFFFFF -> 0x8000, -0.0) and small-payload NaNs round to "
    "the infinity pattern (0x7F800001 -> 0x7F80, +inf); low impact (inputs are drawn from finite distributions)"))
def test_bf16_nan_payloads_stay_nan() -> None:
    nans = np.array([0x7FFFFFFF, 0x7F800001, 0xFFFFFFFF], dtype=np.uint32).view(np.float32)
    assert np.isnan(bf16_values(bf16_bits(nans))).all()


def test_a_target_without_configurations_rejects_the_config_field(tmp_path):
    from autocomp.evaluation.base import EvalSettings

    folder = tmp_path / "p"
    shutil.copytree(resolve_problem("cpu/gemm-f32-256").root, folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "problem.toml"
    toml.write_text('config = "int8_16x16"\n' + toml.read_text())
    problem = load_problem(folder)
    assert problem.spec.config == "int8_16x16"
    with pytest.raises(ProblemError, match="config: the cpu target has no configurations"):
        get_target("cpu").evaluator(problem, EvalSettings())


# ---- mistakes caught before anything runs (issue 16 §2) ------------------------------------------


@pytest.mark.parametrize("definition, expectation", [
    # swapped order: same types, so the compiler cannot see it; the harness would pass B as A
    ("void gemm(const float *B, const float *A, float *C)", "parameter 1 is named `B` but kernel.args[0] is 'A'"),
    ("void gemm(const double *A, const float *B, float *C)", "parameter 1 is `const double *A` but problem.toml declares `const float *A`"),
    ("void gemm(const float *A, float *C)", "it takes 2 parameter(s) (const float *A, float *C) but kernel.args declares 3"),
    ("void gemm(const float *A, const float *B, float *C, int n)", "it takes 4 parameter(s)"),
])
def test_initial_code_whose_signature_does_not_match_the_declared_arguments(folder: Path, definition: str,
                                                                             expectation: str) -> None:
    """Once a SIGSEGV (or wrong buffers) at run time; now an error at load naming both sides."""
    (folder / "initial.c").write_text(f"/* gemm(A, B, C) in a comment is not the definition */\n{definition} {{ }}\n")
    err = load_error(folder)
    assert err.file == str(folder / "initial.c") and err.field == "gemm"
    assert expectation in str(err)
    assert "The harness calls `void gemm(const float *restrict A, const float *restrict B, float *restrict C)`" in str(err)


def test_signature_check_accepts_equivalent_spellings(folder: Path) -> None:
    (folder / "initial.c").write_text("void gemm(float const* __restrict__ A, const float B[65536], float *restrict C) { }\n")
    assert load_problem(folder).spec.kernel.entry == "gemm"


def test_initial_code_without_the_entry_function(folder: Path) -> None:
    (folder / "initial.c").write_text("void matmul(const float *A, const float *B, float *C) { }\n")
    err = load_error(folder)
    assert err.field == "kernel.entry" and "no function 'gemm' is defined here" in str(err)


def test_initial_code_param_that_disagrees_with_problem_params(folder: Path) -> None:
    code = (folder / "initial.c").read_text()
    (folder / "initial.c").write_text("#define N 128 /* @param N */\n" + code)
    err = load_error(folder)
    assert err.field == "@param N" and "#define N 128, but problem.toml has params.N = 256" in str(err)


@pytest.mark.parametrize("source, expectation", [
    ("def reference(a, B):\n    return a @ B\n", "parameter 'a' is not a declared input or scalar (did you mean 'A'?); "
                                                 "declared input 'A' has no parameter"),
    ("def reference(A):\n    return A\n", "declared input 'B' has no parameter"),
    ("def reference(A, B, /):\n    return A @ B\n", "positional-only parameters cannot be passed by name"),
    ("def reference(A, B\n", "syntax error"),
])
def test_reference_whose_parameters_do_not_match_the_inputs(folder: Path, source: str, expectation: str) -> None:
    """Once a TypeError traceback on the first trial; now an error at load, without importing the file."""
    (folder / "reference.py").write_text("raise SystemExit('imported!')\n" + source)  # proves it is not imported
    err = load_error(folder)
    assert err.file == str(folder / "reference.py")
    assert expectation in str(err)


@pytest.mark.parametrize("source", ["def reference(A, B, scale=2.0):\n    return A @ B * scale\n",
                                    "def reference(**tensors):\n    return tensors['A'] @ tensors['B']\n"])
def test_reference_with_defaults_or_kwargs_is_accepted(folder: Path, source: str) -> None:
    (folder / "reference.py").write_text(source)
    assert load_problem(folder).name == "cpu/gemm-f32-256"
