"""Points in time: every time llmsight reads is converted to UTC here, once, whatever offset it was written with.

The store keeps UTC (`DateTime64(6, 'UTC')`), and ClickHouse query parameters carry no offset: an aware time
passed with its offset simply dropped would be read as UTC, hours off. So every parser and every query parameter
goes through these functions; a time written without an offset is taken as UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime) -> datetime:
    """The same instant, aware, in UTC (a naive time is taken as UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time, with or without an offset, as an aware UTC datetime (ValueError if not one)."""
    return as_utc(datetime.fromisoformat(text.strip()))


def utc_parameter(moment: datetime | str) -> datetime:
    """The instant as ClickHouse takes a DateTime64 parameter: naive, in UTC."""
    return (parse_instant(moment) if isinstance(moment, str) else as_utc(moment)).replace(tzinfo=None)
