"""What a model call cost, from the shipped `prices.toml` and the user's [llm.prices].

Prices are data (USD per million tokens, dated), not code: a price change is a one-line
edit or a config override. A model without a price has an unknown cost (None), never a
made-up one; a run with a cost budget refuses to start on such a model.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field

from autocomp.llm.base import Usage
from autocomp.llm.model_string import parse_model

PRICES = Path(__file__).parent / "prices.toml"


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0, description="default: the input price")

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return ((usage.input_tokens - cached) * self.input + cached * cached_price + usage.output_tokens * self.output) / 1e6


@lru_cache(maxsize=1)
def shipped_prices() -> tuple[str, dict[str, Price]]:
    """(as_of date, prices) from the prices.toml that ships with autocomp."""
    data = tomllib.loads(PRICES.read_text())
    return str(data["as_of"]), {k: Price(**v) for k, v in data["models"].items()}


class PriceTable:
    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self.as_of, shipped = shipped_prices()
        self.prices = {**shipped, **(overrides or {})}

    def lookup(self, model: str) -> Price | None:
        """Exact model string, then NAME::MODEL for NAME@URL::MODEL, then NAME::*."""
        provider, _, name = parse_model(model)
        for key in (model, f"{provider}::{name}", f"{provider}::*"):
            if key in self.prices:
                return self.prices[key]
        return None

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.lookup(model)
        return price.cost(usage) if price else None
