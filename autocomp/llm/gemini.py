"""Google Gemini through the `google-genai` SDK (extra: `autocomp[gemini]`).

Google AI Studio with a key (GEMINI_API_KEY or GOOGLE_API_KEY), or Vertex AI when
[llm.providers.gemini] names a `project` (credentials from Application Default Credentials).
"""

from __future__ import annotations

import re
from typing import Any

from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response, Usage
from autocomp.llm.hosted import HostedProvider, import_sdk

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter"}


class GeminiProvider(HostedProvider):
    """gemini::MODEL."""

    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def __init__(self, model: str, settings: ProviderSettings) -> None:
        super().__init__(model, settings)
        genai = import_sdk("google.genai", "gemini", settings.name)
        self.types, self.errors = genai.types, genai.errors
        http = self.types.HttpOptions(
            base_url=settings.base_url, timeout=int(settings.timeout_s * 1000),
            retry_options=self.types.HttpRetryOptions(attempts=1),  # our policy retries, not the SDK
        )
        if settings.project:
            self.client = genai.Client(vertexai=True, project=settings.project,
                                       location=settings.location or "us-central1", http_options=http)
        else:
            self.client = genai.Client(vertexai=False, api_key=self.api_key() or "EMPTY", http_options=http)

    def _send(self, request: Request, drop: frozenset[str]) -> Any:
        t = self.types
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        contents = [t.Content(role="model" if m.role == "assistant" else "user", parts=[t.Part(text=m.content)])
                    for m in request.messages if m.role != "system"]
        config: dict[str, Any] = {}
        if system:
            config["system_instruction"] = system
        if request.temperature is not None and "temperature" not in drop:
            config["temperature"] = request.temperature
        if request.max_tokens is not None and "max_tokens" not in drop:
            config["max_output_tokens"] = request.max_tokens
        return self.client.models.generate_content(
            model=self.model, contents=contents, config=t.GenerateContentConfig(**config))

    def _parse(self, raw: Any) -> Response:
        u = raw.usage_metadata
        thoughts = (u.thoughts_token_count or 0) if u else 0
        usage = Usage(input_tokens=u.prompt_token_count or 0, output_tokens=(u.candidates_token_count or 0) + thoughts,
                      cached_tokens=u.cached_content_token_count or 0, reasoning_tokens=thoughts) if u else Usage()
        if not raw.candidates:
            if raw.prompt_feedback and raw.prompt_feedback.block_reason:  # the prompt itself was blocked
                return Response(text="", usage=usage, finish_reason="content_filter")
            raise ValueError("the reply has no candidates")
        candidate = raw.candidates[0]
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        text = "".join(p.text for p in parts if p.text and not p.thought)
        reason = candidate.finish_reason.value if candidate.finish_reason else None
        return Response(text=text, usage=usage, finish_reason=FINISH.get(reason or "", reason and reason.lower()))

    def _translate(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, self.errors.APIError):
            headers = getattr(exc.response, "headers", None)
            return self.http_error(exc.code, str(exc.message or exc), headers, _retry_delay(exc.details))
        name = type(exc).__name__
        if "Timeout" in name:
            return ProviderError(f"{self.label}: timed out after {self.settings.timeout_s:g}s", retryable=True)
        if name in ("ConnectError", "UnsupportedProtocol", "InvalidURL"):
            return self.connection_error(exc)
        if name in ("RemoteProtocolError", "ReadError", "WriteError", "TransportError"):
            return ProviderError(f"{self.label}: connection failed ({exc})", retryable=True)
        return None


def _retry_delay(details: Any) -> float | None:
    """Gemini puts the wait in the body: error.details[].retryDelay = "12s" (google.rpc.RetryInfo)."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", []) if isinstance(error, dict) else []:
        match = re.fullmatch(r"([\d.]+)s", str(item.get("retryDelay", ""))) if isinstance(item, dict) else None
        if match:
            return float(match.group(1))
    return None
