"""The one retry policy every provider call goes through.

The SDKs' own retries are switched off so that there is exactly one place that decides:
exponential backoff with jitter on retryable failures (429, 5xx, timeouts, connection
errors), the server's Retry-After honoured, bounded by attempts and by total time.
Anything else fails at once, with the provider's message.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

import tenacity

from autocomp.llm.base import ProviderError, RetryConfig

T = TypeVar("T")
log = logging.getLogger("autocomp.llm")


def _wait(policy: RetryConfig) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential_jitter(initial=policy.initial_s, max=policy.max_wait_s, jitter=policy.initial_s)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_wait_s)
        return backoff(state)

    return wait


def call_with_retry(fn: Callable[[], T], policy: RetryConfig, what: str) -> T:
    """Call `fn` until it succeeds, fails for good, or the policy's budget is spent.

    A request that runs out of attempts raises one ProviderError saying how often and how
    long it tried; the last provider message is kept.
    """
    start = time.monotonic()

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        message = str(exc) if str(exc).startswith(what) else f"{what}: {exc}"  # provider errors name the model already
        log.warning("%s; retry %d of %d in %.1fs", message, state.attempt_number, policy.attempts - 1, wait)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_before_delay(policy.total_s),
        wait=_wait(policy),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except ProviderError as exc:
        if not exc.retryable:
            raise
        attempts = retrying.statistics.get("attempt_number", 1)
        raise ProviderError(
            f"{exc} (gave up after {attempts} attempt{'s' if attempts != 1 else ''} in {time.monotonic() - start:.1f}s)",
            retryable=False, status=exc.status, unreachable=exc.unreachable,
        ) from exc
