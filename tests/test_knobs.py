"""The knob convention: parsing (good and malformed), constraints, rewriting."""

from __future__ import annotations

import pytest

from autocomp.knobs import KnobError, parse_knobs, set_defines
from autocomp.targets.registry import get_target

GOOD = """#include <stddef.h>
#define M 256 /* @param M */
#define K 512 /* @param K */
#define MR 4 /* @knob values=1,2,4,8 menu="register blocking" */
#define KC 128 /* @knob range=64..512 step=64 menu="cache blocking" */
#define PF 1 /* @knob values=0,1 */
/* @constraint M % MR == 0 && K % KC == 0 */
/* @constraint !(PF == 1 && KC > 256) || MR >= 4 */
void gemm(void) {}
"""


def test_good_declarations() -> None:
    spec = parse_knobs(GOOD)
    assert spec.params == {"M": 256, "K": 512}
    assert spec.knobs["MR"].values == (1, 2, 4, 8) and spec.knobs["MR"].menu == "register blocking"
    assert spec.knobs["KC"].values == (64, 128, 192, 256, 320, 384, 448, 512) and spec.knobs["KC"].line == 5
    assert spec.knobs["PF"].menu == "try new parameter values"
    assert spec.setting() == {"MR": 4, "KC": 128, "PF": 1}


def test_constraints() -> None:
    spec = parse_knobs(GOOD)
    assert spec.violated({"MR": 4, "KC": 128, "PF": 1}) is None
    assert spec.violated({"MR": 4, "KC": 192, "PF": 1}) == "M % MR == 0 && K % KC == 0"  # 512 % 192 != 0
    assert spec.violated({"MR": 2, "KC": 512, "PF": 1}) == "!(PF == 1 && KC > 256) || MR >= 4"
    assert spec.violated({"MR": 2, "KC": 512, "PF": 0}) is None
    c_division = parse_knobs("#define A 7 /* @knob values=7,-7 */\n/* @constraint A / 2 == -3 || A / 2 == 3 */\n")
    assert c_division.violated({"A": -7}) is None  # C truncates toward zero


@pytest.mark.parametrize("text, message", [
    ("#define X 3 /* @knob values=1,2 */", "line 1: knob X = 3 is not one of its allowed values [1, 2]"),
    ("\n#define X 1 /* @knob values=1,a */", "line 2: values='1,a' must be integers"),
    ("#define X 1 /* @knob range=8..1 */", "line 1: knob X range=8..1"),
    ("#define X 1 /* @knob values=1 range=1..2 */", "line 1: knob X needs exactly one of"),
    ("#define X 1 /* @knob values=1 colour=red */", "line 1: unknown knob attribute(s) ['colour']"),
    ("int x = 1; /* @knob values=1 */", "line 1: @knob must mark a line of the form `#define NAME <integer>`"),
    ("#define X 1 /* @knob values=1 */\n#define X 1 /* @knob values=1 */", "line 2: knob X is declared twice (first on line 1)"),
    ("#define X 1 /* @knob values=1 */\n/* @constraint X +* */", "line 2: cannot parse @constraint"),
    ("#define X 1 /* @knob values=1 */\n/* @constraint X < Y */", "line 2: @constraint 'X < Y' uses 'Y'"),
    ("/* @constraint __import__('os') */", "line 1:"),
])
def test_malformed_declarations_name_the_line(text: str, message: str) -> None:
    with pytest.raises(KnobError) as err:
        parse_knobs(text)
    assert message in str(err.value)


def test_set_defines_rewrites_only_the_number() -> None:
    out = set_defines(GOOD, {"MR": 8, "M": 512})
    assert '#define MR 8 /* @knob values=1,2,4,8 menu="register blocking" */' in out
    assert "#define M 512 /* @param M */" in out and out.count("\n") == GOOD.count("\n")
    with pytest.raises(KnobError, match=r"no `#define NAME <int>` or `NAME = <int>` line found for \[.NOPE.\]"):
        set_defines(GOOD, {"NOPE": 1})


def test_shipped_templates_parse_and_their_defaults_satisfy_constraints() -> None:
    for target in ("cpu", "amx"):
        for path in get_target(target).templates().values():
            spec = parse_knobs(path.read_text())
            assert spec.knobs and spec.params, path
            assert spec.violated(spec.setting()) is None, path


PRESETS = GOOD + """/* @preset deep if="K >= 2 * M" KC=K/2 MR=8 */
/* @preset tiny if="M < 64" MR=1 */
/* @preset broken KC=K*2 */
/* @preset always PF=0 */
"""


def test_presets_apply_by_condition_and_only_when_valid() -> None:
    spec = parse_knobs(PRESETS)
    assert [p.name for p in spec.presets] == ["deep", "tiny", "broken", "always"]
    assert spec.presets[0].condition == "K >= 2 * M" and spec.presets[0].values == (("KC", "K/2"), ("MR", "8"))
    # deep: K = 512 >= 2 * 256, KC = 256 (expressions over params), knobs it does not name keep their value;
    # tiny: condition false; broken: KC = 1024 is not an allowed value -> left out
    assert spec.preset_settings() == [("deep", {"MR": 8, "KC": 256, "PF": 1}), ("always", {"MR": 4, "KC": 128, "PF": 0})]
    other = parse_knobs(set_defines(PRESETS, {"M": 32, "K": 64, "KC": 64}))
    # deep: K = 64 < 2 * 32 is false; tiny applies; broken: KC = 128 breaks K % KC == 0
    assert other.preset_settings() == [("tiny", {"MR": 1, "KC": 64, "PF": 1}), ("always", {"MR": 4, "KC": 64, "PF": 0})]


@pytest.mark.parametrize("text, message", [
    ("/* @preset */", "line 1: @preset needs a name"),
    ("#define X 1 /* @knob values=1 */\n/* @preset a Y=1 */", "line 2: preset a sets Y, which is not a knob"),
    ("#define X 1 /* @knob values=1 */\n/* @preset a X=Z */", "line 2: @preset 'Z' uses 'Z'"),
    ("#define X 1 /* @knob values=1 */\n/* @preset a X=1 junk */", "line 2: cannot parse 'junk' in @preset"),
    ("#define X 1 /* @knob values=1 */\n/* @preset a X=1 */\n/* @preset a X=1 */", "line 3: preset a is declared twice"),
    ("#define X 1 /* @knob values=1 */\n/* @preset a if=\"X <\" X=1 */", "line 2: cannot parse @preset 'X <'"),
    ("#define X 1 /* @knob values=1 */\n/* @preset a X=1 X=1 */", "line 2: preset a sets X twice"),
])
def test_malformed_presets_name_the_line(text: str, message: str) -> None:
    with pytest.raises(KnobError, match=message.replace("(", "\\(").replace("*", "\\*")):
        parse_knobs(text)


def test_amx_template_presets_cover_every_gemm_problem() -> None:
    """Every shipped AMX GEMM shape has an applicable preset, valid for that shape."""
    from autocomp.targets.registry import resolve_problem
    templates = get_target("amx").templates()
    for dtype in ("bf16", "i8"):
        text = templates[f"gemm_{dtype}"].read_text()
        for shape in ("256", "512", "1024", "2048", "12544x64x256", "3136x128x512", "784x256x1024"):
            params = resolve_problem(f"amx/gemm-{dtype}-{shape}").spec.params
            spec = parse_knobs(set_defines(text, {p: params[p] for p in ("M", "N", "K")}))
            presets = spec.preset_settings()
            assert presets, (dtype, shape)
            assert all(spec.violated(setting) is None for _, setting in presets)
    tall = parse_knobs(set_defines(templates["gemm_bf16"].read_text(), {"M": 12544, "N": 64, "K": 256})).preset_settings()
    assert tall[0][0] == "stream" and tall[0][1]["ORDER"] == 3 and tall[0][1]["MREV"] == 1


def test_every_shipped_template_knob_names_an_item_of_its_targets_menu() -> None:
    """Menu dropout steers the tuner through knob menu items, and schedules record them: a name
    the menu lacks would never be offered, so that knob would never be preferred."""
    from autocomp.agents.tuner import unknown_menu_items
    from autocomp.targets.registry import available_targets, get_target
    from autocomp.templates import load_templates

    checked = 0
    for name in available_targets():
        target = get_target(name)
        for template in (t for language in target.languages for t in load_templates(target.root / "templates", language.suffix).values()):
            spec = parse_knobs(template.text)
            assert unknown_menu_items(spec, target, template.family) is None, f"{name}/{template.name}"
            checked += len(spec.knobs)
    assert checked >= 40
