"""The knob convention in Python source (Triton kernels): `NAME = <int>  # @knob ...` lines,
`# @constraint` / `# @preset` comments, and rewriting by `set_defines` (which the tuner and
template instantiation use for both languages)."""

from __future__ import annotations

import ast

import pytest

from autocomp.knobs import KnobError, parse_knobs, set_defines

KERNEL = '''import triton
import triton.language as tl

M = 4096  # @param
K = 4096  # @param
BLOCK_M = 128  # @knob values=32,64,128,256 menu="tile sizes"
BLOCK_K = 64  # @knob range=32..128 step=32 menu="tile sizes"
NUM_WARPS = 4  # @knob values=4,8
LIMIT = 7
# @constraint M % BLOCK_M == 0 && K % BLOCK_K == 0
# @constraint !(BLOCK_M == 256 && NUM_WARPS == 4)
# @preset skinny if="M <= 64" BLOCK_M=32 NUM_WARPS=4


@triton.jit
def _body(x, BLOCK: tl.constexpr):
    acc = 0  # @knob values=0 would be a mistake here, but this line is indented: not a declaration
    y = 5
    return x


def kernel(A, C):
    block = 3
    _body[(1,)](A, BLOCK=BLOCK_M, num_warps=NUM_WARPS)
'''


def _without(text: str, needle: str) -> str:
    return "\n".join(line for line in text.split("\n") if needle not in line)


def test_python_declarations_parse_like_c_ones() -> None:
    spec = parse_knobs(_without(KERNEL, "acc = 0"))
    assert spec.params == {"M": 4096, "K": 4096}
    assert spec.knobs["BLOCK_M"].values == (32, 64, 128, 256) and spec.knobs["BLOCK_M"].menu == "tile sizes"
    assert spec.knobs["BLOCK_K"].values == (32, 64, 96, 128) and spec.knobs["BLOCK_K"].line == 7
    assert spec.knobs["NUM_WARPS"].menu == "try new parameter values"
    assert spec.setting() == {"BLOCK_M": 128, "BLOCK_K": 64, "NUM_WARPS": 4}
    # module-level integer assignments are constants; indented (function-local) ones are not
    assert spec.constants["LIMIT"] == 7 and "y" not in spec.constants and "block" not in spec.constants


def test_python_constraints_and_presets() -> None:
    spec = parse_knobs(_without(KERNEL, "acc = 0"))
    assert spec.violated({"BLOCK_M": 128, "BLOCK_K": 64, "NUM_WARPS": 4}) is None
    assert spec.violated({"BLOCK_M": 128, "BLOCK_K": 96, "NUM_WARPS": 4}) == "M % BLOCK_M == 0 && K % BLOCK_K == 0"
    assert spec.violated({"BLOCK_M": 256, "BLOCK_K": 64, "NUM_WARPS": 4}) == "!(BLOCK_M == 256 && NUM_WARPS == 4)"
    assert spec.preset_settings() == []  # M = 4096: the skinny preset's condition fails
    skinny = parse_knobs(set_defines(_without(KERNEL, "acc = 0"), {"M": 32}))
    assert skinny.preset_settings() == [("skinny", {"BLOCK_M": 32, "BLOCK_K": 64, "NUM_WARPS": 4})]


def test_an_indented_marker_is_an_error_naming_both_forms() -> None:
    with pytest.raises(KnobError) as err:
        parse_knobs(KERNEL)
    assert "line 17: @knob must mark a line of the form `#define NAME <integer>` (C) or `NAME = <integer>`" in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("X = 3  # @knob values=1,2", "line 1: knob X = 3 is not one of its allowed values [1, 2]"),
    ("X = 1  # @knob values=1 colour=red", "line 1: unknown knob attribute(s) ['colour']"),
    ("X = 1.5  # @knob values=1", "line 1: @knob must mark a line"),
    ("X = f(1)  # @knob values=1", "line 1: @knob must mark a line"),
    ("X = 1  # @knob values=1\nX = 1  # @knob values=1", "line 2: knob X is declared twice (first on line 1)"),
    ("X = 1  # @knob values=1\n# @constraint X < Y", "line 2: @constraint 'X < Y' uses 'Y'"),
    ("# @constraint __import__('os')", "line 1:"),
])
def test_malformed_python_declarations_name_the_line(text: str, message: str) -> None:
    with pytest.raises(KnobError) as err:
        parse_knobs(text)
    assert message in str(err.value)


def test_set_defines_rewrites_python_assignments_only_at_module_level() -> None:
    code = _without(KERNEL, "acc = 0")
    out = set_defines(code, {"BLOCK_M": 64, "M": 2048})
    assert "BLOCK_M = 64  # @knob values=32,64,128,256 menu=\"tile sizes\"" in out
    assert "M = 2048  # @param" in out and "    y = 5" in out and "    block = 3" in out
    assert parse_knobs(out).setting()["BLOCK_M"] == 64
    ast.parse(out)  # still valid Python
    with pytest.raises(KnobError, match=r"no `#define NAME <int>` or `NAME = <int>` line found for \['y'\]"):
        set_defines(code, {"y": 1})


def test_c_and_python_forms_do_not_capture_each_other() -> None:
    c_code = "#define MR 4 /* @knob values=2,4 */\nint x = 5;\nx = 6;\n"
    spec = parse_knobs(c_code)
    assert spec.knobs["MR"].value == 4 and "x" not in spec.constants  # `x = 6;` has a semicolon: not a declaration
    assert set_defines(c_code, {"MR": 2}).startswith("#define MR 2 /* @knob")
