"""Turn OTLP spans from any GenAI instrumentation into `CallRecord`s."""

from llmsight.collector.normalise.spans import NormaliseResult, normalise_request

__all__ = ["NormaliseResult", "normalise_request"]
