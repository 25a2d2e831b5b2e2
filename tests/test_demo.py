"""`make demo`'s choices: which problem it runs and what it tells the user (the run itself is `make demo`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autocomp.demo import AMX_PROBLEM, CPU_PROBLEM, pick_problem, vendor_rows
from autocomp.outputs import BaselineOutput, VendorPathRow
from autocomp.targets.registry import get_target, resolve_problem

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.slow
def test_make_demo_runs_to_its_last_line(tmp_path: Path) -> None:
    """`make demo` end to end, as a user runs it (a real tuner search, vendor baselines, the table):
    a typed-output change once broke its closing lines with a traceback that no other test saw."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    done = subprocess.run([sys.executable, "-m", "autocomp.demo"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    out = " ".join(done.stdout.split())
    assert done.returncode == 0 and "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert "best found" in out and "speedups are same-run ratios" in out and "report: " in out
    vendor = get_target("cpu").baselines(resolve_problem(CPU_PROBLEM))
    if vendor.best is not None and get_target("amx").unavailable_reason() is not None:
        assert "best vs vendor: " in out  # the closing comparison with the vendor library
    assert list((tmp_path / "runs").glob("demo-*/summary.json"))
