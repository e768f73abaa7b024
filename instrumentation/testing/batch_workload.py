"""Batch workloads for tests and the demo: one OpenAI Batch and one Anthropic Message Batch through the real SDKs,
with prompt caching (a long shared system prompt), reasoning (OpenAI) and a few requests the provider refuses.

    batch = submit_openai_batch(client, requests=20, errored=2)   # created, not yet complete
    batch = wait_openai_batch(client, batch.id)                     # polled until completed
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

SYSTEM = "You label support tickets with one of: billing, bug, feature, other. Answer with the label only. " * 60
OPENAI_MODEL = "gpt-5-mini"  # a reasoning model: its usage has reasoning tokens
ANTHROPIC_MODEL = "claude-sonnet-4-5"
POLL_LIMIT = 50  # retrieves before giving up (the local provider needs 3)


def openai_lines(requests: int, errored: int, model: str = OPENAI_MODEL) -> bytes:
    """A batch input file: `requests` chat requests, the last `errored` of them without `messages` (refused)."""
    lines = []
    for index in range(requests):
        body: dict[str, Any] = {"model": model}
        if index < requests - errored:
            body["messages"] = [{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": f"Ticket {index}: the invoice total looks wrong."}]
        lines.append(json.dumps({"custom_id": f"ticket-{index}", "method": "POST", "url": "/v1/chat/completions",
                                 "body": body}))
    return ("\n".join(lines) + "\n").encode()


def submit_openai_batch(client: Any, requests: int = 20, errored: int = 2, model: str = OPENAI_MODEL) -> Any:
    upload = client.files.create(file=("tickets.jsonl", io.BytesIO(openai_lines(requests, errored, model))),
                                 purpose="batch")
    return client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")


def wait_openai_batch(client: Any, batch_id: str) -> Any:
    for _ in range(POLL_LIMIT):
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.01)
    raise TimeoutError(f"batch {batch_id} did not complete")


def anthropic_requests(requests: int, errored: int, model: str = ANTHROPIC_MODEL) -> list[dict[str, Any]]:
    """`requests` message requests sharing a cached system prompt; the last `errored` lack `max_tokens` (refused)."""
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    out = []
    for index in range(requests):
        params: dict[str, Any] = {"model": model, "system": system,
                                  "messages": [{"role": "user", "content": f"Ticket {index}: the app crashes."}]}
        if index < requests - errored:
            params["max_tokens"] = 200
        out.append({"custom_id": f"ticket-{index}", "params": params})
    return out


def submit_anthropic_batch(client: Any, requests: int = 20, errored: int = 2, model: str = ANTHROPIC_MODEL) -> Any:
    return client.messages.batches.create(requests=anthropic_requests(requests, errored, model))


def wait_anthropic_batch(client: Any, batch_id: str) -> Any:
    for _ in range(POLL_LIMIT):
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.01)
    raise TimeoutError(f"message batch {batch_id} did not end")
