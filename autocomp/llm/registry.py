"""Model strings -> agents and providers, through entry points.

`provider::model` names an LLM reached through a provider registered in the
`autocomp.providers` group (the built-in ones register exactly like a plugin would).
A bare name (e.g. `tuner`) names an agent registered in `autocomp.agents`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from autocomp.errors import UserError
from autocomp.llm.base import Provider

PROVIDERS, AGENTS = "autocomp.providers", "autocomp.agents"


@lru_cache(maxsize=None)
def _group(name: str) -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=name)}


def split_model(model: str) -> tuple[str, str]:
    provider, sep, rest = model.partition("::")
    if not sep:
        return "", model
    return provider, rest


def check_model_string(model: str) -> None:
    """Fail fast, with the list of what is known, on a model string we cannot serve."""
    provider, rest = split_model(model)
    if not provider:
        if rest not in _group(AGENTS):
            raise UserError(_unknown(model))
        return
    if provider not in _group(PROVIDERS) or not rest:
        raise UserError(_unknown(model))


def _unknown(model: str) -> str:
    providers = ", ".join(f"{p}::MODEL" for p in sorted(_group(PROVIDERS)))
    agents = ", ".join(sorted(_group(AGENTS)))
    return f"unknown model string {model!r}; expected one of: {providers}" + (f", or an agent: {agents}" if agents else "")


def make_provider(model: str) -> Provider:
    check_model_string(model)
    provider, rest = split_model(model)
    return _group(PROVIDERS)[provider].load()(rest)  # type: ignore[attr-defined]


def make_agent_class(name: str) -> type:
    check_model_string(name)
    return _group(AGENTS)[name].load()  # type: ignore[attr-defined]
