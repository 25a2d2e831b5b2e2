"""Gemmini problems and library on the emulator: every problem's initial code and library
baselines (fsm.c, sw.c) compile against the runtime, run on random inputs and match
reference.py exactly; the library is checked on odd shapes (padding, edge tiles, conv
padding/stride); known-broken kernels must fail.

Each test builds a small native program: the kernel (compiled with the runtime's kernel
flags), a C driver generated from problem.toml (reads the inputs from files, calls the entry
between autocomp_metrics_begin/end, writes the outputs and the metrics line) and the
runtime's objects. Full-size problems are marked slow (a few seconds each).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

build = pytest.importorskip("autocomp.targets.gemmini.build")

GEMMINI = Path(__file__).resolve().parents[1] / "autocomp" / "targets" / "gemmini"
PROBLEMS = GEMMINI / "problems"

CTYPES = {"i8": ("int8_t", np.int8), "i32": ("int32_t", np.int32), "f32": ("float", np.float32)}

# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=None)
def _runtime(config: str):
    try:
        return build.runtime(config)
    except RuntimeError as e:  # the emulator is still being written
        pytest.skip(f"gemmini runtime unavailable: {e}")


def _load_reference(problem: Path):
    spec = importlib.util.spec_from_file_location(f"ref_{problem.name.replace('-', '_')}", problem / "reference.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod.reference


def _toml(problem: Path) -> dict:
    import tomllib

    return tomllib.loads((problem / "problem.toml").read_text())


def _driver(entry: str, args: list[tuple[str, str, str, int]]) -> str:
    """args: (name, role 'in'/'out', ctype, count) in signature order. The driver runs the
    kernel once per repeat (argv[2]) on files DIR/<name>.<rep>.bin and writes
    DIR/<out>.<rep>.bin; outputs are poisoned with 0x7F bytes before every call."""
    params = ", ".join(f"{'const ' if role == 'in' else ''}{ct} *{n}" for n, role, ct, _ in args)
    lines = [
        "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", "#include <stdint.h>",
        f"void {entry}({params});",
        "void autocomp_metrics_begin(void);", "int autocomp_metrics_end(char *buf, int cap);",
        "static void *rd(const char *d, const char *n, int r, size_t bytes) {",
        "  char p[4096]; snprintf(p, sizeof p, \"%s/%s.%d.bin\", d, n, r);",
        "  void *b = aligned_alloc(64, (bytes + 63) / 64 * 64); FILE *f = fopen(p, \"rb\");",
        "  if (!f || fread(b, 1, bytes, f) != bytes) { fprintf(stderr, \"cannot read %s\\n\", p); exit(3); }",
        "  fclose(f); return b; }",
        "static void wr(const char *d, const char *n, int r, const void *b, size_t bytes) {",
        "  char p[4096]; snprintf(p, sizeof p, \"%s/%s.%d.bin\", d, n, r);",
        "  FILE *f = fopen(p, \"wb\"); fwrite(b, 1, bytes, f); fclose(f); }",
        "int main(int argc, char **argv) {",
        "  const char *d = argv[1]; int reps = atoi(argv[2]);",
        "  for (int r = 0; r < reps; r++) {",
    ]
    for n, role, ct, cnt in args:
        size = f"(size_t){cnt} * sizeof({ct})"
        if role == "in":
            lines.append(f"    {ct} *{n} = rd(d, \"{n}\", r, {size});")
        else:
            lines.append(f"    {ct} *{n} = aligned_alloc(64, ({size} + 63) / 64 * 64); memset({n}, 0x7F, {size});")
    call = ", ".join(n for n, *_ in args)
    lines += [
        "    autocomp_metrics_begin();",
        f"    {entry}({call});",
        "    char m[4096]; int len = autocomp_metrics_end(m, sizeof m); m[len < 0 ? 0 : len] = 0;",
        "    printf(\"metrics %s\\n\", m); fflush(stdout);",
    ]
    for n, role, ct, cnt in args:
        if role == "out":
            lines.append(f"    wr(d, \"{n}\", r, {n}, (size_t){cnt} * sizeof({ct}));")
    for n, *_ in args:
        lines.append(f"    free((void *){n});")
    lines += ["  }", "  return 0;", "}", ""]
    return "\n".join(lines)


class Built:
    def __init__(self, exe: Path, args: list[tuple[str, str, str, int]], shapes: dict[str, tuple[int, ...]]):
        self.exe, self.args, self.shapes = exe, args, shapes

    def run(self, workdir: Path, input_sets: list[dict[str, np.ndarray]], timeout: float = 300):
        """Returns (returncode, outputs per repeat, metrics per repeat, stderr)."""
        for r, ins in enumerate(input_sets):
            for n, role, *_ in self.args:
                if role == "in":
                    np.ascontiguousarray(ins[n]).tofile(workdir / f"{n}.{r}.bin")
        p = subprocess.run([str(self.exe), str(workdir), str(len(input_sets))], capture_output=True, text=True,
                           timeout=timeout)
        outs, metrics = [], []
        for line in p.stdout.splitlines():
            if line.startswith("metrics "):
                f = line.split()[1:]
                metrics.append({f[i]: float(f[i + 1]) for i in range(0, len(f) - 1, 2)})
        for r in range(len(metrics)):
            o = {}
            for n, role, ct, _ in self.args:
                if role == "out":
                    dt = next(v[1] for v in CTYPES.values() if v[0] == ct)
                    o[n] = np.fromfile(workdir / f"{n}.{r}.bin", dtype=dt).reshape(self.shapes[n])
            outs.append(o)
        return p.returncode, outs, metrics, p.stderr


def compile_kernel(src: str, entry: str, args, shapes, workdir: Path, config: str = "int8_16x16") -> Built:
    rt = _runtime(config)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "kernel.c").write_text(src)
    (workdir / "driver.c").write_text(_driver(entry, args))
    return Built(rt.program(workdir / "prog", kernels=[workdir / "kernel.c"], hosts=[workdir / "driver.c"]), args, shapes)


def problem_signature(problem: Path):
    t = _toml(problem)
    tensors = {d["name"]: ("in", d) for d in t["inputs"]} | {d["name"]: ("out", d) for d in t["outputs"]}
    args = []
    shapes = {}
    for n in t["kernel"]["args"]:
        role, d = tensors[n]
        args.append((n, role, CTYPES[d["dtype"]][0], int(np.prod(d["shape"]))))
        shapes[n] = tuple(d["shape"])
    return t, args, shapes


def random_inputs(t: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for d in t["inputs"]:
        dist = d["distribution"]
        assert dist["kind"] == "randint"
        out[d["name"]] = rng.integers(dist["low"], dist["high"] + 1, size=d["shape"]).astype(CTYPES[d["dtype"]][1])
    return out


def check_problem_kernel(problem: Path, src: str, workdir: Path, repeats: int = 1, seed: int = 0):
    t, args, shapes = problem_signature(problem)
    ref = _load_reference(problem)
    exe = compile_kernel(src, t["kernel"]["entry"], args, shapes, workdir, t.get("config", "int8_16x16"))
    rng = np.random.default_rng(seed)
    sets = [random_inputs(t, rng) for _ in range(repeats)]
    rc, outs, metrics, err = exe.run(workdir, sets)
    assert rc == 0, f"{problem.name}: the kernel crashed or the emulator reported an error:\n{err[-3000:]}"
    assert len(outs) == repeats
    for ins, o in zip(sets, outs):
        exp = ref(**ins)
        (oname,) = [d["name"] for d in t["outputs"]]
        got = o[oname]
        bad = int((got != exp).sum())
        assert bad == 0, f"{problem.name}: {bad} of {exp.size} outputs differ from reference.py"
    return metrics


# --------------------------------------------------------------------------- small GEMM kernels

def gemm_ref(A, B):
    acc = A.astype(np.int64) @ B.astype(np.int64)
    return np.clip(np.rint(acc.astype(np.float32)), -128, 127).astype(np.int8)


def conv_ref(inp, w, bias, stride, padding, relu=False):
    N, H, W, C = inp.shape
    R, S, _, K = w.shape
    x = np.pad(inp.astype(np.int64), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    P = (H + 2 * padding - R) // stride + 1
    Q = (W + 2 * padding - S) // stride + 1
    acc = np.zeros((N, P, Q, K), np.int64) + bias.astype(np.int64)
    for r in range(R):
        for s in range(S):
            patch = x[:, r:r + stride * (P - 1) + 1:stride, s:s + stride * (Q - 1) + 1:stride, :]
            acc += patch @ w[r, s].astype(np.int64)
    out = np.clip(np.rint(acc.astype(np.float32)), -128, 127)
    if relu:
        out = np.maximum(out, 0)
    return out.astype(np.int8)


def run_conv(src: str, N, P, Q, C, K, workdir: Path, repeats=2, seed=5, reference=None):  # type: ignore[no-untyped-def]
    """Calls on different inputs (a second call must not see the first one's accumulator or
    scratchpad), each output compared element by element with `reference` (default conv_ref)."""
    args = [("input", "in", "int8_t", N * (P + 2) * (Q + 2) * C), ("weights", "in", "int8_t", 9 * C * K),
            ("bias", "in", "int32_t", K), ("output", "out", "int8_t", N * P * Q * K)]
    shapes = {"input": (N, P + 2, Q + 2, C), "weights": (3, 3, C, K), "bias": (K,), "output": (N, P, Q, K)}
    exe = compile_kernel(src, "conv", args, shapes, workdir)
    rng = np.random.default_rng(seed)
    sets = [{"input": rng.integers(-2, 3, shapes["input"]).astype(np.int8),
             "weights": rng.integers(-1, 2, shapes["weights"]).astype(np.int8),
             "bias": rng.integers(-64, 65, (K,)).astype(np.int32)} for _ in range(repeats)]
    rc, outs, metrics, err = exe.run(workdir, sets)
    assert rc == 0, err[-3000:]
    assert len(outs) == repeats
    for s, o in zip(sets, outs):
        expected = reference(**s) if reference else conv_ref(s["input"], s["weights"], s["bias"], 1, 0)
        bad = int((o["output"] != expected).sum())
        assert bad == 0, f"{bad} of {o['output'].size} outputs differ"
    return metrics


def gemm_args(I, K, J):
    return [("A", "in", "int8_t", I * K), ("B", "in", "int8_t", K * J), ("C", "out", "int8_t", I * J)], \
        {"A": (I, K), "B": (K, J), "C": (I, J)}


def run_gemm(src: str, I, K, J, workdir: Path, repeats=1, seed=1, lo=-3, hi=3):
    args, shapes = gemm_args(I, K, J)
    exe = compile_kernel(src, "gemm", args, shapes, workdir)
    rng = np.random.default_rng(seed)
    sets = [{"A": rng.integers(lo, hi + 1, (I, K)).astype(np.int8), "B": rng.integers(lo, hi + 1, (K, J)).astype(np.int8)}
            for _ in range(repeats)]
    rc, outs, metrics, err = exe.run(workdir, sets)
    ok = rc == 0 and len(outs) == repeats and all((o["C"] == gemm_ref(s["A"], s["B"])).all() for s, o in zip(sets, outs))
    return ok, rc, err, metrics


SMALL = (64, 128, 128)  # I, K, J: 4 row blocks, 2 column blocks of 64, 2 K chunks


def initial_at(I, K, J) -> str:
    src = (PROBLEMS / "gemm-512x512x512" / "initial.c").read_text()
    new, n = re.subn(r"const int I = \d+, K = \d+, J = \d+;", f"const int I = {I}, K = {K}, J = {J};", src)
    assert n == 1
    return new


GEMM_PROBLEMS = sorted(p.name for p in PROBLEMS.glob("gemm-*"))
CONV_PROBLEMS = sorted(p.name for p in PROBLEMS.glob("conv-*"))
ALL_PROBLEMS = GEMM_PROBLEMS + CONV_PROBLEMS


def test_problem_folders_are_complete():
    from autocomp.problem import load_problem

    assert len(GEMM_PROBLEMS) == 6 and len(CONV_PROBLEMS) == 4
    for name in ALL_PROBLEMS:
        p = PROBLEMS / name
        for f in ("problem.toml", "initial.c", "reference.py"):
            assert (p / f).is_file(), f"{name}/{f}"
        for f in ("fsm.c", "sw.c"):
            assert (p / "baselines" / f).is_file(), f"{name}/baselines/{f}"
        prob = load_problem(p)
        assert prob.spec.config == "int8_16x16"
        assert "#" not in (p / "initial.c").read_text(), "no preprocessor directives in initial.c"
        assert "@knob" not in (p / "initial.c").read_text()
        t = _toml(p)
        if t["family"] == "gemm":
            I, K, J = (t["params"][k] for k in "IKJ")
            assert t["flops"] == 2 * I * K * J and t["bytes"] == I * K + K * J + I * J
        else:
            N, P, C, K = (t["params"][k] for k in ("N", "P", "C", "K"))
            assert t["flops"] == 2 * N * P * P * K * C * 9


# --------------------------------------------------------------------------- library on odd shapes

LIB_GEMM = """
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {{
  {fn}({I}, {J}, {K}, A, B, NULL, C, {K}, {J}, {J}, {J}, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
       MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false, false,
       false, false, 0, WS);
  gemmini_fence();
}}
"""


@pytest.mark.parametrize("fn", ["tiled_matmul_auto", "tiled_matmul_auto_sw"])
@pytest.mark.parametrize("shape", [(37, 53, 29), (16, 16, 16), (100, 700, 90), (200, 48, 300), (40, 3000, 40)])
def test_library_matmul_odd_shapes(tmp_path, fn, shape):
    I, K, J = shape
    ok, rc, err, metrics = run_gemm(LIB_GEMM.format(fn=fn, I=I, K=K, J=J), I, K, J, tmp_path, repeats=2)
    assert ok, f"{fn} {shape}: rc={rc}\n{err[-2000:]}"
    assert metrics[0]["macs"] >= I * K * J


LIB_GEMM_BIAS = """
void gemm(const int8_t *restrict A, const int8_t *restrict B, const int32_t *restrict D, int8_t *restrict C) {{
  {fn}({I}, {J}, {K}, A, B, D, C, {K}, {J}, {J}, {J}, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
       MVIN_SCALE_IDENTITY, RELU, 0.5f, ACC_SCALE_IDENTITY, {rep}, false, false, false, false, 0, WS);
  gemmini_fence();
}}
"""


@pytest.mark.parametrize("fn", ["tiled_matmul_auto", "tiled_matmul_auto_sw"])
@pytest.mark.parametrize("repeating", [False, True])
@pytest.mark.parametrize("shape", [(40, 70, 50), (80, 2000, 72)])  # the second needs 3 K tiles
def test_library_matmul_bias_scale_relu(tmp_path, fn, repeating, shape):
    I, K, J = shape
    args = [("A", "in", "int8_t", I * K), ("B", "in", "int8_t", K * J), ("D", "in", "int32_t", (1 if repeating else I) * J),
            ("C", "out", "int8_t", I * J)]
    shapes = {"A": (I, K), "B": (K, J), "D": ((1 if repeating else I), J), "C": (I, J)}
    src = LIB_GEMM_BIAS.format(fn=fn, I=I, J=J, K=K, rep="true" if repeating else "false")
    exe = compile_kernel(src, "gemm", args, shapes, tmp_path)
    rng = np.random.default_rng(5)
    ins = {"A": rng.integers(-2, 3, (I, K)).astype(np.int8), "B": rng.integers(-2, 3, (K, J)).astype(np.int8),
           "D": rng.integers(-300, 301, shapes["D"]).astype(np.int32)}
    rc, outs, _, err = exe.run(tmp_path, [ins])
    assert rc == 0, err[-2000:]
    acc = ins["A"].astype(np.int64) @ ins["B"].astype(np.int64) + ins["D"].astype(np.int64)
    exp = np.maximum(np.clip(np.rint(acc.astype(np.float32) * np.float32(0.5)), -128, 127), 0).astype(np.int8)
    assert (outs[0]["C"] == exp).all(), f"{int((outs[0]['C'] != exp).sum())} differ"


LIB_CONV = """
void conv(const int8_t *restrict input, const int8_t *restrict weights, const int32_t *restrict bias,
          int8_t *restrict output) {{
  {fn}({N}, {H}, {W}, {C}, {K}, {P}, {Q}, {stride}, 1, 1, {pad}, {R}, false, false, false, false, false,
       input, weights, {bias}, output, {act}, ACC_SCALE_IDENTITY, 0, 0, 0, WS);
  gemmini_fence();
}}
"""


@pytest.mark.parametrize("fn", ["tiled_conv_auto", "tiled_conv_auto_sw"])
@pytest.mark.parametrize("case", [
    dict(N=2, H=10, W=9, C=20, K=40, R=3, stride=1, pad=1, bias=True, relu=False),
    dict(N=1, H=11, W=12, C=16, K=16, R=3, stride=2, pad=1, bias=False, relu=True),
    dict(N=3, H=7, W=7, C=35, K=18, R=1, stride=1, pad=0, bias=True, relu=False),
    pytest.param(dict(N=1, H=30, W=30, C=64, K=96, R=3, stride=1, pad=0, bias=True, relu=False), marks=pytest.mark.slow),
])
def test_library_conv_odd_shapes(tmp_path, fn, case):
    N, H, W, C, K, R, s, pad = (case[k] for k in ("N", "H", "W", "C", "K", "R", "stride", "pad"))
    P = (H + 2 * pad - R) // s + 1
    Q = (W + 2 * pad - R) // s + 1
    args = [("input", "in", "int8_t", N * H * W * C), ("weights", "in", "int8_t", R * R * C * K),
            ("bias", "in", "int32_t", K), ("output", "out", "int8_t", N * P * Q * K)]
    shapes = {"input": (N, H, W, C), "weights": (R, R, C, K), "bias": (K,), "output": (N, P, Q, K)}
    src = LIB_CONV.format(fn=fn, N=N, H=H, W=W, C=C, K=K, P=P, Q=Q, stride=s, pad=pad, R=R,
                          bias="bias" if case["bias"] else "NULL", act="RELU" if case["relu"] else "NO_ACTIVATION")
    exe = compile_kernel(src, "conv", args, shapes, tmp_path)
    rng = np.random.default_rng(7)
    ins = {"input": rng.integers(-2, 3, shapes["input"]).astype(np.int8),
           "weights": rng.integers(-2, 3, shapes["weights"]).astype(np.int8),
           "bias": rng.integers(-50, 51, (K,)).astype(np.int32)}
    rc, outs, metrics, err = exe.run(tmp_path, [ins, {k: v.copy() for k, v in ins.items()}])
    assert rc == 0, err[-3000:]
    bias = ins["bias"] if case["bias"] else np.zeros(K, np.int32)
    exp = conv_ref(ins["input"], ins["weights"], bias, s, pad, case["relu"])
    for o in outs:
        assert (o["output"] == exp).all(), f"{int((o['output'] != exp).sum())} of {exp.size} differ"
    assert metrics[0]["macs"] >= N * P * Q * K * C * R * R


# --------------------------------------------------------------------------- initial code, small shape

def test_initial_gemm_small_is_correct_and_repeatable(tmp_path):
    ok, rc, err, metrics = run_gemm(initial_at(*SMALL), *SMALL, tmp_path, repeats=2)
    assert ok, f"rc={rc}\n{err[-2000:]}"
    assert metrics[0]["macs"] >= SMALL[0] * SMALL[1] * SMALL[2]


def initial_conv_at(name: str, P: int) -> tuple[str, int, int]:
    """The conv problem's initial code for a smaller image (same C, K)."""
    src = (PROBLEMS / name / "initial.c").read_text()
    m = re.search(r"const int N = (\d+), P = (\d+), Q = (\d+), C = (\d+), K = (\d+), H = (\d+), W = (\d+);", src)
    assert m
    N, C, K = int(m[1]), int(m[4]), int(m[5])
    src = src.replace(m[0], f"const int N = {N}, P = {P}, Q = {P}, C = {C}, K = {K}, H = {P + 2}, W = {P + 2};")
    return src, C, K


@pytest.mark.parametrize("name", [n if n == "conv-3" else pytest.param(n, marks=pytest.mark.slow) for n in CONV_PROBLEMS])
def test_initial_conv_small_is_correct(tmp_path, name):
    src, C, K = initial_conv_at(name, 9)  # 9 = one 16-pixel block short of a full one: remainder path
    run_conv(src, 4, 9, 9, C, K, tmp_path, repeats=1, seed=3, reference=_load_reference(PROBLEMS / name))


# --------------------------------------------------------------------------- known-broken variants

def _broken(src: str, old: str, new: str) -> str:
    assert src.count(old) >= 1, old
    return src.replace(old, new)


BROKEN_INITIAL = {
    # preload's C without the accumulate bit: every K step overwrites the previous one
    "wrong_accumulate_bit": ("0xC0000000u | (uint32_t)(jb * 16), 16, 16, 16, 16)",
                             "0x80000000u | (uint32_t)(jb * 16), 16, 16, 16, 16)"),
    # cols and rows swapped in the A mvin (16 cols x 64 rows: over the DIM-row limit)
    "cols_rows_swapped_mvin": ("ko], 0, 64, 16);", "ko], 0, 16, 64);"),
    # cols and rows swapped in the B mvins
    "cols_rows_swapped_mvin3": ("512 + kb * 64, 64, 16);", "512 + kb * 64, 16, 64);"),
    # the zeroing of the accumulator forgotten: the first K step accumulates onto stale data
    "no_zeroing": ("        gemmini_extended_mvin(0, 0x80000000u | (uint32_t)(jb * 16), 16, 16);\n",
                   "        ;\n"),
}


@pytest.mark.parametrize("variant", sorted(BROKEN_INITIAL))
def test_broken_initial_variants_fail(tmp_path, variant):
    old, new = BROKEN_INITIAL[variant]
    src = _broken(initial_at(*SMALL), old, new)
    ok, rc, err, _ = run_gemm(src, *SMALL, tmp_path, repeats=2)
    assert not ok, f"{variant} passed but must fail"


# Weight reuse across row blocks, the vendor idiom: preload(B) + compute_preloaded for the first
# row block, preload(garbage, C') + compute_accumulated for the others. I = 32, K = 16, J = 16.
REUSE = """
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {
  gemmini_extended_config_st(16, NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(16, 1.0f, false, 0);
  gemmini_extended_mvin(A, 0, 16, 16);
  gemmini_extended_mvin(A + 16 * 16, 16, 16, 16);
  gemmini_extended_mvin(B, 64, 16, 16);
  gemmini_extended_preload(64, 0x80000000u, 16, 16, 16, 16);
  gemmini_extended_compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);
  gemmini_extended_preload(GARBAGE_ADDR, 0x80000000u | 16, 16, 16, 16, 16);
  gemmini_extended_compute_accumulated(16, GARBAGE_ADDR, 16, 16, 16, 16);
  gemmini_extended_mvout(C, 0x80000000u, 16, 16);
  gemmini_extended_mvout(C + 16 * 16, 0x80000000u | 16, 16, 16);
  gemmini_fence();
}
"""

# A single 16 x 16 x 16 block that accumulates from the start (no zeroing): right on a fresh
# accumulator only if it happens to be zero, wrong on the second call (stale partial sums).
STALE = """
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {
  gemmini_extended_config_st(16, NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(16, 1.0f, false, 0);
  gemmini_extended_mvin(A, 0, 16, 16);
  gemmini_extended_mvin(B, 64, 16, 16);
  gemmini_extended_preload(64, 0xC0000000u, 16, 16, 16, 16);
  gemmini_extended_compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);
  gemmini_extended_mvout(C, 0x80000000u, 16, 16);
  gemmini_fence();
}
"""


def test_weight_reuse_idiom_is_correct(tmp_path):
    ok, rc, err, _ = run_gemm(REUSE, 32, 16, 16, tmp_path, repeats=2)
    assert ok, f"rc={rc}\n{err[-2000:]}"


def test_compute_preloaded_with_garbage_b_fails(tmp_path):
    src = _broken(REUSE, "gemmini_extended_compute_accumulated(16,", "gemmini_extended_compute_preloaded(16,")
    ok, _, _, _ = run_gemm(src, 32, 16, 16, tmp_path, repeats=1)
    assert not ok, "compute_preloaded after preload(GARBAGE_ADDR) loads zero weights: must fail"


def test_stale_accumulator_across_repeats_fails(tmp_path):
    ok, _, _, _ = run_gemm(STALE, 16, 16, 16, tmp_path, repeats=2)
    assert not ok, "accumulating onto the previous call's partial sums must fail on the second call"
    fixed = STALE.replace("0xC0000000u, 16", "0x80000000u, 16")
    ok, rc, err, _ = run_gemm(fixed, 16, 16, 16, tmp_path / "fixed", repeats=2)
    assert ok, f"the overwriting version must pass: rc={rc}\n{err[-2000:]}"


# --------------------------------------------------------------------------- full-size problems

def _sources(name: str) -> dict[str, str]:
    return {"initial": (PROBLEMS / name / "initial.c").read_text(),
            "sw": (PROBLEMS / name / "baselines" / "sw.c").read_text(),
            "fsm": (PROBLEMS / name / "baselines" / "fsm.c").read_text()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["initial", "sw", "fsm"])
@pytest.mark.parametrize("name", ALL_PROBLEMS)
def test_full_size_problem(tmp_path, name, kind):
    metrics = check_problem_kernel(PROBLEMS / name, _sources(name)[kind], tmp_path)
    t = _toml(PROBLEMS / name)
    assert metrics[0]["macs"] >= t["flops"] // 2
    print(f"{name} {kind}: cycles {int(metrics[0]['cycles'])}")


# --------------------------------------------------------------------------- knob template

TEMPLATE = GEMMINI / "templates" / "gemm_ws.c"


def _instance(template: Path, **defines: int) -> str:
    """The template with its params and knobs set; the setting must satisfy its constraints."""
    from autocomp.knobs import parse_knobs, set_defines

    code = set_defines(template.read_text(), defines)
    spec = parse_knobs(code)
    assert spec.violated(spec.setting()) is None, spec.violated(spec.setting())
    return code


def _template_at(I, K, J, **knobs) -> str:
    return _instance(TEMPLATE, I=I, K=K, J=J, **knobs)


@pytest.mark.slow
@pytest.mark.parametrize("knobs", [
    {},  # the shipped default
    dict(TILE_I=1, TILE_J=1, TILE_K=1, DBUF=0, ORDER=0, REUSE=0),
    dict(TILE_I=8, TILE_J=4, TILE_K=4, DBUF=1, ORDER=1, REUSE=0),
    dict(TILE_I=2, TILE_J=8, TILE_K=32, DBUF=1, ORDER=0, REUSE=1),
    dict(TILE_I=4, TILE_J=2, TILE_K=32, DBUF=1, ORDER=1, REUSE=1),
    dict(TILE_I=8, TILE_J=2, TILE_K=8, DBUF=0, ORDER=1, REUSE=1),
])
def test_template_small_edge_shape(tmp_path, knobs):
    """Block counts that no tile divides (7 x 3 x 5 blocks) exercise every edge path."""
    I, K, J = 112, 48, 80
    ok, rc, err, _ = run_gemm(_template_at(I, K, J, **knobs), I, K, J, tmp_path, repeats=2)
    assert ok, f"{knobs}: rc={rc}\n{err[-2000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", GEMM_PROBLEMS)
def test_template_default_full_size(tmp_path, name):
    t = _toml(PROBLEMS / name)
    I, K, J = (t["params"][k] for k in "IKJ")
    metrics = check_problem_kernel(PROBLEMS / name, _template_at(I, K, J), tmp_path)
    print(f"{name} template: cycles {int(metrics[0]['cycles'])}")


# --------------------------------------------------------------------------- conv knob template

CONV_TEMPLATE = GEMMINI / "templates" / "conv_ws.c"


def _conv_template_at(N, P, Q, C, K, **knobs) -> str:
    return _instance(CONV_TEMPLATE, N=N, P=P, Q=Q, C=C, K=K, R=3, S=3, **knobs)


@pytest.mark.parametrize("knobs", [
    {},  # the shipped default
    pytest.param(dict(TK=1, TR=1, DBUF=0), marks=pytest.mark.slow),
    dict(TK=1, TR=2, DBUF=1),
    pytest.param(dict(TK=1, TR=2, DBUF=0), marks=pytest.mark.slow),
    pytest.param(dict(TK=2, TR=1, DBUF=1), marks=pytest.mark.slow),
    pytest.param(dict(TK=2, TR=3, DBUF=1), marks=pytest.mark.slow),
])
def test_conv_template_small_edge_shape(tmp_path, knobs):
    """Q = 20 (two pixel blocks, the last of 4 pixels; padded rows of 22 need a 6-row mvin),
    C = 80 (5 channel blocks: one 64-column and one 16-column mvin per row piece), K = 96
    (6 output blocks: with TK = 2 three weight slices, so the ring restarts per slice) and two
    images (the prefetch crosses an image boundary) exercise every edge path."""
    N, P, Q, C, K = 2, 6, 20, 80, 96
    metrics = run_conv(_conv_template_at(N, P, Q, C, K, **knobs), N, P, Q, C, K, tmp_path)
    assert metrics[0]["macs"] >= N * P * Q * K * C * 9


def test_conv_template_rejects_other_kernel_sizes():
    from autocomp.knobs import parse_knobs, set_defines

    code = set_defines(CONV_TEMPLATE.read_text(), {"R": 5, "S": 5})
    spec = parse_knobs(code)
    assert spec.violated(spec.setting()) is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", CONV_PROBLEMS)
def test_conv_template_default_full_size(tmp_path, name):
    t = _toml(PROBLEMS / name)
    metrics = check_problem_kernel(PROBLEMS / name, _conv_template_at(*(t["params"][k] for k in "NPQCK")), tmp_path, repeats=2)
    print(f"{name} conv template: cycles {int(metrics[0]['cycles'])}")
