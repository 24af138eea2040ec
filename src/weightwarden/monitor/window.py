"""Time windows as users write them: `7d`, `12h`, `2026-11-01..2026-11-30`, `30d..7d`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from weightwarden.errors import ConfigError
from weightwarden.ledger.records import utcnow

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_HINT = "write 7d, 12h, 90m, 2w, a date (2026-11-01), or a range A..B (2026-11-01..2026-11-30, 30d..7d)"


@dataclass(frozen=True)
class Window:
    """A half-open time range: since <= time < until, both UTC."""

    since: datetime
    until: datetime
    text: str = ""

    def __str__(self) -> str:
        return f"{self.since:%Y-%m-%d %H:%M}..{self.until:%Y-%m-%d %H:%M} UTC"

    def as_dict(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "text": self.text}


def parse_span(text: str) -> timedelta | None:
    """A duration like 7d, 12h, 90m, 30s, 2w, or None when text is not one."""
    m = _SPAN.fullmatch(text.strip().lower())
    if m is None:
        return None
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def _point(text: str, now: datetime, *, end: bool) -> datetime:
    """One end of a range: a span ago, `now`, a date (an end date counts whole) or an ISO time."""
    text = text.strip()
    if text.lower() == "now":
        return now
    if (span := parse_span(text)) is not None:
        return now - span
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"cannot read {text!r} as a time: {_HINT}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(text: str, now: datetime | None = None) -> Window:
    """`7d` is the last 7 days up to now; `A..B` runs from A to B, where a date B counts whole (up to its midnight)."""
    now = now or utcnow()
    if ".." in text:
        left, _, right = text.partition("..")
        since, until = _point(left, now, end=False), _point(right or "now", now, end=True)
    elif (span := parse_span(text)) is not None:
        since, until = now - span, now
    else:
        since, until = _point(text, now, end=False), now
    if since >= until:
        raise ConfigError(f"the window {text!r} is empty ({since:%Y-%m-%d %H:%M} is not before {until:%Y-%m-%d %H:%M})")
    return Window(since, until, text)
