"""Model strings -> agents and providers, through entry points.

`provider::model` names an LLM reached through a provider registered in the
`autocomp.providers` group (the built-in ones register exactly like a plugin would);
`provider@BASE_URL::model` sends it to another server speaking the same API.
A bare name (e.g. `tuner`) names an agent registered in `autocomp.agents`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from autocomp.errors import UserError
from autocomp.llm.base import Provider, ProviderConfig, ProviderFactory, ProviderSettings, RetryConfig
from autocomp.llm.model_string import parse_model, split_model

if TYPE_CHECKING:
    from autocomp.config import LLMConfig

PROVIDERS, AGENTS = "autocomp.providers", "autocomp.agents"


@lru_cache(maxsize=None)
def _group(name: str) -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=name)}


def check_model_string(model: str) -> None:
    """Fail fast, with the list of what is known, on a model string we cannot serve."""
    provider, base_url, rest = parse_model(model)
    if not provider:
        if rest not in _group(AGENTS):
            raise UserError(_unknown(model))
        return
    if provider not in _group(PROVIDERS) or not rest or base_url == "":
        raise UserError(_unknown(model))
    check_base_url(base_url, f"the base URL in {model!r}")


def check_base_url(url: str | None, where: str) -> None:
    """An http(s) URL with a host, or a one-line error before anything runs: a malformed one
    otherwise fails every call of the run, each after its retries."""
    if url is None:
        return
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        valid = False
    if not valid:
        raise UserError(f"{where}: {url!r} is not an http(s) URL with a host (and a numeric port, if any); "
                        "expected e.g. http://localhost:8000/v1")


def _unknown(model: str) -> str:
    providers = ", ".join(f"{p}::MODEL" for p in sorted(_group(PROVIDERS)))
    agents = ", ".join(sorted(_group(AGENTS)))
    return (f"unknown model string {model!r}; expected one of: {providers} (or NAME@BASE_URL::MODEL)"
            + (f", or an agent: {agents}" if agents else ""))


def provider_class(model: str) -> type:
    check_model_string(model)
    return _group(PROVIDERS)[split_model(model)[0]].load()  # type: ignore[attr-defined,no-any-return]


def provider_settings(model: str, llm: "LLMConfig | None" = None) -> ProviderSettings:
    """[llm.providers.NAME] and [llm.retry] for this model, with the model string's base URL on top."""
    name, base_url, _ = parse_model(model)
    config = (llm.providers.get(name) if llm else None) or ProviderConfig()
    settings = ProviderSettings(**config.model_dump(), name=name, retry=llm.retry if llm else RetryConfig())
    if base_url:
        settings.base_url, settings.endpoint_in_model = base_url, True
    return settings


def make_provider(model: str, llm: "LLMConfig | None" = None) -> Provider:
    """Build the provider for `model`; raises UserError for a missing SDK extra or key."""
    factory: ProviderFactory = provider_class(model)
    return factory(split_model(model)[1], provider_settings(model, llm))


def make_agent_class(name: str) -> type:
    check_model_string(name)
    return _group(AGENTS)[name].load()  # type: ignore[attr-defined,no-any-return]
