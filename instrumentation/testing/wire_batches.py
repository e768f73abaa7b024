"""Batch APIs for the local provider: OpenAI files + batches, Anthropic Message Batches.

Realistic life cycles, advanced one step per retrieve so a client's polling loop sees every state:
- OpenAI: `validating` → `in_progress` → `finalizing` → `completed` (requests run at the move to `completed`,
  which writes the output file, and an error file when some requests failed); `cancel` → `cancelling` →
  `cancelled`.
- Anthropic: `in_progress` (one retrieve) → `ended` (requests run then; `results_url` appears); `cancel` →
  `canceling` → `ended` with every request `canceled`.

Every request is answered by the same reply machinery as the synchronous endpoints (prompt cache, reasoning,
deterministic words) and billed to the ledger with service tier `batch`. A request the real API would refuse
fails inside the batch: an OpenAI body without `messages` / `input`, an Anthropic request without `max_tokens`.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llmsight.errors import LLMSightError
from llmsight.testing import wire_openai
from llmsight.testing.simulation import Billed, Ledger, PromptCache
from llmsight.testing.wire_anthropic import AnthropicReply

_OPENAI_STEPS = ("validating", "in_progress", "finalizing", "completed")
_OPENAI_ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings")


class BatchError(LLMSightError):
    """A request the batch API refuses: (HTTP status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def as_object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed", "expires_at": None,
                "status_details": None}


@dataclass
class OpenAIBatch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    created_at: int
    status: str = "validating"
    times: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    usage: dict[str, Any] | None = None
    api_key: str = ""  # the submitter's: its requests are billed to it

    def as_object(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "errors": None,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window, "status": self.status,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id, "created_at": self.created_at,
            "in_progress_at": self.times.get("in_progress"), "expires_at": self.created_at + 86_400,
            "finalizing_at": self.times.get("finalizing"), "completed_at": self.times.get("completed"),
            "failed_at": None, "expired_at": None, "cancelling_at": self.times.get("cancelling"),
            "cancelled_at": self.times.get("cancelled"), "request_counts": self.counts, "metadata": self.metadata,
            "usage": self.usage,
        }


@dataclass
class AnthropicBatch:
    id: str
    requests: list[dict[str, Any]]
    created_at: datetime
    status: str = "in_progress"
    retrieves: int = 0
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    api_key: str = ""  # the submitter's: its requests are billed to it

    def counts(self) -> dict[str, int]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if self.status != "ended":
            counts["processing"] = len(self.requests)
        for result in self.results:
            counts[result["result"]["type"]] += 1
        return counts

    def as_object(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id, "type": "message_batch", "processing_status": self.status,
            "request_counts": self.counts(), "created_at": _rfc3339(self.created_at),
            "expires_at": _rfc3339(datetime.fromtimestamp(self.created_at.timestamp() + 86_400, tz=timezone.utc)),
            "ended_at": _rfc3339(self.ended_at) if self.ended_at else None,
            "cancel_initiated_at": _rfc3339(self.cancel_initiated_at) if self.cancel_initiated_at else None,
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if self.status == "ended" else None,
        }


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_upload(content_type: str, body: bytes) -> tuple[str, str, bytes]:
    """(purpose, filename, file bytes) of a multipart/form-data `files.create` upload."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise BatchError(400, "expected a multipart/form-data upload")
    purpose, filename, data = "", "upload.jsonl", b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if name == "purpose":
            purpose = payload.decode()
        elif name == "file":
            filename = part.get_filename() or filename
            data = payload
    if not data:
        raise BatchError(400, "no file in the upload")
    return purpose, filename, data


class BatchService:
    """Files and batches of both providers, thread-safe. Ids come from the server's deterministic counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self.openai: dict[str, OpenAIBatch] = {}
        self.anthropic: dict[str, AnthropicBatch] = {}

    def clear(self) -> None:
        with self._lock:
            self.files.clear()
            self.openai.clear()
            self.anthropic.clear()

    # --- OpenAI files ---
    def upload(self, file_id: str, content_type: str, body: bytes) -> dict[str, Any]:
        purpose, filename, data = parse_upload(content_type, body)
        stored = StoredFile(f"file-{file_id}", filename, purpose, data)
        with self._lock:
            self.files[stored.id] = stored
        return stored.as_object()

    def file(self, file_id: str) -> StoredFile:
        with self._lock:
            found = self.files.get(file_id)
        if found is None:
            raise BatchError(404, f"No such File object: {file_id}")
        return found

    # --- OpenAI batches ---
    def create_openai(self, batch_id: str, body: dict[str, Any], api_key: str = "") -> dict[str, Any]:
        endpoint = body.get("endpoint")
        if endpoint not in _OPENAI_ENDPOINTS:
            raise BatchError(400, f"unsupported endpoint {endpoint!r}")
        input_file = self.file(str(body.get("input_file_id")))
        lines = [line for line in input_file.data.splitlines() if line.strip()]
        batch = OpenAIBatch(f"batch_{batch_id}", endpoint, input_file.id, str(body.get("completion_window", "24h")),
                            body.get("metadata"), int(time.time()), api_key=api_key)
        batch.counts["total"] = len(lines)
        with self._lock:
            self.openai[batch.id] = batch
        return batch.as_object()

    def openai_batch(self, batch_id: str) -> OpenAIBatch:
        with self._lock:
            found = self.openai.get(batch_id)
        if found is None:
            raise BatchError(404, f"No such Batch object: {batch_id}")
        return found

    def retrieve_openai(self, batch_id: str, run: Any) -> dict[str, Any]:
        """One step of the life cycle per retrieve; `run(batch)` processes the requests on completion."""
        batch = self.openai_batch(batch_id)
        with self._lock:
            now = int(time.time())
            if batch.status == "cancelling":
                batch.status = "cancelled"
                batch.times["cancelled"] = now
                batch.counts["failed"] = batch.counts["total"]
            elif batch.status in _OPENAI_STEPS[:-1]:
                batch.status = _OPENAI_STEPS[_OPENAI_STEPS.index(batch.status) + 1]
                if batch.status == "completed":
                    run(batch)
                batch.times[batch.status] = now
        return batch.as_object()

    def cancel_openai(self, batch_id: str) -> dict[str, Any]:
        batch = self.openai_batch(batch_id)
        with self._lock:
            if batch.status in ("validating", "in_progress"):
                batch.status = "cancelling"
                batch.times["cancelling"] = int(time.time())
        return batch.as_object()

    def list_openai(self, limit: int, after: str | None) -> dict[str, Any]:
        with self._lock:
            batches = sorted(self.openai.values(), key=lambda b: (b.created_at, b.id), reverse=True)
        if after:
            ids = [b.id for b in batches]
            batches = batches[ids.index(after) + 1:] if after in ids else []
        page = batches[:limit]
        data = [b.as_object() for b in page]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": len(batches) > limit}

    def store_file(self, file_id: str, filename: str, data: bytes) -> str:
        stored = StoredFile(file_id, filename, "batch_output", data)
        self.files[stored.id] = stored  # under the caller's lock
        return stored.id

    # --- Anthropic message batches ---
    def create_anthropic(self, batch_id: str, body: dict[str, Any], api_key: str = "") -> AnthropicBatch:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise BatchError(400, "requests: a non-empty list is required")
        ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            raise BatchError(400, "every request needs a unique custom_id")
        batch = AnthropicBatch(f"msgbatch_{batch_id}", requests, datetime.now(timezone.utc), api_key=api_key)
        with self._lock:
            self.anthropic[batch.id] = batch
        return batch

    def anthropic_batch(self, batch_id: str) -> AnthropicBatch:
        with self._lock:
            found = self.anthropic.get(batch_id)
        if found is None:
            raise BatchError(404, f"message batch {batch_id} not found")
        return found

    def advance_anthropic(self, batch_id: str, run: Any) -> AnthropicBatch:
        batch = self.anthropic_batch(batch_id)
        with self._lock:
            batch.retrieves += 1
            if batch.status == "canceling":
                batch.results = [{"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in batch.requests]
                batch.status, batch.ended_at = "ended", datetime.now(timezone.utc)
            elif batch.status == "in_progress" and batch.retrieves >= 2:
                batch.results = run(batch)
                batch.status, batch.ended_at = "ended", datetime.now(timezone.utc)
        return batch

    def cancel_anthropic(self, batch_id: str) -> AnthropicBatch:
        batch = self.anthropic_batch(batch_id)
        with self._lock:
            if batch.status == "in_progress":
                batch.status = "canceling"
                batch.cancel_initiated_at = datetime.now(timezone.utc)
        return batch

    def list_anthropic(self) -> list[AnthropicBatch]:
        with self._lock:
            return sorted(self.anthropic.values(), key=lambda b: (b.created_at, b.id), reverse=True)


# --- running the requests of a batch ---

def run_openai_batch(batch: OpenAIBatch, service: BatchService, cache: PromptCache, seed: int, ledger: Ledger,
                     next_id: Any) -> None:
    """Answer every request line; write the output (and error) file; fill counts and usage. Caller holds the lock."""
    source = service.files[batch.input_file_id].data
    outputs: list[bytes] = []
    errors: list[bytes] = []
    totals = {"input": 0, "cached": 0, "output": 0, "reasoning": 0}
    for raw in source.splitlines():
        if not raw.strip():
            continue
        request_id = next_id()
        try:
            line = json.loads(raw)
            custom_id = line["custom_id"]
            body = line["body"]
        except (ValueError, KeyError, TypeError):
            errors.append(_openai_line(request_id, None, 400, {"error": {"message": "invalid request line",
                                                                         "type": "invalid_request_error"}}))
            continue
        status, payload, billed = _answer_openai(batch.endpoint, body, cache, seed, request_id)
        if billed is None:
            errors.append(_openai_line(request_id, custom_id, status, payload))
            continue
        billed.api_key = batch.api_key
        ledger.add(billed)
        totals["input"] += billed.input_tokens
        totals["cached"] += billed.cache_read_tokens
        totals["output"] += billed.output_tokens
        totals["reasoning"] += billed.reasoning_tokens
        outputs.append(_openai_line(request_id, custom_id, 200, payload))
    batch.counts.update(completed=len(outputs), failed=len(errors))
    batch.usage = {
        "input_tokens": totals["input"], "input_tokens_details": {"cached_tokens": totals["cached"]},
        "output_tokens": totals["output"], "output_tokens_details": {"reasoning_tokens": totals["reasoning"]},
        "total_tokens": totals["input"] + totals["output"],
    }
    suffix = batch.id.removeprefix("batch_")
    if outputs:
        batch.output_file_id = service.store_file(f"file-out-{suffix}", f"{batch.id}_output.jsonl", b"".join(outputs))
    if errors:
        batch.error_file_id = service.store_file(f"file-err-{suffix}", f"{batch.id}_error.jsonl", b"".join(errors))


def _answer_openai(endpoint: str, body: Any, cache: PromptCache, seed: int,
                   request_id: str) -> tuple[int, dict[str, Any], Billed | None]:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return 400, _openai_error("you must provide a model parameter"), None
    if endpoint == "/v1/embeddings":
        if not body.get("input"):
            return 400, _openai_error("'input' is a required property"), None
        payload, billed = wire_openai.embeddings(body)
        billed.service_tier = "batch"
        return 200, payload, billed
    responses_api = endpoint == "/v1/responses"
    if not body.get("input" if responses_api else "messages"):
        return 400, _openai_error(f"'{'input' if responses_api else 'messages'}' is a required property"), None
    reply = wire_openai.OpenAIReply({**body, "service_tier": "default"}, cache, seed, request_id,
                                    responses_api=responses_api)
    billed = reply.billed("batch" + endpoint.removeprefix("/v1"), streamed=False)
    billed.service_tier = "batch"
    return 200, reply.response() if responses_api else reply.chat_completion(), billed


def _openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def _openai_line(request_id: str, custom_id: str | None, status: int, body: dict[str, Any]) -> bytes:
    line = {"id": f"batch_req_{request_id}", "custom_id": custom_id,
            "response": {"status_code": status, "request_id": f"req_{request_id}", "body": body}, "error": None}
    return json.dumps(line).encode() + b"\n"


def run_anthropic_batch(batch: AnthropicBatch, cache: PromptCache, seed: int, ledger: Ledger,
                        next_id: Any) -> list[dict[str, Any]]:
    results = []
    for request in batch.requests:
        params = request.get("params")
        request_id = next_id()
        if not isinstance(params, dict) or not isinstance(params.get("max_tokens"), int):
            error = {"type": "error", "request_id": f"req_{request_id}",
                     "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}}
            results.append({"custom_id": request["custom_id"], "result": {"type": "errored", "error": error}})
            continue
        reply = AnthropicReply(params, cache, seed, request_id)
        reply.service_tier = "batch"
        billed = reply.billed(streamed=False)
        billed.api_key = batch.api_key
        ledger.add(billed)
        results.append({"custom_id": request["custom_id"], "result": {"type": "succeeded", "message": reply.message()}})
    return results


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)
