"""Request / Response / Usage / ProviderError: the typed boundary around every model.

Providers never return an error message as if it were model output: they return a
Response or raise ProviderError, and the caller records the failure.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal, Protocol

from pydantic import BaseModel, Field

Phase = Literal["plan", "code", "direct", "repair"]


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Request(BaseModel):
    model: str  # the full model string, e.g. "openai::gpt-5" or "replay::file.toml"
    messages: list[Message]
    phase: Phase
    temperature: float | None = None
    max_tokens: int | None = None
    sample_index: int = Field(0, description="distinguishes N samples of one identical prompt")
    seq: int = Field(0, description="position in the run's deterministic request order (scripted providers)")

    def cache_key(self) -> str:
        """Hash of what determines the reply. Sample index is kept separately; seq is not part of it."""
        canonical = self.model_dump(include={"model", "messages", "phase", "temperature", "max_tokens"})
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class Response(BaseModel):
    text: str
    usage: Usage = Usage()
    finish_reason: str | None = None


class ProviderError(Exception):
    """A model call failed. `retryable` tells the retry policy whether to try again."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Provider(Protocol):
    """Anything that turns a Request into a Response."""

    is_llm: bool  # False for scripted providers; reports label them

    def complete(self, request: Request) -> Response: ...
