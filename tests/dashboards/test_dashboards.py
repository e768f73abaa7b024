"""Grafana, emulated end to end without a Grafana server: every panel query, annotation query and variable query of
the committed dashboard JSON goes through the browser steps (the plugin's $__conditionalAll, scenes' template
interpolation with the plugin's format function — grafana_frontend.py) and the plugin's backend macros
(grafana_backend.py), then runs on real ClickHouse (chDB) holding calls sent through the real collector.
Every result is compared with sums computed here from the seeded calls — for All, one value of each variable, a
two-value selection, a range that starts and ends mid-hour, and an empty range."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmsight.dashboards.build import JSON_DIR
from llmsight.dashboards.panels import DAILY_BUDGET_USD, EXACT_QUANTILE_MAX_CALLS, TRACE_URL_TEMPLATE
from tests.reconcile.bill_panels import BILL_TITLES, check_bill_panel, reconciled

from .conftest import CHEAPER_MODELS, Seeded
from .grafana_backend import expand
from .grafana_frontend import (
    Scene,
    active_threshold_color,
    apply_template_variables,
    config_from_data,
    field_config,
    interpolate,
    variables_from_dashboard,
)
from .seed import PRICES, Call, list_price

DOCUMENTS = {path.stem: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}
VARIABLE_COLUMNS = {"service": "service", "environment": "environment", "provider": "provider", "model": "model",
                    "tier": "tier", "task": "task", "tenant": "tenant"}
CALLS_TEXTBOX_FIELDS = {"trace_id": "trace_id", "prompt": "prompt_name", "prefix_hash": "prefix_hash",
                        "user": "user_id", "session": "session_id"}


def tier_of(call: Call) -> str:
    return PRICES.get(call.model, {}).get("tier", "standard") if call.provider == "acme" else "standard"


def field_of(call: Call, name: str) -> str:
    if name == "tier":
        return tier_of(call)
    if name == "environment":
        return "prod"
    return getattr(call, name)


# --- the emulated Grafana --------------------------------------------------------------------------------
@dataclass
class View:
    """A dashboard open in Grafana: a time range, an interval and the variables' current values."""

    time_from: datetime
    time_to: datetime
    selection: dict[str, Any]
    interval_s: float = 3600

    def bucket(self, ts: datetime) -> datetime:
        """$__timeInterval's bucket: toStartOfInterval(t, INTERVAL N second) counts from the epoch."""
        assert self.interval_s % 3600 == 0  # checks assume buckets of whole hours (the rollup's grain)
        start = math.floor(ts.timestamp() / self.interval_s) * self.interval_s
        return datetime.fromtimestamp(start, timezone.utc).replace(tzinfo=None)

    def window(self, calls: list[Call]) -> list[Call]:
        """The calls $__timeFilter(ts) selects: from/to truncated to whole seconds, both ends inclusive."""
        low, high = math.floor(self.time_from.timestamp()), math.floor(self.time_to.timestamp())
        return [c for c in calls if low <= c.ts.timestamp() <= high]

    def selected(self, calls: list[Call]) -> list[Call]:
        out = calls
        for name, value in self.selection.items():
            if name in VARIABLE_COLUMNS and isinstance(value, list) and value and value != ["$__all"]:
                out = [c for c in out if field_of(c, VARIABLE_COLUMNS[name]) in value]
            if name in CALLS_TEXTBOX_FIELDS and value:
                out = [c for c in out if str(getattr(c, CALLS_TEXTBOX_FIELDS[name])) == value]
        return out


def scene_for(store: Seeded, document: dict[str, Any], view: View) -> Scene:
    variables = variables_from_dashboard(document, {}, view.selection)
    scene = Scene(variables, view.time_from, view.time_to, view.interval_s)
    for item in document["templating"]["list"]:  # query variables: their options come from their own query
        if item["type"] == "query":
            options = [str(row[0]) for row in run(store, item["query"], scene).rows]
            variables[item["name"]].options = options
    return scene


def run(store: Seeded, raw_sql: str, scene: Scene):
    sql = apply_template_variables(raw_sql, scene)
    assert "$" not in sql.replace("$__", ""), sql  # every template variable was known
    sql = expand(sql, time_from=scene.time_from, time_to=scene.time_to, interval_s=scene.interval_s)
    assert "$__" not in sql, sql
    return store.query(sql)


# --- independent expectations --------------------------------------------------------------------------
def hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def label(call: Call) -> str:
    return f"{call.provider} / {call.model}"


def sums(calls: list[Call], key: Callable[[Call], Any], value: Callable[[Call], float]) -> dict[Any, float]:
    out: dict[Any, float] = defaultdict(float)
    for call in calls:
        out[key(call)] += value(call)
    return dict(out)


def by(rows: list[dict[str, Any]], keys: tuple[str, ...], value: str) -> dict[Any, float]:
    out: dict[Any, float] = defaultdict(float)
    for row in rows:
        out[tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]] += row[value]
    return dict(out)


def approx_dict(actual: dict[Any, float], expected: dict[Any, float], rel: float = 1e-9) -> None:
    assert set(actual) == set(expected), (sorted(actual), sorted(expected))
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=rel, abs=1e-12), key


def r7(values: list[float], level: float) -> float:
    """Quantile with linear interpolation between order statistics (R-7, numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * level
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(calls: list[Call]) -> float:
    return sum(c.cache_read for c in calls) / max(sum(c.input_tokens for c in calls), 1)


def groups(calls: list[Call], key: Callable[[Call], Any]) -> dict[Any, list[Call]]:
    out: dict[Any, list[Call]] = defaultdict(list)
    for call in calls:
        out[key(call)].append(call)
    return dict(out)


def acme_cost_at(model: str, call: Call) -> float:
    p = PRICES[model]
    uncached = call.input_tokens - call.cache_read - call.cache_write
    return (uncached * p["input"] + call.cache_read * p["read"] + call.cache_write * p["write"] + call.output_tokens * p["output"]) / 1e6


def unit_prices(provider: str, model: str, at: datetime, batch: bool = False) -> tuple[float, float, float]:
    """(uncached input, cache read, cache write) USD per token, straight from the price sources (a batch call: the
    batch price, or half the override's)."""
    if provider == "acme":
        half = 0.5 if batch else 1.0
        return (PRICES[model]["input"] / 1e6 * half, PRICES[model]["read"] / 1e6 * half,
                PRICES[model]["write"] / 1e6 * half)
    probe = Call(ts=at, service="", model=model, task="", tenant="", prompt_name="", prefix_hash="", input_tokens=10**6,
                 cache_read=0, cache_write=0, output_tokens=0, streaming=False, ttft_ms=None, duration_ms=0, provider=provider)
    full = list_price(provider, model, probe, batch=batch)["total_cost"]
    probe.cache_read = 10**6
    read = list_price(provider, model, probe, batch=batch)["total_cost"]
    probe.cache_read, probe.cache_write = 0, 10**6
    return full / 1e6, read / 1e6, list_price(provider, model, probe, batch=batch)["total_cost"] / 1e6


Check = Callable[[list[dict[str, Any]], list[Call], View], None]
STORE_CALLS: list[list[Call]] = [[]]  # every stored call, for panels that ignore the time range
STORE_SUBMISSIONS: list[list[Any]] = [[]]  # every batch submission (seed.Submission)
STORE: list[Any] = [None]  # the seeded store, for the Bill panels (checked against `llmsight reconcile`'s own read)
CHECKS: dict[str, Check] = {}
for _title in BILL_TITLES:
    CHECKS[_title] = lambda rows, calls, view, _title=_title: check_bill_panel(
        _title, rows, reconciled(STORE[0].collector.store.query, view.time_from, view.time_to))


def check(*titles: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        for title in titles:
            CHECKS[title] = function
        return function
    return register


@check("Total spend")
def _total(rows, calls, view):
    assert rows[0]["spend"] == pytest.approx(sum(c.total_cost for c in calls), rel=1e-9, abs=1e-12)


@check("Cost per request")
def _per_request(rows, calls, view):
    priced = [c for c in calls if c.priced]
    assert rows[0]["cost_per_request"] == pytest.approx(sum(c.total_cost for c in calls) / max(len(priced), 1), rel=1e-9, abs=1e-12)


def _cost_over_time(key: Callable[[Call], str]) -> Check:
    def check_rows(rows, calls, view):
        approx_dict(by(rows, ("time", "label"), "cost"), sums(calls, lambda c: (view.bucket(c.ts), key(c)), lambda c: c.total_cost))
    return check_rows


CHECKS["Cost over time by model"] = _cost_over_time(label)
CHECKS["Cost over time by task"] = _cost_over_time(lambda c: c.task)
CHECKS["Cost over time by tenant"] = _cost_over_time(lambda c: c.tenant)


@check("Projected month-end spend")
def _projected(rows, calls, view):
    # Not range-based: month to date (UTC), extrapolated to the whole month.
    now = datetime.now(timezone.utc)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (month + timedelta(days=32)).replace(day=1)
    spent = sum(c.total_cost for c in view.selected(STORE_CALLS[0]) if c.ts >= month)
    expected = spent / (now - month).total_seconds() * (following - month).total_seconds()
    assert rows[0]["projected"] == pytest.approx(expected, rel=1e-3, abs=1e-12)


@check("Requests over time by model")
def _requests(rows, calls, view):
    approx_dict(by(rows, ("time", "label"), "requests"), sums(calls, lambda c: (view.bucket(c.ts), label(c)), lambda c: 1))


@check("Tokens over time by model")
def _tokens(rows, calls, view):
    approx_dict(by(rows, ("time", "label"), "input_tokens"), sums(calls, lambda c: (view.bucket(c.ts), label(c)), lambda c: c.input_tokens))
    approx_dict(by(rows, ("time", "label"), "output_tokens"), sums(calls, lambda c: (view.bucket(c.ts), label(c)), lambda c: c.output_tokens))


@check("Top 10 spenders")
def _top(rows, calls, view):
    pairs = sums(calls, lambda c: (c.tenant, c.task), lambda c: c.total_cost)
    assert len(rows) == min(10, len(pairs))
    for row in rows:
        assert row["cost"] == pytest.approx(pairs[(row["tenant"], row["task"])], rel=1e-9, abs=1e-12)
    if pairs:
        assert rows[0]["cost"] == pytest.approx(max(pairs.values()), rel=1e-9)


@check("Unpriced calls")
def _unpriced(rows, calls, view):
    expected = sums([c for c in calls if not c.priced], lambda c: (c.provider, c.model), lambda c: 1)
    approx_dict(by(rows, ("provider", "request_model"), "unpriced_calls"), expected)


@check("Most expensive traces")
def _traces(rows, calls, view):
    traces = groups(calls, lambda c: c.trace_id)
    ranked = sorted(traces, key=lambda t: (-sum(c.total_cost for c in traces[t]), t))[:50]
    assert [r["trace_id"] for r in rows] == ranked
    for row in rows:
        mine = traces[row["trace_id"]]
        assert row["calls"] == len(mine) and row["cost"] == pytest.approx(sum(c.total_cost for c in mine), rel=1e-9, abs=1e-12)
        assert row["trace_link"] == TRACE_URL_TEMPLATE.replace("{trace_id}", row["trace_id"])


@check("Cost per user")
def _users(rows, calls, view):
    users = groups([c for c in calls if c.user_id], lambda c: c.user_id)
    assert {r["user_id"] for r in rows} == set(sorted(users, key=lambda u: (-sum(c.total_cost for c in users[u]), u))[:50])
    for row in rows:
        mine = users[row["user_id"]]
        assert row["calls"] == len(mine) and row["sessions"] == len({c.session_id for c in mine})
        assert row["cost"] == pytest.approx(sum(c.total_cost for c in mine), rel=1e-9, abs=1e-12)


@check("Cost per session")
def _sessions(rows, calls, view):
    sessions = groups([c for c in calls if c.session_id], lambda c: c.session_id)
    assert len(rows) == min(50, len(sessions))
    for row in rows:
        mine = sessions[row["session_id"]]
        assert row["calls"] == len(mine) and row["cost"] == pytest.approx(sum(c.total_cost for c in mine), rel=1e-9, abs=1e-12)
        assert row["user_id"] == mine[0].user_id


@check("Cache hit ratio by model")
def _ratio_by_model(rows, calls, view):
    expected = {key: ratio(mine) for key, mine in groups(calls, lambda c: (view.bucket(c.ts), label(c))).items()}
    approx_dict(by(rows, ("time", "label"), "hit_ratio"), expected)


@check("Cache hit ratio by prompt version over time")
def _ratio_by_version(rows, calls, view):
    named = [c for c in calls if c.prompt_name]
    expected = {key: ratio(mine) for key, mine in groups(named, lambda c: (view.bucket(c.ts), f"{c.prompt_name} v{c.prompt_version}")).items()}
    approx_dict(by(rows, ("time", "label"), "hit_ratio"), expected)


@check("Cache hit ratio by prompt")
def _ratio_by_prompt(rows, calls, view):
    named = groups([c for c in calls if c.prompt_name], lambda c: (c.prompt_name, c.prompt_version))
    approx_dict(by(rows, ("prompt_name", "prompt_version"), "calls"), {k: len(v) for k, v in named.items()})
    approx_dict(by(rows, ("prompt_name", "prompt_version"), "hit_ratio"), {k: ratio(v) for k, v in named.items()})


@check("Distinct prefix hashes per prompt over time")
def _distinct_hashes(rows, calls, view):
    named = groups([c for c in calls if c.prompt_name and c.prefix_hash], lambda c: (view.bucket(c.ts), c.prompt_name))
    approx_dict(by(rows, ("time", "label"), "prefix_hashes"), {k: len({c.prefix_hash for c in v}) for k, v in named.items()})


@check("Cache read vs write tokens")
def _read_write(rows, calls, view):
    approx_dict(by(rows, ("time",), "read_tokens"), sums(calls, lambda c: view.bucket(c.ts), lambda c: c.cache_read))
    approx_dict(by(rows, ("time",), "write_tokens"), sums(calls, lambda c: view.bucket(c.ts), lambda c: c.cache_write))


@check("Saved by caching")
def _saved(rows, calls, view):
    expected = 0.0
    for call in calls:
        if call.priced:
            # Reads save (input - read rate) per token; writes cost their premium (write - input rate) per token.
            input_price, read_price, write_price = unit_prices(call.provider, call.model, call.ts, call.batch)
            expected += call.cache_read * (input_price - read_price) - call.cache_write * (write_price - input_price)
    assert rows[0]["saved"] == pytest.approx(expected, rel=1e-6, abs=1e-12)


@check("Missed savings: large repeated prefixes never cached")
def _missed(rows, calls, view):
    expected = {}
    for key, mine in groups([c for c in calls if c.prefix_hash], lambda c: (c.prompt_name, c.prefix_hash)).items():
        if len(mine) >= 3 and sum(c.input_tokens for c in mine) / len(mine) >= 1024 and not any(c.cache_read for c in mine):
            expected[key] = len(mine)
    approx_dict(by(rows, ("prompt_name", "prompt_prefix_hash"), "calls"), expected)


@check("Prefix hashes per prompt")
def _hashes(rows, calls, view):
    named = groups([c for c in calls if c.prompt_name], lambda c: (c.prompt_name, c.prefix_hash))
    approx_dict(by(rows, ("prompt_name", "prompt_prefix_hash"), "calls"), {k: len(v) for k, v in named.items()})
    for row in rows:
        mine = named[(row["prompt_name"], row["prompt_prefix_hash"])]
        assert row["first_seen"] == min(c.ts for c in mine).replace(tzinfo=None)


def _exact_quantiles(rows, calls, key, value, names, levels):
    grouped = groups([c for c in calls if value(c) is not None], key)
    assert {tuple(r[k] for k in key.keys) if len(key.keys) > 1 else r[key.keys[0]] for r in rows} == set(grouped)
    for row in rows:
        group = tuple(row[k] for k in key.keys) if len(key.keys) > 1 else row[key.keys[0]]
        values = [value(c) for c in grouped[group]]
        assert row["method"] == ("exact" if len(values) <= EXACT_QUANTILE_MAX_CALLS else "t-digest")
        for name, level in zip(names, levels, strict=True):
            assert row[name] == pytest.approx(r7(values, level), rel=1e-9), (group, name)


class _Key:
    def __init__(self, keys: tuple[str, ...], function: Callable[[Call], Any]) -> None:
        self.keys, self.function = keys, function

    def __call__(self, call: Call) -> Any:
        return self.function(call)


@check("TTFT percentiles by model")
def _ttft(rows, calls, view):
    streamed = [c for c in calls if c.streaming]
    _exact_quantiles(rows, streamed, _Key(("request_model",), lambda c: c.model), lambda c: c.ttft_ms,
                     ("p50_ms", "p95_ms", "p99_ms"), (0.5, 0.95, 0.99))


@check("Duration percentiles by provider")
def _duration(rows, calls, view):
    calls = [c for c in calls if not c.batch]  # no latency: timed at the batch's completion
    _exact_quantiles(rows, calls, _Key(("provider",), lambda c: c.provider), lambda c: c.duration_ms,
                     ("p50_ms", "p95_ms", "p99_ms"), (0.5, 0.95, 0.99))


@check("TTFT p95 over time")
def _ttft_over_time(rows, calls, view):
    streamed = [c for c in calls if c.streaming]
    _exact_quantiles(rows, streamed, _Key(("time", "request_model"), lambda c: (view.bucket(c.ts), c.model)), lambda c: c.ttft_ms,
                     ("p95_ms",), (0.95,))


@check("Streaming vs not: duration p50")
def _streaming(rows, calls, view):
    grouped = groups([c for c in calls if not c.batch], lambda c: c.streaming)
    assert {r["streaming"] for r in rows} == set(grouped)
    for row in rows:
        mine = grouped[row["streaming"]]
        assert row["calls"] == len(mine)
        assert row["p50_ms"] == pytest.approx(r7([c.duration_ms for c in mine], 0.5))
        assert row["mean_ms"] == pytest.approx(sum(c.duration_ms for c in mine) / len(mine))


@check("Output tokens per second by model")
def _tokens_per_second(rows, calls, view):
    interactive = [c for c in calls if not c.batch]
    expected = {m: sum(c.output_tokens for c in v) / (sum(c.duration_ms for c in v) / 1000) for m, v in groups(interactive, lambda c: c.model).items()}
    approx_dict(by(rows, ("request_model",), "tokens_per_second"), expected, rel=1e-6)


@check("Error rate over time")
def _errors_over_time(rows, calls, view):
    grouped = groups(calls, lambda c: view.bucket(c.ts))
    approx_dict(by(rows, ("time",), "error_rate"), {h: sum(c.status == "error" for c in v) / len(v) for h, v in grouped.items()})
    approx_dict(by(rows, ("time",), "rate_limited"), {h: sum(c.http_status == 429 for c in v) / len(v) for h, v in grouped.items()})


@check("429s over time by model")
def _429s(rows, calls, view):
    approx_dict(by(rows, ("time", "label"), "rate_limited"),
                sums([c for c in calls if c.http_status == 429], lambda c: (view.bucket(c.ts), label(c)), lambda c: 1))


@check("Errors by type and HTTP status")
def _errors(rows, calls, view):
    failed = [c for c in calls if c.status == "error"]
    approx_dict(by(rows, ("provider", "request_model", "error_type", "http_status"), "calls"),
                sums(failed, lambda c: (c.provider, c.model, c.error_type, c.http_status), lambda c: 1))


@check("Retries per call")
def _retries(rows, calls, view):
    assert rows[0]["retries_per_call"] == pytest.approx(sum(c.retries for c in calls) / max(len(calls), 1))


@check("Truncated outputs")
def _truncated(rows, calls, view):
    cut = [c for c in calls if c.finish_reason == "length"]
    approx_dict(by(rows, ("request_model", "task"), "truncated"), sums(cut, lambda c: (c.model, c.task), lambda c: 1))


@check("Model tier by task")
def _tiers(rows, calls, view):
    approx_dict(by(rows, ("task", "model_tier"), "calls"), sums(calls, lambda c: (c.task, tier_of(c)), lambda c: 1))
    approx_dict(by(rows, ("task", "model_tier"), "cost"), sums(calls, lambda c: (c.task, tier_of(c)), lambda c: c.total_cost))


def _could_wait(call: Call, view: View) -> bool:
    tasks = view.selection.get("batch_tasks", ["$__all"])
    return not call.streaming and not call.batch and (tasks in (["$__all"], "$__all") or call.task in tasks)


def _batch_cost(call: Call, view: View) -> float:
    if call.provider == "openai" and _could_wait(call, view):  # acme (overrides) has no batch price: no claim
        return list_price("openai", call.model, call, batch=True)["total_cost"]
    return call.total_cost


def _cheaper_cost(call: Call) -> float:
    cheaper = CHEAPER_MODELS.get(call.provider)
    if not cheaper or cheaper == call.model or not call.priced:
        return call.total_cost
    alternative = acme_cost_at(cheaper, call) if call.provider == "acme" else list_price(call.provider, cheaper, call, batch=False)["total_cost"]
    return min(alternative, call.total_cost)


@check("What batch or a cheaper model would have cost")
def _savings(rows, calls, view):
    tasks = groups(calls, lambda c: c.task)
    assert {r["task"] for r in rows} == set(tasks)
    for row in rows:
        mine = tasks[row["task"]]
        assert row["actual_cost"] == pytest.approx(sum(c.total_cost for c in mine), rel=1e-9, abs=1e-12)
        measured = sum(c.total_cost for c in mine if c.batch)
        assert row["batch_cost"] == pytest.approx(measured, rel=1e-9, abs=1e-12)
        assert row["measured_batch_share"] == pytest.approx(measured / row["actual_cost"] if row["actual_cost"] else 0,
                                                            rel=1e-9, abs=1e-12)
        assert row["batch_api_cost"] == pytest.approx(sum(_batch_cost(c, view) for c in mine), rel=1e-9, abs=1e-12)
        assert row["batchable_calls"] == sum(c.provider == "openai" and _could_wait(c, view) for c in mine)
        assert row["cheaper_model_cost"] == pytest.approx(sum(_cheaper_cost(c) for c in mine), rel=1e-9, abs=1e-12)


@check("Batch share of spend and calls")
def _batch_share(rows, calls, view):
    providers = groups(calls, lambda c: c.provider)
    assert {r["provider"] for r in rows} == set(providers)
    for row in rows:
        mine = providers[row["provider"]]
        batched = [c for c in mine if c.batch]
        assert (row["all_calls"], row["batch_calls"]) == (len(mine), len(batched))
        assert row["batch_share_of_calls"] == pytest.approx(len(batched) / len(mine))
        cost = sum(c.total_cost for c in mine)
        assert row["batch_cost"] == pytest.approx(sum(c.total_cost for c in batched), rel=1e-9, abs=1e-12)
        assert row["batch_share_of_spend"] == pytest.approx(row["batch_cost"] / cost if cost else 0, rel=1e-9, abs=1e-12)


@check("Batch turnaround")
def _batch_turnaround(rows, calls, view):
    submitted = {(s.provider, s.batch_id): s.ts for s in STORE_SUBMISSIONS[0]}
    completed = groups([c for c in calls if c.batch_id], lambda c: (c.provider, c.batch_id))
    seconds: dict[str, list[float]] = {}
    requests: dict[str, int] = {}
    for (provider, batch_id), mine in completed.items():
        if (provider, batch_id) in submitted:
            seconds.setdefault(provider, []).append((min(c.ts for c in mine) - submitted[provider, batch_id]).total_seconds())
            requests[provider] = requests.get(provider, 0) + len(mine)
    assert [r["provider"] for r in rows] == sorted(seconds)
    for row in rows:
        mine = seconds[row["provider"]]
        assert (row["batches"], row["requests"]) == (len(mine), requests[row["provider"]])
        assert row["p50_s"] == pytest.approx(r7(mine, 0.5)) and row["max_s"] == pytest.approx(max(mine))


@check("Calls")
def _calls(rows, calls, view):
    assert len(rows) == min(len(calls), 1000)
    if calls:
        assert rows[0]["time"] == max(c.ts for c in calls).replace(tzinfo=None)
    assert sorted(r["trace_id"] for r in rows) == sorted(c.trace_id for c in calls)
    for row in rows:
        assert row["trace_link"] == TRACE_URL_TEMPLATE.replace("{trace_id}", row["trace_id"])
    assert sum(r["total_cost"] or 0 for r in rows) == pytest.approx(sum(c.total_cost for c in calls), rel=1e-9, abs=1e-12)


def check_gauge(store: Seeded, document, view: View, panel) -> None:
    scene = scene_for(store, document, view)
    spend = run(store, panel["targets"][0]["rawSql"], scene).dicts()
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    today = [c for c in view.selected(store.calls) if c.ts >= midnight]
    assert spend[0]["spend_today"] == pytest.approx(sum(c.total_cost for c in today), rel=1e-9, abs=1e-12)
    (config_row,) = run(store, panel["targets"][1]["rawSql"], scene).dicts()
    # What Grafana's configFromData makes of that row: the budget is the maximum, and the needle's colour is
    # green below 80 % of it, orange to 100 %, red above.
    options = panel["transformations"][0]["options"]
    config = field_config(panel["fieldConfig"]["defaults"], config_from_data(options["mappings"], config_row))
    assert config["max"] == DAILY_BUDGET_USD
    steps = config["thresholds"]["steps"]
    assert [active_threshold_color(share * DAILY_BUDGET_USD, steps) for share in (0.0, 0.5, 0.79, 0.85, 1.0, 1.5)] == \
        ["green", "green", "green", "orange", "red", "red"]


def check_annotations(store: Seeded, document, view: View, calls: list[Call]) -> None:
    scene = scene_for(store, document, view)
    for annotation in document["annotations"]["list"]:
        if "target" not in annotation:
            continue
        rows = run(store, annotation["target"]["rawSql"], scene).dicts()
        everything = view.selected(store.calls)  # first-seen looks back before the range
        if annotation["name"] == "Prompt prefix changed":
            firsts = {}
            for call in sorted(everything, key=lambda c: c.ts):
                if call.prompt_name and call.prefix_hash:
                    firsts.setdefault((call.prompt_name, call.prefix_hash), call.ts)
            prompt_first = {p: min(t for (q, _), t in firsts.items() if q == p) for p, _ in firsts}
            expected = sorted((t, f"Prompt {p}: new prefix hash {h}") for (p, h), t in firsts.items()
                              if t > prompt_first[p] and t in {c.ts for c in calls})
        else:
            firsts = {}
            for call in sorted(everything, key=lambda c: c.ts):
                if call.service_version:
                    firsts.setdefault((call.service, call.service_version), call.ts)
            service_first = {s: min(t for (q, _), t in firsts.items() if q == s) for s, _ in firsts}
            expected = sorted((t, f"{s} {v}") for (s, v), t in firsts.items() if t > service_first[s] and t in {c.ts for c in calls})
        assert [(r["time"], r["text"]) for r in rows] == [(t.replace(tzinfo=None), text) for t, text in expected], annotation["name"]


# --- the views ------------------------------------------------------------------------------------------
def views(now: datetime) -> dict[str, View]:
    start = hour(now).replace(tzinfo=timezone.utc)
    return {
        "last-24h": View(now - timedelta(hours=24), now, {}),
        "mid-hour": View(start - timedelta(hours=19) + timedelta(minutes=25, seconds=37, milliseconds=640),
                         start - timedelta(hours=2) + timedelta(minutes=41, seconds=3, milliseconds=250), {}),
        "empty": View(now - timedelta(days=30), now - timedelta(days=29), {}),
        "6h-buckets": View(now - timedelta(hours=24), now, {}, interval_s=6 * 3600),
        # shorter than an hour, around the 429 burst: no whole hour at all, every row comes from the raw branch
        "minutes": View(now - timedelta(hours=2, minutes=4, seconds=13), now - timedelta(hours=1, minutes=59, seconds=20), {}),
    }


def selections(store: Seeded, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """All; each variable on its own with one value; two variables with two values each."""
    calls = store.calls
    values = {
        "service": ["worker"], "environment": ["prod"], "provider": ["openai"], "model": ["acme-large"],
        "tier": ["small"], "task": ["support"], "tenant": ["globex"], "batch_tasks": ["classify"],
        "trace_id": next(c.trace_id for c in calls if c.trace), "prompt": "support", "prefix_hash": "support-v2hash00",
        "user": "user-3", "session": "user-3-s0",
    }
    names = [item["name"] for item in document["templating"]["list"] if item["type"] in ("query", "textbox")]
    out: dict[str, dict[str, Any]] = {"all": {}}
    out |= {f"one-{name}": {name: values[name]} for name in names}
    two = {"model": ["acme-small", "gpt-4o"], "tenant": ["acme", "globex"]}
    if "batch_tasks" in names:
        two["batch_tasks"] = ["classify", "support"]
    out["two-values"] = two
    return out


CASES = [(slug, selection, view) for slug, document in DOCUMENTS.items()
         for selection in ["all", "two-values"] + [f"one-{i['name']}" for i in document["templating"]["list"] if i["type"] in ("query", "textbox")]
         for view in (["last-24h", "mid-hour", "empty"] + (["6h-buckets", "minutes"] if selection == "all" else [])
                      if selection in ("all", "two-values") else ["last-24h"])]


@pytest.mark.parametrize(("slug", "selection", "view_name"), CASES)
def test_every_query_of_the_dashboard_matches_the_raw_rows(workload_store: Seeded, slug: str, selection: str, view_name: str) -> None:
    document = DOCUMENTS[slug]
    view = views(workload_store.now)[view_name]
    view.selection = selections(workload_store, document)[selection]
    scene = scene_for(workload_store, document, view)
    calls = view.selected(view.window(workload_store.calls))
    STORE_CALLS[0] = workload_store.calls
    STORE_SUBMISSIONS[0] = workload_store.submissions
    STORE[0] = workload_store
    if view_name != "empty" and selection == "all":
        assert calls
    for panel in document["panels"]:
        if panel["type"] == "gauge":
            check_gauge(workload_store, document, view, panel)
            continue
        result = run(workload_store, panel["targets"][0]["rawSql"], scene)
        if panel["targets"][0]["format"] == 0 and result.rows:
            assert result.column_names[0] == "time", panel["title"]  # the plugin's time-series format wants time first
        CHECKS[panel["title"]](result.dicts(), calls, view)
        if result.rows:
            check_links(panel, result.column_names, slug)
            follow_links(panel, result.dicts()[0], scene)
    check_annotations(workload_store, document, view, calls)


def follow_links(panel: dict[str, Any], row: dict[str, Any], scene: Scene) -> None:
    """A click on the row's link: Grafana interpolates the URL with the row as data context."""
    from urllib.parse import parse_qs, urlsplit

    clicked = Scene(scene.variables, scene.time_from, scene.time_to, scene.interval_s, data_row=row)
    for override in panel["fieldConfig"]["overrides"]:
        for prop in override["properties"]:
            for link in prop["value"] if prop["id"] == "links" else []:
                url = interpolate(link["url"], clicked)
                assert "$" not in url, url
                if url.startswith("/d/"):
                    target = urlsplit(url)
                    slug = target.path.split("/")[2].removeprefix("llmsight-")
                    query = parse_qs(target.query)
                    variables = {v["name"] for v in DOCUMENTS[slug]["templating"]["list"]}
                    (name,) = [k.removeprefix("var-") for k in query if k.startswith("var-")]
                    assert name in variables and query[f"var-{name}"] == [str(row[override["matcher"]["options"]])]
                    assert query["from"] == [str(int(scene.time_from.timestamp() * 1000))]
                else:
                    assert url == TRACE_URL_TEMPLATE.replace("{trace_id}", row["trace_id"])


def check_links(panel: dict[str, Any], columns: list[str], slug: str) -> None:
    """Every link names a column of the result; every per-model / per-prompt / per-trace table row links to Calls."""
    linked = set()
    for override in panel["fieldConfig"]["overrides"]:
        assert override["matcher"]["options"] in columns, (panel["title"], override["matcher"]["options"])
        for prop in override["properties"]:
            if prop["id"] == "links":
                linked.add(override["matcher"]["options"])
                for link in prop["value"]:
                    assert all(column in columns for column in re.findall(r"__data\.fields\.(\w+)", link["url"] + link["title"]))
    if panel["type"] == "table" and slug != "calls":
        assert {"request_model", "prompt_name", "trace_id"} & set(columns) <= linked, panel["title"]


def test_every_panel_has_a_check() -> None:
    titles = {p["title"] for d in DOCUMENTS.values() for p in d["panels"] if p["type"] != "gauge"}
    assert titles <= set(CHECKS), titles - set(CHECKS)


def test_variable_queries_list_the_values_in_range_including_the_first_partial_hour(workload_store: Seeded) -> None:
    document = DOCUMENTS["spend"]
    view = views(workload_store.now)["mid-hour"]
    scene = scene_for(workload_store, document, view)
    low = math.floor(view.time_from.timestamp())
    in_range = view.window(workload_store.calls)
    first_hour = [c for c in workload_store.calls if view.bucket(c.ts) == hour(view.time_from) and c.ts.timestamp() >= low]
    assert first_hour
    assert set(scene.variables["tenant"].options) >= {c.tenant for c in in_range}
    assert set(scene.variables["task"].options) >= {c.task for c in first_hour}


def test_small_groups_get_exact_quantiles_not_a_merged_digest(workload_store: Seeded) -> None:
    """The rarely used model: 12 streamed calls spread over 12 hours."""
    document = DOCUMENTS["latency"]
    view = views(workload_store.now)["last-24h"]
    scene = scene_for(workload_store, document, view)
    panel = next(p for p in document["panels"] if p["title"] == "TTFT percentiles by model")
    row = next(r for r in run(workload_store, panel["targets"][0]["rawSql"], scene).dicts() if r["request_model"] == "acme-rare")
    ttfts = [c.ttft_ms for c in workload_store.calls if c.model == "acme-rare"]
    assert row["p95_ms"] == pytest.approx(r7(ttfts, 0.95)) and row["method"] == "exact"
    assert all(not isinstance(v, (list, tuple)) for v in row.values())  # no raw array columns in tables

