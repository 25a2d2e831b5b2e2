"""The shipped AMX GEMM templates are exactly what their generator writes from the master.

gemm_bf16.c and gemm_i8.c share all but a few lines, so both come from gemm.c.in
(autocomp/targets/amx/templates/generate.py); an edit to one generated file alone would be
lost at the next regeneration, and this test says so first.
"""

from __future__ import annotations

import importlib.util

from autocomp.targets.registry import get_target


def test_the_gemm_templates_match_their_generator() -> None:
    folder = get_target("amx").root / "templates"
    spec = importlib.util.spec_from_file_location("amx_template_generator", folder / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    rendered = generator.render()
    assert sorted(rendered) == ["gemm_bf16.c", "gemm_i8.c"]
    for name, text in rendered.items():
        assert (folder / name).read_text() == text, (
            f"{name} differs from what generate.py writes from gemm.c.in: edit the master, then run "
            f"`python autocomp/targets/amx/templates/generate.py`")
    assert "_tile_dpbf16ps" in rendered["gemm_bf16.c"] and "_tile_dpbssd" in rendered["gemm_i8.c"]
