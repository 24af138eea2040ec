"""Requests, tokens, errors and latency per hour or day over a window, from the hourly pre-aggregates (m009).

Whole hours of the window are summed from usage_hourly, the partial hours at either end (at most two; the current
hour is one) from the audit rows, so counts, tokens, USD and errors are exactly the rows' sums and the cost grows with
the number of hours, not of requests. Latency percentiles are read from the merged log-bucket histograms of
ledger/hourly.py (nearest rank, clamped to the exact fastest and slowest request): within hourly.RELATIVE_ERROR
(about 3.85%) of the exact nearest-rank value, 0.5 ms below 1 ms.

Only the histogram columns between the buckets of the window's fastest and slowest request are summed: the others
are zero in every hourly row of the window (buckets grow with the latency), and reading a column costs a wide-row
scan about as much as summing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from weightwarden.ledger import Ledger, hourly
from weightwarden.ledger import schema as t
from weightwarden.monitor import Window

PERCENTILES = (50, 95, 99)
RELATIVE_ERROR = hourly.RELATIVE_ERROR
ABSOLUTE_ERROR_BELOW_1MS = hourly.ABSOLUTE_ERROR_BELOW_1MS


@dataclass
class Slot:
    """One hour or day (or the whole window): counts and sums, the fastest and slowest request, and the latency
    histogram (bucket index -> requests, the buckets of ledger/hourly.py)."""

    label: str
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    tokens: int = 0
    usd: float = 0.0
    min_ms: float = math.inf
    max_ms: float = -math.inf
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, row: dict[str, Any], buckets: dict[int, int]) -> None:
        """Add one result row (requests, errors, limited, tokens, usd, min_ms, max_ms) and its bucket counts."""
        self.requests += int(row["requests"] or 0)
        self.errors += int(row["errors"] or 0)
        self.rate_limited += int(row["limited"] or 0)
        self.tokens += int(row["tokens"] or 0)
        self.usd += float(row["usd"] or 0.0)
        if row["min_ms"] is not None:
            self.min_ms = min(self.min_ms, float(row["min_ms"]))
            self.max_ms = max(self.max_ms, float(row["max_ms"]))
        for b, n in buckets.items():
            if n:
                self.buckets[b] = self.buckets.get(b, 0) + n

    def merge(self, other: Slot) -> None:
        """Add another slot's counts, sums and histogram to this one."""
        row = {
            "requests": other.requests,
            "errors": other.errors,
            "limited": other.rate_limited,
            "tokens": other.tokens,
            "usd": other.usd,
            "min_ms": other.min_ms if other.requests else None,
            "max_ms": other.max_ms,
        }
        self.add(row, other.buckets)

    def percentile(self, p: int) -> float | None:
        """The nearest-rank percentile from the histogram (within RELATIVE_ERROR of the exact one); None if empty."""
        if not self.requests:
            return None
        counts = [0] * hourly.BUCKETS
        for b, n in self.buckets.items():
            counts[b] = n
        return hourly.nearest_rank(counts, p, self.min_ms, self.max_ms)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Parts:
    """Where each part of a window is read: whole hours [hours) from the hourly tables, the ends from the rows."""

    hours: tuple[datetime, datetime] | None
    ends: list[tuple[datetime, datetime]]

    @classmethod
    def of(cls, window: Window) -> Parts:
        """The whole hours of a window and its partial ends (the whole window when it holds no whole hour)."""
        lo, hi = hourly.ceil_hour(window.since), hourly.hour_of(window.until)
        if lo < hi:
            ends = [(window.since, lo), (hi, window.until)]
            return cls((lo, hi), [(a, b) for a, b in ends if a < b])
        return cls(None, [(window.since, window.until)])


def _step_of(column: sa.ColumnElement[Any], step: str, dialect: str) -> sa.ColumnElement[Any]:
    """The hour or day of a time column, the same on the hourly table and on the rows."""
    if dialect == "sqlite":  # UTC wall time as ISO text: the hour is its first 13 characters
        return sa.func.substr(column, 1, 13 if step == "hour" else 10)
    return sa.func.date_trunc(step, sa.func.timezone("UTC", column))  # cheaper per row than to_char


def _label(value: Any, step: str) -> str:
    """A step's key as text: 2026-12-03 16 for an hour, 2026-12-03 for a day, on either database."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H" if step == "hour" else "%Y-%m-%d")
    return str(value)


def _hourly_part(
    ledger: Ledger, hours: tuple[datetime, datetime], step: str
) -> list[tuple[str, dict[str, Any], dict[int, int]]]:
    """Per hour, labelled with its step: the sums of usage_hourly over whole hours, with the histogram columns that
    can be non-zero (several rows share a day's label) and those that are, by bucket."""
    h = t.usage_hourly
    where = sa.and_(h.c.hour >= hours[0], h.c.hour < hours[1])
    extremes = sa.select(sa.func.min(h.c.min_ms).label("low"), sa.func.max(h.c.max_ms).label("high")).where(where)
    span = ledger.query("traffic latency range", extremes)[0]
    if span["low"] is None:
        return []
    first, last = hourly.bucket_of(float(span["low"])), hourly.bucket_of(float(span["high"]))
    # Grouped by the hour itself, not by its day: the primary key's order then serves the GROUP BY (SQLite sorted
    # every wide row through a temporary B-tree for the day's substr, a third of the query's time), and the hours
    # are folded into days by the caller (Slot.add sums rows with the same label).
    stmt = (
        sa.select(
            h.c.hour.label("s"),
            sa.func.sum(h.c.requests).label("requests"),
            sa.func.sum(h.c.errors).label("errors"),
            sa.func.sum(h.c.rate_limited).label("limited"),
            sa.func.sum(h.c.prompt_tokens + h.c.completion_tokens).label("tokens"),
            sa.func.sum(h.c.usd).label("usd"),
            sa.func.min(h.c.min_ms).label("min_ms"),
            sa.func.max(h.c.max_ms).label("max_ms"),
            *(sa.func.sum(h.c[hourly.BUCKET_COLUMNS[b]]).label(f"b{b}") for b in range(first, last + 1)),
        )
        .where(where)
        .group_by(h.c.hour)
    )
    span_buckets = range(first, last + 1)
    out = []
    for row in ledger.query("traffic per hour (hourly)", stmt):
        counts = {b: int(n) for b in span_buckets if (n := row[f"b{b}"])}
        out.append((_label(row["s"], step), row, counts))
    return out


def _rows_part(ledger: Ledger, ends: list[tuple[datetime, datetime]], step: str) -> list[tuple[str, dict[str, Any]]]:
    """Per step and latency bucket: the sums of the audit rows in the partial hours (a covering index holds them)."""
    r = t.requests
    s = _step_of(r.c.time, step, ledger.dialect).label("s")
    inner = (
        sa.select(
            s,
            hourly.bucket_sql(r.c.total_ms).label("b"),
            r.c.status,
            r.c.prompt_tokens,
            r.c.completion_tokens,
            r.c.cost_usd,
            r.c.total_ms,
        )
        .where(sa.or_(*(sa.and_(r.c.time >= a, r.c.time < b) for a, b in ends)))
        .offset(0)  # keep the bucket CASE in the subquery: evaluated once a row
        .subquery("bucketed")
    )
    c = inner.c
    stmt = sa.select(
        c.s,
        c.b,
        sa.func.count().label("requests"),
        hourly.count_if(c.status >= 500).label("errors"),
        hourly.count_if(c.status == 429).label("limited"),
        sa.func.sum(c.prompt_tokens + c.completion_tokens).label("tokens"),
        sa.func.sum(c.cost_usd).label("usd"),
        sa.func.min(c.total_ms).label("min_ms"),
        sa.func.max(c.total_ms).label("max_ms"),
    ).group_by(c.s, c.b)
    return [(_label(row["s"], step), row) for row in ledger.query("traffic per step (rows)", stmt)]


def traffic(ledger: Ledger, window: Window, step: str) -> tuple[list[Slot], Slot]:
    """Slots per step (hour or day), oldest first, and the window's total."""
    parts = Parts.of(window)
    slots: dict[str, Slot] = {}
    if parts.hours is not None:
        for label, row, buckets in _hourly_part(ledger, parts.hours, step):
            slots.setdefault(label, Slot(label)).add(row, buckets)
    if parts.ends:
        for label, row in _rows_part(ledger, parts.ends, step):  # one row per (step, bucket)
            slots.setdefault(label, Slot(label)).add(row, {int(row["b"]): int(row["requests"])})
    total = Slot("total")
    for slot in slots.values():
        total.merge(slot)
    return [slots[k] for k in sorted(slots)], total
