"""Gemmini ADMM (TinyMPC, fp32 4x4) problems and the Gemmini knowledge pack.

Each ADMM problem's initial.c (and its library baseline fsm.c) is compiled against the emulator
runtime, run by a small C driver on several random input sets (plus one draw at the
distribution's extremes), and compared exactly with reference.py. The driver brackets every
call with the metrics hooks and the test checks the emulator reports cycles and at least the
problem's MACs (flops / 2). Each input set is run twice, so a kernel that depends on what the
accumulator held before the call fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autocomp.evaluation.checks import draw
from autocomp.problem import Problem, load_problem

GEMMINI = Path(__file__).resolve().parents[1] / "autocomp" / "targets" / "gemmini"
PROBLEMS = ["admm-0", "admm-1", "admm-2"]
SEEDS = [1, 2, 3, 4, 5]
CC = shutil.which("gcc")

needs_gcc = pytest.mark.skipif(CC is None, reason="gcc is not installed")


@pytest.fixture(scope="module")
def rt():
    if not (GEMMINI / "emulator" / "functional.c").is_file():
        pytest.skip("the Gemmini functional emulator is not in the tree yet")
    from autocomp.targets.gemmini.build import runtime

    return runtime("fp32_4x4")


def _driver(problem: Problem) -> str:
    """C driver: read every input from one binary file, call the entry twice (poisoned outputs
    each time) with the metrics hooks around it, write each call's outputs to a file and print
    each call's metrics line."""
    spec = problem.spec
    lines = ["#include <math.h>", "#include <stdio.h>", "#include <stdlib.h>", "",
             "void autocomp_metrics_begin(void);", "int autocomp_metrics_end(char *buf, int cap);",
             f"{problem.c_signature()};", ""]
    for t in spec.inputs + spec.outputs:
        lines.append(f"static float {t.name}_buf[{t.count}] __attribute__((aligned(64)));")
    args = ", ".join(f"{a}_buf" for a in spec.kernel.args)
    lines += ["", "int main(int argc, char **argv) {",
              "  if (argc != 4) return 2;",
              "  FILE *in = fopen(argv[1], \"rb\");",
              "  if (!in) return 3;"]
    for t in spec.inputs:
        lines.append(f"  if (fread({t.name}_buf, sizeof(float), {t.count}, in) != {t.count}) return 4;")
    lines += ["  fclose(in);", "  static char buf[4096];", "  for (int rep = 0; rep < 2; rep++) {"]
    for t in spec.outputs:
        lines.append(f"    for (int i = 0; i < {t.count}; i++) {t.name}_buf[i] = NAN;")
    lines += ["    autocomp_metrics_begin();",
              f"    {spec.kernel.entry}({args});",
              "    autocomp_metrics_end(buf, sizeof buf);",
              "    printf(\"metrics %s\\n\", buf);",
              "    FILE *out = fopen(argv[2 + rep], \"wb\");",
              "    if (!out) return 5;"]
    for t in spec.outputs:
        lines.append(f"    fwrite({t.name}_buf, sizeof(float), {t.count}, out);")
    lines += ["    fclose(out);", "  }", "  return 0;", "}", ""]
    return "\n".join(lines)


def _build(problem: Problem, kernel: Path, rt, tmp: Path) -> Path:
    """Compile the kernel like the evaluator does (force-included gemmini.h, trace-pc), the
    driver plainly, and link both with the emulator objects."""
    dsrc = tmp / "driver.c"
    dsrc.write_text(_driver(problem))
    return rt.program(tmp / "run", kernels=[kernel], hosts=[dsrc], cflags=("-O2", "-Wall", "-Werror"))


def _inputs(problem: Problem, seed: int, extreme: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: draw(t, rng, extreme).astype(np.float32) for t in problem.spec.inputs}


def _expected(problem: Problem, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    ref = problem.reference()(**{k: v.copy() for k, v in inputs.items()})
    if not isinstance(ref, dict):
        ref = {problem.spec.outputs[0].name: ref}
    return {t.name: np.asarray(ref[t.name], dtype=np.float64) for t in problem.spec.outputs}


def _run(problem: Problem, exe: Path, inputs: dict[str, np.ndarray], tmp: Path):
    src = tmp / "in.bin"
    src.write_bytes(b"".join(inputs[t.name].tobytes(order="C") for t in problem.spec.inputs))
    outs = [tmp / "out0.bin", tmp / "out1.bin"]
    r = subprocess.run([str(exe), str(src), *map(str, outs)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"emulator run failed ({r.returncode}):\n{r.stderr[-3000:]}"
    assert "gemmini: error" not in r.stderr, r.stderr
    metrics = []
    for line in r.stdout.splitlines():
        if line.startswith("metrics "):
            f = line.split()[1:]
            metrics.append({k: int(v) for k, v in zip(f[::2], f[1::2])})
    results = []
    for path in outs:
        raw = np.frombuffer(path.read_bytes(), dtype=np.float32)
        got, off = {}, 0
        for t in problem.spec.outputs:
            got[t.name] = raw[off:off + t.count].reshape(t.shape).astype(np.float64)
            off += t.count
        results.append(got)
    return results, metrics, r.stderr


def _kernels():
    for name in PROBLEMS:
        yield pytest.param(name, GEMMINI / "problems" / name / "initial.c", id=f"{name}-initial")
        for baseline in sorted((GEMMINI / "problems" / name / "baselines").glob("*.c")):
            yield pytest.param(name, baseline, id=f"{name}-{baseline.stem}")


@needs_gcc
@pytest.mark.parametrize("name, kernel", list(_kernels()))
def test_admm_kernel_matches_reference_on_the_emulator(name: str, kernel: Path, rt, tmp_path: Path) -> None:
    problem = load_problem(GEMMINI / "problems" / name)
    exe = _build(problem, kernel, rt, tmp_path)
    needed = problem.spec.flops // 2
    cycles = []
    for seed, extreme in [(s, False) for s in SEEDS] + [(100, True)]:
        inputs = _inputs(problem, seed, extreme)
        want = _expected(problem, inputs)
        results, metrics, stderr = _run(problem, exe, inputs, tmp_path)
        assert len(metrics) == 2, stderr
        for rep, got in enumerate(results):
            for out in problem.spec.outputs:
                assert np.array_equal(got[out.name], want[out.name]), (
                    f"{kernel.name} seed {seed} call {rep}: output {out.name} differs from the reference\n"
                    f"got {got[out.name].ravel()}\nwant {want[out.name].ravel()}")
        for m in metrics:
            assert m.get("cycles", 0) > 0, m
            assert m.get("macs", 0) >= needed, f"{kernel.name}: {m.get('macs')} MACs on the array, need {needed}"
            assert m.get("lint_unwritten_reads", 0) == 0, m
        cycles.append(metrics[0]["cycles"])
    print(f"{name} {kernel.name}: cycles {cycles}")


def test_admm_problems_are_well_formed() -> None:
    for name in PROBLEMS:
        problem = load_problem(GEMMINI / "problems" / name)
        spec = problem.spec
        assert spec.target == "gemmini" and spec.family == "admm" and spec.config == "fp32_4x4"
        assert all(t.dtype == "f32" for t in spec.inputs + spec.outputs)
        assert spec.bytes == 4 * sum(t.count for t in spec.inputs + spec.outputs)
        code = (problem.root / "initial.c").read_text()
        assert not re.search(r"^\s*#", code, re.M), "initial.c must not use preprocessor directives"
    macs = {name: load_problem(GEMMINI / "problems" / name).spec.flops // 2 for name in PROBLEMS}
    assert macs == {"admm-0": 48, "admm-1": 1200, "admm-2": 2560}


def test_admm_references_are_exact_in_float32() -> None:
    """On random draws every reference output is an integer below 2**24, so fp32 represents it
    exactly and an exact compare is fair (see the reference docstrings for the partial sums)."""
    for name in PROBLEMS:
        problem = load_problem(GEMMINI / "problems" / name)
        for seed in SEEDS:
            inputs = _inputs(problem, seed, False)
            want = _expected(problem, inputs)
            for out, arr in want.items():
                assert np.all(np.abs(arr) < 2**24) and np.array_equal(arr, np.rint(arr)), (name, out)
            assert any(np.ptp(a) > 0 for a in want.values()), f"{name}: constant reference output"


# ------------------------------------------------------------------------ knowledge pack

KNOWLEDGE = GEMMINI / "knowledge"
FAMILIES = {"gemm", "conv", "admm"}


def test_knowledge_pack_parses_and_menu_is_well_formed() -> None:
    from autocomp.targets.base import KnowledgePack

    pack = KnowledgePack.load(KNOWLEDGE)
    assert 20 <= len(pack.menu) <= 30
    assert all(item.name and item.description for item in pack.menu)
    assert len({item.name for item in pack.menu}) == len(pack.menu)
    assert pack.menu[-1].name == "other methods not listed here"
    assert pack.rules and all(isinstance(r, str) and r for r in pack.rules)

    raw = tomllib.loads((KNOWLEDGE / "menu.toml").read_text())["item"]
    for item in raw:
        assert set(item) <= {"name", "description", "families"}, item
        fams = item.get("families")
        if fams is not None:
            assert isinstance(fams, list) and fams and set(fams) <= FAMILIES, item
    for fam in FAMILIES:
        visible = [i for i in raw if fam in i.get("families", FAMILIES)]
        assert len(visible) >= 10, (fam, len(visible))


def test_rules_cover_the_contract() -> None:
    rules = " ".join(tomllib.loads((KNOWLEDGE / "rules.toml").read_text())["rules"])
    for phrase in ("signature", "preprocessor", "tiled_matmul_auto", "fence()", "@knob", "multiply-accumulates", "threads"):
        assert phrase in rules, phrase


def test_architecture_note_mentions_the_pitfalls() -> None:
    text = (KNOWLEDGE / "architecture.md").read_text()
    for phrase in (
        "GARBAGE_ADDR", "ZEROS", "compute_accumulated", "cols", "BEFORE", "bit 30", "config_ld",
        "fence()", "Accumulator-resident bias", "Never-written rows", "must run on Gemmini",
        "loop_ws", "reservation station", "Double buffering", "round half to even", "utilization",
        "16,384 rows", "1,024 rows", "4,096 rows", "no `#include`", "mvin2", "mvin3", "config_st",
        "preload", "compute_preloaded",
    ):
        assert phrase in text, phrase
