"""One peer-instrumented app: `python app.py SOURCE OTLP_ENDPOINT OPENAI_URL ANTHROPIC_URL`.

Each source is set up the way its documentation says, exporting over OTLP/HTTP to the collector, then runs
`workload.run`. One process per app: instrumentors patch SDK classes for good (OpenLLMetry's uninstrument
leaves wrappers behind), and the anthropic SDK decides once per client whether it traces.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import workload  # noqa: E402


def _provider(endpoint: str, service: str):  # type: ignore[no-untyped-def]
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)  # global, as apps do: the anthropic SDK then traces too
    return provider


def anthropic_sdk(endpoint: str, openai_url: str, anthropic_url: str) -> None:
    """The anthropic SDK's built-in tracing under a plain TracerProvider: no instrumentation library."""
    provider = _provider(endpoint, "anthropic-sdk")
    workload.run(None, anthropic_url)
    provider.shutdown()


def openllmetry(endpoint: str, openai_url: str, anthropic_url: str) -> None:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    provider = _provider(endpoint, "openllmetry")
    OpenAIInstrumentor().instrument()
    AnthropicInstrumentor().instrument()
    workload.run(openai_url, anthropic_url)
    provider.shutdown()


def openai_v2(endpoint: str, openai_url: str, anthropic_url: str) -> None:
    """The official OTel openai-v2 for OpenAI; Anthropic calls are traced by the SDK's own spans."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider = _provider(endpoint, "openai-v2")
    OpenAIInstrumentor().instrument()
    workload.run(openai_url, anthropic_url)
    provider.shutdown()


def logfire_app(endpoint: str, openai_url: str, anthropic_url: str) -> None:
    import logfire
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    logfire.configure(
        send_to_logfire=False, service_name="logfire-app", console=False,
        additional_span_processors=[SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint))],
    )
    logfire.instrument_openai()
    logfire.instrument_anthropic()
    workload.run(openai_url, anthropic_url)
    logfire.shutdown()


def llmsight_late(endpoint: str, openai_url: str, anthropic_url: str) -> None:
    """llmsight with clients created and used before `instrument()`: the anthropic client has resolved the
    SDK's tracer by then, and must not report its calls a second time."""
    import anthropic
    import openai

    import llmsight

    provider = _provider(endpoint, "llmsight-late")
    oa = openai.OpenAI(base_url=openai_url, api_key="test", max_retries=0)
    an = anthropic.Anthropic(base_url=anthropic_url, api_key="test", max_retries=0)
    an.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "before"}])
    llmsight.instrument(tracer_provider=provider)
    workload.openai_calls(oa)
    workload.anthropic_calls(an)
    provider.shutdown()


def openlit_app(endpoint: str, openai_url: str, anthropic_url: str) -> None:
    """OpenLIT (its own venv: it pins OTel and anthropic<1; tests/peers/record_openlit.py)."""
    import openlit

    openlit.init(otlp_endpoint=endpoint.removesuffix("/v1/traces"), application_name="openlit-app",
                 disable_batch=True, disable_metrics=True)
    workload.run(openai_url, anthropic_url)
    from opentelemetry import trace

    trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]


APPS = {
    "anthropic-sdk": anthropic_sdk,
    "openllmetry": openllmetry,
    "openai-v2": openai_v2,
    "logfire": logfire_app,
    "llmsight-late": llmsight_late,
    "openlit": openlit_app,
}

if __name__ == "__main__":
    name, endpoint, openai_url, anthropic_url = sys.argv[1:5]
    APPS[name](endpoint, openai_url, anthropic_url)
