"""What each panel of the Bill dashboard must show, computed by `llmsight reconcile`'s own read (Python, Decimal,
the key-hint matching rule) over the same store: the dashboard's SQL and the CLI agree or a check fails."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmsight.collector.reconcile.reconcile import Reconciliation, reconcile

BILL_TITLES = ("Bill and llmsight per day", "Coverage by model", "Coverage by API key", "Price drift by model")


def reconciled(query: Callable[..., Any], time_from: datetime, time_to: datetime) -> Reconciliation:
    """The reconciliation of the UTC days a dashboard time range overlaps."""
    first = time_from.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    last = time_to.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return reconcile(query, first, last)


def _day(value: Any) -> str:
    return str(value)[:10]


def check_bill_panel(title: str, rows: list[dict[str, Any]], expected: Reconciliation) -> None:
    if title == "Bill and llmsight per day":
        want: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for d in expected.days:
            if d.currency == "USD":
                want[(d.day.isoformat(), d.provider)][0] += float(d.bill)
                want[(d.day.isoformat(), d.provider)][2] += float(d.unexplained)
        for t in expected.tokens:
            want[(t.day.isoformat(), t.provider)][1] += float(t.stored_usd)
        want = {key: values for key, values in want.items() if any(values)}
        got = {(_day(r["time"]), r["provider"]): [r["billed"], r["llmsight"], r["unexplained"]] for r in rows}
        assert got.keys() == want.keys()
        for key, values in want.items():
            assert got[key] == pytest.approx(values, rel=1e-9, abs=1e-12), key
    elif title == "Coverage by model":
        by_model: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
        for t in expected.tokens:
            line = by_model[(t.day.isoformat(), t.provider, t.model)]
            line[0] += t.provider_tokens
            line[1] += t.stored_tokens
            line[2] += float(t.unexplained_usd or 0)
        got = {(_day(r["day"]), r["provider"], r["model"]): [r["billed_tokens"], r["seen_tokens"], r["unexplained_usd"]]
               for r in rows}
        assert got.keys() == by_model.keys()
        for key, values in by_model.items():
            assert got[key] == pytest.approx(values, rel=1e-9, abs=1e-12), key
    elif title == "Coverage by API key":
        by_key: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        for k in expected.keys:
            line = by_key[(k.day.isoformat(), k.provider, k.model, k.key_hint or k.api_key_id)]
            line[0] += k.provider_tokens
            line[1] += k.stored_tokens
        got = {(_day(r["day"]), r["provider"], r["model"], r["key_hint"]): [r["billed_tokens"], r["seen_tokens"]]
               for r in rows}
        assert got == dict(by_key)
    elif title == "Price drift by model":
        want_drift = {(d.provider, d.model): d.drift for d in expected.drift}
        got_drift = {(r["provider"], r["model"]): r["drift"] for r in rows}
        assert got_drift.keys() == want_drift.keys()
        for key, drift in want_drift.items():
            assert got_drift[key] == pytest.approx(drift, abs=1e-9), key
    else:
        raise AssertionError(f"no check for {title!r}")
