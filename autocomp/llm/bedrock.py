"""Amazon Bedrock's Converse API through `boto3` (extra: `autocomp[bedrock]`).

Works for every Converse model, Claude ids included (`bedrock::anthropic.claude-...`).
Credentials come from the usual AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, SSO, instance roles) or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK; the region
from [llm.providers.bedrock] region, else AWS_REGION or the profile.
"""

from __future__ import annotations

import os
from typing import Any

from autocomp.errors import UserError
from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response, Usage
from autocomp.llm.hosted import HostedProvider, import_sdk

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
          "content_filtered": "content_filter", "guardrail_intervened": "content_filter"}
RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException",
                   "ModelNotReadyException", "ModelTimeoutException"}


class BedrockProvider(HostedProvider):
    """bedrock::MODEL_ID, via Converse (boto3 is synchronous, like our callers)."""

    def __init__(self, model: str, settings: ProviderSettings) -> None:
        super().__init__(model, settings)
        boto3 = import_sdk("boto3", "bedrock", settings.name)
        self.botocore = import_sdk("botocore.exceptions", "bedrock", settings.name)
        config = import_sdk("botocore.config", "bedrock", settings.name).Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # our policy retries, not botocore
            read_timeout=settings.timeout_s, connect_timeout=min(settings.timeout_s, 10.0),
        )
        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None and not os.environ.get("AWS_BEARER_TOKEN_BEDROCK"):
            raise UserError("bedrock::MODEL needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                            "(or AWS_PROFILE, or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK)")
        self._secret = credentials.secret_key if credentials else os.environ.get("AWS_BEARER_TOKEN_BEDROCK")
        region = settings.region or session.region_name or os.environ.get("AWS_REGION")
        if not region:
            raise UserError("bedrock::MODEL needs a region: set AWS_REGION or [llm.providers.bedrock] region")
        self.client = session.client("bedrock-runtime", region_name=region, endpoint_url=settings.base_url,
                                     config=config)

    def _send(self, request: Request, drop: frozenset[str]) -> Any:
        kwargs: dict[str, Any] = {
            "modelId": self.model,
            "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in request.messages if m.role != "system"],
        }
        system = [{"text": m.content} for m in request.messages if m.role == "system"]
        if system:
            kwargs["system"] = system
        inference: dict[str, Any] = {}
        if request.temperature is not None and "temperature" not in drop:
            inference["temperature"] = request.temperature
        if request.max_tokens is not None and "max_tokens" not in drop:
            inference["maxTokens"] = request.max_tokens
        if inference:
            kwargs["inferenceConfig"] = inference
        return self.client.converse(**kwargs)

    def _parse(self, raw: Any) -> Response:
        text = "".join(block["text"] for block in raw["output"]["message"]["content"] if "text" in block)
        u = raw.get("usage") or {}
        cached = u.get("cacheReadInputTokens", 0)
        return Response(
            text=text,
            usage=Usage(input_tokens=u.get("inputTokens", 0) + cached + u.get("cacheWriteInputTokens", 0),
                        output_tokens=u.get("outputTokens", 0), cached_tokens=cached),
            finish_reason=FINISH.get(raw.get("stopReason"), raw.get("stopReason")),
        )

    def _translate(self, exc: Exception) -> ProviderError | None:
        b = self.botocore
        if isinstance(exc, b.ClientError):
            error, meta = exc.response.get("Error", {}), exc.response.get("ResponseMetadata", {})
            status, code = meta.get("HTTPStatusCode"), error.get("Code", "")
            failure = self.http_error(status, f"{code}: {error.get('Message', exc)}", meta.get("HTTPHeaders"))
            failure.retryable = failure.retryable or code in RETRYABLE_CODES
            return failure
        if isinstance(exc, (b.ReadTimeoutError, b.ConnectTimeoutError)):
            return ProviderError(f"{self.label}: timed out after {self.settings.timeout_s:g}s", retryable=True)
        if isinstance(exc, b.EndpointConnectionError):
            return self.connection_error(exc)
        if isinstance(exc, (b.ConnectionClosedError, b.HTTPClientError)):
            return ProviderError(f"{self.label}: connection failed ({exc})", retryable=True)
        if isinstance(exc, b.BotoCoreError) or type(exc).__name__ == "ResponseParserError":
            return ProviderError(f"{self.label}: malformed reply ({exc})")
        return None
