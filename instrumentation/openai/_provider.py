"""Which provider a client talks to, from its class and base URL (OpenAI-compatible hosts included).

The rule, first match wins:
1. the `provider_hosts` setting (`host` or `host:port` glob → name): gateways, proxies, a local stand-in;
2. an Azure client class, or a vendor's API host (`api.groq.com` → `groq`, …);
3. a loopback, private or link-local address, `localhost`, a `.local` / `.internal` / `.lan` / `.home.arpa`
   name or a single-label name (a container such as `vllm`): `self_hosted`;
4. any other host: `openai`, the wire format's vendor (an unknown public gateway; declare it to name it).
"""

from __future__ import annotations

import fnmatch
import functools
from typing import Any

from llmsight import attributes as attr
from llmsight.provider_hosts import SELF_HOSTED, is_self_hosted, vendor_of_host

# Declared hosts as (glob, provider) pairs, in the order given: hashable, so lookups can be memoised.
DeclaredHosts = tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=256)
def provider_for(host: str, port: int | None, is_azure: bool, declared: DeclaredHosts = ()) -> str:
    if declared:
        address = f"{host}:{port}" if port else host
        for pattern, name in declared:
            if fnmatch.fnmatchcase(host, pattern) or fnmatch.fnmatchcase(address, pattern):
                return name
    if is_azure:
        return "azure.ai.openai"
    vendor = vendor_of_host(host)
    if vendor is not None:
        return vendor
    return SELF_HOSTED if is_self_hosted(host) else "openai"


def client_attributes(client: Any, declared: DeclaredHosts = ()) -> dict[str, Any]:
    """Provider and server attributes of an SDK client (cached on the client object, per declaration)."""
    cached: tuple[DeclaredHosts, dict[str, Any]] | None = getattr(client, "_llmsight_attributes", None)
    if cached is not None and cached[0] is declared:
        return cached[1]
    url = client.base_url
    host = url.host or ""
    is_azure = type(client).__name__ in ("AzureOpenAI", "AsyncAzureOpenAI")
    values: dict[str, Any] = {
        attr.GEN_AI_PROVIDER_NAME: provider_for(host, url.port, is_azure, declared), attr.SERVER_ADDRESS: host
    }
    if url.port:
        values[attr.SERVER_PORT] = url.port
    try:
        client._llmsight_attributes = (declared, values)
    except Exception:  # a client that refuses new attributes: recompute next time
        pass
    return values
