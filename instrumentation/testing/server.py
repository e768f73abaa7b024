"""A small, fast local LLM provider that speaks the OpenAI and Anthropic wire formats.

    with ProviderServer(seed=1) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test")
        client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test")
        server.faults.add(Fault.http_status(429, times=2))
        server.ledger.totals()

Endpoints: POST /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/messages, Azure's
/openai/deployments/{name}/chat/completions, and Gemini / Vertex AI's `{...}/models/{model}:generateContent`,
`:streamGenerateContent?alt=sse`, `:batchEmbedContents` and `:predict` (embeddings), and Bedrock runtime's
`/model/{modelId}/converse`, `/converse-stream`, `/invoke` and `/invoke-with-response-stream` (AWS event-stream),
and Mistral's `/mistral/v1/chat/completions` and `/mistral/v1/embeddings`. Batch APIs (wire_batches.py): OpenAI's
`/v1/files` (upload, retrieve, content) and `/v1/batches` (create, retrieve, list, cancel), Anthropic's
`/v1/messages/batches` (create, retrieve, list, cancel, results). SSE streams use chunked transfer encoding over HTTP/1.1
keep-alive. Stdlib only: the base install stays light and the server starts in milliseconds.
Run it alone with `python -m llmsight.testing --port 8765`.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmsight.testing import (
    wire_anthropic,
    wire_batches,
    wire_bedrock,
    wire_gemini,
    wire_mistral,
    wire_openai,
)
from llmsight.testing.admin import AdminApi, AdminConfig, AdminError, dumps, malform
from llmsight.testing.faults import Fault, FaultPlan
from llmsight.testing.simulation import Billed, Ledger, PromptCache

MAX_BODY_BYTES = 32 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    provider: ProviderServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-stream (an abandoned stream) is normal here, not a server error.
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


# Each wire format's error body, by the provider name faults match on.
_ERROR_BODIES: dict[str, Callable[[int], dict[str, Any]]] = {
    "anthropic": wire_anthropic.error_body,
    "gemini": wire_gemini.error_body,
    "mistral": wire_mistral.error_body,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle on, the client's delayed ACK stalls every reply ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the demo print their own
        pass

    # --- plumbing ---
    def _read_json(self) -> dict[str, Any] | None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(413, {"error": {"message": "request too large"}})
            return None
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            self._send_json(400, {"error": {"message": f"invalid JSON body: {exc}", "type": "invalid_request_error"}})
            return None
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body must be a JSON object", "type": "invalid_request_error"}})
            return None
        return body

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(
        self, events: Iterator[tuple[str | None, dict[str, Any]]], *, done_marker: bool, faults: list[Fault],
        headers: dict[str, str], bill: Callable[[], None], slow_before: int = 1,
    ) -> None:
        """Stream events. `bill` runs just before the last frame, so a client that has read the whole
        stream always finds its usage in the ledger (and a cut stream is never billed)."""
        frames = [(f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n" for name, data in events]
        if done_marker:
            frames.append("data: [DONE]\n\n")
        self._send_frames([frame.encode() for frame in frames], "text/event-stream; charset=utf-8", faults=faults,
                          headers={"cache-control": "no-cache", **headers}, bill=bill, slow_before=slow_before)

    def _send_frames(
        self, frames: list[bytes], content_type: str, *, faults: list[Fault], headers: dict[str, str],
        bill: Callable[[], None], slow_before: int = 1,
    ) -> None:
        """Chunked frames (SSE or AWS event-stream) with the scripted slow first token and cut stream."""
        slow = next((f for f in faults if f.kind == "slow"), None)
        cut = next((f for f in faults if f.kind == "cut"), None)
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        for index, frame in enumerate(frames):
            if cut is not None and index >= cut.after_events:
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if slow is not None and index == slow_before:  # by default after the first (metadata) event
                time.sleep(slow.delay_s)
            if index == len(frames) - 1:
                bill()
            self._write_chunk(frame)
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _fail(self, fault: Fault, provider: str) -> None:
        body = _ERROR_BODIES.get(provider, wire_openai.error_body)(fault.status)
        headers = {"x-should-retry": "true"} if fault.status in (429, 500, 503, 529) else {}
        if fault.status in (429, 503, 529):
            headers["retry-after-ms"] = str(int(fault.retry_after_s * 1000))
            headers["retry-after"] = str(max(1, math.ceil(fault.retry_after_s)))
        self.server.provider.count_failure(fault.status)
        self._send_json(fault.status, body, headers)

    def _faults(self, provider: str, model: str) -> list[Fault]:
        faults = self.server.provider.faults.take(provider, model)
        header = self.headers.get("x-llmsight-fault")
        if header:
            parsed = Fault.from_header(header)
            if parsed is not None and not any(f.kind == parsed.kind for f in faults):
                faults.append(parsed)
        return faults

    def _api_key(self) -> str:
        """The key the request was made with: OpenAI-style bearer token or Anthropic's x-api-key."""
        bearer = self.headers.get("authorization", "")
        return self.headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else "")

    def _bill(self, entry: Billed) -> None:
        entry.api_key = self._api_key()
        self.server.provider.ledger.add(entry)

    # --- routes ---
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path.startswith(_BATCH_PREFIXES):
            self._batches("POST", path)
        elif path.startswith("/mistral/"):  # Mistral's OpenAI-shaped API under its own prefix
            self._mistral(path)
        elif path.startswith("/model/"):  # Bedrock runtime: /model/{modelId}/{action}
            self._bedrock(path)
        elif ":" in path.rsplit("/", 1)[-1]:  # Gemini / Vertex: /v1beta/models/{model}:{method}
            self._gemini(path)
        elif path.endswith("/chat/completions"):
            self._chat()
        elif path.endswith("/responses"):
            self._responses()
        elif path.endswith("/embeddings"):
            self._embeddings()
        elif path.endswith("/messages"):
            self._messages()
        else:
            self._read_json()
            self._send_json(404, {"error": {"message": f"no route for {path}", "type": "invalid_request_error"}})

    def do_GET(self) -> None:  # noqa: N802
        path, _, query = self.path.partition("?")
        if path == "/healthz":
            self._send_json(200, {"ok": True})
        elif path.startswith(_BATCH_PREFIXES):
            self._batches("GET", path)
        elif path.startswith("/v1/organization/"):
            self._admin("openai", path, query)
        elif path.startswith("/v1/organizations/"):
            self._admin("anthropic", path, query)
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def _admin(self, provider: str, path: str, query_string: str) -> None:
        """The admin APIs (llmsight/testing/admin.py): usage and cost reports and key lists from the ledger."""
        from urllib.parse import parse_qs

        server = self.server.provider
        admin = server.admin
        query = parse_qs(query_string)
        entries = server.ledger.entries()
        api_keys = list(dict.fromkeys(e.api_key for e in entries if e.provider == provider and e.api_key))
        faults = self._faults(f"{provider}-admin", "")
        try:
            if provider == "anthropic" and not self.headers.get("anthropic-version"):
                raise AdminError(400, "anthropic-version header is required")
            admin.authenticate(provider, self._api_key(), api_keys)
            server.count_admin_request()
            if self._status_fault(faults, provider):
                return
            self._delay_first_token(faults)  # a slow fault: a slow report
            now = int(time.time())
            routes: dict[str, Callable[[], dict[str, Any]]] = {
                "/v1/organization/usage/completions": lambda: admin.openai_usage(query, entries, now),
                "/v1/organization/costs": lambda: admin.openai_costs(query, entries, now),
                "/v1/organization/projects": admin.openai_projects,
                "/v1/organizations/usage_report/messages": lambda: admin.anthropic_usage(query, entries, now),
                "/v1/organizations/cost_report": lambda: admin.anthropic_costs(query, entries, now),
                "/v1/organizations/api_keys": lambda: admin.anthropic_api_keys(query, api_keys),
            }
            route = routes.get(path)
            if route is None and path.startswith("/v1/organization/projects/") and path.endswith("/api_keys"):
                def route() -> dict[str, Any]:
                    return admin.openai_api_keys(query, api_keys)
            if route is None:
                raise AdminError(404, f"no route for {path}", "not_found_error")
            payload = route()
            if path in admin.config.malformed:
                payload = malform(payload)
        except AdminError as exc:
            body = (wire_anthropic.error_body(exc.status) if provider == "anthropic" else wire_openai.error_body(exc.status))
            if provider == "anthropic":
                body["error"] = {"type": exc.kind, "message": exc.message}
            else:
                body["error"] = {**body.get("error", {}), "message": exc.message, "type": exc.kind}
            self._send_json(exc.status, body)
            return
        data = dumps(payload)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply_tokens(self) -> int | None:
        """`x-llmsight-reply-tokens: N` asks for an N-token reply (benchmarks want long streams)."""
        value = self.headers.get("x-llmsight-reply-tokens", "")
        return min(int(value), 100_000) if value.isdigit() else None

    def _status_fault(self, faults: list[Fault], provider: str) -> bool:
        status = next((f for f in faults if f.kind == "status"), None)
        if status is None:
            return False
        self._fail(status, provider)
        return True

    def _openai_reply(self, *, responses_api: bool) -> tuple[wire_openai.OpenAIReply, dict[str, Any], list[Fault]] | None:
        """Read a chat/responses request and compute its reply; None when the request was already
        answered (bad body, scripted status fault)."""
        body = self._read_json()
        if body is None:
            return None
        provider = self.server.provider
        faults = self._faults("openai", body.get("model", ""))
        if self._status_fault(faults, "openai"):
            return None
        reply = wire_openai.OpenAIReply(body, provider.cache, provider.seed, provider.next_id(),
                                        responses_api=responses_api, reply_tokens=self._reply_tokens())
        return reply, body, faults

    def _chat(self) -> None:
        request = self._openai_reply(responses_api=False)
        if request is None:
            return
        reply, body, faults = request
        headers = {"x-request-id": f"req_{reply.request_id}", "openai-processing-ms": "1"}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_sse(
                reply.chat_chunks(include_usage), done_marker=True, faults=faults, headers=headers,
                bill=lambda: self._bill(reply.billed("chat.completions", streamed=True)),
            )
        else:
            self._delay_first_token(faults)
            self._bill(reply.billed("chat.completions", streamed=False))  # before the client can see it
            self._send_json(200, reply.chat_completion(), headers)

    def _responses(self) -> None:
        request = self._openai_reply(responses_api=True)
        if request is None:
            return
        reply, body, faults = request
        headers = {"x-request-id": f"req_{reply.request_id}"}
        if body.get("stream"):
            self._send_sse(
                reply.response_events(), done_marker=False, faults=faults, headers=headers,
                bill=lambda: self._bill(reply.billed("responses", streamed=True)),
            )
        else:
            self._delay_first_token(faults)
            self._bill(reply.billed("responses", streamed=False))
            self._send_json(200, reply.response(), headers)

    def _embeddings(self) -> None:
        body = self._read_json()
        if body is None:
            return
        faults = self._faults("openai", body.get("model", ""))
        if self._status_fault(faults, "openai"):
            return
        payload, billed = wire_openai.embeddings(body)
        self._bill(billed)
        self._send_json(200, payload)

    def _messages(self) -> None:
        body = self._read_json()
        if body is None:
            return
        provider = self.server.provider
        faults = self._faults("anthropic", body.get("model", ""))
        if self._status_fault(faults, "anthropic"):
            return
        reply = wire_anthropic.AnthropicReply(body, provider.cache, provider.seed, provider.next_id(),
                                              reply_tokens=self._reply_tokens())
        headers = {"request-id": f"req_{reply.request_id}"}
        if body.get("stream"):
            self._send_sse(
                reply.events(), done_marker=False, faults=faults, headers=headers,
                bill=lambda: self._bill(reply.billed(streamed=True)),
            )
        else:
            self._delay_first_token(faults)
            self._bill(reply.billed(streamed=False))
            self._send_json(200, reply.message(), headers)

    def _gemini(self, path: str) -> None:
        body = self._read_json()
        if body is None:
            return
        provider = self.server.provider
        model = wire_gemini.model_from_path(path)
        method = path.rsplit(":", 1)[-1]
        faults = self._faults("gemini", model)
        if self._status_fault(faults, "gemini"):
            return
        if method in ("batchEmbedContents", "predict"):
            payload, billed = wire_gemini.embeddings(body, model, vertex_predict=method == "predict")
            self._bill(billed)
            self._send_json(200, payload)
            return
        if method not in ("generateContent", "streamGenerateContent"):
            self._send_json(404, wire_gemini.error_body(404))
            return
        reply = wire_gemini.GeminiReply(body, model, provider.cache, provider.seed, provider.next_id(),
                                        reply_tokens=self._reply_tokens())
        if method == "streamGenerateContent":
            # Gemini's first chunk already carries content: a slow first token delays the first chunk.
            self._send_sse(reply.chunks(), done_marker=False, faults=faults, headers={},
                           bill=lambda: self._bill(reply.billed(streamed=True)), slow_before=0)
        else:
            self._delay_first_token(faults)
            self._bill(reply.billed(streamed=False))
            self._send_json(200, reply.response())

    def _mistral(self, path: str) -> None:
        body = self._read_json()
        if body is None:
            return
        provider = self.server.provider
        faults = self._faults("mistral", body.get("model", ""))
        if self._status_fault(faults, "mistral"):
            return
        if path.endswith("/embeddings"):
            payload, billed = wire_mistral.embeddings(body, provider.next_id())
            self._bill(billed)
            self._send_json(200, payload)
            return
        if not path.endswith("/chat/completions"):
            self._send_json(404, wire_mistral.error_body(404))
            return
        reply = wire_openai.OpenAIReply(body, provider.cache, provider.seed, provider.next_id(), responses_api=False,
                                        reply_tokens=self._reply_tokens())
        if body.get("stream"):
            self._send_sse(wire_mistral.chunks(reply), done_marker=True, faults=faults, headers={},
                           bill=lambda: self._bill(wire_mistral.billed(reply, streamed=True)))
        else:
            self._delay_first_token(faults)
            self._bill(wire_mistral.billed(reply, streamed=False))
            self._send_json(200, wire_mistral.completion(reply))

    def _bedrock(self, path: str) -> None:
        body = self._read_json()
        if body is None:
            return
        provider = self.server.provider
        model, action = wire_bedrock.parse_path(path)
        faults = self._faults("bedrock", model)
        status = next((f for f in faults if f.kind == "status"), None)
        if status is not None:
            payload, headers = wire_bedrock.error(status.status)
            provider.count_failure(status.status)
            self._send_json(status.status, payload, headers)
            return
        request_id = provider.next_id()
        headers = {"x-amzn-RequestId": request_id}
        if action in ("converse", "converse-stream"):
            reply = wire_bedrock.ConverseReply(body, model, provider.cache, provider.seed, request_id,
                                               reply_tokens=self._reply_tokens())
            if action == "converse":
                self._delay_first_token(faults)
                self._bill(reply.billed("converse", streamed=False))
                self._send_json(200, reply.converse(), headers)
                return
            frames = [wire_bedrock.event(name, data) for name, data in reply.converse_events()]
            # A slow first token delays the first content frame, after messageStart.
            self._send_frames(frames, wire_bedrock.EVENT_STREAM, faults=faults, headers=headers,
                              bill=lambda: self._bill(reply.billed("converse-stream", streamed=True)))
        elif action in ("invoke", "invoke-with-response-stream"):
            invoke = wire_bedrock.InvokeReply(body, model, provider.cache, provider.seed, request_id)
            if action == "invoke":
                self._delay_first_token(faults)
                self._bill(invoke.billed(streamed=False))
                self._send_json(200, invoke.body(), {**headers, **invoke.headers()})
                return
            frames = [wire_bedrock.chunk_event(data) for data in invoke.chunks()]
            # Anthropic and Nova open with message_start / messageStart; Llama and Mistral with content.
            self._send_frames(frames, wire_bedrock.EVENT_STREAM, faults=faults,
                              headers={**headers, "X-Amzn-Bedrock-Content-Type": "application/json"},
                              bill=lambda: self._bill(invoke.billed(streamed=True)),
                              slow_before=1 if invoke.vendor in ("anthropic", "amazon") else 0)
        else:
            payload, error_headers = wire_bedrock.error(404)
            self._send_json(404, payload, error_headers)

    # --- batch APIs ---
    def _read_raw(self) -> bytes | None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(413, {"error": {"message": "request too large"}})
            return None
        return self.rfile.read(length) if length else b""

    def _send_bytes(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _batches(self, method: str, path: str) -> None:
        provider = self.server.provider
        anthropic = path.startswith("/v1/messages/batches")
        try:
            if anthropic:
                self._anthropic_batches(method, path)
            else:
                self._openai_batches(method, path)
        except wire_batches.BatchError as exc:
            body = (wire_anthropic.error_body(exc.status) if anthropic else wire_openai.error_body(exc.status))
            (body["error"] if "error" in body else body)["message"] = str(exc)
            provider.count_failure(exc.status)
            self._send_json(exc.status, body)

    def _openai_batches(self, method: str, path: str) -> None:
        provider = self.server.provider
        service = provider.batches
        parts = path.strip("/").split("/")  # v1, files|batches, [id], [content|cancel]
        if method == "POST" and parts == ["v1", "files"]:
            raw = self._read_raw()
            if raw is not None:
                self._send_json(200, service.upload(provider.next_id(), self.headers.get("content-type", ""), raw))
            return
        if method == "POST" and parts == ["v1", "batches"]:
            body = self._read_json()
            if body is not None:
                self._send_json(200, service.create_openai(provider.next_id(), body, self._api_key()))
            return
        if method == "POST" and len(parts) == 4 and parts[1] == "batches" and parts[3] == "cancel":
            self._read_raw()
            self._send_json(200, service.cancel_openai(parts[2]))
            return
        if method == "GET" and len(parts) == 3 and parts[1] == "files":
            self._send_json(200, service.file(parts[2]).as_object())
        elif method == "GET" and len(parts) == 4 and parts[1] == "files" and parts[3] == "content":
            self._send_bytes(service.file(parts[2]).data, "application/octet-stream")
        elif method == "GET" and len(parts) == 3 and parts[1] == "batches":
            self._send_json(200, service.retrieve_openai(parts[2], self._run_openai))
        elif method == "GET" and parts == ["v1", "batches"]:
            query = dict(q.split("=", 1) for q in self.path.partition("?")[2].split("&") if "=" in q)
            limit = int(query["limit"]) if query.get("limit", "").isdigit() else 20
            self._send_json(200, service.list_openai(limit, query.get("after")))
        else:
            raise wire_batches.BatchError(404, f"no route for {method} {path}")

    def _run_openai(self, batch: wire_batches.OpenAIBatch) -> None:
        provider = self.server.provider
        wire_batches.run_openai_batch(batch, provider.batches, provider.cache, provider.seed, provider.ledger,
                                      provider.next_id)

    def _run_anthropic(self, batch: wire_batches.AnthropicBatch) -> list[dict[str, Any]]:
        provider = self.server.provider
        return wire_batches.run_anthropic_batch(batch, provider.cache, provider.seed, provider.ledger, provider.next_id)

    def _anthropic_batches(self, method: str, path: str) -> None:
        provider = self.server.provider
        service = provider.batches
        parts = path.strip("/").split("/")  # v1, messages, batches, [id], [results|cancel]
        if method == "POST" and len(parts) == 3:
            body = self._read_json()
            if body is not None:
                batch = service.create_anthropic(provider.next_id(), body, self._api_key())
                self._send_json(200, batch.as_object(provider.base_url))
            return
        if method == "POST" and len(parts) == 5 and parts[4] == "cancel":
            self._read_raw()
            self._send_json(200, service.cancel_anthropic(parts[3]).as_object(provider.base_url))
            return
        if method == "GET" and len(parts) == 3:
            data = [b.as_object(provider.base_url) for b in service.list_anthropic()]
            self._send_json(200, {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})
        elif method == "GET" and len(parts) == 4:
            self._send_json(200, service.advance_anthropic(parts[3], self._run_anthropic).as_object(provider.base_url))
        elif method == "GET" and len(parts) == 5 and parts[4] == "results":
            batch = service.anthropic_batch(parts[3])
            if batch.status != "ended":
                raise wire_batches.BatchError(404, f"results of {batch.id} are not available yet")
            self._send_bytes(wire_batches.jsonl(batch.results), "application/binary")
        else:
            raise wire_batches.BatchError(404, f"no route for {method} {path}")

    @staticmethod
    def _delay_first_token(faults: list[Fault]) -> None:
        slow = next((f for f in faults if f.kind == "slow"), None)
        if slow is not None:
            time.sleep(slow.delay_s)


_BATCH_PREFIXES = ("/v1/files", "/v1/batches", "/v1/messages/batches")


# A prices file for the collector that bills calls to this local provider at the list price of the provider each
# span names: the collector prices no local or self-hosted server unless the prices file declares it.
PRICES_YAML = "servers:\n  - address: 127.0.0.1\n"
# The vendor this local server poses as for OpenAI-compatible clients (the `provider_hosts` setting): undeclared,
# a client pointed at 127.0.0.1 is, rightly, `self_hosted`. The other SDKs name their provider themselves.
PROVIDER_HOSTS = {"127.0.0.1": "openai"}


class ProviderServer:
    """The local provider: start/stop, addresses, faults, prompt cache and billing ledger."""

    def __init__(self, *, seed: int = 0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.seed = seed
        self.faults = FaultPlan()
        self.cache = PromptCache()
        self.ledger = Ledger()
        self.batches = wire_batches.BatchService()
        self.admin = AdminApi(AdminConfig())
        self.admin_requests = 0  # authenticated admin API requests answered (faults included)
        self.failures: dict[int, int] = {}
        self._failures_lock = threading.Lock()
        self._requests = 0
        self._httpd = _Server((host, port), _Handler)
        self._httpd.provider = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def bedrock_endpoint_url(self) -> str:
        """For `boto3.client("bedrock-runtime", endpoint_url=...)` (any region and dummy credentials)."""
        return self.base_url

    @property
    def mistral_server_url(self) -> str:
        """For `Mistral(server_url=...)`."""
        return f"{self.base_url}/mistral"

    @property
    def gemini_base_url(self) -> str:
        """For `genai.Client(http_options={"base_url": ...})`, Gemini API and Vertex AI alike."""
        return self.base_url

    def next_id(self) -> str:
        """Deterministic response ids: the n-th request after a reset always gets the same id."""
        with self._failures_lock:
            self._requests += 1
            return hashlib.sha256(f"{self.seed}:{self._requests}".encode()).hexdigest()[:24]

    def count_admin_request(self) -> None:
        with self._failures_lock:
            self.admin_requests += 1

    def count_failure(self, status: int) -> None:
        with self._failures_lock:
            self.failures[status] = self.failures.get(status, 0) + 1

    def reset(self) -> None:
        self.faults.clear()
        self.cache.clear()
        self.ledger.clear()
        self.batches.clear()
        self.admin = AdminApi(AdminConfig())
        with self._failures_lock:
            self.admin_requests = 0
            self.failures.clear()
            self._requests = 0

    def start(self) -> ProviderServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="llmsight-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
