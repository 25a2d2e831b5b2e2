"""The cached, recorded path every LLM request takes.

A reply is looked up in the run store by (request hash, sample index) first; a fresh
reply is stored before it is returned, so a killed run never pays for it twice.
"""

from __future__ import annotations

import time

from autocomp.llm.base import Provider, ProviderError, Request, Response, Usage
from autocomp.store.runstore import RunStore


class LLMClient:
    def __init__(self, store: RunStore, provider: Provider) -> None:
        self.store, self.provider = store, provider

    def complete(self, request: Request) -> tuple[Response, int]:
        """Return (response, llm_call_id); raises ProviderError after recording the failure."""
        key = request.cache_key()
        cached = self.store.cached_reply(key, request.sample_index)
        if cached is not None:
            usage = Usage(input_tokens=cached["input_tokens"] or 0, output_tokens=cached["output_tokens"] or 0)
            return Response(text=cached["reply"], usage=usage, finish_reason=cached["finish_reason"]), cached["id"]
        start = time.monotonic()
        common = dict(
            request_hash=key, sample_index=request.sample_index, model=request.model, phase=request.phase,
            request_json=request.model_dump_json(exclude={"seq"}),
        )
        try:
            response = self.provider.complete(request)
        except ProviderError as exc:
            self.store.record_llm_call(**common, status="error", error=str(exc), latency_s=time.monotonic() - start)
            raise
        call_id = self.store.record_llm_call(
            **common, status="ok", reply=response.text, finish_reason=response.finish_reason,
            input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens,
            latency_s=time.monotonic() - start,
        )
        return response, call_id
