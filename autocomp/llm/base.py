"""Request / Response / Usage / ProviderError: the typed boundary around every model.

Providers never return an error message as if it were model output: they return a
Response or raise ProviderError, and the caller records the failure.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Phase = Literal["plan", "code", "direct", "repair", "menu"]


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
    """Tokens as the provider reported them.

    `input_tokens` counts every prompt token, cached ones included; `output_tokens` counts every
    generated token, reasoning included. `cached_tokens` and `reasoning_tokens` are the parts of
    those totals that are billed differently (or just worth knowing), 0 where not reported.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


FinishReason = str  # normalised: "stop", "length" (truncated), "content_filter", or the provider's own word


class Response(BaseModel):
    text: str
    usage: Usage = Usage()
    finish_reason: FinishReason | None = None


class ProviderError(Exception):
    """A model call failed. `retryable` tells the retry policy whether to try again.

    `retry_after` is the wait the server asked for (seconds), and `rejected_param` names a request
    parameter the model refused (e.g. "temperature"), so the caller can drop it and ask again.
    `unreachable`: no connection to the server at all (refused, unknown host): a run whose every
    call of an iteration is unreachable stops instead of spending its iterations on nothing.
    """

    def __init__(self, message: str, retryable: bool = False, *, status: int | None = None,
                 retry_after: float | None = None, rejected_param: str | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.retryable, self.status = retryable, status
        self.retry_after, self.rejected_param = retry_after, rejected_param
        self.unreachable = unreachable


class RetryConfig(BaseModel):
    """[llm.retry]: one policy for every provider (the SDKs' own retries are off)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(6, ge=1, description="tries per request, the first included")
    initial_s: float = Field(1.0, ge=0, description="first backoff; doubles each retry, with jitter")
    max_wait_s: float = Field(60.0, ge=0, description="longest single wait, a server's Retry-After included")
    total_s: float = Field(600.0, gt=0, description="no new attempt starts after this long")


class ProviderConfig(BaseModel):
    """[llm.providers.NAME]: how to reach one provider.

    Holds the *name* of the variable a key is read from, never a key: this object is stored
    with the run's config.
    """

    model_config = ConfigDict(extra="forbid")

    api_key_env: str | None = Field(None, description="read the key from this variable instead of the usual one")
    base_url: str | None = None
    region: str | None = Field(None, description="bedrock: AWS region (default: AWS_REGION / the AWS profile)")
    project: str | None = Field(None, description="gemini: Google Cloud project; set it to use Vertex AI")
    location: str | None = Field(None, description="gemini on Vertex AI: region, default us-central1")
    timeout_s: float = Field(600.0, gt=0, description="per HTTP attempt, in total: a server that keeps sending bytes "
                                                    "slowly is cut off at this deadline too")
    concurrency: int = Field(8, ge=1, description="requests in flight at once to this provider")
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)


class ProviderSettings(ProviderConfig):
    """What a provider factory receives: its config plus the parts the model string and [llm] add."""

    name: str  # the provider's registered name, e.g. "openai"
    endpoint_in_model: bool = Field(False, description="base_url came from NAME@URL::MODEL")
    retry: RetryConfig = RetryConfig()


class Provider(Protocol):
    """Anything that turns a Request into a Response."""

    is_llm: bool  # False for scripted providers; reports label them

    def complete(self, request: Request) -> Response: ...


ProviderFactory = Callable[[str, ProviderSettings], Provider]
"""What an `autocomp.providers` entry point loads: called with (model name, settings)."""
