"""Usage and cost from the gateway's audit rows, aggregated in SQL on SQLite and PostgreSQL alike.

Two ways to the same totals. From the hourly pre-aggregates (the default; migration m009, ledger/hourly.py): whole
hours of the window are summed from usage_hourly and usage_hourly_guard, the partial hours at either end from the
audit rows (bucketed the same way), all in one UNION ALL per report, so the cost grows with the number of
(hour, key, model, route) rows, not of requests. Counts, tokens, USD and verdicts are exact; latency percentiles
are read from the merged log-bucket histogram, within hourly.RELATIVE_ERROR (about 3.85%) of the exact
nearest-rank value (0.5 ms below 1 ms), and the mean is exact. Grouping by status, which the hourly rows do not
keep, and windows with no whole hour, read the rows.

From the rows (source="rows"): a window-function pass ranks each group's latencies (ROW_NUMBER and COUNT over the
group), and one GROUP BY reads counts, sums and the exact nearest-rank percentiles p50/p95/p99 from it (the value at
rank ceil(p*n), the same definition as PostgreSQL's percentile_disc; the rank test is done in integers, so no
rounding can move it). Guard verdicts are counted by a second query that unnests each row's verdict lists with the
dialect's JSON table function (json_each on SQLite, json_array_elements on PostgreSQL). Nothing is looped over in
Python but the groups themselves, so totals are exactly the sums of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from weightwarden.errors import ConfigError
from weightwarden.ledger import Ledger, hourly
from weightwarden.ledger import schema as tables
from weightwarden.monitor.window import Window

GROUPS = ("key", "model", "day", "hour", "route", "status")
HOURLY_GROUPS = ("key", "model", "day", "hour", "route")  # what usage_hourly keeps
SOURCES = ("auto", "hourly", "rows")
PERCENTILES = (50, 95, 99)

_req = tables.requests


def _group_column(name: str, dialect: str) -> sa.ColumnElement[Any]:
    t = _req
    if name in ("day", "hour"):
        # SQLite keeps UTC wall time as ISO text (see UTCDateTime), so the day is its first 10 characters.
        if dialect == "sqlite":
            return sa.func.substr(t.c.time, 1, 10 if name == "day" else 13)
        pattern = "YYYY-MM-DD" if name == "day" else "YYYY-MM-DD HH24"
        return sa.func.to_char(sa.func.timezone("UTC", t.c.time), pattern)
    column = {"key": t.c.key_id, "model": t.c.model, "route": t.c.route, "status": t.c.status}[name]
    return column


def parse_groups(text: str | Sequence[str]) -> tuple[str, ...]:
    """`key,model,day` as a tuple; an empty text means one row for everything."""
    names = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if unknown := [n for n in names if n not in GROUPS]:
        raise ConfigError(
            f"cannot group usage by {', '.join(unknown)}: use any of {', '.join(GROUPS)}, comma-separated"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"--by names a group twice ({','.join(names)}): give each once")
    return tuple(names)


@dataclass(frozen=True)
class UsageRow:
    """The usage of one group (one key, model, day... as asked) over a window.

    errors: 5xx answers (the gateway or the model failed); client_errors: other 4xx than 429; rate_limited: 429.
    latency_ms: nearest-rank percentiles of the whole request time; guard: triggered verdicts by side:label:action.
    """

    group: dict[str, Any]
    requests: int
    prompt_tokens: int
    completion_tokens: int
    usd: float
    errors: int
    client_errors: int
    rate_limited: int
    latency_ms: dict[str, float | None]
    mean_latency_ms: float | None
    guard: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def rate(self, count: int) -> float:
        return count / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.tokens,
            "usd": self.usd,
            "errors": self.errors,
            "error_rate": self.rate(self.errors),
            "client_errors": self.client_errors,
            "rate_limited": self.rate_limited,
            "rate_limited_rate": self.rate(self.rate_limited),
            **{f"latency_p{p}_ms": self.latency_ms.get(f"p{p}") for p in PERCENTILES},
            "latency_mean_ms": self.mean_latency_ms,
            "guard": dict(self.guard),
        }


@dataclass(frozen=True)
class UsageReport:
    """Rows by group, and the total over the whole window (same definitions)."""

    window: Window
    by: tuple[str, ...]
    rows: list[UsageRow]
    total: UsageRow
    source: str = "rows"  # rows: every number exact; hourly: latency percentiles within latency_relative_error

    @property
    def latency_relative_error(self) -> float:
        """The most a reported percentile may differ from the exact nearest-rank one, relative to it (0: exact)."""
        return hourly.RELATIVE_ERROR if self.source == "hourly" else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.as_dict(),
            "by": list(self.by),
            "source": self.source,
            "latency_relative_error": self.latency_relative_error,
            "rows": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
        }


def _in_window(stmt: sa.Select[Any], window: Window, model: str | None) -> sa.Select[Any]:
    stmt = stmt.where(_req.c.time >= window.since, _req.c.time < window.until)
    return stmt.where(_req.c.model == model) if model is not None else stmt


def _totals_statement(by: Sequence[str], dialect: str, window: Window, model: str | None) -> sa.Select[Any]:
    t = _req
    groups = [_group_column(name, dialect).label(f"g_{name}") for name in by]
    partition = [g for g in groups] or None
    inner = _in_window(
        sa.select(
            *groups,
            t.c.status,
            t.c.prompt_tokens,
            t.c.completion_tokens,
            t.c.cost_usd,
            t.c.total_ms,
            sa.func.row_number().over(partition_by=partition, order_by=t.c.total_ms).label("rn"),
            sa.func.count().over(partition_by=partition).label("n"),
        ),
        window,
        model,
    ).subquery("ranked")
    r = inner.c

    def count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    def percentile(p: int) -> sa.ColumnElement[Any]:
        # rank >= p% of n, in integers: the least such rank is ceil(p*n/100), the nearest rank.
        return sa.func.min(sa.case((r.rn * 100 >= r.n * p, r.total_ms), else_=None)).label(f"p{p}")

    gcols = [r[f"g_{name}"] for name in by]
    return (
        sa.select(
            *gcols,
            sa.func.count().label("requests"),
            sa.func.coalesce(sa.func.sum(r.prompt_tokens), 0).label("prompt_tokens"),
            sa.func.coalesce(sa.func.sum(r.completion_tokens), 0).label("completion_tokens"),
            sa.func.coalesce(sa.func.sum(r.cost_usd), 0.0).label("usd"),
            count_if(r.status >= 500).label("errors"),
            count_if(sa.and_(r.status >= 400, r.status < 500, r.status != 429)).label("client_errors"),
            count_if(r.status == 429).label("rate_limited"),
            sa.func.avg(r.total_ms).label("mean_ms"),
            *(percentile(p) for p in PERCENTILES),
        )
        .group_by(*gcols)
        .order_by(*gcols)
    )


def _verdicts_statement(by: Sequence[str], dialect: str, window: Window, model: str | None) -> sa.Select[Any]:
    """Triggered verdicts (label other than clean) counted by group, side, label and action."""
    groups = [_group_column(name, dialect).label(f"g_{name}") for name in by]
    parts = [
        _in_window(stmt, window, model)
        for stmt in hourly.verdicts_from_rows(_req, groups, None, dialect, encode_action=False)
    ]
    union = sa.union_all(*parts).subquery("verdicts")
    u = union.c
    gcols = [u[f"g_{name}"] for name in by]
    return sa.select(*gcols, u.side, u.label, u.action, sa.func.count().label("n")).group_by(
        *gcols, u.side, u.label, u.action
    )


def _row(group: dict[str, Any], data: dict[str, Any], guard: dict[str, int]) -> UsageRow:
    return UsageRow(
        group=group,
        requests=int(data["requests"]),
        prompt_tokens=int(data["prompt_tokens"]),
        completion_tokens=int(data["completion_tokens"]),
        usd=float(data["usd"]),
        errors=int(data["errors"]),
        client_errors=int(data["client_errors"]),
        rate_limited=int(data["rate_limited"]),
        latency_ms={f"p{p}": None if data[f"p{p}"] is None else float(data[f"p{p}"]) for p in PERCENTILES},
        mean_latency_ms=None if data["mean_ms"] is None else float(data["mean_ms"]),
        guard=guard,
    )


def usage(
    ledger: Ledger, window: Window, by: Sequence[str] = (), *, model: str | None = None, source: str = "auto"
) -> UsageReport:
    """Requests, tokens, USD, latency percentiles, error and 429 rates and guard verdicts per group over a window.

    by: group names from GROUPS (key, model, day, hour, route, status); model: only this public model name.
    source: auto (the hourly pre-aggregates where they can answer, else the rows), hourly, or rows (every number
    exact, latency percentiles too, at the cost of reading every row of the window).
    """
    by = parse_groups(by)
    if source not in SOURCES:
        raise ConfigError(f"unknown usage source {source!r}: use one of {', '.join(SOURCES)}")
    whole = hourly.ceil_hour(window.since) < hourly.hour_of(window.until)
    if source == "hourly" and "status" in by:
        raise ConfigError("the hourly pre-aggregates do not keep the status: group by status with source rows")
    if source == "hourly" or (source == "auto" and whole and "status" not in by):
        return _usage_hourly(ledger, window, by, model)
    return _usage_rows(ledger, window, by, model)


def _usage_rows(ledger: Ledger, window: Window, by: tuple[str, ...], model: str | None) -> UsageReport:
    dialect = ledger.dialect

    def guard_counts(keys: Sequence[str]) -> dict[tuple[Any, ...], dict[str, int]]:
        found: dict[tuple[Any, ...], dict[str, int]] = {}
        for rec in ledger.query("guard verdicts", _verdicts_statement(keys, dialect, window, model)):
            group = tuple(rec[f"g_{name}"] for name in keys)
            name = f"{rec['side']}:{rec['label']}:{rec['action']}"
            found.setdefault(group, {})[name] = int(rec["n"])
        return found

    guard = guard_counts(by)
    rows = []
    for rec in ledger.query("usage", _totals_statement(by, dialect, window, model)):
        key = tuple(rec[f"g_{name}"] for name in by)
        rows.append(_row(dict(zip(by, key, strict=True)), rec, dict(sorted(guard.get(key, {}).items()))))
    total_rec = ledger.query("usage totals", _totals_statement((), dialect, window, model))[0]
    # Verdict counts add up over groups (percentiles do not): the total needs no second pass over the JSON.
    total = _row({}, total_rec, _sum_guard(guard.values() if by else guard_counts(()).values()))
    return UsageReport(window, by, rows, total, "rows")


def _sum_guard(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for name, n in c.items():
            total[name] = total.get(name, 0) + n
    return dict(sorted(total.items()))


# -- from the hourly pre-aggregates ------------------------------------------------------------------------


class _Parts:
    """Where each part of a window is read: whole hours from the hourly tables, the ends from the rows."""

    def __init__(self, window: Window, model: str | None) -> None:
        lo, hi = hourly.ceil_hour(window.since), hourly.hour_of(window.until)
        self.hours: tuple[Any, Any] | None = (lo, hi) if lo < hi else None
        ends = [(window.since, lo), (hi, window.until)] if self.hours else [(window.since, window.until)]
        self.ends = [(a, b) for a, b in ends if a < b]
        self.model = model

    def hourly_where(self, table: sa.Table) -> sa.ColumnElement[bool]:
        assert self.hours is not None
        cond = sa.and_(table.c.hour >= self.hours[0], table.c.hour < self.hours[1])
        return cond if self.model is None else sa.and_(cond, table.c.model == hourly.encode(self.model))

    def rows_where(self) -> sa.ColumnElement[bool]:
        t = _req
        cond = sa.or_(*(sa.and_(t.c.time >= a, t.c.time < b) for a, b in self.ends))
        return cond if self.model is None else sa.and_(cond, t.c.model == self.model)


def _hourly_group(name: str, dialect: str, table: sa.Table) -> sa.ColumnElement[Any]:
    if name in ("day", "hour"):
        if dialect == "sqlite":
            return sa.func.substr(table.c.hour, 1, 10 if name == "day" else 13)
        pattern = "YYYY-MM-DD" if name == "day" else "YYYY-MM-DD HH24"
        return sa.func.to_char(sa.func.timezone("UTC", table.c.hour), pattern)
    return table.c[{"key": "key_id", "model": "model", "route": "route"}[name]]


def _rows_group(name: str, dialect: str) -> sa.ColumnElement[Any]:
    column = _group_column(name, dialect)
    return hourly.encode_sql(column) if name in ("key", "model", "route") else column


def _hourly_totals(by: Sequence[str], dialect: str, parts: _Parts) -> sa.Select[Any]:
    h = tables.usage_hourly
    selects: list[sa.Select[Any]] = []
    if parts.hours:
        groups = [_hourly_group(n, dialect, h).label(f"g_{n}") for n in by]
        selects.append(
            sa.select(
                *groups,
                *(h.c[c] for c in hourly.SUMS),
                h.c.min_ms,
                h.c.max_ms,
                *(h.c[c] for c in hourly.BUCKET_COLUMNS),
            ).where(parts.hourly_where(h))
        )
    if parts.ends:
        groups = [_rows_group(n, dialect).label(f"g_{n}") for n in by]
        selects.append(hourly.from_rows(_req, groups, parts.rows_where()))
    u = sa.union_all(*selects).subquery("parts") if len(selects) > 1 else selects[0].subquery("parts")
    gcols = [u.c[f"g_{n}"] for n in by]
    return (
        sa.select(
            *gcols,
            *(sa.func.sum(u.c[c]).label(c) for c in hourly.SUMS),
            sa.func.min(u.c.min_ms).label("min_ms"),
            sa.func.max(u.c.max_ms).label("max_ms"),
            *(sa.func.sum(u.c[c]).label(c) for c in hourly.BUCKET_COLUMNS),
        )
        .group_by(*gcols)
        .order_by(*gcols)
    )


def _hourly_verdicts(by: Sequence[str], dialect: str, parts: _Parts) -> sa.Select[Any]:
    g = tables.usage_hourly_guard
    selects: list[sa.Select[Any]] = []
    if parts.hours:
        groups = [_hourly_group(n, dialect, g).label(f"g_{n}") for n in by]
        selects.append(sa.select(*groups, g.c.side, g.c.label, g.c.action, g.c.n).where(parts.hourly_where(g)))
    if parts.ends:
        groups = [_rows_group(n, dialect).label(f"g_{n}") for n in by]
        selects.extend(hourly.verdicts_from_rows(_req, groups, parts.rows_where(), dialect))
    u = sa.union_all(*selects).subquery("verdicts")
    keys = [*(u.c[f"g_{n}"] for n in by), u.c.side, u.c.label, u.c.action]
    return sa.select(*keys, sa.func.sum(u.c.n).label("n")).group_by(*keys)


def _hourly_row(group: dict[str, Any], data: dict[str, Any], guard: dict[str, int]) -> UsageRow:
    n = int(data["requests"] or 0)
    counts = [int(data[c] or 0) for c in hourly.BUCKET_COLUMNS]
    low, high = data["min_ms"], data["max_ms"]
    return UsageRow(
        group=group,
        requests=n,
        prompt_tokens=int(data["prompt_tokens"] or 0),
        completion_tokens=int(data["completion_tokens"] or 0),
        usd=float(data["usd"] or 0.0),
        errors=int(data["errors"] or 0),
        client_errors=int(data["client_errors"] or 0),
        rate_limited=int(data["rate_limited"] or 0),
        latency_ms={
            f"p{p}": None if not n else hourly.nearest_rank(counts, p, float(low), float(high)) for p in PERCENTILES
        },
        mean_latency_ms=float(data["sum_ms"]) / n if n else None,
        guard=guard,
    )


def _decoded(name: str, value: Any) -> Any:
    return hourly.decode(value) if name in ("key", "model", "route") else value


def _usage_hourly(ledger: Ledger, window: Window, by: tuple[str, ...], model: str | None) -> UsageReport:
    dialect = ledger.dialect
    parts = _Parts(window, model)
    guard: dict[tuple[Any, ...], dict[str, int]] = {}
    for rec in ledger.query("guard verdicts", _hourly_verdicts(by, dialect, parts)):
        key = tuple(rec[f"g_{n}"] for n in by)
        name = f"{rec['side']}:{rec['label']}:{hourly.decode(rec['action'])}"
        guard.setdefault(key, {})[name] = guard.get(key, {}).get(name, 0) + int(rec["n"])
    rows = []
    records = ledger.query("usage", _hourly_totals(by, dialect, parts))
    for rec in records:
        key = tuple(rec[f"g_{n}"] for n in by)
        group = {n: _decoded(n, v) for n, v in zip(by, key, strict=True)}
        rows.append(_hourly_row(group, rec, dict(sorted(guard.get(key, {}).items()))))
    if by:
        # Sums and histograms add up over groups, and min/max merge: the total needs no second pass over the table.
        merged: dict[str, Any] = {c: sum(r[c] or 0 for r in records) for c in (*hourly.SUMS, *hourly.BUCKET_COLUMNS)}
        merged["min_ms"] = min((r["min_ms"] for r in records if r["min_ms"] is not None), default=None)
        merged["max_ms"] = max((r["max_ms"] for r in records if r["max_ms"] is not None), default=None)
        total = _hourly_row({}, merged, _sum_guard(guard.values()))
    else:
        total = rows[0]  # with no groups the one row is the total, as on the rows path
    return UsageReport(window, by, rows, total, "hourly")
