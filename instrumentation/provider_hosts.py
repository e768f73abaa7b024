"""Which provider a host is: the public API hosts of the vendors (OpenAI-compatible endpoints included) and the
rule for hosts only a local network reaches. Used by the OpenAI instrumentation, which names its spans' provider
from the client's base URL, and by the collector, which corrects other instrumentations' "openai" by the host.
"""

from __future__ import annotations

import functools
import ipaddress

SELF_HOSTED = "self_hosted"

_KNOWN_HOSTS = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("bedrock-runtime", "aws.bedrock"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def is_self_hosted(host: str) -> bool:
    """A host that only a local network reaches: nobody's public API."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return False
    if name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        return not ipaddress.ip_address(name.split("%", 1)[0]).is_global
    except ValueError:
        return "." not in name


@functools.lru_cache(maxsize=1024)
def vendor_of_host(host: str) -> str | None:
    """The provider whose public API this host is (OpenAI-compatible endpoints included), or None."""
    for needle, name in _KNOWN_HOSTS:
        if needle in host:
            return name
    return None
