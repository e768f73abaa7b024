"""Amazon Bedrock runtime wire format for the local provider: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream (Anthropic, Amazon Nova, Meta Llama and Mistral bodies).

Streams use the AWS event-stream binary framing (application/vnd.amazon.eventstream), written here from
the format's specification: each message is a 12-byte prelude (total length, headers length, CRC32 of
those 8 bytes), typed headers (`:message-type`, `:event-type` or `:exception-type`, `:content-type`),
the JSON payload and a CRC32 of everything before it. botocore's own parser is the client that reads it.

Usage as Bedrock reports it: Converse's `inputTokens` EXCLUDES `cacheReadInputTokens` /
`cacheWriteInputTokens` (`cacheDetails` splits writes by TTL); InvokeModel bodies follow each model
family's own format (Anthropic's exclusive `input_tokens`, Nova's `inputTokens`, Llama's
`prompt_token_count`), the `X-Amzn-Bedrock-*-Token-Count` headers and the last stream chunk's
`amazon-bedrock-invocationMetrics` carry the same exclusive counts. Caching: a `cachePoint` block (Converse,
Nova) or `cache_control` (Anthropic) ends a cacheable prefix of at least 1024 tokens.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from llmsight.testing import wire_anthropic
from llmsight.testing.simulation import (
    Billed,
    PromptCache,
    cached_prompt_reply,
    count_tokens,
    prefix_key,
    reply_length,
    reply_words,
)

EVENT_STREAM = "application/vnd.amazon.eventstream"
BEDROCK_CACHE_MIN_TOKENS = 1024
ERRORS = {
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error."),
    503: ("ServiceUnavailableException", "The service is temporarily unavailable."),
    529: ("ServiceUnavailableException", "The model is overloaded."),
}


# --- AWS event-stream framing ---
def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    return event_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload).encode(),
    )


def parse_path(path: str) -> tuple[str, str]:
    """`/model/us.amazon.nova-pro-v1%3A0/converse-stream` → (`us.amazon.nova-pro-v1:0`, `converse-stream`)."""
    _, _, rest = path.partition("/model/")
    model, _, action = rest.rpartition("/")
    return unquote(model), action


def family(model: str) -> str:
    """The model vendor of a Bedrock model id, region prefix dropped: anthropic, amazon, meta, mistral…"""
    parts = model.split(".")
    if len(parts) > 2 and parts[0] in ("us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"):
        parts = parts[1:]
    return parts[0] if len(parts) > 1 else ""


# --- the reply ---
def _text_parts(blocks: Any) -> list[tuple[Any, str | None]]:
    """Content blocks as (block, cache ttl ending here or None): a cachePoint marks the block before it."""
    parts: list[tuple[Any, str | None]] = []
    for block in blocks or []:
        if isinstance(block, dict) and "cachePoint" in block:
            if parts:
                parts[-1] = (parts[-1][0], (block["cachePoint"] or {}).get("ttl") or "5m")
            continue
        parts.append((block, None))
    return parts


class ConverseReply:
    """Converse / ConverseStream, and Nova's InvokeModel body (the same message shape)."""

    def __init__(self, body: dict[str, Any], model: str, cache: PromptCache, seed: int, request_id: str,
                 *, reply_tokens: int | None = None) -> None:
        self.model = model
        self.request_id = request_id
        parts = _text_parts(body.get("system"))
        tools = (body.get("toolConfig") or {}).get("tools")
        if tools:
            parts = [(tools, None), *parts]
        for message in body.get("messages") or []:
            for block, ttl in _text_parts(message.get("content")):
                parts.append(({"role": message.get("role"), "block": block}, ttl))
        config = body.get("inferenceConfig") or {}
        reply = cached_prompt_reply(parts, cache, "bedrock", model, BEDROCK_CACHE_MIN_TOKENS, seed,
                                    config.get("maxTokens", config.get("max_new_tokens")), reply_tokens)
        self.input_tokens, self.cache_read = reply.input_tokens, reply.cache_read  # input excludes the cache
        self.cache_write_5m, self.cache_write_1h = reply.cache_write_5m, reply.cache_write_1h
        self.truncated, self.words = reply.truncated, reply.words
        self.output_tokens = len(self.words)
        tier = (body.get("serviceTier") or {}).get("type")
        self.service_tier = tier or "default"

    @property
    def stop_reason(self) -> str:
        return "max_tokens" if self.truncated else "end_turn"

    def billed(self, endpoint: str, streamed: bool) -> Billed:
        return Billed(
            provider="aws", endpoint=endpoint, model=self.model, streamed=streamed,
            input_tokens=self.input_tokens + self.cache_read + self.cache_write_5m + self.cache_write_1h,
            cache_read_tokens=self.cache_read, cache_write_5m_tokens=self.cache_write_5m,
            cache_write_1h_tokens=self.cache_write_1h, output_tokens=self.output_tokens,
            service_tier=self.service_tier,
        )

    def usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.cache_read + self.cache_write_5m + self.cache_write_1h + self.output_tokens,
        }
        if self.cache_read or self.cache_write_5m or self.cache_write_1h:
            usage["cacheReadInputTokens"] = self.cache_read
            usage["cacheWriteInputTokens"] = self.cache_write_5m + self.cache_write_1h
            details = [{"ttl": ttl, "inputTokens": n} for ttl, n in (("5m", self.cache_write_5m), ("1h", self.cache_write_1h)) if n]
            if details:
                usage["cacheDetails"] = details
        return usage

    def converse(self) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": " ".join(self.words)}]}},
            "stopReason": self.stop_reason,
            "usage": self.usage(),
            "metrics": {"latencyMs": 1},
            "serviceTier": {"type": self.service_tier},
        }

    def converse_events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "messageStart", {"role": "assistant"}
        for index, word in enumerate(self.words):
            yield "contentBlockDelta", {"delta": {"text": word if index == 0 else " " + word}, "contentBlockIndex": 0}
        yield "contentBlockStop", {"contentBlockIndex": 0}
        yield "messageStop", {"stopReason": self.stop_reason}
        yield "metadata", {"usage": self.usage(), "metrics": {"latencyMs": 1}, "serviceTier": {"type": self.service_tier}}

    # Nova's InvokeModel body: Converse's message shape, its own usage field names.
    def nova_usage(self) -> dict[str, Any]:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.cache_read + self.cache_write_5m + self.cache_write_1h + self.output_tokens,
            "cacheReadInputTokenCount": self.cache_read,
            "cacheWriteInputTokenCount": self.cache_write_5m + self.cache_write_1h,
        }

    def nova_body(self) -> dict[str, Any]:
        return {**self.converse(), "usage": self.nova_usage()}

    def nova_chunks(self) -> Iterator[dict[str, Any]]:
        for name, payload in self.converse_events():
            yield {name: {**payload, "usage": self.nova_usage()} if name == "metadata" else payload}


class PromptReply:
    """Llama and Mistral InvokeModel bodies: one prompt string, no prompt caching."""

    def __init__(self, body: dict[str, Any], model: str, seed: int, request_id: str) -> None:
        self.model = model
        self.vendor = family(model)
        self.request_id = request_id
        prompt = body.get("prompt", "")
        self.input_tokens = count_tokens(prompt)
        self.cache_read = self.cache_write_5m = self.cache_write_1h = 0
        limit = body.get("max_gen_len", body.get("max_tokens"))
        wanted = reply_length(prefix_key(prompt), seed)
        self.truncated = isinstance(limit, int) and limit < wanted
        self.words = reply_words(prefix_key(prompt), seed, limit if self.truncated and isinstance(limit, int) else wanted)
        self.output_tokens = len(self.words)
        self.service_tier = "default"

    def billed(self, endpoint: str, streamed: bool) -> Billed:
        return Billed(provider="aws", endpoint=endpoint, model=self.model, streamed=streamed,
                      input_tokens=self.input_tokens, output_tokens=self.output_tokens)

    def body(self) -> dict[str, Any]:
        text = " ".join(self.words)
        stop = "length" if self.truncated else "stop"
        if self.vendor == "meta":
            return {"generation": text, "prompt_token_count": self.input_tokens,
                    "generation_token_count": self.output_tokens, "stop_reason": stop}
        return {"outputs": [{"text": text, "stop_reason": stop}]}

    def chunks(self) -> Iterator[dict[str, Any]]:
        stop = "length" if self.truncated else "stop"
        for index, word in enumerate(self.words):
            last = index == len(self.words) - 1
            text = word if index == 0 else " " + word
            if self.vendor == "meta":
                yield {"generation": text, "prompt_token_count": self.input_tokens if index == 0 else None,
                       "generation_token_count": index + 1, "stop_reason": stop if last else None}
            else:
                yield {"outputs": [{"text": text, "stop_reason": stop if last else None}]}


class InvokeReply:
    """One InvokeModel request, whichever model family its body is for."""

    def __init__(self, body: dict[str, Any], model: str, cache: PromptCache, seed: int, request_id: str) -> None:
        self.vendor = family(model)
        self.model = model
        if self.vendor == "anthropic":
            self.anthropic: wire_anthropic.AnthropicReply | None = wire_anthropic.AnthropicReply(
                {**body, "model": model}, cache, seed, request_id)
            self.inner: Any = self.anthropic
        else:
            self.anthropic = None
            self.inner = (ConverseReply(body, model, cache, seed, request_id) if self.vendor == "amazon"
                          else PromptReply(body, model, seed, request_id))

    def billed(self, streamed: bool) -> Billed:
        endpoint = "invoke-with-response-stream" if streamed else "invoke"
        if self.anthropic is not None:
            billed = self.anthropic.billed(streamed)
            billed.provider, billed.endpoint = "aws", endpoint
            return billed
        billed_inner: Billed = self.inner.billed(endpoint, streamed)
        return billed_inner

    def _exclusive_counts(self) -> tuple[int, int, int, int]:
        inner = self.inner  # every family's reply keeps input EXCLUDING cache, like the wire
        return inner.input_tokens, inner.output_tokens, inner.cache_read, inner.cache_write_5m + inner.cache_write_1h

    def headers(self) -> dict[str, str]:
        """The token-count headers InvokeModel responses carry (input EXCLUDES cache reads/writes)."""
        input_tokens, output_tokens, read, write = self._exclusive_counts()
        headers = {
            "X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
            "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
            "X-Amzn-Bedrock-Invocation-Latency": "1",
        }
        if read or write:
            headers["X-Amzn-Bedrock-Cache-Read-Input-Token-Count"] = str(read)
            headers["X-Amzn-Bedrock-Cache-Write-Input-Token-Count"] = str(write)
        return headers

    def invocation_metrics(self) -> dict[str, Any]:
        input_tokens, output_tokens, read, write = self._exclusive_counts()
        return {"inputTokenCount": input_tokens, "outputTokenCount": output_tokens, "invocationLatency": 1,
                "firstByteLatency": 1, "cacheReadInputTokenCount": read, "cacheWriteInputTokenCount": write}

    def body(self) -> dict[str, Any]:
        if self.anthropic is not None:
            return {**self.anthropic.message(), "id": f"msg_bdrk_{self.anthropic.request_id}"}
        if isinstance(self.inner, ConverseReply):
            return self.inner.nova_body()
        body: dict[str, Any] = self.inner.body()
        return body

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Model-native stream events; the last carries `amazon-bedrock-invocationMetrics`."""
        if self.anthropic is not None:
            items: list[dict[str, Any]] = [data for _, data in self.anthropic.events()]
        elif isinstance(self.inner, ConverseReply):
            items = list(self.inner.nova_chunks())
        else:
            items = list(self.inner.chunks())
        items[-1] = {**items[-1], "amazon-bedrock-invocationMetrics": self.invocation_metrics()}
        yield from items


def chunk_event(data: dict[str, Any]) -> bytes:
    return event("chunk", {"bytes": base64.b64encode(json.dumps(data).encode()).decode()})


def error(status: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The rest-json error body and the `x-amzn-ErrorType` header botocore reads the error code from."""
    name, message = ERRORS.get(status, ("ValidationException", "Request failed."))
    return {"message": message}, {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
