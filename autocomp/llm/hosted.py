"""What every SDK-backed provider shares: keys, errors, retries, limits, rejected parameters.

An adapter (openai_compat, anthropic, gemini, bedrock) only builds its SDK client, sends one
request and reads one reply; this base class wraps that single attempt in the retry policy
and the provider's limiter, turns SDK exceptions into ProviderError, and keeps secrets out
of every message that could reach a log or the run store.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, ClassVar, Mapping

from autocomp.errors import UserError
from autocomp.llm.base import ProviderError, ProviderSettings, Request, Response
from autocomp.llm.limits import limiter_for
from autocomp.llm.retry import call_with_retry

log = logging.getLogger("autocomp.llm")

# the optional parameters, and how each may be spelled in a provider's complaint about it
_PARAM_SPELLINGS = {
    "temperature": ("temperature",),
    "max_tokens": ("max_tokens", "max_completion_tokens", "maxtokens", "max_output_tokens", "maxoutputtokens"),
}
_rejected: dict[tuple[str, str], set[str]] = {}  # (provider, model) -> parameters it refused
_rejected_lock = threading.Lock()


def import_sdk(module: str, extra: str, provider: str) -> Any:
    """Import an optional SDK, or tell the user which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{provider}::MODEL needs the {module} package: pip install 'autocomp[{extra}]'") from None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asked for: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(float(lowered["retry-after-ms"]) / 1000, 0.0)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            return max((parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def sdk_error_message(exc: Any) -> str:
    """The provider's own error text (`{"error": {"message": ...}}`), else the SDK's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", None) or exc)


def rejected_param(status: int | None, message: str) -> str | None:
    """The optional parameter a 400/422 complains about, if any."""
    if status not in (400, 422):
        return None
    lowered = message.lower()
    for param, spellings in _PARAM_SPELLINGS.items():
        if any(s in lowered for s in spellings):
            return param
    return None


class HostedProvider:
    """Base class for providers reached over HTTP through an official SDK."""

    is_llm = True
    key_envs: ClassVar[tuple[str, ...]] = ()  # where the key usually lives, first preferred
    key_required: ClassVar[bool] = True
    droppable: ClassVar[frozenset[str]] = frozenset(_PARAM_SPELLINGS)  # parameters the API can do without

    def __init__(self, model: str, settings: ProviderSettings) -> None:
        self.model, self.settings = model, settings
        self.label = f"{settings.name}::{model}"
        self._secret: str | None = None
        self.limiter = limiter_for(settings)

    # ---- what adapters implement ---------------------------------------------------

    def _send(self, request: Request, drop: frozenset[str]) -> Any:
        """One attempt: call the SDK, leaving out the parameters in `drop`. Returns the raw reply."""
        raise NotImplementedError

    def _parse(self, raw: Any) -> Response:
        """Read text, usage and finish reason from the raw reply (may raise on a malformed one)."""
        raise NotImplementedError

    def _translate(self, exc: Exception) -> ProviderError | None:
        """Map an SDK exception to ProviderError; None if it is not one the adapter knows."""
        raise NotImplementedError

    # ---- shared machinery ----------------------------------------------------------

    def api_key(self) -> str | None:
        """The key from the configured variable, else the usual ones; a missing required key is a UserError.

        With NAME@URL::MODEL the usual variables are not read (a key for the official service
        is never sent to another server); name one with [llm.providers.NAME] api_key_env.
        """
        if self.settings.api_key_env:
            names: tuple[str, ...] = (self.settings.api_key_env,)
        elif self.settings.endpoint_in_model:
            return None
        else:
            names = self.key_envs
        for var in names:
            if os.environ.get(var):
                self._secret = os.environ[var]
                return self._secret
        if names and (self.key_required or self.settings.api_key_env):
            also = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
            raise UserError(f"{self.settings.name}::MODEL needs an API key: set {names[0]}{also}, "
                            f"or name another variable with [llm.providers.{self.settings.name}] api_key_env")
        return None

    def key_hint(self) -> str:
        """What to check after an authentication failure."""
        if self._secret is None:
            return (f" (no key was sent; name the variable that holds one with "
                    f"[llm.providers.{self.settings.name}] api_key_env)") if self.settings.endpoint_in_model else ""
        names = (self.settings.api_key_env,) if self.settings.api_key_env else self.key_envs
        return f" (check the key in {names[0]})" if names else ""

    def http_error(self, status: int | None, message: str, headers: Mapping[str, str] | None = None,
                   retry_after: float | None = None) -> ProviderError:
        """A ProviderError for an HTTP failure: retryable for 408/409/429/5xx, fast-failing otherwise."""
        retryable = status is not None and (status in (408, 409, 429) or status >= 500)
        hint = self.key_hint() if status in (401, 403) else ""
        return ProviderError(
            f"{self.label}: HTTP {status}: {message}{hint}", retryable=retryable, status=status,
            retry_after=retry_after if retry_after is not None else retry_after_seconds(headers),
            rejected_param=rejected_param(status, message),
        )

    def _redact(self, exc: ProviderError) -> ProviderError:
        if self._secret and len(self._secret) >= 8 and self._secret in str(exc):  # short strings are not keys
            return ProviderError(str(exc).replace(self._secret, "[redacted]"), exc.retryable, status=exc.status,
                                 retry_after=exc.retry_after, rejected_param=exc.rejected_param,
                                 unreachable=exc.unreachable)
        return exc

    def connection_error(self, exc: BaseException) -> ProviderError:
        """A failure to reach the server. An invalid URL (no scheme, a bad port) fails the same
        way on every try, so it fails at once; a refused or unresolved connection is retried
        (a server starting up) and marked unreachable."""
        cause = exc.__cause__ or exc
        if type(cause).__name__ in ("UnsupportedProtocol", "InvalidURL", "LocalProtocolError"):
            return ProviderError(f"{self.label}: cannot send to this base URL ({cause}); check the URL "
                                 "(e.g. http://localhost:8000/v1)")
        return ProviderError(f"{self.label}: connection failed ({cause})", retryable=True, unreachable=True)

    def _within_deadline(self, send: Callable[[], Any]) -> Any:
        """`send()`, or a retryable ProviderError once `timeout_s` has passed in total.

        SDK timeouts bound each wait for the next bytes, so a server that trickles a byte at a
        time holds a call forever. The call runs in a helper thread that is abandoned at the
        deadline (a thread cannot be killed; the SDK's own read timeout ends it later)."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["raw"] = send()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name=f"autocomp-llm-{self.label}", daemon=True).start()
        if not done.wait(self.settings.timeout_s):
            raise ProviderError(f"{self.label}: timed out after {self.settings.timeout_s:g}s without a complete reply "
                                "([llm.providers] timeout_s bounds each attempt in total)", retryable=True)
        if "error" in box:
            raise box["error"]
        return box["raw"]

    def _attempt(self, request: Request, drop: frozenset[str]) -> Response:
        with self.limiter.slot():
            try:
                raw = self._within_deadline(lambda: self._send(request, drop))
            except ProviderError as exc:
                raise self._redact(exc) from None
            except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a recorded ProviderError
                known = self._translate(exc)
                if known is None and isinstance(exc, json.JSONDecodeError):  # an SDK choking on the body
                    known = ProviderError(f"{self.label}: malformed reply ({exc}); is the base URL an endpoint of this API?")
                if known is None:
                    known = ProviderError(f"{self.label}: {type(exc).__name__}: {exc}")
                raise self._redact(known) from None
        try:
            response = self._parse(raw)
        except Exception as exc:  # noqa: BLE001 - a reply we cannot read is a failed call, never output
            raise self._redact(ProviderError(
                f"{self.label}: malformed reply ({type(exc).__name__}: {exc}); is the base URL an endpoint of this API?"
            )) from None
        self.limiter.record_tokens(response.usage.input_tokens + response.usage.output_tokens)
        return response

    def complete(self, request: Request) -> Response:
        while True:
            drop = self._dropped()
            try:
                return call_with_retry(lambda: self._attempt(request, drop), self.settings.retry, self.label)
            except ProviderError as exc:
                if exc.rejected_param not in self.droppable or exc.rejected_param in drop:
                    raise
                self._forget(exc.rejected_param, exc)

    def _dropped(self) -> frozenset[str]:
        with _rejected_lock:
            return frozenset(_rejected.get((self.settings.name, self.model), ()))

    def _forget(self, param: str, exc: ProviderError) -> None:
        """Remember, for this (provider, model), that it refuses a parameter; warn once."""
        with _rejected_lock:
            seen = _rejected.setdefault((self.settings.name, self.model), set())
            first = param not in seen
            seen.add(param)
        if first:
            log.warning("%s rejected the %s parameter; leaving it out from now on (%s)", self.label, param, exc)
