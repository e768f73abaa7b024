"""Report windows: `--since 24h | 7d | 90m | 2026-11-01[T12:00]`, `--until` likewise (default: now)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from llmsight.collector.instants import as_utc
from llmsight.errors import LLMSightError

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class WindowError(LLMSightError, ValueError):
    pass


# Times a window may name: the store's DateTime64 range, with room for the week before (the report's comparison).
# Year 1 overflowed in that arithmetic: a traceback from the CLI, a 500 from the read API.
EARLIEST_TIME = datetime(1970, 1, 8, tzinfo=timezone.utc)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)


def in_range(moment: datetime) -> datetime:
    """`moment` in UTC, or WindowError when it is outside [EARLIEST_TIME, LATEST_TIME]."""
    try:
        utc = as_utc(moment)
    except OverflowError:  # an offset that takes it out of datetime's range (year 1 at +05:00)
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise WindowError(f"must be between {EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d}, not {moment:%Y-%m-%d}")
    return utc


def parse_time(text: str, now: datetime) -> datetime:
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)  # converted to UTC by in_range, which knows the bounds
    except ValueError:
        raise WindowError(f"{text!r} is neither a duration (30m, 24h, 7d, 2w) nor an ISO date/time") from None
    try:
        return in_range(moment)
    except WindowError as exc:
        raise WindowError(f"{text!r}: {exc}") from None


@dataclass(frozen=True)
class Window:
    """[start, end), both aware UTC whatever offset they were given with."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))

    @classmethod
    def parse(cls, since: str, until: str | None = None, now: datetime | None = None) -> Window:
        now = now or datetime.now(timezone.utc)
        start = parse_time(since, now)
        end = parse_time(until, now) if until else now
        if start >= end:
            raise WindowError(f"the window is empty: --since {start:%Y-%m-%d %H:%M} is not before --until {end:%Y-%m-%d %H:%M}")
        return cls(start, end)

    def previous_week(self) -> Window:
        return Window(self.start - timedelta(days=7), self.end - timedelta(days=7))
