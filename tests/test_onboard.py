"""`autocomp new` and `autocomp check`: a user's own kernel as a problem, every mistake named
before anything runs (issue 16 §2). Real CLI in a child process, real gcc, real evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autocomp.outputs import CheckOutput, NewOutput
from autocomp.problem import load_problem
from conftest import autocomp

SIG = "void scale_rows(const float *x, const float *w, float *y, int n)"
REF = "import numpy as np\n\ndef reference(x, w, n):\n    return x.astype(np.float64) * w.astype(np.float64) * n\n"
KERNEL = """void scale_rows(const float *x, const float *w, float *y, int n) {
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 64; j++) y[i * 64 + j] = x[i * 64 + j] * w[j] * n;
}
"""
SHAPES = ("--shape", "x=16,64", "--shape", "w=64", "--shape", "y=16x64", "--scalar", "n=3")


def new(tmp_path: Path, *extra: str, folder: str = "p") -> tuple[Path, dict]:  # type: ignore[type-arg]
    if not (tmp_path / "ref.py").exists():
        (tmp_path / "ref.py").write_text(REF)
    proc = autocomp("new", str(tmp_path / folder), "--target", "cpu", *extra, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    NewOutput.model_validate(row)  # the typed output, no field outside it (autocomp/outputs.py)
    return tmp_path / folder, row


def fails(*args: str, cwd: Path, code: int = 2) -> str:
    """The command exits with `code` and one `error:` line, never a traceback."""
    proc = autocomp(*args, cwd=cwd)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc.stderr


# ---- new ---------------------------------------------------------------------------------------


def test_new_from_a_signature_fills_in_what_it_can_and_lists_the_rest(tmp_path: Path) -> None:
    folder, row = new(tmp_path, "--signature", SIG, "--shape", "x=16,64", "--no-check")
    assert [(a["name"], a["role"], a["dtype"]) for a in row["arguments"]] == [
        ("x", "input", "f32"), ("w", "input", "f32"), ("y", "output", "f32"), ("n", "scalar", None)]
    todo = "\n".join(row["todo"])
    for wanted in ("shape of w", "shape of y", "description", "flops", "bytes", "the int passed as n", "compute every output",
                   "return y"):
        assert wanted in todo, wanted
    assert "shape = [16, 64]" in (folder / "problem.toml").read_text()
    assert (folder / "initial.c").read_text().count("void scale_rows(const float *x, const float *w, float *y, int n) {") == 1
    err = fails("check", str(folder), cwd=tmp_path)  # check refuses until the TODOs are done, and lists them
    assert "is not filled in yet; 8 place(s) marked AUTOCOMP-TODO" in err and "problem.toml:" in err


def test_new_with_everything_given_writes_a_problem_that_checks_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "k.c").write_text("/* helper */\nstatic float twice(float v) { return 2 * v; }\n" + KERNEL)
    folder, row = new(tmp_path, "--from-kernel", "k.c", *SHAPES, "--flops", "2*16*64", "--reference", "ref.py",
                      "--description", "y = x * w * n, rows of 64")
    assert row["entry"] == "scale_rows" and row["todo"] == []  # the static helper is not a candidate entry
    problem = load_problem(folder)
    assert problem.spec.scalars == {"n": 3} and problem.spec.flops == 2048
    assert problem.spec.bytes == 4 * (16 * 64 * 2 + 64)
    assert problem.initial_code == (tmp_path / "k.c").read_text()
    check = row["check"]
    assert check["ready"] and check["initial"]["outcome"] == "ok" and check["initial"]["value"] > 0
    assert check["reference"]["outputs"]["y"]["shape"] == [16, 64]
    assert check["tuner"].startswith("nothing: initial.c declares no knobs")


@pytest.mark.parametrize("args, message", [
    (("--signature", "float f(const float *x, float *y)"), "the kernel must return void"),
    (("--signature", "void f(const float *x, float alpha, float *y)"), "a scalar must be `int`"),
    (("--signature", "void f(const float **x, float *y)"), "pointers to pointers are not supported"),
    (("--signature", "void f(const my_t *x, float *y)"), "no dtype for C type 'my_t'"),
    (("--signature", "void f(const float *x, float *y)", "--shape", "z=4"), "--shape names ['z']"),
    (("--signature", "void f(const float *x, float *y)", "--shape", "x=4,-1"), "positive integers"),
    (("--signature", "void f(const float *x, float *y)", "--dtype", "x=bf16"), "the C type of bf16 is uint16_t"),
    (("--signature", "void f(const float *x, float *y)", "--flops", "2*Q"), "uses 'Q', which is not"),
    ((), "give the kernel either as --signature"),
])
def test_new_refuses_what_it_cannot_represent(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    err = fails("new", str(tmp_path / "p"), "--target", "cpu", *args, cwd=tmp_path)
    assert message in err
    assert not (tmp_path / "p").exists()  # nothing half-written


def test_new_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    err = fails("new", str(tmp_path / "p"), "--target", "cpu", "--signature", SIG, cwd=tmp_path)
    assert "already exists and is not empty" in err and (tmp_path / "p" / "notes.txt").read_text() == "mine"


def test_new_reads_a_gemm_problems_params_off_its_shapes(tmp_path: Path) -> None:
    (tmp_path / "ref.py").write_text("import numpy as np\ndef reference(A, B):\n    return A.astype(np.float64) @ B\n")
    folder, row = new(tmp_path, "--signature", "void gemm(const float *A, const float *B, float *C)", "--family", "gemm",
                      "--shape", "A=5,7", "--shape", "B=7,3", "--shape", "C=5,3", "--flops", "2*M*N*K",
                      "--reference", "ref.py", "--description", "C = A @ B", "--no-check")
    assert row["params_inferred"] == {"M": 5, "K": 7, "N": 3}
    assert load_problem(folder).spec.flops == 2 * 5 * 7 * 3
    err = fails("new", str(tmp_path / "q"), "--target", "cpu", "--signature", "void gemm(const float *A, const float *B, float *C)",
                "--family", "gemm", "--shape", "A=5,7", "--shape", "B=8,3", "--shape", "C=5,3", cwd=tmp_path)
    assert "K would be both 7 and 8" in err


# ---- check: every mistake named, before any search ---------------------------------------------


@pytest.fixture
def ready(tmp_path: Path) -> Path:
    (tmp_path / "k.c").write_text(KERNEL)
    folder, row = new(tmp_path, "--from-kernel", "k.c", *SHAPES, "--flops", "2048", "--reference", "ref.py",
                      "--description", "y = x * w * n", "--no-check")
    assert row["todo"] == []
    return folder


def test_check_catches_a_signature_hidden_behind_a_macro(ready: Path) -> None:
    """Loading reads the definition as written; a macro-built parameter list is compared after the
    preprocessor (once: a SIGSEGV when the harness passed float buffers to a double kernel)."""
    (ready / "initial.c").write_text("#define ARGS const double *x, const float *w, float *y, int n\n"
                                     "void scale_rows(ARGS) { }\n")
    err = fails("check", str(ready), cwd=ready.parent)
    assert "after the preprocessor, the definition does not match problem.toml: parameter 1 is `const double *x`" in err


def test_check_runs_the_reference_in_a_child_and_names_the_line_that_raised(ready: Path) -> None:
    (ready / "reference.py").write_text("import numpy as np\n\ndef reference(x, w, n):\n    return np.linalg.inv(x)\n")
    err = fails("check", str(ready), cwd=ready.parent)
    assert "reference.py: reference: reference() raised LinAlgError" in err and "reference.py line 4" in err


def test_check_names_a_misspelt_knob_menu_item(ready: Path) -> None:
    (ready / "initial.c").write_text('#define U 1 /* @knob values=1,2,4 menu="loop unroling" */\n' + KERNEL)
    err = fails("check", str(ready), cwd=ready.parent)
    assert "knob U has menu='loop unroling', which is not an item of the cpu menu" in err
    assert "did you mean 'loop unrolling'?" in err


@pytest.mark.slow
def test_check_refuses_params_that_disagree_with_the_shapes(tmp_path: Path) -> None:
    """family = gemm with params that do not size the tensors: every template instance would read
    past its buffers (once: every candidate crashed)."""
    (tmp_path / "ref.py").write_text("import numpy as np\ndef reference(A, B):\n    return A.astype(np.float64) @ B\n")
    (tmp_path / "k.c").write_text("void gemm(const float *A, const float *B, float *C) {\n"
                                  "  for (int i = 0; i < 5; i++) for (int j = 0; j < 3; j++) {\n"
                                  "    float s = 0; for (int k = 0; k < 7; k++) s += A[i * 7 + k] * B[k * 3 + j];\n"
                                  "    C[i * 3 + j] = s; } }\n")
    folder, _ = new(tmp_path, "--from-kernel", "k.c", "--family", "gemm", "--param", "N=4", "--shape", "A=5,7",
                    "--shape", "B=7,3", "--shape", "C=5,3", "--flops", "210", "--reference", "ref.py", "--description", "gemm",
                    "--no-check")
    err = fails("check", str(folder), cwd=tmp_path)
    assert "problem.toml: family/params: family 'gemm' selects the cpu template(s) gemm_f32" in err
    assert "B has shape [7, 3] but template gemm_f32 sizes it B[K][N] = [7, 4]" in err
    proc = autocomp("optimize", str(folder), "--models", "tuner", "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 2 and "no cpu template fits it" in proc.stderr and not (tmp_path / "run").exists()


def test_check_reports_an_initial_code_that_fails_verification(ready: Path) -> None:
    (ready / "initial.c").write_text(KERNEL.replace("* n;", "* 2;"))
    proc = autocomp("check", str(ready), "--json", cwd=ready.parent)
    assert proc.returncode == 1, proc.stderr
    row = json.loads(proc.stdout)
    CheckOutput.model_validate(row)
    assert not row["ready"] and row["initial"]["outcome"] == "wrong_answer"


def test_a_tuner_run_with_nothing_to_tune_stops_before_it_starts(ready: Path) -> None:
    """Once: every iteration planned nothing and the run exited 0."""
    run = ready.parent / "run"
    err = fails("optimize", str(ready), "--models", "tuner", "--iterations", "3", "--run-dir", str(run), cwd=ready.parent)
    assert "the tuner has nothing to tune in cpu/p: initial.c declares no knobs and cpu has no template for family 'generic'" in err
    assert "@knob values=" in err and "--models PROVIDER::MODEL" in err
    assert not run.exists()


def test_a_family_whose_template_params_are_not_set_is_not_an_error(tmp_path: Path) -> None:
    """family = gemm for the vendor baselines, with its own names and no M/N/K: the template does not
    apply (not a mistake), and check says why the tuner has nothing to start from."""
    (tmp_path / "ref.py").write_text("import numpy as np\ndef reference(x, w):\n    return x.astype(np.float64) @ w\n")
    (tmp_path / "k.c").write_text("void mm(const float *x, const float *w, float *y) {\n"
                                  "  for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) {\n"
                                  "    float s = 0; for (int k = 0; k < 4; k++) s += x[i * 4 + k] * w[k * 4 + j];\n"
                                  "    y[i * 4 + j] = s; } }\n")
    _, row = new(tmp_path, "--from-kernel", "k.c", "--family", "gemm", "--shape", "x=4,4", "--shape", "w=4,4",
                 "--shape", "y=4,4", "--flops", "128", "--reference", "ref.py", "--description", "y = x @ w")
    assert row["check"]["ready"]
    assert "no template applies (gemm_f32: params has no M, N, K" in row["check"]["tuner"]
