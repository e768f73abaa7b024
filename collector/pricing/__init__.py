"""Pricing: dated list prices from genai-prices, plus user overrides, applied per call.

Names load on first use (PEP 562), so the CLI can register `llmsight prices` and `llmsight reprice` on a
light install (no yaml, no genai-prices) and explain the missing extra when they run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmsight.collector.pricing.overrides import OverridesError, PriceOverrides, load_overrides
    from llmsight.collector.pricing.pricer import Pricer

__all__ = ["OverridesError", "PriceOverrides", "Pricer", "load_overrides"]

_HOMES = {
    "OverridesError": "llmsight.collector.pricing.overrides",
    "PriceOverrides": "llmsight.collector.pricing.overrides",
    "load_overrides": "llmsight.collector.pricing.overrides",
    "Pricer": "llmsight.collector.pricing.pricer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
