"""One adapter per provider endpoint: the request it makes for a window and the rows one bucket becomes.

Another endpoint or provider (Anthropic's analytics API, Bedrock, a Vertex billing export) is one more adapter in
`ADAPTERS`. Results are parsed with pydantic models of the documented shapes (extra fields ignored); a bucket
with any result that does not fit is skipped whole (`ShapeError`), never written in part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from llmsight.collector.reconcile.tables import COSTS_TABLE, USAGE_TABLE
from llmsight.errors import LLMSightError

DAY = 86_400
_CENTS = Decimal(100)


class ShapeError(LLMSightError):
    """A bucket or result the adapter cannot read; the message says what was wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- OpenAI -------------------------------------------------------------------------------------------------------


class OpenAICompletionsResult(_Model):
    input_tokens: int  # includes cached tokens
    output_tokens: int
    input_cached_tokens: int | None = None
    input_audio_tokens: int | None = None
    output_audio_tokens: int | None = None
    num_model_requests: int
    project_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None


class OpenAIAmount(_Model):
    value: Decimal
    currency: str


class OpenAICostsResult(_Model):
    amount: OpenAIAmount
    line_item: str | None = None
    project_id: str | None = None


class OpenAIBucket(_Model):
    start_time: int
    end_time: int
    results: list[dict[str, Any]]


# OpenAI's cost line items name the model and the kind of tokens: "gpt-4o-2024-08-06, input".
OPENAI_LINE_CLASSES = {"input": "uncached_input", "cached input": "cache_read", "output": "output"}


def openai_line_item(line_item: str) -> tuple[str, str]:
    """(model, token class) of a line item; ('', '') for a charge that is not tokens of a model."""
    model, sep, kind = line_item.rpartition(", ")
    token_class = OPENAI_LINE_CLASSES.get(kind.strip().lower()) if sep else None
    return (model.strip(), token_class) if token_class else ("", "")


# --- Anthropic ----------------------------------------------------------------------------------------------------


class AnthropicCacheCreation(_Model):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class AnthropicServerToolUse(_Model):
    web_search_requests: int = 0


class AnthropicUsageResult(_Model):
    uncached_input_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    cache_creation: AnthropicCacheCreation
    server_tool_use: AnthropicServerToolUse | None = None
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None


class AnthropicCostResult(_Model):
    amount: Decimal  # cents, as a decimal string
    currency: str
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    service_tier: str | None = None
    token_type: str | None = None
    context_window: str | None = None


class AnthropicBucket(_Model):
    starting_at: datetime
    ending_at: datetime
    results: list[dict[str, Any]]


ANTHROPIC_TOKEN_TYPES = {
    "uncached_input_tokens": "uncached_input",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "output_tokens": "output",
}


# --- adapters -----------------------------------------------------------------------------------------------------


def _unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(model: type[_Model], value: Any, what: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ShapeError(f"{what}: {'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}") from None


@dataclass(frozen=True)
class ReportAdapter:
    """A usage or cost report endpoint, with daily buckets."""

    name: str  # stored as `endpoint`
    provider: str
    path: str  # relative to the provider's base URL
    table: str  # USAGE_TABLE or COSTS_TABLE
    max_buckets: int  # per request (the documented limit for 1d buckets)
    window_params: Callable[[datetime, datetime], list[tuple[str, str]]]
    read_bucket: Callable[[Any], tuple[datetime, datetime, list[dict[str, Any]]]]  # (start, end, rows without bucket columns)

    def params(self, start: datetime, end: datetime, page: str | None) -> list[tuple[str, str]]:
        params = [*self.window_params(start, end), ("limit", str(self.max_buckets))]
        return params + [("page", page)] if page else params


def _openai_bucket(bucket: Any) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    parsed = _parse(OpenAIBucket, bucket, "bucket")
    return (datetime.fromtimestamp(parsed.start_time, tz=timezone.utc),
            datetime.fromtimestamp(parsed.end_time, tz=timezone.utc), parsed.results)


def _openai_usage_rows(bucket: Any) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    start, end, results = _openai_bucket(bucket)
    rows = []
    for raw in results:
        r = _parse(OpenAICompletionsResult, raw, "result")
        cached = r.input_cached_tokens or 0
        if cached > r.input_tokens:
            raise ShapeError(f"result: input_cached_tokens ({cached}) exceed input_tokens ({r.input_tokens})")
        rows.append({
            "model": r.model or "", "api_key_id": r.api_key_id or "", "project_id": r.project_id or "",
            "service_tier": r.service_tier or "", "batch": bool(r.batch), "context_window": "",
            "uncached_input_tokens": r.input_tokens - cached, "cache_read_tokens": cached,
            "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "output_tokens": r.output_tokens,
            "input_audio_tokens": r.input_audio_tokens or 0, "output_audio_tokens": r.output_audio_tokens or 0,
            "requests": r.num_model_requests, "web_search_requests": 0,
        })
    return start, end, rows


def _openai_cost_rows(bucket: Any) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    start, end, results = _openai_bucket(bucket)
    rows = []
    for raw in results:
        r = _parse(OpenAICostsResult, raw, "result")
        model, token_class = openai_line_item(r.line_item or "")
        rows.append({
            "project_id": r.project_id or "", "line_item": r.line_item or "", "cost_type": "tokens" if token_class else "",
            "model": model, "token_class": token_class, "service_tier": "", "context_window": "",
            "amount": r.amount.value, "currency": r.amount.currency.upper(),
        })
    return start, end, rows


def _anthropic_bucket(bucket: Any) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    parsed = _parse(AnthropicBucket, bucket, "bucket")
    return parsed.starting_at.astimezone(timezone.utc), parsed.ending_at.astimezone(timezone.utc), parsed.results


def _anthropic_usage_rows(bucket: Any) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    start, end, results = _anthropic_bucket(bucket)
    rows = []
    for raw in results:
        r = _parse(AnthropicUsageResult, raw, "result")
        rows.append({
            "model": r.model or "", "api_key_id": r.api_key_id or "", "project_id": r.workspace_id or "",
            "service_tier": r.service_tier or "", "batch": r.service_tier == "batch",
            "context_window": r.context_window or "",
            "uncached_input_tokens": r.uncached_input_tokens, "cache_read_tokens": r.cache_read_input_tokens,
            "cache_write_5m_tokens": r.cache_creation.ephemeral_5m_input_tokens,
            "cache_write_1h_tokens": r.cache_creation.ephemeral_1h_input_tokens, "output_tokens": r.output_tokens,
            "input_audio_tokens": 0, "output_audio_tokens": 0, "requests": 0,
            "web_search_requests": r.server_tool_use.web_search_requests if r.server_tool_use else 0,
        })
    return start, end, rows


def _anthropic_cost_rows(bucket: Any) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    start, end, results = _anthropic_bucket(bucket)
    rows = []
    for raw in results:
        r = _parse(AnthropicCostResult, raw, "result")
        token_class = ANTHROPIC_TOKEN_TYPES.get(r.token_type or "", "") if (r.cost_type or "tokens") == "tokens" else ""
        rows.append({
            "project_id": r.workspace_id or "", "line_item": r.description or "", "cost_type": r.cost_type or "",
            "model": (r.model or "") if token_class else "", "token_class": token_class,
            "service_tier": r.service_tier or "", "context_window": r.context_window or "",
            "amount": r.amount / _CENTS, "currency": r.currency.upper(),
        })
    return start, end, rows


def _openai_window(start: datetime, end: datetime) -> list[tuple[str, str]]:
    return [("start_time", _unix(start)), ("end_time", _unix(end)), ("bucket_width", "1d")]


def _anthropic_window(start: datetime, end: datetime) -> list[tuple[str, str]]:
    return [("starting_at", _rfc3339(start)), ("ending_at", _rfc3339(end)), ("bucket_width", "1d")]


ADAPTERS: tuple[ReportAdapter, ...] = (
    ReportAdapter(
        "openai.usage.completions", "openai", "organization/usage/completions", USAGE_TABLE, 31,
        lambda s, e: [*_openai_window(s, e), *(("group_by", g) for g in
                                               ("project_id", "api_key_id", "model", "batch", "service_tier"))],
        _openai_usage_rows,
    ),
    ReportAdapter(
        "openai.costs", "openai", "organization/costs", COSTS_TABLE, 180,
        lambda s, e: [*_openai_window(s, e), ("group_by", "project_id"), ("group_by", "line_item")],
        _openai_cost_rows,
    ),
    ReportAdapter(
        "anthropic.usage_report.messages", "anthropic", "v1/organizations/usage_report/messages", USAGE_TABLE, 31,
        lambda s, e: [*_anthropic_window(s, e), *(("group_by[]", g) for g in
                                                  ("model", "api_key_id", "workspace_id", "service_tier", "context_window"))],
        _anthropic_usage_rows,
    ),
    ReportAdapter(
        "anthropic.cost_report", "anthropic", "v1/organizations/cost_report", COSTS_TABLE, 31,
        lambda s, e: [*_anthropic_window(s, e), ("group_by[]", "workspace_id"), ("group_by[]", "description")],
        _anthropic_cost_rows,
    ),
)


@dataclass(frozen=True)
class ListedKey:
    api_key_id: str
    hint: str
    name: str
    project_id: str


class KeyListAdapter:
    """A provider's API keys (id → the hint its list shows), paged by cursor."""

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def keys(self, get: Callable[[str, list[tuple[str, str]]], Any]) -> list[ListedKey]:
        if self.provider == "openai":
            listed: list[ListedKey] = []
            for project in self._paged(get, "organization/projects", "after"):
                project_id = str(project.get("id", ""))
                for key in self._paged(get, f"organization/projects/{project_id}/api_keys", "after"):
                    listed.append(ListedKey(str(key["id"]), str(key.get("redacted_value") or ""), str(key.get("name") or ""),
                                            project_id))
            return listed
        return [
            ListedKey(str(key["id"]), str(key.get("partial_key_hint") or ""), str(key.get("name") or ""),
                      str(key.get("workspace_id") or ""))
            for key in self._paged(get, "v1/organizations/api_keys", "after_id")
        ]

    @staticmethod
    def _paged(get: Callable[[str, list[tuple[str, str]]], Any], path: str, cursor: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(1000):  # bounded: a provider that always says has_more cannot loop forever
            body = get(path, [("limit", "100"), *([(cursor, after)] if after else [])])
            page = body.get("data") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise ShapeError(f"{path}: no data list")
            items.extend(item for item in page if isinstance(item, dict) and "id" in item)
            after = body.get("last_id")
            if not body.get("has_more") or not after:
                break
        return items
