"""A model server that is down, hostile or misaddressed (issue 16 §1, issue 17 holes 7 and 10):
real SDKs against real local sockets and HTTP servers, and the real `autocomp` command.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from autocomp.config import LLMConfig
from autocomp.llm.base import Message, ProviderConfig, ProviderError, Request, RetryConfig
from autocomp.llm.registry import make_provider
from autocomp.targets.registry import resolve_problem
from conftest import FAST_EVAL, assert_one_line_error, autocomp, faster, kernel, reply_with_code


def _free_port() -> int:
    """A port nothing listens on (bound, then released): connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request() -> Request:
    return Request(model="openai::m", messages=[Message(role="user", content="write a kernel")], phase="code")


class _Trickle(BaseHTTPRequestHandler):
    """Answers 200 with a body that never ends: one byte every 0.1 s, well inside any read timeout."""

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        try:
            while not self.server.stopping:  # type: ignore[attr-defined]
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client hung up: what the deadline should make it do

    def log_message(self, *args: object) -> None:
        pass


def test_a_trickling_server_is_cut_off_at_the_total_deadline() -> None:
    """Issue 17 hole 7: the SDK timeout covers the gap between bytes, so a server sending a
    byte every 0.1 s held a call forever. Each attempt now has a total deadline."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.stopping = False  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        llm = LLMConfig(providers={"openai": ProviderConfig(timeout_s=1.0)}, retry=RetryConfig(attempts=2, initial_s=0.01))
        provider = make_provider(f"openai@http://127.0.0.1:{server.server_port}/v1::m", llm)
        start = time.monotonic()
        with pytest.raises(ProviderError) as err:
            provider.complete(_request())
        took = time.monotonic() - start
    finally:
        server.stopping = True  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
    assert "timed out after 1s" in str(err.value) and "gave up after 2 attempts" in str(err.value)
    # without the deadline the trickle (1 MB at 10 bytes/s) holds the call for a day; 30 s is far
    # from that and far above two 1 s attempts, even on a loaded machine
    assert took < 30, f"two 1 s attempts took {took:.1f} s"


def test_a_refused_connection_is_marked_unreachable() -> None:
    llm = LLMConfig(retry=RetryConfig(attempts=2, initial_s=0.01))
    provider = make_provider(f"openai@http://127.0.0.1:{_free_port()}/v1::m", llm)
    with pytest.raises(ProviderError) as err:
        provider.complete(_request())
    assert err.value.unreachable and "connection failed" in str(err.value) and "gave up after 2 attempts" in str(err.value)


@pytest.mark.parametrize("model", ["openai@localhost:8000::m", "openai@ftp://host/v1::m", "openai@http://h:port/v1::m",
                                   "openai@http:///v1::m"])
def test_an_invalid_base_url_is_refused_before_the_run(model: str, tmp_path: Path) -> None:
    """Issue 17 hole 10: a malformed base URL was accepted, each call retried 6 times, and the
    run exited 0 with every call failed. It is now a one-line error before anything runs."""
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", model, "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(proc, "not an http(s) URL", "http://localhost:8000/v1")
    assert not (tmp_path / "run").exists()


def test_an_invalid_base_url_in_the_config_is_refused_too(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[llm.providers.vllm]\nbase_url = "localhost:8000/v1"\n')
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", "vllm::m", "--config", str(cfg),
                    "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(proc, "[llm.providers.vllm] base_url", "not an http(s) URL")


def _chat_reply(text: str) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


@pytest.mark.slow
def test_a_dead_model_server_stops_the_run_and_resume_asks_the_failed_calls_again(tmp_path: Path) -> None:
    """Issue 16: with no server running, every iteration cost ~35 s of retries and the run
    "completed" with exit 0. Now the first iteration whose every call is refused stops the run
    with a clear error and a non-zero exit, recorded as failed; once the server is up, `resume`
    asks those calls again (a failed call is not a cached reply) and the search goes on."""
    port = _free_port()
    model = f"openai@http://127.0.0.1:{port}/v1::m"
    cfg = tmp_path / "c.toml"
    cfg.write_text(FAST_EVAL + "[llm.retry]\nattempts = 2\ninitial_s = 0.01\n")
    run_dir = tmp_path / "run"
    args = ["--iterations", "1", "--beam", "1", "--plans", "2", "--codes", "1"]
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", model, "--config", str(cfg), "--run-dir", str(run_dir),
                    *args, "--json")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # stopped after iteration 1's calls (the rows below)
    error = json.loads(proc.stdout)
    assert error["kind"] == "user_error" and error["run_dir"] == str(run_dir)
    assert "no model server answered: all 2 model calls of iteration 1 failed to connect" in error["error"]
    assert f"autocomp resume {run_dir}" in error["error"] and "Traceback" not in proc.stderr
    db = sqlite3.connect(run_dir / "run.db")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "failed"
    assert [r[0] for r in db.execute("SELECT status FROM llm_calls")] == ["unreachable", "unreachable"]
    db.close()
    listed = json.loads(autocomp("runs", str(tmp_path), "--json").stdout)
    assert listed[0]["status"] == "failed" and "no model server answered" in listed[0]["stop_reason"]

    fast_code = kernel("gemm256_faster.c")
    with HTTPServer(host="127.0.0.1", port=port) as server:
        for text in ["Chosen item: 1\nBlock the loops.", "Chosen item: 2\nVectorize.",
                     reply_with_code(fast_code), reply_with_code(resolve_problem("cpu/gemm-f32-256").initial_code)]:
            server.expect_ordered_request("/v1/chat/completions", method="POST").respond_with_json(_chat_reply(text))
        resumed = autocomp("resume", str(run_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["llm_calls"] == 4 and faster(out["best"], 1.5)
    db = sqlite3.connect(run_dir / "run.db")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "finished"
    assert db.execute("SELECT count(*) FROM plans WHERE status = 'ok'").fetchone()[0] == 2
    db.close()


def test_an_unusable_url_from_the_environment_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base URL that no attempt can use (here VLLM_BASE_URL without a scheme) fails at once with
    what to fix, instead of being retried like a server that is starting up."""
    monkeypatch.setenv("VLLM_BASE_URL", "localhost:8000/v1")
    provider = make_provider("vllm::m", LLMConfig(retry=RetryConfig(attempts=6, initial_s=1.0)))
    with pytest.raises(ProviderError) as err:
        provider.complete(_request())
    # one attempt, no retry (a retried call ends "gave up after N attempts"): said by the error,
    # not by a clock a loaded machine can slow down
    assert not err.value.retryable and not err.value.unreachable
    assert "cannot send to this base URL" in str(err.value) and "gave up" not in str(err.value)


class _ThenGone(BaseHTTPRequestHandler):
    """Answers the server's scripted chat replies in order; with the last one it stops listening,
    so every later connection is refused (a model server that died mid-iteration)."""

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        replies: list[str] = self.server.replies  # type: ignore[attr-defined]
        body = json.dumps(_chat_reply(replies.pop(0))).encode()
        if not replies:
            self.server.shutdown()  # this handler runs in its own thread, not the serving loop's
            self.server.server_close()  # the listening socket: refused from now on
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_a_model_server_that_dies_before_the_repairs_stops_the_run_and_resume_asks_them_again(tmp_path: Path) -> None:
    """The plan and code calls were answered, the server died, and the repair calls all failed to
    connect: the run used to go on and "complete" with exit 0 (a dead server stopped a run only
    through its plans and codes). Now the repair round stops it as they do, and `resume` asks
    only the repair again."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ThenGone)
    server.replies = ["Chosen item: 1\nBlock the loops.", reply_with_code(kernel("compile_error.c"))]  # type: ignore[attr-defined]
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    model = f"openai@http://127.0.0.1:{port}/v1::m"
    cfg = tmp_path / "c.toml"
    cfg.write_text(FAST_EVAL + "[llm.retry]\nattempts = 2\ninitial_s = 0.01\n")
    run_dir = tmp_path / "run"
    proc = autocomp("optimize", "cpu/gemm-f32-256", "--models", model, "--config", str(cfg), "--run-dir", str(run_dir),
                    "--iterations", "1", "--beam", "1", "--plans", "1", "--codes", "1", "--repair", "1", "--json")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    error = json.loads(proc.stdout)
    assert error["kind"] == "user_error" and error["run_dir"] == str(run_dir)
    assert "no model server answered: all 1 repair calls (attempt 1) of iteration 1 failed to connect" in error["error"]
    assert f"autocomp resume {run_dir}" in error["error"]
    db = sqlite3.connect(run_dir / "run.db")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "failed"
    assert [r[0] for r in db.execute("SELECT status FROM llm_calls ORDER BY id")] == ["ok", "ok", "unreachable"]
    db.close()

    with HTTPServer(host="127.0.0.1", port=port) as again:
        again.expect_ordered_request("/v1/chat/completions", method="POST").respond_with_json(
            _chat_reply(reply_with_code(kernel("gemm256_faster.c"))))
        resumed = autocomp("resume", str(run_dir), "--json")
        assert len(again.log) == 1  # the repair only: the stored plan and code are not asked again
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert faster(out["best"], 1.5)
    db = sqlite3.connect(run_dir / "run.db")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "finished"
    assert db.execute("SELECT origin FROM candidates WHERE id = ?", (out["best"]["candidate_id"],)).fetchone()[0] == "repair"
    db.close()
