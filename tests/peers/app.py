"""One peer-instrumented app: `python app.py SOURCE OTLP_ENDPOINT OPENAI_URL ANTHROPIC_URL [GEMINI_URL BEDROCK_URL
MISTRAL_URL]` ("-" for a provider the app leaves out).

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


def openlit_app(endpoint: str, *urls: str | None) -> None:
    """OpenLIT (its own venv: it pins OTel, anthropic<1 and mistralai<2; recorded, record_peers.py)."""
    import openlit

    openlit.init(otlp_endpoint=endpoint.removesuffix("/v1/traces"), application_name="openlit-app",
                 disable_batch=True, disable_metrics=True)
    workload.run(urls[0], urls[1])
    workload.run_others(*_others(urls[2:]))
    from opentelemetry import trace

    trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]


def _others(urls: tuple[str | None, ...]) -> tuple[str | None, str | None, str | None]:
    gemini, bedrock, mistral = (urls + (None, None, None))[:3]
    return gemini, bedrock, mistral


def _beside_llmsight(provider) -> None:  # type: ignore[no-untyped-def]
    """`llmsight.instrument()` too when the app's last argument is `llmsight`."""
    if len(sys.argv) > 8 and sys.argv[8] == "llmsight":
        import llmsight

        llmsight.instrument(tracer_provider=provider)


def openllmetry_others(endpoint: str, *urls: str | None) -> None:
    """OpenLLMetry's google-generativeai (it traces google-genai), bedrock and mistralai instrumentors, each for
    its provider's URL; the mistralai one needs mistralai 1.x (recorded: record_peers.py)."""
    provider = _provider(endpoint, "openllmetry")
    if urls[2]:
        from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor

        GoogleGenerativeAiInstrumentor().instrument()
    if urls[3]:
        from opentelemetry.instrumentation.bedrock import BedrockInstrumentor

        BedrockInstrumentor().instrument()
    if urls[4]:
        from opentelemetry.instrumentation.mistralai import MistralAiInstrumentor

        MistralAiInstrumentor().instrument()
    _beside_llmsight(provider)
    workload.run_others(*_others(urls[2:]))
    provider.shutdown()


def otel_google_genai(endpoint: str, *urls: str | None) -> None:
    """OTel contrib's google-genai instrumentation (it needs google-genai < 3: recorded, record_peers.py)."""
    from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

    _one_instrumentor(endpoint, "otel-google-genai", GoogleGenAiSdkInstrumentor, urls)


def _one_instrumentor(endpoint: str, service: str, instrumentor, urls: tuple[str | None, ...]) -> None:  # type: ignore[no-untyped-def]
    """An app traced by one OTel instrumentor (and llmsight when asked) calling Gemini, Bedrock and Mistral."""
    provider = _provider(endpoint, service)
    instrumentor().instrument()
    _beside_llmsight(provider)
    workload.run_others(*_others(urls[2:]))
    provider.shutdown()


def logfire_google_genai(endpoint: str, *urls: str | None) -> None:
    """Logfire's google-genai integration (the contrib instrumentation: recorded, record_peers.py)."""
    import logfire
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    logfire.configure(
        send_to_logfire=False, service_name="logfire-google-genai", console=False,
        additional_span_processors=[SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint))],
    )
    logfire.instrument_google_genai()
    _beside_llmsight(trace.get_tracer_provider())
    workload.run_others(*_others(urls[2:]))
    logfire.shutdown()


def botocore_app(endpoint: str, *urls: str | None) -> None:
    """OTel contrib's botocore instrumentation (Bedrock runtime spans)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    _one_instrumentor(endpoint, "botocore", BotocoreInstrumentor, urls)


def openinference_app(endpoint: str, *urls: str | None) -> None:
    """OpenInference (Arize / Phoenix) for all five SDKs."""
    from openinference.instrumentation.anthropic import AnthropicInstrumentor
    from openinference.instrumentation.bedrock import BedrockInstrumentor
    from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor
    from openinference.instrumentation.mistralai import MistralAIInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider = _provider(endpoint, "openinference")
    for instrumentor in (OpenAIInstrumentor, AnthropicInstrumentor, GoogleGenAIInstrumentor, BedrockInstrumentor,
                         MistralAIInstrumentor):
        instrumentor().instrument(tracer_provider=provider)
    _beside_llmsight(provider)
    workload.run(urls[0], urls[1])
    workload.run_others(*_others(urls[2:]))
    provider.shutdown()


def llmsight_app(endpoint: str, *urls: str | None) -> None:
    """llmsight alone: the reference the peers are compared with."""
    import llmsight

    provider = _provider(endpoint, "llmsight")
    llmsight.instrument(tracer_provider=provider)
    workload.run_others(*_others(urls[2:]))
    provider.shutdown()


APPS = {
    "anthropic-sdk": anthropic_sdk,
    "openllmetry": openllmetry,
    "openai-v2": openai_v2,
    "logfire": logfire_app,
    "llmsight-late": llmsight_late,
}
# Apps for every provider: APP ENDPOINT OPENAI ANTHROPIC GEMINI BEDROCK MISTRAL [llmsight] (llmsight beside the peer).
OTHER_APPS = {
    "openllmetry-others": openllmetry_others,
    "botocore": botocore_app,
    "openinference": openinference_app,
    "llmsight": llmsight_app,
    "openlit": openlit_app,
    "otel-google-genai": otel_google_genai,
    "logfire-google-genai": logfire_google_genai,
}

if __name__ == "__main__":
    name, endpoint = sys.argv[1:3]
    urls = [None if url == "-" else url for url in sys.argv[3:8]]
    if name in OTHER_APPS:
        OTHER_APPS[name](endpoint, *urls)
    else:
        APPS[name](endpoint, urls[0], urls[1])
