"""llmsight: OpenTelemetry spans for every LLM API call, with tokens, cache use, latency and cost attribution.

    import llmsight
    llmsight.instrument()

    with llmsight.tags(task="summarise", tenant="acme"):
        client.chat.completions.create(...)
"""

from llmsight._version import __version__

__all__ = ["__version__", "instrument", "uninstrument", "tags", "configure"]


def __getattr__(name: str):
    # Lazy: importing llmsight must stay cheap and must not import provider SDKs.
    if name in ("instrument", "uninstrument"):
        from llmsight import _instrument

        return getattr(_instrument, name)
    if name == "configure":
        from llmsight.sdk import configure

        return configure
    if name == "tags":
        from llmsight._tags import tags

        return tags
    raise AttributeError(f"module 'llmsight' has no attribute {name!r}")
