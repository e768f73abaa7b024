"""Pricing: dated list prices from genai-prices, plus user overrides, applied per call.

Names load on first use (PEP 562), so the CLI can register `llmsight prices` and `llmsight reprice` on a
light install (no yaml, no genai-prices) and explain the missing extra when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmsight._lazy import lazy_names

if TYPE_CHECKING:
    from llmsight.collector.pricing.overrides import OverridesError, PriceOverrides, load_overrides
    from llmsight.collector.pricing.pricer import Pricer

__all__ = ["OverridesError", "PriceOverrides", "Pricer", "load_overrides"]

__getattr__ = lazy_names(__name__, {
    "llmsight.collector.pricing.overrides": ("OverridesError", "PriceOverrides", "load_overrides"),
    "llmsight.collector.pricing.pricer": ("Pricer",),
}, globals())
