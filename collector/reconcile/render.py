"""A reconciliation as JSON-able data (the read API's answer, `--json`), CSV, or rich tables."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from llmsight.collector.reconcile.reconcile import Reconciliation


def _number(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value  # exact: decimals travel as strings


def as_json(result: Reconciliation) -> dict[str, Any]:
    def plain(item: Any, **derived: Any) -> dict[str, Any]:
        return {key: _number(value) for key, value in {**asdict(item), **derived}.items()}

    return {
        "window": {"start": result.start.isoformat(), "end": result.end.isoformat()},
        "days": [plain(d, day=d.day.isoformat(), coverage=d.coverage) for d in result.days],
        "tokens": [plain(t, day=t.day.isoformat(), coverage=t.coverage, unexplained_tokens=t.unexplained_tokens,
                         unexplained_usd=t.unexplained_usd, drift_usd=t.drift_usd, provider_rate=t.provider_rate,
                         stored_rate=t.stored_rate) for t in result.tokens],
        "keys": [plain(k, day=k.day.isoformat(), unexplained_tokens=k.unexplained_tokens) for k in result.keys],
        "charges": [plain(c, day=c.day.isoformat()) for c in result.charges],
        "drift": [plain(d, drift=d.drift, fix=d.fix()) for d in result.drift],
        "incomplete_pulls": result.incomplete_pulls,
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2)


def to_csv(data: dict[str, Any]) -> str:
    """One row per (section, line, metric, value)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "line", "metric", "value"])
    for section in ("days", "tokens", "keys", "charges", "drift"):
        for index, row in enumerate(data[section]):
            for metric, value in row.items():
                writer.writerow([section, index, metric, value])
    return out.getvalue()


def _usd(value: Any, currency: str = "USD") -> str:
    if value is None:
        return "—"
    amount = float(value)
    text = f"{amount:,.6f}" if abs(amount) < 1 else f"{amount:,.2f}"
    return f"${text}" if currency == "USD" else f"{text} {currency}"


def _share(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def bill_line(data: dict[str, Any]) -> str | None:
    """The report's "vs the bill" line: the window's USD totals, or None when nothing was pulled."""
    days = [d for d in data["days"] if d["currency"] == "USD"]
    if not days:
        return None
    bill = sum(Decimal(d["bill"]) for d in days)
    explained = sum(Decimal(d["explained"]) for d in days)
    unexplained = sum(Decimal(d["unexplained"]) for d in days)
    drift = sum(Decimal(d["drift"]) for d in days)
    tokens_bill = bill - sum(Decimal(d["charges"]) for d in days)
    coverage = f" ({float(explained / tokens_bill):.1%})" if tokens_bill else ""
    others = sorted({d["currency"] for d in data["days"]} - {"USD"})
    return (f"vs the bill: providers billed {_usd(bill)}; llmsight explains {_usd(explained)}{coverage}, "
            f"unexplained {_usd(unexplained)}, price drift {_usd(drift)}"
            + (f" (also billed in {', '.join(others)}: see llmsight reconcile show)" if others else ""))


def print_reconciliation(data: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]The bill, reconciled {data['window']['start'][:10]} → {data['window']['end'][:10]} UTC[/bold]",
                  highlight=False)
    if not data["days"]:
        console.print("no provider reports pulled for this window: run `llmsight reconcile pull` (needs admin keys)")
    table = Table(title="Per day and provider", title_justify="left")
    for column in ("day", "provider", "bill", "explained", "coverage", "unexplained", "price drift", "other charges", ""):
        table.add_column(column, justify="left" if column in ("day", "provider", "") else "right")
    for d in data["days"]:
        if Decimal(d["bill"]) == 0:
            continue  # a day the provider billed nothing
        table.add_row(d["day"], d["provider"], _usd(d["bill"], d["currency"]), _usd(d["explained"], d["currency"]),
                      _share(d["coverage"]), _usd(d["unexplained"], d["currency"]), _usd(d["drift"], d["currency"]),
                      _usd(d["charges"], d["currency"]), "" if d["complete"] else "day not over")
    console.print(table)
    missing = [k for k in data["keys"] if k["unexplained_tokens"]]
    if missing:
        table = Table(title="Unexplained, by key and model", title_justify="left")
        for column in ("day", "provider", "key", "model", "tokens", "billed", "stored", "unexplained", "unexplained $"):
            table.add_column(column, justify="left" if column in ("day", "provider", "key", "model", "tokens") else "right")
        for k in missing:
            table.add_row(k["day"], k["provider"], k["key_hint"] or k["api_key_id"] or "(no key)", k["model"],
                          k["token_class"], f"{k['provider_tokens']:,}", f"{k['stored_tokens']:,}",
                          f"{k['unexplained_tokens']:,}", _usd(k["unexplained_usd"]))
        console.print(table)
    drifting = [d for d in data["drift"] if d["drift"] is not None and abs(d["drift"]) >= 0.0005]
    if drifting:
        table = Table(title="Price drift (provider $ per token vs llmsight's, same tokens)", title_justify="left")
        for column in ("provider", "model", "provider $", "llmsight $", "drift", "fix in the prices file"):
            table.add_column(column, justify="right" if column in ("provider $", "llmsight $", "drift") else "left")
        for d in drifting:
            table.add_row(d["provider"], d["model"], _usd(d["provider_usd"]), _usd(d["stored_usd"]),
                          f"{d['drift']:+.2%}", d["fix"])
        console.print(table)
    if data["charges"]:
        table = Table(title="Charges that are not per-call tokens", title_justify="left")
        for column in ("day", "provider", "line item", "type", "amount"):
            table.add_column(column, justify="right" if column == "amount" else "left")
        for c in data["charges"]:
            table.add_row(c["day"], c["provider"], c["line_item"], c["cost_type"], _usd(c["amount"], c["currency"]))
        console.print(table)
    for line in data["incomplete_pulls"]:
        console.print(f"[yellow]incomplete pull[/yellow] {line}", highlight=False)
