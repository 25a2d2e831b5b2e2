"""Model strings: `provider::model`, `provider@BASE_URL::model`, or a bare agent name.

Parsing lives apart from the registry (which loads entry points) so that plain data modules
such as the price table can read a model string without importing the provider machinery.
"""

from __future__ import annotations


def parse_model(model: str) -> tuple[str, str | None, str]:
    """'openai@http://h:8000/v1::m' -> ('openai', 'http://h:8000/v1', 'm'); 'tuner' -> ('', None, 'tuner')."""
    head, sep, rest = model.partition("::")
    if not sep:
        return "", None, model
    provider, at, _ = head.partition("@")
    if not at:
        return provider, None, rest
    base_url, _, rest = model[len(provider) + 1:].rpartition("::")  # a URL may hold "::" ([::1])
    return provider, base_url, rest


def split_model(model: str) -> tuple[str, str]:
    """(provider, model name); the provider is "" for a bare agent name."""
    provider, _, rest = parse_model(model)
    return provider, rest
