"""Render a report (from queries.build_report) as rich tables, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from rich.console import Console
from rich.table import Table


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.0f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def print_report(report: dict[str, Any], console: Console) -> None:
    t = report["totals"]
    console.print(
        f"[bold]LLM calls {report['window']['start'][:16]} → {report['window']['end'][:16]} UTC[/bold]\n"
        f"{t['calls']:,} calls · {_usd(t['total_cost'])} · {t['input_tokens']:,} input tokens "
        f"({t['cache_hit_ratio']:.0%} from cache) · {t['output_tokens']:,} output tokens · "
        f"{t['errors']:,} errors · {t['retries']:,} retries · {t['unpriced_calls']:,} unpriced",
        highlight=False,
    )
    if report.get("vs_the_bill"):
        console.print(report["vs_the_bill"], highlight=False)
    for key, title in (("cost_by_model", "Cost by model"), ("cost_by_task", "Cost by task"), ("cost_by_tenant", "Cost by tenant")):
        table = Table(title=title, title_justify="left")
        for column in ("", "calls", "cost", "vs last week"):
            table.add_column(column, justify="right" if column else "left")
        for row in report[key]:
            table.add_row(row["key"] or "(none)", f"{row['calls']:,}", _usd(row["cost"]), _pct(row["change_pct"]))
        console.print(table)
    table = Table(title=f"Prompt cache — saved {_usd(t['saved_by_cache_usd'])}", title_justify="left")
    for column in ("model", "input tokens", "cache reads", "cache writes", "hit ratio", "saved"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in report["cache"]:
        table.add_row(row["model"], f"{row['input_tokens']:,}", f"{row['cache_read_tokens']:,}", f"{row['cache_write_tokens']:,}",
                      f"{row['hit_ratio']:.0%}", _usd(row["saved_usd"]))
    console.print(table)
    table = Table(title="Latency (ms)", title_justify="left")
    for column in ("model", "calls", "TTFT p50", "TTFT p95", "TTFT p99", "duration p50", "p95", "p99"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in report["latency"]:
        table.add_row(row["model"], f"{row['calls']:,}", *(_ms(row[f"ttft_p{q}_ms"]) for q in (50, 95, 99)),
                      *(_ms(row[f"duration_p{q}_ms"]) for q in (50, 95, 99)))
    console.print(table)
    table = Table(title="Errors and retries", title_justify="left")
    for column in ("provider", "calls", "errors", "429", "5xx/529", "retries", "retried calls"):
        table.add_column(column, justify="left" if column == "provider" else "right")
    for row in report["errors"]:
        table.add_row(row["provider"], *(f"{row[k]:,}" for k in ("calls", "errors", "rate_limited", "overloaded", "retries", "retried_calls")))
    console.print(table)
    if report.get("batch"):
        table = Table(title="Batch APIs (requests inside OpenAI / Anthropic batches, at batch prices)", title_justify="left")
        for column in ("provider", "batch calls", "share of calls", "batch spend", "share of spend"):
            table.add_column(column, justify="left" if column == "provider" else "right")
        for row in report["batch"]:
            table.add_row(row["provider"], f"{row['batch_calls']:,}", f"{row['share_of_calls']:.0%}", _usd(row["batch_cost"]),
                          f"{row['share_of_spend']:.0%}")
        console.print(table)
    if report.get("budgets"):
        table = Table(title="Budgets (this period, with the forecast for its end)", title_justify="left")
        for column in ("budget", "scope", "spent", "budget ", "projected", "crosses on", "days left"):
            table.add_column(column.strip(), justify="left" if column in ("budget", "scope", "crosses on") else "right")
        for row in report["budgets"]:
            over = row["projected"] > row["amount"]
            table.add_row(f"{row['budget']} ({row['period']})", row["scope"], _usd(row["spent"]), _usd(row["amount"]),
                          f"[red]{_usd(row['projected'])}[/red]" if over else _usd(row["projected"]),
                          row["crossing"] or "-", f"{row['days_to_go']}")
        console.print(table)
    if report["unpriced"]:
        console.print("[yellow]Unpriced calls[/yellow] (add prices with --prices-file): " + ", ".join(
            f"{r['provider']}/{r['model']} ×{r['calls']}" for r in report["unpriced"]))
    for server in report.get("unpriced_servers", []):
        console.print(
            f"[yellow]{server['calls']:,} calls to {server['server']} ({server['provider']})[/yellow] are unpriced: no "
            "price list knows that server and no prices file declares it (a local model server stays unpriced). If it "
            "bills at a vendor's list prices (a gateway, a stand-in for the vendor), add to the prices file:",
            highlight=False,
        )
        console.print(server["prices_file_entry"], markup=False, highlight=False)


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float as None: JSON has no Infinity or NaN (a row stored with an infinite
    time would otherwise make the whole document invalid)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(json_safe(report), indent=2, default=str, allow_nan=False)


def to_csv(report: dict[str, Any]) -> str:
    """One row per (section, key, metric, value): easy to load anywhere."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "metric", "value"])
    for metric, value in report["totals"].items():
        writer.writerow(["totals", "", metric, value])
    if report.get("vs_the_bill"):
        writer.writerow(["vs_the_bill", "", "line", report["vs_the_bill"]])
    for section in ("cost_by_model", "cost_by_task", "cost_by_tenant", "cache", "latency", "errors", "unpriced", "batch", "budgets"):
        for row in report.get(section, []):
            key = row.get("key", row.get("model", row.get("provider", f"{row.get('budget')}/{row.get('scope')}")))
            for metric, value in row.items():
                if metric not in ("key",):
                    writer.writerow([section, key, metric, value])
    return out.getvalue()
