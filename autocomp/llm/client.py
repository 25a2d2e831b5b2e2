"""The cached, recorded path every LLM request takes.

A reply is looked up in the run store by (request hash, sample index) first; a fresh
reply is stored, with its usage and cost, before it is returned, so a killed run never
pays for it twice. Only the request (messages and parameters) is stored: keys live in
the provider objects and never reach the store.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from autocomp.llm.base import Provider, ProviderError, Request, Response, Usage
from autocomp.llm.pricing import PriceTable
from autocomp.store.runstore import RunStore

log = logging.getLogger("autocomp.llm")


class LLMClient:
    def __init__(self, store: RunStore, provider: Provider, prices: PriceTable | None = None, cache: bool = True) -> None:
        self.store, self.provider, self.cache = store, provider, cache
        self.prices = prices or PriceTable()
        self._inflight: dict[tuple[str, int], threading.Lock] = {}
        self._inflight_lock = threading.Lock()
        self._warned_unpriced = False

    def complete(self, request: Request) -> tuple[Response, int]:
        """Return (response, llm_call_id); raises ProviderError after recording the failure.

        Identical requests in flight at once wait for each other, so the second is served
        from the cache instead of paying twice.
        """
        key = request.cache_key()
        with self._inflight_lock:
            lock = self._inflight.setdefault((key, request.sample_index), threading.Lock())
        with lock:
            if self.cache:
                cached = self.store.cached_reply(key, request.sample_index)
                if cached is not None:
                    return _from_row(cached), cached["id"]
            return self._call(request, key)

    def _call(self, request: Request, key: str) -> tuple[Response, int]:
        start = time.monotonic()
        common = dict(
            request_hash=key, sample_index=request.sample_index, model=request.model, phase=request.phase,
            request_json=request.model_dump_json(exclude={"seq"}),
        )
        try:
            response = self.provider.complete(request)
        except ProviderError as exc:
            status = "unreachable" if exc.unreachable else "error"  # unreachable: no server answered at all
            self.store.record_llm_call(**common, status=status, error=str(exc), latency_s=time.monotonic() - start)
            raise
        u = response.usage
        call_id = self.store.record_llm_call(
            **common, status="ok", reply=response.text, finish_reason=response.finish_reason,
            input_tokens=u.input_tokens, output_tokens=u.output_tokens, cached_tokens=u.cached_tokens,
            reasoning_tokens=u.reasoning_tokens, cost_usd=self._cost(request.model, u), latency_s=time.monotonic() - start,
        )
        return response, call_id

    def _cost(self, model: str, usage: Usage) -> float | None:
        if not self.provider.is_llm:
            return 0.0  # scripted replies cost nothing
        cost = self.prices.cost(model, usage)
        if cost is None and not self._warned_unpriced:
            self._warned_unpriced = True
            log.warning("no price known for %s (prices as of %s): its cost is not counted; "
                        "add [llm.prices.\"%s\"] input = ..., output = ... (USD per million tokens)",
                        model, self.prices.as_of, model)
        return cost


def _from_row(r: sqlite3.Row) -> Response:
    usage = Usage(input_tokens=r["input_tokens"] or 0, output_tokens=r["output_tokens"] or 0,
                  cached_tokens=r["cached_tokens"] or 0, reasoning_tokens=r["reasoning_tokens"] or 0)
    return Response(text=r["reply"], usage=usage, finish_reason=r["finish_reason"])
