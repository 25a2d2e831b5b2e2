"""Unit tests of the Gemmini emulator's functional model (autocomp/targets/gemmini).

Each test writes a small C program that includes gemmini.h (through the runtime's
kernel_cflags), embeds numpy-generated inputs as C arrays, runs instructions, prints the
results, and compares them with a numpy model of docs/gemmini-spec.md (§3, §5). Misuse tests check the
exact error message and exit status 70.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from autocomp.targets.gemmini import build

DATA = Path(__file__).parent / "data" / "gemmini"
ACC = 1 << 31
FULL = 1 << 29

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A private runtime cache, for the tests about building and caching themselves."""
    return tmp_path_factory.mktemp("gemmini-cache")


@pytest.fixture(scope="module")
def rt8() -> build.Runtime:
    """The runtime from the shared cache (keyed by the emulator's sources, flags and compiler, so
    a hit is the same build), as the target and the other Gemmini tests use it."""
    return build.runtime("int8_16x16")


@pytest.fixture(scope="module")
def rt32() -> build.Runtime:
    return build.runtime("fp32_4x4")


@dataclass
class Run:
    rc: int
    out: dict[str, np.ndarray]
    metrics: dict[str, int]
    stderr: str


PRELUDE = r"""
#include <stdio.h>
#include <stdint.h>
#include <string.h>
void autocomp_metrics_begin(void);
int autocomp_metrics_end(char *buf, int cap);
static void dump_e(const char *name, const elem_t *p, int n) {
  printf("%s", name);
  for (int i = 0; i < n; i++) printf(" %.9g", (double)p[i]);
  printf("\n");
}
static void dump_a(const char *name, const acc_t *p, int n) {
  printf("%s", name);
  for (int i = 0; i < n; i++) printf(" %.9g", (double)p[i]);
  printf("\n");
}
"""


def carr(ctype: str, name: str, a: np.ndarray) -> str:
    """A C array definition holding `a` (flattened), 64-byte aligned."""
    flat = np.asarray(a).ravel()
    vals = ", ".join(repr(float(v)) if ctype == "float" else str(int(v)) for v in flat)
    return f"static {ctype} {name}[{max(flat.size, 1)}] __attribute__((aligned(64))) = {{{vals}}};\n"


def run_c(rt: build.Runtime, tmp_path: Path, body: str, globs: str = "", extra_src: str | None = None) -> Run:
    """Compile `body` into main() with the runtime, run it, parse its output."""
    src = tmp_path / "t.c"
    if extra_src is None:
        src.write_text(
            PRELUDE + globs + "int main(void) {\n autocomp_metrics_begin();\n" + body
            + "\n char mb[2048]; autocomp_metrics_end(mb, sizeof mb); printf(\"METRICS %s\\n\", mb);\n return 0;\n}\n"
        )
    else:
        src.write_text(extra_src)
    exe = rt.program(tmp_path / "t", kernels=[src], cflags=("-O1",))
    p = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    out: dict[str, np.ndarray] = {}
    metrics: dict[str, int] = {}
    for line in p.stdout.splitlines():
        name, *vals = line.split()
        if name == "METRICS":
            metrics = {vals[i]: int(vals[i + 1]) for i in range(0, len(vals), 2)}
        else:
            out[name] = np.array([float(v) for v in vals])
    return Run(p.returncode, out, metrics, p.stderr)


def rne_sat(x: np.ndarray, scale: float) -> np.ndarray:
    """Spec §3: round_half_even((float)x * scale), saturate to int8."""
    v = x.astype(np.float32) * np.float32(scale)
    return np.clip(np.round(v), -128, 127).astype(np.int64)


rng = np.random.default_rng(1234)


def i8(*shape: int, lo: int = -8, hi: int = 8) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape).astype(np.int64)


SETUP = """
  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 0);
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 1);
  config_ld(64, MVIN_SCALE_IDENTITY, 16, 2);
  config_st(64);
"""


# ------------------------------------------------------------------------- mvin / mvout


def test_mvin_block_stride_and_dram_stride_roundtrip(rt8, tmp_path):
    a = i8(16, 80, lo=-128, hi=127)  # DRAM rows of 80 bytes; move 64 columns
    body = """
  config_ld(80, MVIN_SCALE_IDENTITY, 20, 0);   /* block stride 20 rows */
  config_st(16);
  mvin(A, 100, 64, 16);
  for (int b = 0; b < 4; b++) mvout(out + b * 256, 100 + b * 20, 16, 16);
  fence();
  dump_e("out", out, 1024);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + "static elem_t out[1024];\n")
    assert r.rc == 0, r.stderr
    got = r.out["out"].reshape(4, 16, 16)
    for b in range(4):
        np.testing.assert_array_equal(got[b], a[:, b * 16:(b + 1) * 16])


def test_mvout_from_spad_multi_block_and_partial_rows(rt8, tmp_path):
    a = i8(16, 64, lo=-128, hi=127)
    body = """
  config_ld(64, MVIN_SCALE_IDENTITY, 16, 0);
  config_st(64);
  memset(out, 7, sizeof out);
  mvin(A, 32, 64, 16);
  mvout(out, 32, 50, 9);   /* 9 rows x 50 cols: 4 blocks read with block stride DIM */
  fence();
  dump_e("out", out, 1024);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + "static elem_t out[1024];\n")
    assert r.rc == 0, r.stderr
    got = r.out["out"].reshape(16, 64)
    np.testing.assert_array_equal(got[:9, :50], a[:9, :50])
    assert (got[:9, 50:] == 7).all() and (got[9:] == 7).all()


def test_zero_mvin_full_row_raw_int32_and_accumulate(rt8, tmp_path):
    x = rng.integers(-100000, 100000, size=(16, 16))
    y = rng.integers(-100000, 100000, size=(16, 16))
    body = """
  config_ld(0, MVIN_SCALE_IDENTITY, 16, 0);
  config_ld(64, MVIN_SCALE_IDENTITY, 16, 1);
  config_st(64);
  mvin(0, (1u << 31) | 5, 16, 16);              /* DRAM address 0: zeros */
  mvout(z, (1u << 31) | (1u << 29) | 5, 16, 16); /* full row: raw int32 */
  mvin2(X, (1u << 31) | 40, 16, 16);
  mvin2(Y, (1u << 31) | (1u << 30) | 40, 16, 16); /* accumulate */
  mvout(s, (1u << 31) | (1u << 29) | 40, 16, 16);
  fence();
  dump_a("z", z, 256); dump_a("s", s, 256);
"""
    g = carr("acc_t", "X", x) + carr("acc_t", "Y", y) + "static acc_t z[256], s[256];\n"
    r = run_c(rt8, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    assert (r.out["z"] == 0).all()
    np.testing.assert_array_equal(r.out["s"].reshape(16, 16), x + y)


def test_shrunk_acc_mvin_reads_int8(rt8, tmp_path):
    a = i8(16, 16, lo=-128, hi=127)
    body = """
  gemmini_extended3_config_ld(16, MVIN_SCALE_IDENTITY, true, 0);
  config_st(64);
  mvin(A, (1u << 31), 16, 16);
  mvout(o, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("o", o, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + "static acc_t o[256];\n")
    assert r.rc == 0, r.stderr
    np.testing.assert_array_equal(r.out["o"].reshape(16, 16), a)


@pytest.mark.parametrize("scale,act", [(0.5, 0), (0.25, 1), (1.0, 0), (3.0, 1)])
def test_mvout_scale_round_half_even_saturate_relu(rt8, tmp_path, scale, act):
    vals = np.array([1, 3, 5, 7, -1, -3, -5, 2, 6, 255, 256, 257, -255, -257, -1000, 1000] * 16).reshape(16, 16)
    vals[8:] = rng.integers(-600, 600, size=(8, 16))
    body = f"""
  config_ld(64, MVIN_SCALE_IDENTITY, 16, 0);
  config_st(16, {act}, {scale}f);
  mvin(X, (1u << 31), 16, 16);
  mvout(o, (1u << 31), 16, 16);
  fence();
  dump_e("o", o, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("acc_t", "X", vals) + "static elem_t o[256];\n")
    assert r.rc == 0, r.stderr
    want = rne_sat(vals, scale)
    if act:
        want = np.maximum(want, 0)
    np.testing.assert_array_equal(r.out["o"].reshape(16, 16), want)


def test_spad_mvin_scale_rounds_and_saturates(rt8, tmp_path):
    a = i8(16, 16, lo=-128, hi=127)
    body = """
  config_ld(16, 0.5f, 16, 0);
  config_ld(16, 3.0f, 16, 1);
  config_st(16);
  mvin(A, 0, 16, 16);
  mvin2(A, 16, 16, 16);
  mvout(h, 0, 16, 16);
  mvout(t, 16, 16, 16);
  fence();
  dump_e("h", h, 256); dump_e("t", t, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + "static elem_t h[256], t[256];\n")
    assert r.rc == 0, r.stderr
    np.testing.assert_array_equal(r.out["h"].reshape(16, 16), rne_sat(a, 0.5))
    np.testing.assert_array_equal(r.out["t"].reshape(16, 16), rne_sat(a, 3.0))


def test_mvout_is_deferred_until_fence(rt8, tmp_path):
    a = i8(16, 16, lo=1, hi=100)
    body = """
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 0);
  config_st(16);
  memset(o, 0, sizeof o);
  mvin(A, 0, 16, 16);
  mvout(o, 0, 16, 16);
  dump_e("before", o, 256);
  fence();
  dump_e("after", o, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + "static elem_t o[256];\n")
    assert r.rc == 0, r.stderr
    assert (r.out["before"] == 0).all()
    np.testing.assert_array_equal(r.out["after"].reshape(16, 16), a)


# ------------------------------------------------------------------------- preload / compute


def test_compute_ws_overwrite_then_accumulate_with_bias(rt8, tmp_path):
    a, a2, b, d = i8(16, 16), i8(16, 16), i8(16, 16), i8(16, 16)
    body = SETUP + """
  mvin(A, 0, 16, 16); mvin(A2, 16, 16, 16); mvin2(B, 32, 16, 16); mvin(D, 48, 16, 16);
  preload(32, (1u << 31) | 0, 16, 16, 16, 16);
  compute_preloaded(0, 48, 16, 16, 16, 16);          /* C = A B + D (overwrite) */
  gemmini_extended_config_st(64, NO_ACTIVATION, 1.0f);
  mvout(c1, (1u << 31) | (1u << 29), 16, 16);
  preload(GARBAGE_ADDR, (1u << 31) | (1u << 30), 16, 16, 16, 16);
  compute_accumulated(16, GARBAGE_ADDR, 16, 16, 16, 16); /* C += A2 B, weights kept */
  mvout(c2, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("c1", c1, 256); dump_a("c2", c2, 256);
"""
    g = "".join(carr("elem_t", n, v) for n, v in (("A", a), ("A2", a2), ("B", b), ("D", d)))
    r = run_c(rt8, tmp_path, body, g + "static acc_t c1[256], c2[256];\n")
    assert r.rc == 0, r.stderr
    c1 = a @ b + d
    np.testing.assert_array_equal(r.out["c1"].reshape(16, 16), c1)
    np.testing.assert_array_equal(r.out["c2"].reshape(16, 16), c1 + a2 @ b)
    assert r.metrics["macs"] == 2 * 16 ** 3


def test_partial_operands_zero_padded_and_rows_outside_c_untouched(rt8, tmp_path):
    a, b = i8(10, 12), i8(12, 7)
    body = SETUP + """
  config_ld(12, MVIN_SCALE_IDENTITY, 16, 0);
  config_ld(7, MVIN_SCALE_IDENTITY, 16, 1);
  mvin(A, 0, 12, 10); mvin2(B, 32, 7, 12);
  gemmini_config_ld(0); mvin(0, (1u << 31), 16, 16);   /* clear C */
  preload(32, (1u << 31), 7, 12, 7, 10);
  compute_preloaded(0, GARBAGE_ADDR, 12, 10, 16, 16);
  mvout(c, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("c", c, 256);
"""
    g = carr("elem_t", "A", a) + carr("elem_t", "B", b) + "static acc_t c[256];\n"
    r = run_c(rt8, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    want = np.zeros((16, 16), np.int64)
    want[:10, :7] = a @ b
    np.testing.assert_array_equal(r.out["c"].reshape(16, 16), want)
    assert r.metrics["macs"] == 10 * 12 * 7


def test_garbage_b_loads_zeros_and_is_counted(rt8, tmp_path):
    a, b = i8(16, 16), i8(16, 16)
    body = SETUP + """
  mvin(A, 0, 16, 16); mvin2(B, 32, 16, 16);
  preload(32, GARBAGE_ADDR, 16, 16, 16, 16);          /* weights B, output discarded */
  compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);
  preload(GARBAGE_ADDR, (1u << 31), 16, 16, 16, 16);
  compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16); /* garbage B -> zero weights */
  mvout(c, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("c", c, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + carr("elem_t", "B", b) + "static acc_t c[256];\n")
    assert r.rc == 0, r.stderr
    assert (r.out["c"] == 0).all()
    assert r.metrics["garbage_b_preloads"] == 1
    assert "compute_preloaded with GARBAGE B loads zero weights; use compute_accumulated" in r.stderr


def test_garbage_c_discards_output_but_loads_weights(rt8, tmp_path):
    a, a2, b = i8(16, 16), i8(16, 16), i8(16, 16)
    body = SETUP + """
  mvin(A, 0, 16, 16); mvin(A2, 16, 16, 16); mvin2(B, 32, 16, 16);
  gemmini_config_ld(0); mvin(0, (1u << 31), 16, 16);
  preload(32, GARBAGE_ADDR, 16, 16, 16, 16);
  compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);     /* discarded */
  mvout(z, (1u << 31) | (1u << 29), 16, 16);
  preload(GARBAGE_ADDR, (1u << 31), 16, 16, 16, 16);
  compute_accumulated(16, GARBAGE_ADDR, 16, 16, 16, 16);  /* uses the weights B */
  mvout(c, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("z", z, 256); dump_a("c", c, 256);
"""
    g = "".join(carr("elem_t", n, v) for n, v in (("A", a), ("A2", a2), ("B", b))) + "static acc_t z[256], c[256];\n"
    r = run_c(rt8, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    assert (r.out["z"] == 0).all()
    np.testing.assert_array_equal(r.out["c"].reshape(16, 16), a2 @ b)


@pytest.mark.parametrize("a_t,b_t", [(1, 0), (0, 1)])
def test_transposes(rt8, tmp_path, a_t, b_t):
    a, b = i8(16, 16), i8(16, 16)
    body = SETUP + f"""
  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, {a_t}, {b_t});
  mvin(A, 0, 16, 16); mvin2(B, 32, 16, 16);
  preload(32, (1u << 31), 16, 16, 16, 16);
  compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);
  mvout(c, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("c", c, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + carr("elem_t", "B", b) + "static acc_t c[256];\n")
    assert r.rc == 0, r.stderr
    want = (a.T if a_t else a) @ (b.T if b_t else b)
    np.testing.assert_array_equal(r.out["c"].reshape(16, 16), want)


def test_output_stationary_preload_d_and_accumulate_in_pes(rt8, tmp_path):
    a, b, a2, b2, d = i8(16, 16), i8(16, 16), i8(16, 16), i8(16, 16), i8(16, 16)
    body = SETUP + """
  config_ex(OUTPUT_STATIONARY, NO_ACTIVATION, 1, false, false);
  mvin(A, 0, 16, 16); mvin2(B, 16, 16, 16); mvin(A2, 32, 16, 16); mvin2(B2, 48, 16, 16); mvin(D, 64, 16, 16);
  preload(64, (1u << 31), 16, 16, 16, 16);
  compute_preloaded(0, 16, 16, 16, 16, 16);           /* PE acc = D + A B */
  preload(GARBAGE_ADDR, (1u << 31) | 16, 16, 16, 16, 16);
  compute_accumulated(32, 48, 16, 16, 16, 16);        /* PE acc += A2 B2 */
  mvout(c1, (1u << 31) | (1u << 29), 16, 16);
  mvout(c2, (1u << 31) | (1u << 29) | 16, 16, 16);
  fence();
  dump_a("c1", c1, 256); dump_a("c2", c2, 256);
"""
    g = "".join(carr("elem_t", n, v) for n, v in (("A", a), ("B", b), ("A2", a2), ("B2", b2), ("D", d)))
    r = run_c(rt8, tmp_path, body, g + "static acc_t c1[256], c2[256];\n")
    assert r.rc == 0, r.stderr
    np.testing.assert_array_equal(r.out["c1"].reshape(16, 16), a @ b + d)
    np.testing.assert_array_equal(r.out["c2"].reshape(16, 16), a @ b + d + a2 @ b2)


def test_spad_output_saturates_then_relu_with_strides(rt8, tmp_path):
    a, b = i8(16, 16, lo=-60, hi=60), i8(16, 16, lo=-60, hi=60)
    body = SETUP + """
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, RELU, 0, ACC_SCALE_IDENTITY, 2, 2, false, false, false);
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 0);
  for (int i = 0; i < 16; i++) mvin(A + 16 * i, 100 + 2 * i, 16, 1);   /* A rows at stride 2 */
  mvin2(B, 32, 16, 16);
  preload(32, 200, 16, 16, 16, 16);                   /* C rows at stride 2 in the spad */
  compute_preloaded(100, GARBAGE_ADDR, 16, 16, 16, 16);
  for (int i = 0; i < 16; i++) mvout(c + 16 * i, 200 + 2 * i, 16, 1);
  fence();
  dump_e("c", c, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + carr("elem_t", "B", b) + "static elem_t c[256];\n")
    assert r.rc == 0, r.stderr
    want = np.maximum(np.clip(a @ b, -128, 127), 0)
    np.testing.assert_array_equal(r.out["c"].reshape(16, 16), want)


# ------------------------------------------------------------------------- loop FSMs


def loop_ws_prog(I: int, K: int, J: int, bias: bool, split: bool, full_c: bool, repeating: bool) -> str:
    ib, jb, kb = -(-I // 16), -(-J // 16), -(-K // 16)
    pi, pj, pk = ib * 16 - I, jb * 16 - J, kb * 16 - K
    csz = "acc_t" if full_c else "elem_t"
    dstride = 0 if repeating else J
    first_k = kb // 2 if split else kb
    calls = []
    if split:
        kp = first_k * 16  # split K at a block boundary: first loop keeps partial sums in the acc
        calls.append(f"gemmini_loop_ws({ib}, {jb}, {first_k}, {pi}, {pj}, 0, A, B, {'D' if bias else 'NULL'}, NULL, "
                     f"{K}, {J}, {dstride}, {J}, false, false, {int(full_c)}, false, false, 0, 0, 0, false);")
        calls.append(f"gemmini_loop_ws({ib}, {jb}, {kb - first_k}, {pi}, {pj}, {pk}, A + {kp}, B + {kp} * {J}, NULL, C, "
                     f"{K}, {J}, {dstride}, {J}, false, false, {int(full_c)}, false, true, 0, 0, 0, false);")
    else:
        calls.append(f"gemmini_loop_ws({ib}, {jb}, {kb}, {pi}, {pj}, {pk}, A, B, {'D' if bias else 'NULL'}, C, "
                     f"{K}, {J}, {dstride}, {J}, false, false, {int(full_c)}, false, false, 0, 0, 0, false);")
    return f"""
  gemmini_extended_config_st({J} * sizeof({csz}), NO_ACTIVATION, 1.0f);
  gemmini_extended3_config_ld({K}, MVIN_SCALE_IDENTITY, false, 0);
  gemmini_extended3_config_ld({J}, MVIN_SCALE_IDENTITY, false, 1);
  gemmini_extended3_config_ld({dstride} * sizeof(acc_t), MVIN_SCALE_IDENTITY, false, 2);
  {' '.join(calls)}
  fence();
  {'dump_a' if full_c else 'dump_e'}("C", C, {I * J});
"""


@pytest.mark.parametrize(
    "I,K,J,bias,split,full_c,repeating",
    [(40, 50, 36, 1, 0, 0, 0), (64, 64, 48, 0, 0, 1, 0), (33, 70, 20, 1, 1, 1, 0), (30, 40, 24, 1, 0, 0, 1)],
)
def test_loop_ws_matches_numpy(rt8, tmp_path, I, K, J, bias, split, full_c, repeating):
    a, b = i8(I, K), i8(K, J)
    d = rng.integers(-300, 300, size=(1 if repeating else I, J))
    body = loop_ws_prog(I, K, J, bias, split, full_c, repeating)
    g = carr("elem_t", "A", a) + carr("elem_t", "B", b) + carr("acc_t", "D", d)
    g += f"static {'acc_t' if full_c else 'elem_t'} C[{I * J}];\n"
    r = run_c(rt8, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    want = a @ b + (np.broadcast_to(d, (I, J)) if bias else 0)
    if not full_c:
        want = rne_sat(want, 1.0)
    np.testing.assert_array_equal(r.out["C"].reshape(I, J), want)
    assert r.metrics["macs"] == I * K * J  # real rows/cols of every (padded) block


def test_loop_ws_rejects_tiles_over_half_the_scratchpad(rt8, tmp_path):
    body = SETUP + "gemmini_loop_ws(16, 16, 17, 0, 0, 0, A, A, NULL, A, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0);"
    r = run_c(rt8, tmp_path, body, "static elem_t A[16];\n")
    assert r.rc == 70
    assert "loop_ws (instruction #" in r.stderr
    assert "needs (I*K + K*J)*DIM = 8704 scratchpad rows but at most spad_rows/2 = 8192 fit" in r.stderr


def test_loop_ws_keeps_c_at_accumulator_row_0_so_partial_sums_carry_over(rt8, tmp_path):
    """Placement rule (§5.8): C/D always start at accumulator row 0; a loop with ex_accumulate
    adds onto what the previous loop left there, one without it overwrites."""
    a, b = i8(3, 16, 16), i8(3, 16, 16)
    loops = [(0, "false"), (1, "true"), (2, "true")]  # C = a0 b0 + a1 b1 + a2 b2
    calls = "".join(
        f"gemmini_loop_ws(1, 1, 1, 0, 0, 0, A + {n * 256}, B + {n * 256}, NULL, NULL, 16, 16, 0, 16, "
        f"false, false, true, false, {acc}, 0, 0, 0, false);\n"
        for n, acc in loops
    )
    body = f"""
  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 0);
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 1);
  config_ld(0, MVIN_SCALE_IDENTITY, 16, 2);
  config_st(16 * sizeof(acc_t));
  {calls}
  mvout(C0, {ACC | FULL} + 0, 16, 16);
  gemmini_loop_ws(1, 1, 1, 0, 0, 0, A, B, NULL, NULL, 16, 16, 0, 16, false, false, true, false, false, 0, 0, 0, false);
  mvout(C1, {ACC | FULL} + 0, 16, 16);
  fence();
  dump_a("C0", C0, 256);
  dump_a("C1", C1, 256);
"""
    g = carr("elem_t", "A", a) + carr("elem_t", "B", b) + "static acc_t C0[256], C1[256];\n"
    r = run_c(rt8, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    np.testing.assert_array_equal(r.out["C0"].reshape(16, 16), a[0] @ b[0] + a[1] @ b[1] + a[2] @ b[2])
    np.testing.assert_array_equal(r.out["C1"].reshape(16, 16), a[0] @ b[0])  # no ex_accumulate: overwritten


def conv_ref(x, w, bias, stride, pad):
    """NHWC input, [R][S][C][K] weights, int32 result."""
    n, h, wd, c = x.shape
    r, s, _, k = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - r) // stride + 1, (wd + 2 * pad - s) // stride + 1
    out = np.zeros((n, oh, ow, k), np.int64) + bias
    for i in range(r):
        for j in range(s):
            patch = xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
            out += np.einsum("nhwc,ck->nhwk", patch, w[i, j])
    return out


@pytest.mark.parametrize("stride,pad,split", [(1, 1, False), (2, 0, False), (1, 1, True)])
def test_loop_conv_ws_matches_numpy_conv(rt8, tmp_path, stride, pad, split):
    n, h, c, k, kd = 2, 8, 20, 24, 3
    x, w = i8(n, h, h, c), i8(kd, kd, c, k, lo=-3, hi=3)
    bias = rng.integers(-500, 500, size=k)
    oh = (h + 2 * pad - kd) // stride + 1

    def call(kch0: int, kchs: int, with_bias: bool, with_out: bool) -> str:
        return (f"gemmini_loop_conv_ws({n}, {h}, {h}, {c}, {k}, {oh}, {oh}, {oh}, {oh}, {stride}, {pad}, {kd}, 1, 1, 1, 0,"
                f" {n}, {oh}, {oh}, {k}, {kd}, {kd}, {kchs}, {pad}, {pad}, {pad}, {pad}, 0, 0, 0, 0, {oh}, {oh},"
                f" W + {kch0} * {k}, {'O' if with_out else 'NULL'}, {'bias' if with_bias else 'NULL'}, X + {kch0},"
                f" false, true, false, false, false, NO_ACTIVATION, false, false, false, false, 0, {c}, {k}, {k},"
                f" false, 0, 0);")

    calls = [call(0, 16, True, False), call(16, c - 16, False, True)] if split else [call(0, c, True, True)]
    body = f"""
  gemmini_extended_config_st({k}, NO_ACTIVATION, 0.125f);
  {' '.join(calls)}
  fence();
  dump_e("O", O, {n * oh * oh * k});
"""
    g = carr("elem_t", "X", x) + carr("elem_t", "W", w) + carr("acc_t", "bias", bias)
    g += f"static elem_t O[{n * oh * oh * k}];\n"
    r = run_c(rt8, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    want = rne_sat(conv_ref(x, w, bias, stride, pad), 0.125)
    np.testing.assert_array_equal(r.out["O"].reshape(want.shape), want)
    assert r.metrics["macs"] == n * oh * oh * kd * kd * c * k


# ------------------------------------------------------------------------- fp32 4x4


def test_fp32_config_matmul_negative_scale_and_bias(rt32, tmp_path):
    a, b = rng.integers(-4, 5, size=(4, 4)).astype(float), rng.integers(-4, 5, size=(4, 4)).astype(float)
    d = rng.integers(-4, 5, size=(4, 4)).astype(float)
    body = """
  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);
  config_ld(16, -1.0f, 4, 0);
  config_ld(16, 1.0f, 4, 1);
  config_ld(16, 0.5f, 4, 2);
  config_st(16, 2.0f);
  mvin(A, 0, 4, 4);                 /* scaled by -1 */
  mvin2(B, 4, 4, 4);
  mvin3(D, (1u << 31), 4, 4);       /* fp32: acc mvin scaled by 0.5 */
  preload(4, (1u << 31) | (1u << 30), 4, 4, 4, 4);
  compute_preloaded(0, GARBAGE_ADDR, 4, 4, 4, 4);
  mvout(c, (1u << 31), 4, 4);       /* scaled by 2 */
  fence();
  dump_e("c", c, 16);
"""
    g = carr("float", "A", a) + carr("float", "B", b) + carr("float", "D", d) + "static float c[16];\n"
    r = run_c(rt32, tmp_path, body, g)
    assert r.rc == 0, r.stderr
    np.testing.assert_array_equal(r.out["c"].reshape(4, 4), 2.0 * ((-a) @ b + 0.5 * d))


# ------------------------------------------------------------------------- misuse (docs/gemmini-spec.md §7)


@pytest.mark.parametrize(
    "stmt,needle",
    [
        ("mvin(A, 0, 16, 17);", "mvin (instruction #6 of this call): mvin rows = 17 exceeds DIM = 16"),
        ("mvin(A, 0, 65, 16);", "mvin cols = 65 exceeds the limit of 64"),
        ("mvin(A, (1u << 31), 32, 16);", "mvin cols = 32 exceeds the limit of 16"),
        ("mvin(A, 16380, 16, 16);", "destination rows 16380..16395 are beyond the scratchpad (16384 rows"),
        ("mvin(A, (1u << 31) | 1020, 16, 16);", "rows 1020..1035 are beyond the accumulator (1024 rows"),
        ("config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, true, true);",
         "weight-stationary dataflow with both A and B transposed is illegal"),
        ("config_ex(OUTPUT_STATIONARY, NO_ACTIVATION, 1, false, true);",
         "output-stationary dataflow with only B transposed is illegal"),
        ("mvout(0, 0, 16, 16);", "mvout to DRAM address 0"),
        ("mvin(0x100, 0, 16, 16);", "are the DRAM and local address arguments swapped?"),
        ("preload(0, (1u << 31), 16, 16, 16, 16); compute_preloaded((1u << 31), GARBAGE_ADDR, 16, 16, 16, 16);",
         "compute_preloaded A at accumulator address 0x80000000: operands read from the accumulator are not supported"),
        ("preload(0, (1u << 31), 16, 16, 16, 16); compute_preloaded(0, (1u << 31), 16, 16, 16, 16);",
         "accumulator-resident operands are not supported"),
        ("mvin(A, 0, 16, 16); mvout(O, 0, 16, 16); mvin(O, 16, 16, 16);",
         "mvin reads DRAM bytes 0x"),
        ("gemmini_extended_mvin(A, 0, 65536, 1);", "has rows = 1, cols = 0"),  # cols bit 16 lands in rows
        ("preload(0, (1u << 31), 16, 16, 17, 16);", "preload C is 16 rows x 17 cols; both must be <= DIM = 16"),
    ],
)
def test_misuse_is_a_precise_error(rt8, tmp_path, stmt, needle):
    r = run_c(rt8, tmp_path, SETUP + stmt, "static elem_t A[4096], O[4096];\n")
    assert r.rc == 70, (r.rc, r.stderr)
    assert r.stderr.startswith("gemmini: error: ")
    assert needle in r.stderr, r.stderr


def test_unfenced_mvout_then_mvin_error_names_the_fix_and_fence_fixes_it(rt8, tmp_path):
    bad = SETUP + "mvin(A, 0, 16, 16); mvout(O, 0, 16, 16); mvin(O, 16, 16, 16);"
    r = run_c(rt8, tmp_path, bad, "static elem_t A[4096], O[4096];\n")
    assert r.rc == 70 and "with no fence in between; mvout data reaches DRAM only after a fence: call gemmini_fence() first" in r.stderr
    good = SETUP + "mvin(A, 0, 16, 16); mvout(O, 0, 16, 16); fence(); mvin(O, 16, 16, 16);"
    assert run_c(rt8, tmp_path, good, "static elem_t A[4096], O[4096];\n").rc == 0


def test_missing_config_ld_is_reported(rt8, tmp_path):
    r = run_c(rt8, tmp_path, "mvin3(A, 0, 16, 16);", "static elem_t A[256];\n")
    assert r.rc == 70
    assert "mvin3 uses config_ld register set 2, which was never configured" in r.stderr


def test_garbage_a_is_zero_with_warning(rt8, tmp_path):
    b = i8(16, 16)
    body = SETUP + """
  mvin2(B, 32, 16, 16);
  preload(32, (1u << 31), 16, 16, 16, 16);
  compute_preloaded(GARBAGE_ADDR, GARBAGE_ADDR, 16, 16, 16, 16);
  mvout(c, (1u << 31) | (1u << 29), 16, 16);
  fence();
  dump_a("c", c, 256);
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "B", b) + "static acc_t c[256];\n")
    assert r.rc == 0
    assert (r.out["c"] == 0).all()
    assert "A = GARBAGE_ADDR" in r.stderr


# ------------------------------------------------------------------------- state, lint, metrics


def test_stale_accumulator_across_calls_gives_different_results(rt8, tmp_path):
    """Accumulating from the first K step (never clearing the acc) is wrong on the first call
    (power-up garbage) and differs again on the second (the first call's results remain)."""
    a, b = i8(16, 16), i8(16, 16)
    src = PRELUDE + carr("elem_t", "A", a) + carr("elem_t", "B", b) + r"""
static acc_t c[2][256];
static void solution(int r) {
  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);
  config_ld(16, MVIN_SCALE_IDENTITY, 16, 0);
  config_st(64);
  mvin(A, 0, 16, 16); mvin(B, 16, 16, 16);
  preload(16, (1u << 31) | (1u << 30) | 200, 16, 16, 16, 16);   /* bug: accumulate on the first step */
  compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);
  mvout(c[r], (1u << 31) | (1u << 29) | 200, 16, 16);
  fence();
}
int main(void) {
  char mb[2048];
  for (int r = 0; r < 2; r++) { autocomp_metrics_begin(); solution(r); autocomp_metrics_end(mb, sizeof mb); }
  dump_a("c0", c[0], 256); dump_a("c1", c[1], 256);
  printf("METRICS %s\n", mb);
  return 0;
}
"""
    r = run_c(rt8, tmp_path, "", extra_src=src)
    assert r.rc == 0, r.stderr
    gold = (a @ b).ravel()
    assert not np.array_equal(r.out["c0"], gold)
    assert not np.array_equal(r.out["c1"], r.out["c0"])
    np.testing.assert_array_equal(r.out["c1"] - r.out["c0"], gold)  # the stale sum is exactly one extra A B
    assert "never written" in r.stderr  # lint: the first call accumulated onto power-up garbage


@pytest.mark.slow
def test_lint_counts_unwritten_reads_and_lint_error_build_fails(rt8, cache, tmp_path):
    body = SETUP + "mvout(O, 9000, 16, 4); fence();"
    r = run_c(rt8, tmp_path, body, "static elem_t O[1024];\n")
    assert r.rc == 0
    assert r.metrics["lint_unwritten_reads"] == 4
    assert "reads scratchpad row 9000, which was never written" in r.stderr
    strict = build.runtime("int8_16x16", cache, lint_error=True)
    r2 = run_c(strict, tmp_path, body, "static elem_t O[1024];\n")
    assert r2.rc == 70 and "row 9000, which was never written" in r2.stderr


def test_metrics_end_reports_every_stat(rt8, tmp_path):
    a = i8(16, 16)
    body = SETUP + """
  mvin(A, 0, 16, 16); mvin2(A, 16, 16, 16);
  preload(16, (1u << 31), 16, 16, 16, 16);
  compute_preloaded(0, GARBAGE_ADDR, 16, 16, 16, 16);
  config_st(16);
  mvout(O, (1u << 31), 16, 16);
  gemmini_flush(0);
  printf("counter %llu\\n", (unsigned long long)counter_read(0));
"""
    r = run_c(rt8, tmp_path, body, carr("elem_t", "A", a) + "static elem_t O[256];\n")
    assert r.rc == 0, r.stderr
    keys = ["cycles", "macs", "instructions", "cpu_instructions", "spad_rows_used", "acc_rows_used", "cpu_cycles",
            "ld_busy", "ex_busy", "st_busy", "rs_full_stall", "fence_stall", "dram_bytes_read",
            "dram_bytes_written", "lint_unwritten_reads", "garbage_b_preloads", "ex_startup", "ex_gaps", "ex_drain"]
    assert list(r.metrics) == keys
    m = r.metrics
    # the execute unit's idle time (start-up, hand-over gaps, drain) lies within the modeled run
    assert 0 < m["ex_startup"] and m["ex_startup"] + m["ex_gaps"] + m["ex_drain"] < m["cycles"]
    assert m["macs"] == 4096 and m["spad_rows_used"] == 32 and m["acc_rows_used"] == 16
    assert m["cpu_instructions"] == 13 and m["instructions"] == 13  # 7 configs + 6 ops, flush and counter included
    assert m["dram_bytes_read"] == 512 and m["dram_bytes_written"] == 256
    assert m["cycles"] > 0
    assert r.out["counter"][0] == 0


def test_exo_style_gemm_known_answer(rt8, tmp_path):
    exe = rt8.program(tmp_path / "gemm", kernels=[DATA / "gemm_exo.c"])
    p = subprocess.run([str(exe), "64", "128", "192", "2"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "mismatches 0" in p.stdout
    assert f"macs {64 * 128 * 192} " in p.stdout


# ------------------------------------------------------------------------- build.py


def test_config_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    text = (build.CONFIG_DIR / "int8_16x16.toml").read_text().replace('name = "int8_16x16"', 'name = "bad"')
    bad.write_text(text.replace("dim = 16", "dim = 12"))
    with pytest.raises(build.ConfigError, match=r"bad\.toml: field 'dim' = 12: must be a power of two"):
        build.GemminiConfig.from_file(bad)
    bad.write_text(text.replace("acc_rows = 1024", "acc_rows = 1000"))
    with pytest.raises(build.ConfigError, match=r"field 'acc_rows'"):
        build.GemminiConfig.from_file(bad)
    with pytest.raises(build.ConfigError, match="no such Gemmini configuration"):
        build.GemminiConfig.load("nope")


def test_both_configs_load_and_generate_headers(tmp_path):
    c8, c32 = build.GemminiConfig.load("int8_16x16"), build.GemminiConfig.load("fp32_4x4")
    assert (c8.dim, c8.spad_rows, c8.acc_rows, c8.elem, c8.acc) == (16, 16384, 1024, "i8", "i32")
    assert (c32.dim, c32.spad_rows, c32.acc_rows, c32.elem, c32.acc) == (4, 16384, 4096, "f32", "f32")
    h = build.params_header(c8)
    assert "#define DIM 16" in h and "typedef int8_t elem_t;" in h and "#define BANK_ROWS 4096" in h
    t = tmp_path / "timing.toml"
    t.write_text("[timing]\nload_latency = 60\ncpu_bb_cycles = 4.5\n")
    th = build.timing_params_header(t)
    assert "#define GEMU_T_LOAD_LATENCY 60" in th and "#define GEMU_T_CPU_BB_CYCLES 4.5" in th


def test_runtime_is_cached(rt8):
    again = build.runtime("int8_16x16")
    assert again.objects == rt8.objects
    assert all(p.is_file() for p in again.objects)
    assert re.search(r"-I.*include", again.kernel_cflags[0])
