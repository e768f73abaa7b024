"""Pricing: dated list prices from genai-prices, plus user overrides, applied per call."""

from llmsight.collector.pricing.overrides import OverridesError, PriceOverrides, load_overrides
from llmsight.collector.pricing.pricer import Pricer

__all__ = ["OverridesError", "PriceOverrides", "Pricer", "load_overrides"]
