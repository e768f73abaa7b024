"""Which provider an OpenAI-compatible host is. Used by the OpenAI instrumentation, which names its spans' provider
from the client's base URL, and by the collector, which names other instrumentations' "openai" calls the same way.

The rule (`provider_for`), first match wins:
1. the `provider_hosts` setting (`host` or `host:port` glob → name): gateways, proxies, a local stand-in;
2. an Azure client class, or a vendor's API host (`api.groq.com` → `groq`, …: llmsight/providers.py);
3. a loopback, private or link-local address, `localhost`, a `.local` / `.internal` / `.lan` / `.home.arpa`
   name or a single-label name (a container such as `vllm`): `self_hosted`;
4. any other host: `openai`, the wire format's vendor (an unknown public gateway; declare it to name it).
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress

from llmsight import providers

SELF_HOSTED = providers.SELF_HOSTED.name
_KNOWN_HOSTS = tuple((part, provider.name) for provider in providers.PROVIDERS for part in provider.hosts)
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


# Declared hosts as (glob, provider) pairs, in the order given: hashable, so lookups can be memoised.
DeclaredHosts = tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=256)
def provider_for(host: str, port: int | None, is_azure: bool, declared: DeclaredHosts = ()) -> str:
    """The provider of an OpenAI-compatible call to `host` (the rule in the module docstring)."""
    if declared:
        address = f"{host}:{port}" if port else host
        for pattern, name in declared:
            if fnmatch.fnmatchcase(host, pattern) or fnmatch.fnmatchcase(address, pattern):
                return name
    if is_azure:
        return providers.AZURE_OPENAI.name
    vendor = vendor_of_host(host)
    if vendor is not None:
        return vendor
    return SELF_HOSTED if is_self_hosted(host) else providers.OPENAI.name
