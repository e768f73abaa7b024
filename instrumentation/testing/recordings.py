"""Replay real recorded provider HTTP exchanges (VCR cassettes) to the real SDKs.

    client = openai.OpenAI(api_key="x", base_url="http://localhost:5002/v1",
                           http_client=httpx2.Client(transport=replay_transport("openai-chat-stream.yaml")))

The cassettes ship inside the package (`llmsight/testing/recordings/`, with their upstream license
notice in its README), or are read from wherever `LLMSIGHT_RECORDINGS_DIR` points. Bodies and headers are served byte for byte as recorded
(gzip bodies keep their `content-encoding`, so the SDK decodes them as it would in production).
"""

from __future__ import annotations

import gzip
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_PACKAGED = Path(__file__).resolve().parent / "recordings"


def recordings_dir() -> Path:
    configured = os.environ.get("LLMSIGHT_RECORDINGS_DIR")
    return Path(configured) if configured else _PACKAGED


@dataclass(frozen=True, slots=True)
class RecordedExchange:
    method: str
    uri: str
    request_body: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def decoded_body(self) -> bytes:
        """The body as the SDK sees it after content decoding."""
        encoding = next((v for k, v in self.headers if k.lower() == "content-encoding"), "")
        if "gzip" in encoding:
            return gzip.decompress(self.body)
        return self.body


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def load_cassette(name_or_path: str | Path) -> list[RecordedExchange]:
    path = Path(name_or_path)
    if not path.is_absolute() and not path.exists():
        path = recordings_dir() / path
    with path.open("rb") as handle:
        document = yaml.safe_load(handle)  # `!!binary` bodies load as bytes
    exchanges = []
    for interaction in document["interactions"]:
        request, response = interaction["request"], interaction["response"]
        headers = [
            (name, str(value))
            for name, values in (response.get("headers") or {}).items()
            for value in (values if isinstance(values, list) else [values])
        ]
        exchanges.append(
            RecordedExchange(
                method=request["method"].upper(),
                uri=request["uri"],
                request_body=_as_bytes(request.get("body")),
                status=int(response["status"]["code"]),
                headers=headers,
                body=_as_bytes((response.get("body") or {}).get("string")),
            )
        )
    return exchanges


class _Replayer:
    """Answers requests with the recorded responses, in recorded order (cycling when exhausted)."""

    def __init__(self, exchanges: list[RecordedExchange]) -> None:
        self.exchanges = exchanges
        self.requests: list[Any] = []
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> RecordedExchange:
        with self._lock:
            exchange = self.exchanges[self._next % len(self.exchanges)]
            self._next += 1
            return exchange


def replay_transport(name_or_path: str | Path, *, only_status: int | None = None, skip: int = 0) -> Any:
    """An `httpx2.MockTransport` (serves sync and async clients) replaying one cassette.

    `only_status` keeps just the exchanges with that status (e.g. 200 to drop recorded 404s);
    `skip` starts further into the cassette. `transport.replayer.requests` lists what the SDK sent.
    """
    import httpx2

    exchanges = load_cassette(name_or_path)
    if only_status is not None:
        exchanges = [e for e in exchanges if e.status == only_status]
    replayer = _Replayer(exchanges[skip:])

    def handler(request: Any) -> Any:
        replayer.requests.append(request)
        exchange = replayer.take()
        # Drop transfer framing headers: the mock transport hands the body over whole.
        headers = [(k, v) for k, v in exchange.headers if k.lower() not in ("transfer-encoding", "content-length")]
        return httpx2.Response(exchange.status, headers=headers, content=exchange.body)

    transport = httpx2.MockTransport(handler)
    transport.replayer = replayer  # type: ignore[attr-defined]
    return transport
