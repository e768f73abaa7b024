"""Which provider a client talks to, from its class and base URL (the rule: llmsight/provider_hosts.py)."""

from __future__ import annotations

from typing import Any

from llmsight import attributes as attr
from llmsight.provider_hosts import DeclaredHosts, provider_for


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
