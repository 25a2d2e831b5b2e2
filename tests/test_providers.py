"""Each real provider SDK (openai, anthropic, google-genai, boto3 Bedrock Converse) against a real
local HTTP server (pytest-httpserver): replies with usage, retries, fast failures, malformed
bodies, timeouts, rejected parameters, keys and missing extras.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WsgiRequest
from werkzeug import Response as WsgiResponse

from autocomp.agents.base import AgentContext, CodeJob, Parent
from autocomp.agents.llm_agent import LLMAgent
from autocomp.config import LLMConfig
from autocomp.errors import UserError
from autocomp.llm.base import Message, ProviderConfig, ProviderError, Request, RetryConfig, Usage
from autocomp.llm.registry import make_provider
from autocomp.store.runstore import RunStore
from autocomp.targets.registry import get_target, resolve_problem
from conftest import needs_extra

KEY_VAR, KEY = "AUTOCOMP_TEST_KEY", "sk-test-secret-4242"
FAST_RETRY = RetryConfig(attempts=3, initial_s=0.001, max_wait_s=5.0, total_s=30.0)


@dataclass(frozen=True)
class Wire:
    """How one SDK's API looks on the wire, enough to fake it."""

    name: str
    base: str  # base_url relative to the server root
    path: Callable[[str], str]  # model -> request path
    ok: Callable[[str, bool], dict[str, Any]]  # (text, truncated) -> reply body
    usage: Usage  # what `ok` reports, as our Usage
    error: Callable[[int, str], tuple[dict[str, Any], dict[str, str]]]  # (status, message) -> body, headers
    auth_status: int = 401


def _openai_ok(text: str, truncated: bool) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "length" if truncated else "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                      "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 10}}}


def _anthropic_ok(text: str, truncated: bool) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 30, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0}}


def _gemini_ok(text: str, truncated: bool) -> dict[str, Any]:
    return {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "MAX_TOKENS" if truncated else "STOP"}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 20, "thoughtsTokenCount": 10,
                              "cachedContentTokenCount": 20, "totalTokenCount": 150}}


def _bedrock_ok(text: str, truncated: bool) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "max_tokens" if truncated else "end_turn",
            "usage": {"inputTokens": 100, "outputTokens": 30, "totalTokens": 130, "cacheReadInputTokens": 20},
            "metrics": {"latencyMs": 5}}


BEDROCK_CODES = {400: "ValidationException", 403: "UnrecognizedClientException", 429: "ThrottlingException",
                 500: "InternalServerException"}

WIRES = {
    "openai": Wire("openai", "/v1", lambda m: "/v1/chat/completions", _openai_ok, Usage(input_tokens=120, output_tokens=30, cached_tokens=20, reasoning_tokens=10),
                   lambda status, msg: ({"error": {"message": msg, "type": "invalid_request_error", "param": None, "code": None}}, {})),
    "anthropic": Wire("anthropic", "/", lambda m: "/v1/messages", _anthropic_ok, Usage(input_tokens=120, output_tokens=30, cached_tokens=20),
                      lambda status, msg: ({"type": "error", "error": {"type": "api_error", "message": msg}}, {})),
    "gemini": Wire("gemini", "/", lambda m: f"/v1/models/{m}:generateContent", _gemini_ok, Usage(input_tokens=120, output_tokens=30, cached_tokens=20, reasoning_tokens=10),
                   lambda status, msg: ({"error": {"code": status, "message": msg, "status": "ERROR"}}, {})),
    "bedrock": Wire("bedrock", "/", lambda m: f"/model/{m}/converse", _bedrock_ok, Usage(input_tokens=120, output_tokens=30, cached_tokens=20),
                    lambda status, msg: ({"message": msg}, {"x-amzn-ErrorType": BEDROCK_CODES.get(status, "ServiceException")}),
                    auth_status=403),
}
# The SDKs beyond openai come with extras; without one, its tests skip and say what to install.
EXTRAS = {"anthropic": needs_extra("anthropic", "anthropic"), "gemini": needs_extra("gemini", "google.genai"),
          "bedrock": needs_extra("bedrock", "boto3")}


def _sdk_params(matrix: bool) -> list:
    """One parameter per SDK. Under xdist each SDK's tests share one worker, so a worker imports an
    SDK (seconds) at most once. `matrix`: the retry, timeout and malformed-body cases, which the
    fast lane runs for openai only, to stay short; `make test` runs them for every SDK."""
    return [pytest.param(name, marks=[*([EXTRAS[name]] if name in EXTRAS else []), pytest.mark.xdist_group(f"sdk-{name}"),
                                      *([pytest.mark.slow] if matrix and name != "openai" else [])])
            for name in WIRES]


SDKS = _sdk_params(matrix=False)  # replies and auth errors: every SDK in every lane
SDK_MATRIX = _sdk_params(matrix=True)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A test key for every SDK, and no AWS configuration from this machine."""
    monkeypatch.setenv(KEY_VAR, KEY)
    for var, value in {"AWS_ACCESS_KEY_ID": "AKIATEST", "AWS_SECRET_ACCESS_KEY": "aws-secret-test",
                       "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "OLLAMA_HOST", "VLLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def _llm(wire: Wire, server: HTTPServer, retry: RetryConfig = FAST_RETRY, timeout_s: float = 10.0) -> LLMConfig:
    provider = ProviderConfig(base_url=server.url_for(wire.base), api_key_env=KEY_VAR, region="us-west-2", timeout_s=timeout_s)
    return LLMConfig(providers={wire.name: provider}, retry=retry)


def _request(model: str, temperature: float | None = 0.5, prompt: str = "write a kernel") -> Request:
    return Request(model=model, messages=[Message(role="user", content=prompt)], phase="code",
                   temperature=temperature, max_tokens=256)


def _expect(server: HTTPServer, wire: Wire, model: str, body: Any, status: int = 200,
            headers: dict[str, str] | None = None) -> None:
    server.expect_ordered_request(wire.path(model), method="POST").respond_with_json(body, status=status, headers=headers)


def _expect_error(server: HTTPServer, wire: Wire, model: str, status: int, message: str,
                  headers: dict[str, str] | None = None) -> None:
    body, extra = wire.error(status, message)
    _expect(server, wire, model, body, status, {**extra, **(headers or {})})


def _body(entry: tuple[WsgiRequest, WsgiResponse]) -> str:
    return entry[0].get_data(as_text=True)


@pytest.mark.parametrize("sdk", SDKS)
def test_normal_reply_with_usage(httpserver: HTTPServer, sdk: str) -> None:
    wire = WIRES[sdk]
    _expect(httpserver, wire, "m-ok", wire.ok("void gemm() {}", False))
    _expect(httpserver, wire, "m-ok", wire.ok("half a ker", True))
    provider = make_provider(f"{sdk}::m-ok", _llm(wire, httpserver))
    first = provider.complete(_request(f"{sdk}::m-ok"))
    assert first.text == "void gemm() {}" and first.finish_reason == "stop" and first.usage == wire.usage
    assert provider.complete(_request(f"{sdk}::m-ok")).finish_reason == "length"  # truncation, normalised
    sent = _body(httpserver.log[0])
    assert "write a kernel" in sent and "0.5" in sent and "256" in sent  # prompt, temperature, max tokens
    auth = " ".join(str(v) for k, v in httpserver.log[0][0].headers.items() if k.lower() in ("authorization", "x-goog-api-key"))
    assert KEY in auth or sdk == "bedrock"  # Bedrock signs with SigV4 instead of sending a key
    httpserver.check_assertions()


@pytest.mark.parametrize("sdk", SDK_MATRIX)
def test_429_then_success_honours_retry_after(httpserver: HTTPServer, sdk: str) -> None:
    wire = WIRES[sdk]
    _expect_error(httpserver, wire, "m-429", 429, "slow down", {"Retry-After": "1"})
    _expect(httpserver, wire, "m-429", wire.ok("ok", False))
    provider = make_provider(f"{sdk}::m-429", _llm(wire, httpserver))
    start = time.monotonic()
    assert provider.complete(_request(f"{sdk}::m-429")).text == "ok"
    assert time.monotonic() - start >= 0.95  # the backoff alone would be ~1 ms
    assert len(httpserver.log) == 2


def _agent(sdk: str, model: str, llm: LLMConfig, tmp_path: Path) -> tuple[LLMAgent, RunStore]:
    problem, target = resolve_problem("cpu/gemm-f32-256"), get_target("cpu")
    store = RunStore.create(tmp_path / "run", problem.name, str(problem.root), "cpu", {})
    ctx = AgentContext(problem, target, target.knowledge, store, 0.5, 256)
    return LLMAgent(f"{sdk}::{model}", ctx, llm), store


@pytest.mark.parametrize("sdk", SDK_MATRIX)
def test_500_until_attempts_run_out_fails_the_candidate(httpserver: HTTPServer, sdk: str, tmp_path: Path) -> None:
    wire = WIRES[sdk]
    for _ in range(3):
        _expect_error(httpserver, wire, "m-500", 500, "the server is having a bad day")
    agent, store = _agent(sdk, "m-500", _llm(wire, httpserver), tmp_path)
    code = agent.implement(CodeJob(Parent(1, "void gemm(void) {}", ""), "unroll", 0, 0, 0))
    assert code.code is None and "gave up after 3 attempts" in (code.error or "")
    assert "bad day" in (code.error or "")
    calls = store.llm_calls()
    assert len(httpserver.log) == 3 and [c["status"] for c in calls] == ["error"] and calls[0]["reply"] is None
    store.close()


@pytest.mark.parametrize("sdk", SDKS)
def test_auth_error_fails_fast_with_the_providers_message(httpserver: HTTPServer, sdk: str) -> None:
    wire = WIRES[sdk]
    secret = "aws-secret-test" if sdk == "bedrock" else KEY
    _expect_error(httpserver, wire, "m-auth", wire.auth_status, f"Incorrect API key provided: {secret}")
    provider = make_provider(f"{sdk}::m-auth", _llm(wire, httpserver))
    with pytest.raises(ProviderError) as err:
        provider.complete(_request(f"{sdk}::m-auth"))
    message = str(err.value)
    assert len(httpserver.log) == 1 and not err.value.retryable and f"HTTP {wire.auth_status}" in message
    assert "Incorrect API key provided" in message and secret not in message and "[redacted]" in message
    if sdk != "bedrock":
        assert KEY_VAR in message  # says where the key came from


@pytest.mark.parametrize("body", ["<html><body>Welcome to nginx!</body></html>", '{"unexpected": true}'])
@pytest.mark.parametrize("sdk", SDK_MATRIX)
def test_malformed_body_is_a_failed_call(httpserver: HTTPServer, sdk: str, body: str) -> None:
    wire = WIRES[sdk]
    content_type = "text/html" if body.startswith("<") else "application/json"
    httpserver.expect_request(wire.path("m-bad")).respond_with_data(body, content_type=content_type)
    provider = make_provider(f"{sdk}::m-bad", _llm(wire, httpserver))
    with pytest.raises(ProviderError) as err:
        provider.complete(_request(f"{sdk}::m-bad"))
    assert "malformed" in str(err.value) and not err.value.retryable and len(httpserver.log) == 1


@pytest.mark.parametrize("sdk", SDK_MATRIX)
def test_timeout_is_retried_then_fails(httpserver: HTTPServer, sdk: str) -> None:
    wire = WIRES[sdk]

    def slow(_: WsgiRequest) -> WsgiResponse:
        time.sleep(0.6)
        return WsgiResponse(json.dumps(wire.ok("late", False)), content_type="application/json")

    httpserver.expect_request(wire.path("m-slow")).respond_with_handler(slow)
    retry = RetryConfig(attempts=2, initial_s=0.001, max_wait_s=1.0, total_s=30.0)
    provider = make_provider(f"{sdk}::m-slow", _llm(wire, httpserver, retry, timeout_s=0.2))
    with pytest.raises(ProviderError) as err:
        provider.complete(_request(f"{sdk}::m-slow"))
    assert "timed out" in str(err.value) and "gave up after 2 attempts" in str(err.value)
    deadline = time.monotonic() + 5
    while len(httpserver.log) < 2 and time.monotonic() < deadline:  # the server finishes the second one late
        time.sleep(0.05)
    assert len(httpserver.log) == 2


@pytest.mark.parametrize("sdk", SDK_MATRIX)
def test_rejected_temperature_is_dropped_once_and_remembered(httpserver: HTTPServer, sdk: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    wire, model = WIRES[sdk], f"m-no-temperature-{sdk}"
    _expect_error(httpserver, wire, model, 400, "Unsupported parameter: 'temperature' is not supported with this model.")
    _expect(httpserver, wire, model, wire.ok("first", False))
    _expect(httpserver, wire, model, wire.ok("second", False))
    provider = make_provider(f"{sdk}::{model}", _llm(wire, httpserver))
    with caplog.at_level(logging.WARNING, logger="autocomp.llm"):
        assert provider.complete(_request(f"{sdk}::{model}")).text == "first"
        assert make_provider(f"{sdk}::{model}", _llm(wire, httpserver)).complete(_request(f"{sdk}::{model}")).text == "second"
    bodies = [_body(entry) for entry in httpserver.log]
    assert '"temperature"' in bodies[0] and all('"temperature"' not in b for b in bodies[1:])
    assert len([r for r in caplog.records if "rejected the temperature parameter" in r.getMessage()]) == 1


def test_a_bad_request_that_is_not_about_a_parameter_fails_fast(httpserver: HTTPServer) -> None:
    wire = WIRES["openai"]
    _expect_error(httpserver, wire, "m", 400, "This model's maximum context length is 8192 tokens.")
    with pytest.raises(ProviderError, match="maximum context length"):
        make_provider("openai::m", _llm(wire, httpserver)).complete(_request("openai::m"))
    assert len(httpserver.log) == 1


def test_openai_at_base_url_never_sends_the_official_key(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-official-key")
    httpserver.expect_request("/v1/chat/completions").respond_with_json(_openai_ok("ok", False))
    provider = make_provider(f"openai@{httpserver.url_for('/v1')}::local-model")
    assert provider.complete(_request("openai@x::local-model")).text == "ok"
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer EMPTY"
    assert json.loads(_body(httpserver.log[0]))["model"] == "local-model"
    httpserver.clear()
    httpserver.expect_request("/v1/chat/completions").respond_with_json({"error": {"message": "missing key"}}, status=401)
    with pytest.raises(ProviderError, match=r"HTTP 401: missing key \(no key was sent; .*api_key_env\)"):
        provider.complete(_request("openai@x::local-model"))


@pytest.mark.parametrize("model, variable", [
    ("openai::gpt-5", "OPENAI_API_KEY"), ("together::meta-llama/Llama-3.3-70B-Instruct-Turbo", "TOGETHER_API_KEY"),
    pytest.param("anthropic::claude-sonnet-4-5", "ANTHROPIC_API_KEY", marks=EXTRAS["anthropic"]),
    pytest.param("gemini::gemini-2.5-pro", "GEMINI_API_KEY", marks=EXTRAS["gemini"]),
    pytest.param("bedrock::anthropic.claude-sonnet-4-20250514-v1:0", "AWS_ACCESS_KEY_ID", marks=EXTRAS["bedrock"]),
])
def test_missing_key_names_the_variable(model: str, variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "TOGETHER_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match=variable):
        make_provider(model)


@EXTRAS["anthropic"]
def test_a_configured_key_variable_is_the_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_TEAM_KEY", raising=False)
    llm = LLMConfig(providers={"anthropic": ProviderConfig(api_key_env="MY_TEAM_KEY")})
    with pytest.raises(UserError, match="MY_TEAM_KEY"):
        make_provider("anthropic::claude-sonnet-4-5", llm)


def test_local_servers_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    assert make_provider("ollama::qwen2.5-coder:7b").client.base_url.host == "localhost"  # type: ignore[attr-defined]
    assert str(make_provider("vllm::m").client.base_url).startswith("http://localhost:8000")  # type: ignore[attr-defined]


@pytest.mark.parametrize("model, module, extra", [
    ("anthropic::claude-sonnet-4-5", "anthropic", "anthropic"),
    ("gemini::gemini-2.5-pro", "google.genai", "gemini"),
    ("bedrock::anthropic.claude-sonnet-4-20250514-v1:0", "boto3", "bedrock"),
])
def test_missing_extra_names_the_pip_command(model: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    with pytest.raises(UserError, match=rf"pip install 'autocomp\[{extra}\]'"):
        make_provider(model, LLMConfig(providers={"gemini": ProviderConfig(api_key_env=KEY_VAR)}))
