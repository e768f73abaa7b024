"""A call through a LiteLLM proxy: llmsight's span records the proxy's x-litellm-call-id and x-litellm-model-name
response headers (litellm 1.110.2 proxy/common_request_processing.py sets them on every response), so the
collector can bill the call as the provider and model the proxy routed to and join it with the proxy's own span.
The stand-in proxy below forwards to the local provider and adds those two headers, as the real one does
(tests/peers/record_litellm.py records the real one)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

from llmsight import attributes as attr
from llmsight.testing.server import ProviderServer

CALL_ID = "0b7c4e1e-1d4c-4a63-9a57-6f1f0f1f2a3b"


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True
    upstream = ""


class _Handler(BaseHTTPRequestHandler):
    server: _Proxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        request = urllib.request.Request(self.server.upstream + self.path.removeprefix("/v1"), data=body, method="POST",
                                         headers={"content-type": "application/json", "authorization": "Bearer test"})
        with urllib.request.urlopen(request, timeout=10) as response:
            payload, content_type = response.read(), response.headers["content-type"]
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-litellm-call-id", CALL_ID)
        self.send_header("x-litellm-model-name", "anthropic/claude-sonnet-4-5")
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def proxy(provider_server: ProviderServer) -> Iterator[str]:
    server = _Proxy(("127.0.0.1", 0), _Handler)
    server.upstream = provider_server.openai_base_url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stream", [False, True])
def test_span_records_the_proxy_call_id_and_routed_model(stream: bool, proxy: str, instrumented, llm_spans) -> None:
    client = openai.OpenAI(base_url=proxy, api_key="test", max_retries=0)
    response = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                              stream=stream, **({"stream_options": {"include_usage": True}} if stream else {}))
    if stream:
        for _ in response:
            pass
    (span,) = llm_spans()
    assert span.attributes[attr.LITELLM_CALL_ID] == CALL_ID
    assert span.attributes[attr.LITELLM_PROVIDER_MODEL] == "anthropic/claude-sonnet-4-5"


def test_a_provider_without_the_headers_adds_nothing(provider_server: ProviderServer, instrumented, llm_spans) -> None:
    client = openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    (span,) = llm_spans()
    assert not any(key.startswith("litellm.") for key in span.attributes)
