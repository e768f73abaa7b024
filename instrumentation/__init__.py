"""llmsight: OpenTelemetry spans for every LLM API call, with tokens, cache use, latency and cost attribution.

    import llmsight
    llmsight.instrument()

    with llmsight.tags(task="summarise", tenant="acme"):
        client.chat.completions.create(...)
"""

from typing import TYPE_CHECKING, Any

from llmsight._version import __version__
from llmsight.errors import ConfigurationError, LLMSightError

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the same names load lazily below
    from llmsight._instrument import instrument, uninstrument
    from llmsight._tags import tags
    from llmsight.sdk import configure

__all__ = ["ConfigurationError", "LLMSightError", "__version__", "configure", "instrument", "tags", "uninstrument"]

# Lazy: importing llmsight must stay cheap and must not import provider SDKs or the OTel SDK.
_LAZY = {
    "instrument": "llmsight._instrument",
    "uninstrument": "llmsight._instrument",
    "configure": "llmsight.sdk",
    "tags": "llmsight._tags",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmsight' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
