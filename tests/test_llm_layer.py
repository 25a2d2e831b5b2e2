"""The provider-independent LLM layer: reply cache, retry policy, limits, prices, budgets."""

from __future__ import annotations

import logging

import threading
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autocomp.config import load_config
from autocomp.errors import UserError
from autocomp.llm.base import Message, ProviderError, Request, Response, RetryConfig, Usage
from autocomp.llm.budget import Spend, budget_stop
from autocomp.llm.client import LLMClient
from autocomp.llm.gemini import _retry_delay
from autocomp.llm.hosted import rejected_param, retry_after_seconds
from autocomp.llm.limits import Limiter
from autocomp.llm.pricing import Price, PriceTable
from autocomp.llm.model_string import parse_model
from autocomp.llm.registry import check_model_string
from autocomp.llm.retry import call_with_retry
from autocomp.store.runstore import RunStore


class FakeProvider:
    """Our own interface fed with a queue of canned replies (or errors)."""

    is_llm = True

    def __init__(self, *replies: Response | ProviderError, delay: float = 0.0) -> None:
        self.replies, self.calls, self.delay = list(replies), 0, delay

    def complete(self, request: Request) -> Response:
        self.calls += 1
        time.sleep(self.delay)
        reply = self.replies.pop(0)
        if isinstance(reply, ProviderError):
            raise reply
        return reply


def _reply(text: str) -> Response:
    return Response(text=text, usage=Usage(input_tokens=1000, output_tokens=500, cached_tokens=200, reasoning_tokens=100),
                    finish_reason="stop")


def _request(sample: int = 0, prompt: str = "q") -> Request:
    return Request(model="openai::gpt-5", messages=[Message(role="user", content=prompt)], phase="plan", sample_index=sample)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore.create(tmp_path / "run", "p", "/p", "cpu", {})


# ---- the reply cache ---------------------------------------------------------------------


def test_cache_reuses_a_reply_per_request_and_sample(store: RunStore) -> None:
    provider = FakeProvider(_reply("a"), _reply("b"))
    client = LLMClient(store, provider)
    first, first_id = client.complete(_request(0))
    again, again_id = client.complete(_request(0))
    other, _ = client.complete(_request(1))
    assert (first.text, again.text, other.text) == ("a", "a", "b") and first_id == again_id and provider.calls == 2
    assert again.usage == first.usage  # usage comes back from the store too


def test_no_cache_asks_again_and_the_newest_reply_wins(store: RunStore) -> None:
    LLMClient(store, FakeProvider(_reply("old"))).complete(_request())
    fresh = FakeProvider(_reply("new"))
    assert LLMClient(store, fresh, cache=False).complete(_request())[0].text == "new" and fresh.calls == 1
    assert LLMClient(store, FakeProvider()).complete(_request())[0].text == "new"  # cached, newest first


def test_identical_requests_in_flight_pay_once(store: RunStore) -> None:
    provider = FakeProvider(_reply("a"), _reply("b"), delay=0.2)
    client = LLMClient(store, provider)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(client.complete(_request())[0].text)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["a", "a"] and provider.calls == 1


def test_usage_and_cost_are_stored_with_every_call(store: RunStore) -> None:
    store.iteration = 3
    client = LLMClient(store, FakeProvider(_reply("a"), ProviderError("boom")))
    client.complete(_request(0))
    with pytest.raises(ProviderError):
        client.complete(_request(1))
    ok, failed = store.llm_calls()
    assert (ok["input_tokens"], ok["output_tokens"], ok["cached_tokens"], ok["reasoning_tokens"]) == (1000, 500, 200, 100)
    # gpt-5: $1.25/M input, $0.125/M cached input, $10/M output
    assert ok["cost_usd"] == pytest.approx((800 * 1.25 + 200 * 0.125 + 500 * 10.0) / 1e6)
    assert ok["iteration"] == 3 and failed["status"] == "error" and failed["cost_usd"] is None
    assert "sk-" not in ok["request_json"] and "api_key" not in ok["request_json"]
    usage = store.llm_usage()
    assert usage.calls == 2 and usage.failed == 1 and usage.by_phase["plan"].calls == 2
    assert store.spend(3, 3) == Spend(2, pytest.approx(ok["cost_usd"])) and store.spend(0, 2) == Spend(0, 0.0)


def test_unpriced_model_has_unknown_cost_and_one_warning(store: RunStore, caplog: pytest.LogCaptureFixture) -> None:
    client = LLMClient(store, FakeProvider(_reply("a"), _reply("b")))
    req = [_request(i).model_copy(update={"model": "openai::my-finetune"}) for i in range(2)]
    client.complete(req[0])
    client.complete(req[1])
    assert [c["cost_usd"] for c in store.llm_calls()] == [None, None]
    assert len([r for r in caplog.records if "no price known for openai::my-finetune" in r.getMessage()]) == 1
    assert store.llm_usage().unpriced_calls == 2


# ---- retries -----------------------------------------------------------------------------


def test_retry_gives_up_after_the_attempts_with_the_last_message() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        raise ProviderError(f"HTTP 503: overloaded #{len(calls)}", retryable=True, status=503)

    with pytest.raises(ProviderError, match=r"overloaded #3 \(gave up after 3 attempts") as err:
        call_with_retry(flaky, RetryConfig(attempts=3, initial_s=0.001), "m")
    assert len(calls) == 3 and not err.value.retryable


def test_retry_log_names_the_model_once(caplog: pytest.LogCaptureFixture) -> None:
    """Provider errors already start with the model label; the retry line must not repeat it."""
    def labelled() -> str:
        raise ProviderError("openai::m: connection failed (refused)", retryable=True)

    def bare() -> str:
        raise ProviderError("HTTP 503: overloaded", retryable=True, status=503)

    with caplog.at_level(logging.WARNING, logger="autocomp.llm"):
        for fn in (labelled, bare):
            with pytest.raises(ProviderError):
                call_with_retry(fn, RetryConfig(attempts=2, initial_s=0.001), "openai::m")
    lines = [r.getMessage() for r in caplog.records if "retry 1 of 1" in r.getMessage()]
    assert lines == ["openai::m: connection failed (refused); retry 1 of 1 in 0.0s",
                     "openai::m: HTTP 503: overloaded; retry 1 of 1 in 0.0s"]


def test_retry_stops_at_the_total_time_budget() -> None:
    calls = []

    def slow_failure() -> str:
        calls.append(1)
        raise ProviderError("HTTP 429", retryable=True, retry_after=0.3)

    with pytest.raises(ProviderError, match="gave up"):
        call_with_retry(slow_failure, RetryConfig(attempts=100, initial_s=0.001, total_s=0.5), "m")
    # the budget, not 100 attempts: each waits 0.3 s, so at most 3 fit in 0.5 s (fewer on a busy
    # machine, never more; counted, not timed, so load cannot fail it)
    assert 1 <= len(calls) <= 3, len(calls)


def test_non_retryable_errors_fail_at_once() -> None:
    calls = []

    def bad() -> str:
        calls.append(1)
        raise ProviderError("HTTP 401: invalid key", status=401)

    with pytest.raises(ProviderError, match="^HTTP 401: invalid key$"):
        call_with_retry(bad, RetryConfig(attempts=5, initial_s=0.001), "m")
    assert len(calls) == 1


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after_seconds({"Retry-After": later}) or 0) <= 30
    assert retry_after_seconds({"Retry-After": "soon"}) is None and retry_after_seconds(None) is None
    assert _retry_delay({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]}}) == 12.0


def test_rejected_parameter_detection() -> None:
    assert rejected_param(400, "Unsupported value: 'temperature' does not support 0.5 with this model.") == "temperature"
    assert rejected_param(400, "Unsupported parameter: 'max_tokens' is not supported with this model.") == "max_tokens"
    assert rejected_param(429, "temperature") is None and rejected_param(400, "context length exceeded") is None


# ---- limits ------------------------------------------------------------------------------


def test_concurrency_limit() -> None:
    limiter, inside, peak, lock = Limiter(concurrency=2), [0], [0], threading.Lock()

    def work() -> None:
        with limiter.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_requests_and_tokens_per_minute() -> None:
    now, slept = [0.0], []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = Limiter(concurrency=4, requests_per_minute=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        with limiter.slot():
            pass
    assert slept and now[0] == pytest.approx(60.0)  # the third request waited for the window

    now[0] = 0.0
    tokens = Limiter(concurrency=4, tokens_per_minute=1000, clock=lambda: now[0], sleep=sleep)
    with tokens.slot():
        tokens.record_tokens(1200)
    with tokens.slot():
        pass
    assert now[0] == pytest.approx(60.0)


# ---- prices and budgets ------------------------------------------------------------------


def test_price_lookup_and_overrides() -> None:
    table = PriceTable({"openai::gpt-5": Price(input=2.0, output=20.0)})
    assert table.lookup("openai::gpt-5") == Price(input=2.0, output=20.0)  # the user's price wins
    assert table.lookup("openai@https://proxy.example/v1::gpt-4o") == table.lookup("openai::gpt-4o")
    assert table.cost("ollama::qwen2.5-coder:7b", Usage(input_tokens=10**6, output_tokens=10**6)) == 0.0
    assert table.lookup("openai::no-such-model") is None and table.as_of


def test_config_prices_and_budget_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('models = ["openai::m"]\n[llm]\nmax_cost = 2.5\n[llm.prices."openai::m"]\ninput = 1\noutput = 3\n'
                   '[llm.retry]\nattempts = 2\n[llm.providers.openai]\napi_key_env = "TEAM_KEY"\nconcurrency = 2\n')
    config = load_config(cfg)
    assert config.llm.prices["openai::m"].output == 3 and config.llm.retry.attempts == 2
    assert config.llm.providers["openai"].api_key_env == "TEAM_KEY" and config.llm.max_cost == 2.5
    cfg.write_text('models = ["openai::m"]\n[llm.providers.openai]\napi_key = "sk-do-not-put-keys-here"\n')
    with pytest.raises(UserError, match="llm.providers.openai.api_key"):
        load_config(cfg)


def test_budget_stop_projects_the_next_iteration() -> None:
    assert budget_stop(Spend(4, 0.008), Spend(4, 0.008), 0.02, None) is None  # 0.016 <= 0.02
    assert "--max-cost" in (budget_stop(Spend(8, 0.016), Spend(4, 0.008), 0.02, None) or "")
    assert budget_stop(Spend(0, 0.0), Spend(), 0.0, None)  # nothing to spend
    assert "--max-llm-calls 10" in (budget_stop(Spend(8, 0), Spend(4, 0), None, 10) or "")
    assert budget_stop(Spend(8, 0), Spend(4, 0), None, None) is None


# ---- model strings -----------------------------------------------------------------------


def test_model_strings() -> None:
    assert parse_model("openai@http://[::1]:8000/v1::qwen") == ("openai", "http://[::1]:8000/v1", "qwen")
    assert parse_model("ollama::qwen2.5-coder:7b") == ("ollama", None, "qwen2.5-coder:7b")
    assert parse_model("bedrock::anthropic.claude-sonnet-4-20250514-v1:0")[2] == "anthropic.claude-sonnet-4-20250514-v1:0"
    for good in ("openai::gpt-5", "together::x/y", "vllm::m", "anthropic::c", "gemini::g", "bedrock::b", "tuner"):
        check_model_string(good)
    for bad in ("openai::", "nosuch::m", "openai@::m", "gpt-5"):
        with pytest.raises(UserError, match="unknown model string"):
            check_model_string(bad)
