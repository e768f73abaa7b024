"""The local provider's admin APIs: usage and cost reports and key lists, computed from its own ledger.

Shaped like the providers' (OpenAI: `GET /v1/organization/usage/completions`, `/v1/organization/costs`,
`/v1/organization/projects[/{id}/api_keys]`; Anthropic: `GET /v1/organizations/usage_report/messages`,
`/v1/organizations/cost_report`, `/v1/organizations/api_keys`): UTC buckets, the documented bucket-count limits,
paging (`has_more`, `next_page`, `page`), null for every group key not asked for, OpenAI amounts as JSON
numbers in dollars and Anthropic's as decimal strings in cents, 401 for a wrong admin key and 403 for an
ordinary API key. The ledger holds every call the server answered, whoever made it (instrumented or not), with
the key it was made with. Costs are list prices (genai-prices, the `collector` extra) less any discount set in
`AdminConfig.discounts`, exact (Decimal).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from llmsight.errors import LLMSightError
from llmsight.testing.simulation import Billed

BUCKET_SECONDS = {"1m": 60, "1h": 3600, "1d": 86_400}
# (default, max) buckets per page, as both providers document them.
BUCKET_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
OPENAI_COSTS_LIMITS = (7, 180)
PROJECT_ID = "proj_llmsight_local"
WORKSPACE_ID = "wrkspc_llmsight_local"
# Token classes: (OpenAI line item suffix, Anthropic token_type, Anthropic description).
TOKEN_CLASSES = {
    "uncached_input": ("input", "uncached_input_tokens", "Input Tokens"),
    "cache_read": ("cached input", "cache_read_input_tokens", "Input Tokens, Cache Hit"),
    "cache_write_5m": ("cache write 5m", "cache_creation.ephemeral_5m_input_tokens", "Input Tokens, Cache Write (5m)"),
    "cache_write_1h": ("cache write 1h", "cache_creation.ephemeral_1h_input_tokens", "Input Tokens, Cache Write (1h)"),
    "output": ("output", "output_tokens", "Output Tokens"),
}
_CENTS = Decimal(100)


class AdminError(LLMSightError):
    """A request the admin API refuses: its HTTP status, message and the provider's error type."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


@dataclass
class Charge:
    """A charge that is not per-call tokens (web search, tools, storage): its own cost line."""

    provider: str
    at: float
    description: str  # OpenAI line item / Anthropic description
    amount_usd: Decimal
    cost_type: str = "web_search"  # Anthropic's cost_type


@dataclass
class AdminConfig:
    """What the admin APIs accept and how they bill. `admin_keys`: provider -> the admin key it accepts."""

    admin_keys: dict[str, str] = field(default_factory=lambda: {
        "openai": "sk-admin-local-" + "0" * 24, "anthropic": "sk-ant-admin01-local-" + "0" * 24,
    })
    page_size: int | None = None  # fewer buckets per page than asked for (paging exercised with little data)
    discounts: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (provider, model) -> share off
    charges: list[Charge] = field(default_factory=list)
    # Report paths (e.g. "/v1/organization/usage/completions") whose first result comes back in a shape the
    # provider does not document (a count as text): a client must skip that bucket, not crash or write it in part.
    malformed: set[str] = field(default_factory=set)


def key_id(provider: str, api_key: str) -> str:
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    return f"key_{digest[:16]}" if provider == "openai" else f"apikey_01{digest[:22]}"


def redacted(provider: str, api_key: str) -> str:
    """How each provider's key list shows a key."""
    if provider == "anthropic":
        return api_key[:16] + "..." + api_key[-4:]
    prefix = re.match(r"sk-(?:proj-|svcacct-|admin-)?", api_key)
    return (prefix.group(0) if prefix else "") + "..." + api_key[-4:]


def class_tokens(entry: Billed) -> dict[str, int]:
    writes = entry.cache_write_5m_tokens + entry.cache_write_1h_tokens
    return {
        "uncached_input": max(entry.input_tokens - entry.cache_read_tokens - writes, 0),
        "cache_read": entry.cache_read_tokens,
        "cache_write_5m": entry.cache_write_5m_tokens,
        "cache_write_1h": entry.cache_write_1h_tokens,
        "output": entry.output_tokens,
    }


def class_costs(entry: Billed, discounts: dict[tuple[str, str], Decimal]) -> dict[str, Decimal]:
    """The call's charge per token class in USD: list price (genai-prices) less the configured discount."""
    import genai_prices

    def price(**tokens: int) -> Decimal:
        usage = genai_prices.Usage(
            input_tokens=tokens.get("input", 0), cache_read_tokens=tokens.get("read", 0),
            cache_write_tokens=tokens.get("w5", 0) + tokens.get("w1", 0), cache_write_5m_tokens=tokens.get("w5", 0),
            cache_write_1h_tokens=tokens.get("w1", 0), output_tokens=tokens.get("output", 0),
        )
        total: Decimal = genai_prices.calc_price(usage, entry.model, provider_id=entry.provider).total_price
        return total

    try:
        price()
    except LookupError:  # a model genai-prices does not know: billed nothing here (no cost line)
        return {}

    tokens = class_tokens(entry)
    costs = {
        "uncached_input": price(input=tokens["uncached_input"]),
        "cache_read": price(input=tokens["cache_read"], read=tokens["cache_read"]),
        "cache_write_5m": price(input=tokens["cache_write_5m"], w5=tokens["cache_write_5m"]),
        "cache_write_1h": price(input=tokens["cache_write_1h"], w1=tokens["cache_write_1h"]),
        "output": price(output=tokens["output"]),
    }
    factor = 1 - discounts.get((entry.provider, entry.model), Decimal(0))
    return {name: cost * factor for name, cost in costs.items() if tokens[name]}


class _RawNumber(str):
    """A Decimal written as a JSON number, digit for digit (json would round it through float)."""


def dumps(payload: Any) -> bytes:
    marker = "__llmsight_raw_number__"

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return marker + format(value, "f") + marker
        raise TypeError(type(value).__name__)

    text = json.dumps(payload, default=default)
    return re.sub(rf'"{marker}([-0-9.]+){marker}"', r"\1", text).encode()


# --- request parsing ----------------------------------------------------------------------------------------------


def _param(query: dict[str, list[str]], name: str, default: int | None, parse: Callable[[str], int], kind: str) -> int:
    """A query parameter read by `parse` (400 naming `kind` when it does not parse), or its default (400 when none)."""
    values = query.get(name)
    if not values:
        if default is None:
            raise AdminError(400, f"{name} is required")
        return default
    try:
        return parse(values[0])
    except ValueError:
        raise AdminError(400, f"{name} must be {kind}") from None


def _unix_seconds(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _int_param(query: dict[str, list[str]], name: str, default: int | None = None) -> int:
    return _param(query, name, default, int, "an integer")


def _rfc3339(query: dict[str, list[str]], name: str, default: int | None = None) -> int:
    return _param(query, name, default, _unix_seconds, "an RFC 3339 timestamp")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_token(start: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(start).encode()).decode()


def _page_start(query: dict[str, list[str]]) -> int | None:
    token = (query.get("page") or [""])[0]
    if not token:
        return None
    try:
        return int(base64.urlsafe_b64decode(token.removeprefix("page_").encode()).decode())
    except ValueError:
        raise AdminError(400, "invalid page token") from None


def _group_by(query: dict[str, list[str]], allowed: Iterable[str]) -> list[str]:
    names = [*query.get("group_by", []), *query.get("group_by[]", [])]
    names = [part for name in names for part in name.split(",") if part]
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise AdminError(400, f"group_by does not support {', '.join(unknown)}")
    return names


@dataclass
class _Window:
    buckets: list[tuple[int, int]]  # this page's (start, end)
    next_start: int | None  # the next page's first bucket start, None on the last page


def _window(start: int, end: int, width: str, limit: int, page_start: int | None, *, snap: bool) -> _Window:
    """Buckets from `start` (snapped to the width's UTC boundary when `snap`; else the first bucket runs from
    `start` to the next boundary, as OpenAI's do) up to `end`, one page of `limit` of them."""
    seconds = BUCKET_SECONDS[width]
    edges: list[int] = []
    first = start - start % seconds if snap else start
    cursor = first
    while cursor < end:
        edges.append(cursor)
        cursor = cursor - cursor % seconds + seconds
    spans = [(s, min(s - s % seconds + seconds, end) if not snap else s + seconds) for s in edges]
    if page_start is not None:
        spans = [s for s in spans if s[0] >= page_start]
    page, rest = spans[:limit], spans[limit:]
    return _Window(page, rest[0][0] if rest else None)


def _limit(query: dict[str, list[str]], limits: tuple[int, int], config: AdminConfig) -> int:
    default, maximum = limits
    limit = _int_param(query, "limit", default)
    if not 1 <= limit <= maximum:
        raise AdminError(400, f"limit must be between 1 and {maximum} for this bucket width")
    return min(limit, config.page_size) if config.page_size else limit


# --- reports ------------------------------------------------------------------------------------------------------


@dataclass
class AdminApi:
    """The admin endpoints of one local provider, over its ledger (a list of Billed with `api_key` set)."""

    config: AdminConfig = field(default_factory=AdminConfig)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(self, provider: str, presented: str | None, known_api_keys: Iterable[str]) -> None:
        if presented == self.config.admin_keys.get(provider):
            return
        if presented and presented in set(known_api_keys):
            raise AdminError(403, "this key cannot read organization usage: an admin key is required", "permission_error")
        raise AdminError(401, "invalid admin key", "authentication_error")

    # OpenAI ---------------------------------------------------------------------------------------------------
    def openai_usage(self, query: dict[str, list[str]], entries: list[Billed], now: int) -> dict[str, Any]:
        width = (query.get("bucket_width") or ["1d"])[0]
        if width not in BUCKET_SECONDS:
            raise AdminError(400, "bucket_width must be one of 1m, 1h, 1d")
        group = _group_by(query, ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"))
        window = _window(_int_param(query, "start_time"), _int_param(query, "end_time", now), width,
                         _limit(query, BUCKET_LIMITS[width], self.config), _page_start(query), snap=False)
        calls = [e for e in entries if e.provider == "openai" and e.endpoint in ("chat.completions", "responses")]
        data = []
        for start, end in window.buckets:
            groups: dict[tuple[Any, ...], dict[str, Any]] = {}
            for e in (e for e in calls if start <= e.at < end):
                keys = {"project_id": PROJECT_ID, "user_id": None, "api_key_id": key_id("openai", e.api_key),
                        "model": e.model, "batch": e.service_tier == "batch", "service_tier": e.service_tier}
                shown = {name: (keys[name] if name in group else None) for name in keys}
                row = groups.setdefault(tuple(shown.values()), {
                    "object": "organization.usage.completions.result", "input_tokens": 0, "output_tokens": 0,
                    "input_cached_tokens": 0, "input_audio_tokens": 0, "output_audio_tokens": 0,
                    "num_model_requests": 0, **shown,
                })
                row["input_tokens"] += e.input_tokens
                row["input_cached_tokens"] += e.cache_read_tokens
                row["output_tokens"] += e.output_tokens
                row["num_model_requests"] += 1
            data.append({"object": "bucket", "start_time": start, "end_time": end, "results": list(groups.values())})
        return _openai_page(data, window)

    def openai_costs(self, query: dict[str, list[str]], entries: list[Billed], now: int) -> dict[str, Any]:
        if (query.get("bucket_width") or ["1d"])[0] != "1d":
            raise AdminError(400, "bucket_width must be 1d")
        group = _group_by(query, ("project_id", "line_item", "api_key_id"))
        window = _window(_int_param(query, "start_time"), _int_param(query, "end_time", now), "1d",
                         _limit(query, OPENAI_COSTS_LIMITS, self.config), _page_start(query), snap=False)
        data = []
        for start, end in window.buckets:
            amounts: dict[tuple[Any, ...], Decimal] = {}
            for e in (e for e in entries if e.provider == "openai" and start <= e.at < end):
                for token_class, cost in class_costs(e, self.config.discounts).items():
                    line = f"{e.model}, {TOKEN_CLASSES[token_class][0]}"
                    keys = {"project_id": PROJECT_ID, "line_item": line, "api_key_id": key_id("openai", e.api_key)}
                    shown = tuple(keys[name] if name in group else None for name in keys)
                    amounts[shown] = amounts.get(shown, Decimal(0)) + cost
            for charge in (c for c in self.config.charges if c.provider == "openai" and start <= c.at < end):
                shown = (PROJECT_ID if "project_id" in group else None,
                         charge.description if "line_item" in group else None, None)
                amounts[shown] = amounts.get(shown, Decimal(0)) + charge.amount_usd
            results = [
                {"object": "organization.costs.result", "amount": {"value": amount, "currency": "usd"},
                 "project_id": shown[0], "line_item": shown[1], "api_key_id": shown[2]}
                for shown, amount in amounts.items()
            ]
            data.append({"object": "bucket", "start_time": start, "end_time": end, "results": results})
        return _openai_page(data, window)

    def openai_projects(self) -> dict[str, Any]:
        project = {"object": "organization.project", "id": PROJECT_ID, "name": "Default project",
                   "created_at": 1_700_000_000, "archived_at": None, "status": "active"}
        return {"object": "list", "data": [project], "first_id": PROJECT_ID, "last_id": PROJECT_ID, "has_more": False}

    def openai_api_keys(self, query: dict[str, list[str]], api_keys: list[str]) -> dict[str, Any]:
        listed = [{"object": "organization.project.api_key", "id": key_id("openai", k), "name": f"key {i + 1}",
                   "redacted_value": redacted("openai", k), "created_at": 1_700_000_000, "last_used_at": None,
                   "owner": {"type": "user", "user": None, "service_account": None}, "owner_project_access": "active"}
                  for i, k in enumerate(api_keys)]
        return _list_page(listed, query, "after")

    # Anthropic ------------------------------------------------------------------------------------------------
    def anthropic_usage(self, query: dict[str, list[str]], entries: list[Billed], now: int) -> dict[str, Any]:
        width = (query.get("bucket_width") or ["1d"])[0]
        if width not in BUCKET_SECONDS:
            raise AdminError(400, "bucket_width must be one of 1d, 1h, 1m")
        group = _group_by(query, ("api_key_id", "workspace_id", "model", "service_tier", "context_window",
                                  "inference_geo", "account_id", "service_account_id", "speed"))
        window = _window(_rfc3339(query, "starting_at"), _rfc3339(query, "ending_at", now), width,
                         _limit(query, BUCKET_LIMITS[width], self.config), _page_start(query), snap=True)
        data = []
        for start, end in window.buckets:
            groups: dict[tuple[Any, ...], dict[str, Any]] = {}
            for e in (e for e in entries if e.provider == "anthropic" and start <= e.at < end):
                keys = {"api_key_id": key_id("anthropic", e.api_key), "workspace_id": WORKSPACE_ID, "model": e.model,
                        "service_tier": e.service_tier, "context_window": "0-200k", "inference_geo": "not_available",
                        "account_id": None, "service_account_id": None, "speed": None}
                shown = {name: (keys[name] if name in group else None) for name in keys}
                row = groups.setdefault(tuple(shown.values()), {
                    "uncached_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0,
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                    "server_tool_use": {"web_search_requests": 0}, **shown,
                })
                tokens = class_tokens(e)
                row["uncached_input_tokens"] += tokens["uncached_input"]
                row["cache_read_input_tokens"] += tokens["cache_read"]
                row["cache_creation"]["ephemeral_5m_input_tokens"] += tokens["cache_write_5m"]
                row["cache_creation"]["ephemeral_1h_input_tokens"] += tokens["cache_write_1h"]
                row["output_tokens"] += tokens["output"]
            data.append({"starting_at": _iso(start), "ending_at": _iso(end), "results": list(groups.values())})
        return _anthropic_page(data, window)

    def anthropic_costs(self, query: dict[str, list[str]], entries: list[Billed], now: int) -> dict[str, Any]:
        if (query.get("bucket_width") or ["1d"])[0] != "1d":
            raise AdminError(400, "bucket_width must be 1d")
        group = _group_by(query, ("workspace_id", "description"))
        window = _window(_rfc3339(query, "starting_at"), _rfc3339(query, "ending_at", now), "1d",
                         _limit(query, BUCKET_LIMITS["1d"], self.config), _page_start(query), snap=True)
        by_description = "description" in group
        data = []
        for start, end in window.buckets:
            amounts: dict[tuple[Any, ...], Decimal] = {}
            for e in (e for e in entries if e.provider == "anthropic" and start <= e.at < end):
                for token_class, cost in class_costs(e, self.config.discounts).items():
                    _, token_type, label = TOKEN_CLASSES[token_class]
                    described: tuple[str | None, ...] = (
                        f"{e.model} Usage - {label}", "tokens", e.model, e.service_tier, token_type, "0-200k"
                    )
                    shown = (WORKSPACE_ID if "workspace_id" in group else None,
                             *(described if by_description else (None,) * 6))
                    amounts[shown] = amounts.get(shown, Decimal(0)) + cost
            for charge in (c for c in self.config.charges if c.provider == "anthropic" and start <= c.at < end):
                described = (charge.description, charge.cost_type, None, None, None, None)
                shown = (WORKSPACE_ID if "workspace_id" in group else None,
                         *(described if by_description else (None,) * 6))
                amounts[shown] = amounts.get(shown, Decimal(0)) + charge.amount_usd
            results = [
                {"amount": format(amount * _CENTS, "f"), "currency": "USD", "workspace_id": shown[0],
                 "description": shown[1], "cost_type": shown[2], "model": shown[3], "service_tier": shown[4],
                 "token_type": shown[5], "context_window": shown[6], "inference_geo": None}
                for shown, amount in amounts.items()
            ]
            data.append({"starting_at": _iso(start), "ending_at": _iso(end), "results": results})
        return _anthropic_page(data, window)

    def anthropic_api_keys(self, query: dict[str, list[str]], api_keys: list[str]) -> dict[str, Any]:
        listed = [{"type": "api_key", "id": key_id("anthropic", k), "name": f"key {i + 1}", "status": "active",
                   "workspace_id": WORKSPACE_ID, "partial_key_hint": redacted("anthropic", k),
                   "created_at": "2025-01-15T00:00:00Z", "created_by": {"id": "user_local", "type": "user"}}
                  for i, k in enumerate(api_keys)]
        return _list_page(listed, query, "after_id")


def malform(payload: dict[str, Any]) -> dict[str, Any]:
    """The first result of the first bucket that has one, with its token counts as text."""
    for bucket in payload.get("data", []):
        if bucket.get("results"):
            result = bucket["results"][0]
            for name in ("input_tokens", "uncached_input_tokens", "amount"):
                if name in result:
                    result[name] = "n/a"
            break
    return payload


def _openai_page(data: list[dict[str, Any]], window: _Window) -> dict[str, Any]:
    next_page = _page_token(window.next_start) if window.next_start is not None else None
    return {"object": "page", "data": data, "has_more": next_page is not None, "next_page": next_page}


def _anthropic_page(data: list[dict[str, Any]], window: _Window) -> dict[str, Any]:
    next_page = _page_token(window.next_start) if window.next_start is not None else None
    return {"data": data, "has_more": next_page is not None, "next_page": next_page}


def _list_page(items: list[dict[str, Any]], query: dict[str, list[str]], cursor: str) -> dict[str, Any]:
    after = (query.get(cursor) or [""])[0]
    if after:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    limit = _int_param(query, "limit", 20)
    page, more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": more,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}
