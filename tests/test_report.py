"""The HTML run report: written by every run, and by `autocomp report` for any run folder.

Real runs (replay model, real gcc, real SQLite), real plotly, real HTML; plan text a model wrote
must come out escaped, and a missing plotly must cost the charts, not the report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_one_line_error, autocomp, kernel, needs_extra, reply_with_code, write_replay

HOSTILE_PLAN = "Chosen item: 1\nBlock the loops. </script><script>alert('plan')</script> <b>bold</b>"
SECRET = "sk-report-test-0123456789abcdef"


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One finished replay run on cpu/gemm-f32-256: a faster kernel from a plan with markup in it,
    and a kernel that lost its entry function; an API key sits in the environment throughout."""
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "fast.toml").write_text("[eval]\nmin_time_s = 0.1\ntimeout_s = 4\ntrials = 2\n")
    replay = write_replay(tmp / "r.toml", [HOSTILE_PLAN, "Chosen item: 2\nVectorize."],
                          [reply_with_code(kernel("gemm256_faster.c")), reply_with_code("void gemm(  {")])
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    proc = subprocess.run([sys.executable, "-m", "autocomp.cli", "optimize", "cpu/gemm-f32-256", "--config", str(tmp / "fast.toml"),
                           "--models", f"replay::{replay}", "--iterations", "1", "--plans", "2", "--codes", "1",
                           "--run-dir", str(tmp / "run"), "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return tmp / "run", json.loads(proc.stdout)


@pytest.mark.slow
@needs_extra("report", "plotly")
def test_a_run_writes_its_report_with_charts_tables_and_escaped_model_text(replay_run: tuple[Path, dict]) -> None:
    run_dir, out = replay_run
    assert out["report"] == str(run_dir / "report.html")
    page = (run_dir / "report.html").read_text()
    assert page.count("plotly.js v") == 1  # the library inlined once: the file opens offline
    assert page.count('class="plotly-graph-div"') == 3  # progress, outcomes per iteration, menu items
    # model text is data, never markup: escaped in the tables and in the chart hover text
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(&#39;plan&#39;)" in page
    best = out["best"]["candidate_id"]
    assert f"best, #{best}, as measured in the search" in page
    # the headline is the re-checked figure, shown first (issue 16: not the search's best draw)
    speedup = f"{out['best']['speedup_vs_initial']:.2f}x"
    assert out["best"]["speedup_source"] == "re-check"
    assert page.index(f"{speedup} vs the initial code\n(re-checked on fresh inputs") < page.index("as measured in the search (the best")
    assert "best, re-checked on fresh inputs" in page and "best, cold caches (initial code cold too)" in page
    assert "policy_violation" in page and "keep the exact signature" in page  # the broken kernel, listed with why
    tables = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    for step in out["schedule"]:
        assert f"#{step['candidate_id']}" in tables and str(step["menu_item"]) in tables
    assert "measured on" in tables and "replay::" in tables
    assert SECRET not in page


@pytest.mark.slow
def test_report_command_rewrites_any_run_and_refuses_a_non_run(replay_run: tuple[Path, dict], tmp_path: Path) -> None:
    run_dir, _ = replay_run
    proc = autocomp("report", str(run_dir), "--out", str(tmp_path / "again.html"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"report written to {tmp_path / 'again.html'}"
    assert "autocomp run: cpu/gemm-f32-256" in (tmp_path / "again.html").read_text()
    assert_one_line_error(autocomp("report", str(tmp_path)), "not a run folder")


@pytest.mark.slow
def test_without_plotly_the_report_keeps_its_tables_and_says_how_to_get_charts(replay_run: tuple[Path, dict],
                                                                              tmp_path: Path) -> None:
    run_dir, out = replay_run
    script = ("import sys; sys.modules['plotly'] = None  # as if the report extra were not installed\n"
              "from pathlib import Path\nfrom autocomp.report.html import write_report\n"
              f"write_report(Path({str(run_dir)!r}), Path({str(tmp_path / 'plain.html')!r}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "plain.html").read_text()
    assert "plotly-graph-div" not in page and "<script" not in page
    assert "charts need plotly: pip install &#39;autocomp[report]&#39;" in page
    assert f"best, #{out['best']['candidate_id']}" in page


@pytest.mark.slow
def test_a_modeled_target_reports_cycles(tmp_path: Path, fast_config: Path) -> None:
    proc = autocomp("optimize", "gemmini/conv-3", "--models", "tuner", "--config", str(fast_config),
                    "--iterations", "1", "--plans", "2", "--codes", "1", "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    page = Path(out["report"]).read_text()
    assert f"{out['best']['value']:,.0f} cycles" in page and f"{out['best']['initial_value']:,.0f} cycles" in page
    assert "cold caches" not in page.split("<h2>Search</h2>")[0]  # modeled cycles have no caches to be cold


@pytest.mark.slow
def test_candidate_numbers_link_to_their_code_from_wherever_the_report_is(replay_run: tuple[Path, dict],
                                                                          tmp_path: Path) -> None:
    run_dir, out = replay_run
    best = out["best"]["candidate_id"]
    here = (run_dir / "report.html").read_text()
    assert f'<a href="candidates/{best:05d}.c">{best}</a>' in here and (run_dir / "candidates" / f"{best:05d}.c").is_file()
    elsewhere = tmp_path / "sub" / "r.html"
    elsewhere.parent.mkdir()
    from autocomp.report.html import write_report

    write_report(run_dir, elsewhere)
    link = re.search(rf'<a href="([^"]+/{best:05d}\.c)">', elsewhere.read_text())
    assert link and (elsewhere.parent / link[1]).resolve() == (run_dir / "candidates" / f"{best:05d}.c").resolve()


def test_a_run_with_nothing_evaluated_yet_still_gets_a_report(tmp_path: Path) -> None:
    """A run killed before its first evaluation: the report says so instead of failing."""
    from autocomp.report.html import write_report
    from autocomp.store.runstore import RunStore

    RunStore.create(tmp_path / "run", "cpu/gemm-f32-256", "/nowhere", "cpu", {"models": ["tuner"]}).close()
    page = write_report(tmp_path / "run").read_text()
    assert "No candidate has been evaluated yet." in page and "Candidates (0)" in page
