"""Requests, tokens, errors and latency per hour or day over a window, in one GROUP BY that reads an index alone.

monitor's usage() ranks every row's latency with a window function and unnests guard verdicts, which costs seconds
over hundreds of thousands of rows. The dashboard needs charts, so it groups by (step, latency bucket) instead: the
covering index ix_requests_time_totals (migration m010) holds every column read, and the percentiles come from the
bucket counts, to the bucket's width (see SEGMENTS; nearest rank, reported as the bucket's upper edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from weightwarden.ledger import Ledger
from weightwarden.ledger import schema as t
from weightwarden.monitor import Window

PERCENTILES = (50, 95, 99)
# Latency buckets: (up to ms, width ms). Few buckets per hour keep the result small; the widths grow with the
# latency, so a percentile is never more than about 5-25% above the exact one (10 ms below 200 ms).
SEGMENTS = ((200.0, 10.0), (1000.0, 50.0), (5000.0, 250.0), (30000.0, 1000.0), (600000.0, 10000.0))


def _segments() -> list[tuple[float, float, float, int]]:
    """(start, end, width, first bucket index) of each segment."""
    out, start, first = [], 0.0, 0
    for end, width in SEGMENTS:
        out.append((start, end, width, first))
        first += int((end - start) // width)
        start = end
    return out


def bucket_upper_ms(bucket: int) -> float:
    """The upper edge of a latency bucket (see _bucket)."""
    for start, end, width, first in reversed(_segments()):
        if bucket >= first:
            return min(start + (bucket - first + 1) * width, end)
    return SEGMENTS[0][1]


def _bucket(ms: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    def whole(x: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # SQLite's CAST truncates; PostgreSQL's rounds, so floor first there.
        return sa.cast(x if dialect == "sqlite" else sa.func.floor(x), sa.Integer)

    segs = _segments()
    last_start, last_end, last_width, last_first = segs[-1]
    capped = sa.case((ms >= last_end, last_end - 1), else_=ms)
    return sa.case(
        *((ms < end, first + whole((ms - start) / width)) for start, end, width, first in segs[:-1]),
        else_=last_first + whole((capped - last_start) / last_width),
    )


def _step(name: str, dialect: str) -> sa.ColumnElement[Any]:
    r = t.requests
    if dialect == "sqlite":  # UTC wall time as ISO text: the hour is its first 13 characters
        return sa.func.substr(r.c.time, 1, 13 if name == "hour" else 10)
    return sa.func.date_trunc(name, sa.func.timezone("UTC", r.c.time))  # cheaper per row than to_char


def _label(value: Any, step: str) -> str:
    """A step's key as text: 2026-12-03 16 for an hour, 2026-12-03 for a day, on either database."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H" if step == "hour" else "%Y-%m-%d")
    return str(value)


@dataclass
class Slot:
    """One hour or day (or the whole window): counts and sums, and latency bucket counts."""

    label: str
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    tokens: int = 0
    usd: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        n = int(row["n"])
        self.requests += n
        self.errors += int(row["errors"] or 0)
        self.rate_limited += int(row["limited"] or 0)
        self.tokens += int(row["tokens"] or 0)
        self.usd += float(row["usd"] or 0.0)
        self.buckets[int(row["b"])] = self.buckets.get(int(row["b"]), 0) + n

    def percentile(self, p: int) -> float | None:
        """The nearest-rank percentile, as the upper edge of the bucket that holds it."""
        if not self.requests:
            return None
        rank, seen = -(-p * self.requests // 100), 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return bucket_upper_ms(bucket)
        return None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def traffic(ledger: Ledger, window: Window, step: str) -> tuple[list[Slot], Slot]:
    """Slots per step (hour or day), oldest first, and the window's total."""
    r = t.requests
    s, b = _step(step, ledger.dialect).label("s"), _bucket(r.c.total_ms, ledger.dialect).label("b")
    stmt = (
        sa.select(
            s,
            b,
            sa.func.count().label("n"),
            sa.func.sum(sa.case((r.c.status >= 500, 1), else_=0)).label("errors"),
            sa.func.sum(sa.case((r.c.status == 429, 1), else_=0)).label("limited"),
            sa.func.sum(r.c.prompt_tokens + r.c.completion_tokens).label("tokens"),
            sa.func.sum(r.c.cost_usd).label("usd"),
        )
        .where(r.c.time >= window.since, r.c.time < window.until)
        .group_by(s, b)
    )
    slots: dict[str, Slot] = {}
    total = Slot("total")
    for row in ledger.query("traffic per step", stmt):
        label = _label(row["s"], step)
        slots.setdefault(label, Slot(label)).add(row)
        total.add(row)
    return [slots[k] for k in sorted(slots)], total
