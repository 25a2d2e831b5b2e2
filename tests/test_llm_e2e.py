"""End to end: `autocomp optimize` against a local OpenAI-compatible server started by the test.

The fake server answers planning prompts with plans and implementation prompts with a real,
faster kernel, and reports token usage like OpenAI does. The run is a child process (the real
command); the server is a real socket in this process.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import FAST_EVAL, autocomp, faster, kernel, reply_with_code

KEY_VAR, KEY = "AUTOCOMP_E2E_KEY", "sk-e2e-secret-never-stored-0042"
MODEL = "fake-coder"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
         "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
PER_CALL = (1000 * 1.0 + 500 * 2.0) / 1e6  # with the prices in _config


def _serve(server: HTTPServer) -> None:
    counter = itertools.count()

    def chat(request: Request) -> Response:
        prompt = request.get_json()["messages"][-1]["content"]
        n = next(counter)
        if "planning phase" in prompt:
            text = f"Chosen item: 1\nPlan {n}: reorder the loops to i-k-j so B is read row by row."
        else:
            text = reply_with_code(kernel("gemm256_fast.c"))
        body = {"id": f"c{n}", "object": "chat.completion", "created": 0, "model": MODEL, "usage": USAGE,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(chat)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "run.toml"
    cfg.write_text(FAST_EVAL + f"""
[llm.retry]
initial_s = 0.01
[llm.providers.openai]
api_key_env = "{KEY_VAR}"
[llm.prices."openai::{MODEL}"]
input = 1.0
output = 2.0
""")
    return cfg


def _optimize(server: HTTPServer, tmp_path: Path, run: str, *extra: str) -> tuple[dict, Path]:
    run_dir = tmp_path / run
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--config", str(_config(tmp_path)),
                    "--models", f"openai@{server.url_for('/v1')}::{MODEL}", "--beam", "1", "--plans", "2", "--codes", "1",
                    "--run-dir", str(run_dir), "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    return json.loads(proc.stdout), run_dir


@pytest.mark.slow
def test_optimize_against_a_local_openai_compatible_server(httpserver: HTTPServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(KEY_VAR, KEY)
    _serve(httpserver)
    out, run_dir = _optimize(httpserver, tmp_path, "run", "--iterations", "2")
    assert out["iterations"] == 2 and out["stopped"] == "completed all iterations"
    assert faster(out["best"], 1.5)
    requests = len(httpserver.log)
    assert requests == out["llm"]["calls"] == out["llm_calls"] == 8  # 2 iterations x (2 plans + 2 codes)
    assert all(entry[0].headers["Authorization"] == f"Bearer {KEY}" for entry in httpserver.log)  # the key was used...

    db = sqlite3.connect(run_dir / "run.db")
    calls = db.execute("SELECT phase, status, input_tokens, output_tokens, cost_usd, iteration, request_json "
                       "FROM llm_calls ORDER BY id").fetchall()
    assert len(calls) == requests and {c[0] for c in calls} == {"plan", "code"}
    assert all(c[1] == "ok" and c[2] == 1000 and c[3] == 500 and abs(c[4] - PER_CALL) < 1e-12 for c in calls)
    assert sorted({c[5] for c in calls}) == [1, 2]
    assert json.loads(calls[0][6])["model"].endswith(f"::{MODEL}")
    llm = out["llm"]
    assert abs(llm["cost_usd"] - 8 * PER_CALL) < 1e-12 and llm["input_tokens"] == 8000 and llm["output_tokens"] == 4000
    assert set(llm["by_phase"]) == {"plan", "code"} and llm["by_phase"]["plan"]["calls"] == 4
    assert list(llm["by_model"]) == [f"openai@{httpserver.url_for('/v1')}::{MODEL}"]
    db.close()
    # ...but never reached the store, the summary or the saved candidates
    stored = b"".join(p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
    assert KEY.encode() not in stored

    # re-running with the same settings: the run's store answers every request
    again = autocomp("resume", str(run_dir), "--json")
    assert again.returncode == 0, again.stderr
    assert len(httpserver.log) == requests
    rerun = json.loads(again.stdout)
    assert rerun["llm"]["calls"] == requests and rerun["best"]["candidate_id"] == out["best"]["candidate_id"]


@pytest.mark.slow
def test_max_cost_stops_at_the_iteration_boundary_that_would_exceed_it(httpserver: HTTPServer, tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv(KEY_VAR, KEY)
    _serve(httpserver)
    # an iteration is 4 calls = $0.008: after two ($0.016) a third would reach $0.024 > $0.02
    out, run_dir = _optimize(httpserver, tmp_path, "budget", "--iterations", "5", "--max-cost", "0.02")
    assert out["iterations"] == 2 and "--max-cost" in out["stopped"]
    assert out["llm"]["cost_usd"] <= 0.02 and len(httpserver.log) == 8
    assert faster(out["best"], 1.5) and (run_dir / "best.c").exists()
    db = sqlite3.connect(run_dir / "run.db")
    status, reason = db.execute("SELECT status, stop_reason FROM run").fetchone()
    assert status == "finished" and reason == out["stopped"]
    db.close()

    # resuming replays the same decision; with a larger budget it continues from there
    same = autocomp("resume", str(run_dir), "--json")
    assert same.returncode == 0 and json.loads(same.stdout)["iterations"] == 2 and len(httpserver.log) == 8
    more = autocomp("resume", str(run_dir), "--max-cost", "0.03", "--json")
    assert more.returncode == 0, more.stderr
    assert json.loads(more.stdout)["iterations"] == 3 and len(httpserver.log) == 12


@pytest.mark.slow
def test_max_llm_calls_and_unpriced_budget(httpserver: HTTPServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(KEY_VAR, KEY)
    _serve(httpserver)
    out, _ = _optimize(httpserver, tmp_path, "calls", "--iterations", "3", "--max-llm-calls", "6")
    assert out["iterations"] == 1 and "--max-llm-calls 6" in out["stopped"] and out["llm"]["calls"] == 4

    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", f"openai@{httpserver.url_for('/v1')}::unpriced-model",
                    "--max-cost", "1", "--run-dir", str(tmp_path / "never"))
    assert proc.returncode == 2 and 'add [llm.prices."openai@' in proc.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_a_compile_error_is_repaired_through_the_openai_sdk(httpserver: HTTPServer, tmp_path: Path, monkeypatch) -> None:
    """The server's code reply does not compile; the repair prompt (the real openai SDK in
    between) carries the compiler's error, and the server's fix is the run's faster answer."""
    monkeypatch.setenv(KEY_VAR, KEY)
    seen: list[str] = []

    def chat(request: Request) -> Response:
        prompt = request.get_json()["messages"][-1]["content"]
        seen.append(prompt)
        if "planning phase" in prompt:
            text = "Chosen item: 1\nReorder the loops to i-k-j."
        elif "This is a repair" in prompt:
            text = reply_with_code(kernel("gemm256_fast.c"))
        else:
            text = reply_with_code(kernel("compile_error.c"))
        body = {"id": f"c{len(seen)}", "object": "chat.completion", "created": 0, "model": MODEL, "usage": USAGE,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(chat)
    out, run_dir = _optimize(httpserver, tmp_path, "repair", "--iterations", "1", "--plans", "1")
    repairs = [p for p in seen if "This is a repair" in p]
    assert len(repairs) == 1 and "error: 'undeclared_scale' undeclared" in repairs[0] and "Reorder the loops" in repairs[0]
    db = sqlite3.connect(run_dir / "run.db")
    origin, key = db.execute("SELECT origin, key FROM candidates WHERE id = ?", (out["best"]["candidate_id"],)).fetchone()
    assert origin == "repair" and key.endswith("/r1") and faster(out["best"], 1.2)
    assert out["llm"]["by_phase"]["repair"]["calls"] == 1
    db.close()
