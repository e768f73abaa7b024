"""llmsight: OpenTelemetry spans for every LLM API call, with tokens, cache use, latency and cost attribution.

    import llmsight
    llmsight.instrument()

    with llmsight.tags(task="summarise", tenant="acme"):
        client.chat.completions.create(...)
"""

from typing import TYPE_CHECKING

from llmsight._lazy import lazy_names
from llmsight._version import __version__
from llmsight.errors import ConfigurationError, LLMSightError

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the same names load lazily below
    from llmsight._instrument import instrument, uninstrument
    from llmsight._tags import tags
    from llmsight.sdk import configure

__all__ = ["ConfigurationError", "LLMSightError", "__version__", "configure", "instrument", "tags", "uninstrument"]

# Lazy: importing llmsight must stay cheap and must not import provider SDKs or the OTel SDK.
__getattr__ = lazy_names(__name__, {
    "llmsight._instrument": ("instrument", "uninstrument"),
    "llmsight.sdk": ("configure",),
    "llmsight._tags": ("tags",),
}, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
