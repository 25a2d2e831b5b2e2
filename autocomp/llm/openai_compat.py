"""OpenAI and every OpenAI-compatible server (Together, Ollama, vLLM, any base URL).

One adapter over the `openai` SDK's chat completions; the variants differ only in where
they connect and which key they need. `openai@BASE_URL::MODEL` points any of them at
another server.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response, Usage
from autocomp.llm.hosted import HostedProvider, sdk_error_message

FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


class OpenAIProvider(HostedProvider):
    """openai::MODEL, and the base of every OpenAI-compatible variant."""

    key_envs = ("OPENAI_API_KEY",)
    default_base_url: ClassVar[str | None] = None  # the SDK's own (api.openai.com, or OPENAI_BASE_URL)
    max_tokens_field: ClassVar[str] = "max_completion_tokens"  # what OpenAI's reasoning models accept

    def __init__(self, model: str, settings: ProviderSettings) -> None:
        super().__init__(model, settings)
        import openai  # a core dependency, imported only when a model needs it

        self.sdk = openai
        # never let the SDK fall back to OPENAI_API_KEY on its own: that key is only for OpenAI
        key = self.api_key() or "EMPTY"
        self.client = self.sdk.OpenAI(api_key=key, base_url=settings.base_url or self._base_url(),
                                      max_retries=0, timeout=settings.timeout_s)

    def _base_url(self) -> str | None:
        return self.default_base_url

    def _send(self, request: Request, drop: frozenset[str]) -> Any:
        kwargs: dict[str, Any] = {"model": self.model, "messages": [m.model_dump() for m in request.messages]}
        if request.temperature is not None and "temperature" not in drop:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None and "max_tokens" not in drop:
            kwargs[self.max_tokens_field] = request.max_tokens
        return self.client.chat.completions.create(**kwargs)

    def _parse(self, raw: Any) -> Response:
        choice = raw.choices[0]
        text = choice.message.content
        if text is not None and not isinstance(text, str):
            raise TypeError(f"message content is {type(text).__name__}, not text")
        usage = raw.usage
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) or 0
        reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None) or 0
        return Response(
            text=text or "",
            usage=Usage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0,
                        cached_tokens=cached, reasoning_tokens=reasoning) if usage else Usage(),
            finish_reason=FINISH.get(choice.finish_reason, choice.finish_reason),
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


class TogetherProvider(OpenAIProvider):
    """together::MODEL."""

    key_envs = ("TOGETHER_API_KEY",)
    default_base_url = "https://api.together.xyz/v1"
    max_tokens_field = "max_tokens"


class OllamaProvider(OpenAIProvider):
    """A local Ollama server: OLLAMA_HOST, else localhost:11434. No key."""

    key_envs = ()
    key_required = False
    max_tokens_field = "max_tokens"

    def _base_url(self) -> str:
        host = os.environ.get("OLLAMA_HOST", "http://localhost:11434")
        host = host if "://" in host else f"http://{host}"
        return host.rstrip("/") + "/v1"


class VLLMProvider(OpenAIProvider):
    """A vLLM (or SGLang, llama.cpp) server: VLLM_BASE_URL, else localhost:8000. Key optional."""

    key_envs = ("VLLM_API_KEY",)
    key_required = False
    max_tokens_field = "max_tokens"

    def _base_url(self) -> str:
        return os.environ.get("VLLM_BASE_URL", "http://localhost:8000/v1")
