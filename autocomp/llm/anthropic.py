"""Anthropic's Messages API through the `anthropic` SDK (extra: `autocomp[anthropic]`).

SDK 1.x dropped `temperature` from its signature (newer Claude models reject it), while the
API still takes it for older ones: it goes in `extra_body`, only when it differs from the
API's default, and a model that refuses it gets it dropped like any rejected parameter.
"""

from __future__ import annotations

from typing import Any

from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response, Usage
from autocomp.llm.hosted import HostedProvider, import_sdk, sdk_error_message

# The Messages API requires max_tokens; this fits every current Claude model's output limit.
DEFAULT_MAX_TOKENS = 8192
API_DEFAULT_TEMPERATURE = 1.0
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter"}


class AnthropicProvider(HostedProvider):
    """anthropic::MODEL."""

    key_envs = ("ANTHROPIC_API_KEY",)
    droppable = frozenset({"temperature"})  # max_tokens is required

    def __init__(self, model: str, settings: ProviderSettings) -> None:
        super().__init__(model, settings)
        self.sdk = import_sdk("anthropic", "anthropic", settings.name)
        self.client = self.sdk.Anthropic(api_key=self.api_key() or "EMPTY", base_url=settings.base_url,
                                         max_retries=0, timeout=settings.timeout_s)

    def _send(self, request: Request, drop: frozenset[str]) -> Any:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in request.messages if m.role != "system"],
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            kwargs["system"] = system
        if request.temperature not in (None, API_DEFAULT_TEMPERATURE) and "temperature" not in drop:
            kwargs["extra_body"] = {"temperature": request.temperature}
        return self.client.messages.create(**kwargs)

    def _parse(self, raw: Any) -> Response:
        text = "".join(block.text for block in raw.content if block.type == "text")
        u = raw.usage
        cached = u.cache_read_input_tokens or 0
        return Response(
            text=text,
            usage=Usage(input_tokens=u.input_tokens + cached + (u.cache_creation_input_tokens or 0),
                        output_tokens=u.output_tokens, cached_tokens=cached),
            finish_reason=FINISH.get(raw.stop_reason, raw.stop_reason),
        )

    def _translate(self, exc: Exception) -> ProviderError | None:
        sdk = self.sdk
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError(f"{self.label}: timed out after {self.settings.timeout_s:g}s", retryable=True)
        if isinstance(exc, sdk.APIConnectionError):
            return self.connection_error(exc)
        if isinstance(exc, sdk.APIStatusError):
            return self.http_error(exc.status_code, sdk_error_message(exc), exc.response.headers)
        if isinstance(exc, sdk.APIResponseValidationError):
            return ProviderError(f"{self.label}: malformed reply ({exc})")
        return None
