"""`make demo`'s choices: which problem it runs and what it tells the user (the run itself is `make demo`)."""

from __future__ import annotations

import pytest

from autocomp.demo import AMX_PROBLEM, CPU_PROBLEM, pick_problem, vendor_rows
from autocomp.outputs import BaselineOutput, VendorPathRow
from autocomp.targets.registry import get_target


def test_demo_picks_amx_where_it_runs_and_says_why_not_elsewhere(capsys: pytest.CaptureFixture[str]) -> None:
    reason = get_target("amx").unavailable_reason()
    picked = pick_problem()
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    if reason is None:
        assert picked == AMX_PROBLEM and out == ""
    else:
        assert picked == CPU_PROBLEM
        # the reason is printed as text, not read as console markup (`[a-z0-9]` survived)
        assert f"notice: AMX unavailable ({' '.join(reason.split())}); running the plain-C demo on {CPU_PROBLEM}" in out


def test_demo_shows_the_prepacked_vendor_only_when_it_is_a_different_faster_path() -> None:
    same = VendorPathRow(name="torch.matmul", library="oneDNN", available=True, latency_s=2e-4)
    packed = VendorPathRow(name="MKL bf16 GEMM, packed B", library="oneMKL", available=True, latency_s=1e-4, prepacked=True)

    def rows(best: VendorPathRow | None, best_prepacked: VendorPathRow | None) -> list[tuple[str, VendorPathRow]]:
        return vendor_rows(BaselineOutput(problem=AMX_PROBLEM, available=best is not None, paths=[same, packed],
                                          best=best, best_prepacked=best_prepacked))

    assert rows(same, packed) == [("vendor", same), ("vendor, prepacked weights", packed)]
    assert rows(same, same) == [("vendor", same)]
    # only prepacked paths ran (e.g. a build without the same-work path): still shown, labelled
    assert rows(None, packed) == [("vendor, prepacked weights", packed)]
    assert rows(None, None) == []
