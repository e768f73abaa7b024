"""The bill, reconciled, end to end: instrumented SDK calls stored by a real collector, calls nobody instrumented
(one with another key) billed by the local provider, its admin APIs pulled over HTTP by llmsight's real client,
and the reconciliation read from ClickHouse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import openai
import pytest
from pydantic import SecretStr

from llmsight.collector.app import Collector
from llmsight.collector.reconcile.http import AdminClient
from llmsight.collector.reconcile.pull import pull
from llmsight.collector.reconcile.reconcile import PLACES, reconcile
from llmsight.collector.reconcile.settings import AdminKeyError, ProviderAccess
from llmsight.testing.admin import class_costs, class_tokens, key_id
from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer
from llmsight.testing.simulation import Billed

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, OPENAI_OTHER_KEY

OPENAI_MODEL, ANTHROPIC_MODEL = "gpt-4o-mini", "claude-sonnet-4-5"


def _instrumented_calls(server: ProviderServer, prompts: list[str]) -> None:
    chat = openai.OpenAI(base_url=server.openai_base_url, api_key=OPENAI_KEY)
    claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key=ANTHROPIC_KEY)
    for prompt in prompts:
        chat.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": prompt}])
        claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=[{"role": "user", "content": prompt}])


def _uninstrumented_calls(server: ProviderServer) -> None:
    """Three calls from a service nobody instrumented: plain HTTP, one of them with another key."""
    message = {"role": "user", "content": "a batch job nobody instrumented"}
    for key in (OPENAI_KEY, OPENAI_OTHER_KEY):
        httpx.post(f"{server.openai_base_url}/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": OPENAI_MODEL, "messages": [message]}).raise_for_status()
    httpx.post(f"{server.anthropic_base_url}/v1/messages",
               headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
               json={"model": ANTHROPIC_MODEL, "max_tokens": 64, "messages": [message]}).raise_for_status()


def _accesses(server: ProviderServer) -> list[ProviderAccess]:
    keys = server.admin.config.admin_keys
    return [ProviderAccess("openai", server.openai_base_url, SecretStr(keys["openai"])),
            ProviderAccess("anthropic", server.anthropic_base_url, SecretStr(keys["anthropic"]))]


def _fast_client(access: ProviderAccess) -> AdminClient:
    return AdminClient(access, max_wait_s=0.05, backoff_s=0.01)


def _today() -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    return start, start + timedelta(days=3)


def _expected(entries: list[Billed], discounts: dict[tuple[str, str], Decimal] | None = None) -> dict[tuple[str, str, str], Any]:
    """(provider, model, token class) -> (tokens, dollars) the provider billed for these calls."""
    out: dict[tuple[str, str, str], Any] = {}
    for e in entries:
        costs = class_costs(e, discounts or {})
        for token_class, tokens in class_tokens(e).items():
            if tokens:
                tokens_so_far, usd = out.get((e.provider, e.model, token_class), (0, Decimal(0)))
                out[(e.provider, e.model, token_class)] = (tokens_so_far + tokens, usd + costs[token_class])
    return out


def _run(collector: Collector, server: ProviderServer) -> Any:
    assert collector.flush(30)
    assert collector.store is not None
    summary = pull(collector.store, _accesses(server), timedelta(days=2), client=_fast_client)
    assert summary.complete, summary
    start, end = _today()
    return reconcile(collector.store.read, start, end)


def test_uninstrumented_calls_are_unexplained_tokens_and_dollars(collector, traced, provider_server) -> None:
    provider_server.admin.config.page_size = 1  # every bucket a page of its own
    _instrumented_calls(provider_server, ["hello", "how are you", "summarise this"])
    instrumented = len(provider_server.ledger.entries())
    _uninstrumented_calls(provider_server)
    escaped = provider_server.ledger.entries()[instrumented:]
    assert len(escaped) == 3

    result = _run(collector, provider_server)

    expected = _expected(escaped)
    unexplained = {(t.provider, t.model, t.token_class): (t.unexplained_tokens, t.unexplained_usd)
                   for t in result.tokens if t.unexplained_tokens}
    assert unexplained == {key: (tokens, usd.quantize(PLACES)) for key, (tokens, usd) in expected.items()}
    for t in result.tokens:  # the instrumented calls are priced as the provider bills them: no drift
        assert abs(t.drift_usd) < Decimal("1e-9"), t
    # By key: the other key's call is all it used; the first key's uninstrumented calls are what it did unseen.
    other = [k for k in result.keys if k.api_key_id == key_id("openai", OPENAI_OTHER_KEY)]
    assert other and all(k.stored_tokens == 0 and k.key_hint == "sk-proj-...Kqrs" for k in other)
    assert sum(k.unexplained_tokens for k in other) == sum(class_tokens(escaped[1]).values())
    first = [k for k in result.keys if k.api_key_id == key_id("openai", OPENAI_KEY)]
    assert sum(k.unexplained_tokens for k in first) == sum(class_tokens(escaped[0]).values())
    assert all(k.stored_tokens > 0 for k in first)
    (openai_day,) = [d for d in result.days if d.provider == "openai" and d.bill]
    assert openai_day.unexplained == sum(usd for (p, _, _), (_, usd) in expected.items() if p == "openai").quantize(PLACES)
    assert 0 < openai_day.coverage < 1


def test_a_discount_missing_from_the_prices_file_is_price_drift(collector, traced, provider_server) -> None:
    provider_server.admin.config.discounts[("openai", OPENAI_MODEL)] = Decimal("0.10")
    _instrumented_calls(provider_server, ["one", "two"])
    result = _run(collector, provider_server)
    drift = {(d.provider, d.model): d for d in result.drift}
    assert drift[("openai", OPENAI_MODEL)].drift == pytest.approx(-0.10, abs=1e-9)
    assert "percent: 10" in drift[("openai", OPENAI_MODEL)].fix()
    assert drift[("anthropic", ANTHROPIC_MODEL)].drift == pytest.approx(0.0, abs=1e-9)
    assert all(t.unexplained_tokens == 0 for t in result.tokens)  # every call was seen: only the price differs


def test_pulling_twice_leaves_one_copy(collector, traced, provider_server) -> None:
    _instrumented_calls(provider_server, ["x"])
    _uninstrumented_calls(provider_server)
    first = _run(collector, provider_server)
    second = _run(collector, provider_server)
    assert first.tokens == second.tokens and first.keys == second.keys and first.days == second.days


def test_a_429_mid_pull_recovers_and_a_provider_that_keeps_failing_is_said_so(collector, traced, provider_server) -> None:
    _uninstrumented_calls(provider_server)
    assert collector.store is not None
    provider_server.faults.add(Fault.http_status(429, times=2, provider="openai-admin"))
    summary = pull(collector.store, _accesses(provider_server), timedelta(days=2), client=_fast_client)
    assert summary.complete and provider_server.failures[429] == 2
    provider_server.faults.add(Fault.http_status(503, times=100, provider="anthropic-admin"))
    summary = pull(collector.store, _accesses(provider_server), timedelta(days=2), client=_fast_client)
    states = {e.endpoint: (e.status, e.detail) for e in summary.endpoints}
    assert states["openai.usage.completions"][0] == "complete"
    assert states["anthropic.usage_report.messages"][0] == "incomplete"
    assert "HTTP 503 after 5 attempts" in states["anthropic.usage_report.messages"][1]
    result = reconcile(collector.store.read, *_today())
    assert any("anthropic.usage_report.messages" in line for line in result.incomplete_pulls)
    # The earlier complete pull of Anthropic's buckets still stands: nothing half-written replaced it.
    assert sum(t.provider_tokens for t in result.tokens if t.provider == "anthropic") == sum(
        sum(class_tokens(e).values()) for e in provider_server.ledger.entries() if e.provider == "anthropic")


def test_a_wrong_admin_key_names_the_provider_and_the_variable(collector, provider_server) -> None:
    assert collector.store is not None
    wrong = [ProviderAccess("anthropic", provider_server.anthropic_base_url, SecretStr("sk-ant-admin01-wrong-secret"))]
    with pytest.raises(AdminKeyError) as raised:
        pull(collector.store, wrong, timedelta(days=1), client=_fast_client)
    assert "Anthropic" in str(raised.value) and "LLMSIGHT_ANTHROPIC_ADMIN_KEY" in str(raised.value)
    assert "wrong-secret" not in str(raised.value)


def test_the_bill_alert_rules_fire_in_the_built_in_evaluator(collector, traced, provider_server) -> None:
    from llmsight.alerts.evaluator import AlertEvaluator
    from llmsight.alerts.rules import AlertsConfig

    provider_server.admin.config.discounts[("openai", OPENAI_MODEL)] = Decimal("0.10")
    _instrumented_calls(provider_server, ["one", "two", "three"])
    _uninstrumented_calls(provider_server)
    result = _run(collector, provider_server)
    assert collector.store is not None
    # Evaluated a day later, today is the last completed day the rules look at.
    engine = AlertEvaluator(collector.store.query, AlertsConfig(params={"unexplained_spend_min_usd": 0.0}))
    fired = {(t.rule_id, tuple(sorted(t.labels.items()))): t
             for t in engine.evaluate_once(datetime.now(timezone.utc) + timedelta(days=1)) if t.status == "firing"}
    openai_labels = (("model", OPENAI_MODEL), ("provider", "openai"))
    drift = fired[("price_drift", openai_labels)]
    assert drift.value == pytest.approx(0.10, abs=1e-6) and "-10.0%" in drift.summary
    assert ("price_drift", (("model", ANTHROPIC_MODEL), ("provider", "anthropic"))) not in fired
    (day,) = [d for d in result.days if d.provider == "openai" and d.bill]
    unexplained = sum(t.unexplained_usd for t in result.tokens if t.provider == "openai" and t.model == OPENAI_MODEL)
    alert = fired[("unexplained_spend", openai_labels)]
    assert alert.value == pytest.approx(float(unexplained / day.bill), rel=1e-6)
    assert OPENAI_MODEL in alert.summary and "reconcile show" in alert.summary


def test_a_bucket_of_unexpected_shape_is_skipped_and_counted(collector, provider_server) -> None:
    assert collector.store is not None
    _uninstrumented_calls(provider_server)
    provider_server.admin.config.malformed.add("/v1/organization/usage/completions")
    summary = pull(collector.store, _accesses(provider_server), timedelta(days=2), client=_fast_client)
    usage = next(e for e in summary.endpoints if e.endpoint == "openai.usage.completions")
    assert usage.status == "complete" and usage.skipped == 1 and "input_tokens" in usage.detail
    assert usage.buckets == 2  # the other days of the window were written
    pulls = collector.store.query("SELECT skipped, detail FROM llmsight.provider_pulls "
                                  "WHERE endpoint = 'openai.usage.completions'").rows
    assert pulls == [(1, usage.detail)]
    result = reconcile(collector.store.read, *_today())
    assert not any(t.provider_tokens for t in result.tokens if t.provider == "openai")  # nothing half-read
    assert any(t.provider_tokens for t in result.tokens if t.provider == "anthropic")
