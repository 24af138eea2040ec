"""Hourly pre-aggregates of the audit rows (migration m009), kept exact as rows arrive.

usage_hourly holds one row per (hour, key, model, route): request, token, USD, 5xx/4xx/429 counts, the sum, min and
max of the request time, and a latency histogram of fixed log-spaced buckets, one integer column each, so any number
of hourly rows merge by plain SUM in SQL. usage_hourly_guard holds the triggered guard verdicts (label other than
clean) counted per (hour, key, model, route, side, label, action).

The audit writer adds each batch it inserts to both tables in the same transaction (Ledger.add_request(s)), so the
pre-aggregates are never behind the rows they sum; migration m009 backfills them from the rows already there.

Latency buckets: bucket 0 holds [0, 1 ms); bucket i (1..180) holds [GAMMA**(i-1), GAMMA**i) ms with GAMMA = 1.08;
bucket 181 holds everything from GAMMA**180 ms (about 17 minutes) up. A nearest-rank percentile read from the merged
histogram lies in the bucket where the cumulative count first reaches the rank, so reporting the bucket's point
2*GAMMA**i/(1+GAMMA) (then clamped to the group's exact min and max) is within RELATIVE_ERROR = (GAMMA-1)/(GAMMA+1),
about 3.85%, of the exact nearest-rank value for values of 1 ms or more, and within 0.5 ms below 1 ms. Changing the
buckets needs a new migration: the columns and the backfill are fixed by m009.

NULL keys and models cannot take part in a primary key (PostgreSQL) or an upsert's conflict test (SQLite): the key,
model, route and action columns store '' for NULL and '=' + value otherwise (see encode/decode).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from weightwarden.ledger.records import RequestRecord

GAMMA = 1.08
BUCKETS = 182  # bucket 0: under 1 ms; 1..180: log-spaced; 181: GAMMA**180 ms and up
EDGES: tuple[float, ...] = tuple(GAMMA**i for i in range(BUCKETS - 1))  # EDGES[j] is where bucket j+1 starts
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
ABSOLUTE_ERROR_BELOW_1MS = 0.5
SIDES = ("input", "output")

KEYS = ("hour", "key_id", "model", "route")
SUMS = ("requests", "prompt_tokens", "completion_tokens", "usd", "errors", "client_errors", "rate_limited", "sum_ms")
BUCKET_COLUMNS = tuple(f"b{i:03d}" for i in range(BUCKETS))
GUARD_KEYS = (*KEYS, "side", "label", "action")


def bucket_of(ms: float) -> int:
    """The histogram bucket of a request time in milliseconds (the same edges as bucket_sql)."""
    return bisect.bisect_right(EDGES, ms)


def bucket_point(i: int) -> float:
    """The value reported for a percentile that falls in bucket i (before clamping to the group's min and max)."""
    if i <= 0:
        return 0.5
    if i >= BUCKETS - 1:
        return math.inf  # clamped to the group's max
    return 2 * GAMMA**i / (1 + GAMMA)


def nearest_rank(counts: Sequence[int], p: int, low: float, high: float) -> float | None:
    """The p-th nearest-rank percentile of a merged histogram, within RELATIVE_ERROR of the exact one."""
    n = sum(counts)
    if n == 0:
        return None
    rank = max(1, -(-n * p // 100))  # ceil(p*n/100) in integers
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return min(max(bucket_point(i), low), high)
    return high


def hour_of(t: datetime) -> datetime:
    """The start of t's hour, in UTC."""
    t = t.astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    """The first whole hour at or after t."""
    h = hour_of(t)
    return h if h == t else h + timedelta(hours=1)


def encode(value: Any) -> str:
    """A nullable key as it is stored: '' for NULL, '=' + value otherwise."""
    return "" if value is None else f"={value}"


def decode(value: str | None) -> str | None:
    return None if not value else value[1:]


def encode_sql(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """encode() in SQL, for rows read from the requests table."""
    return sa.case((column.is_(None), ""), else_=sa.literal("=", sa.Text).concat(sa.cast(column, sa.Text)))


# -- tables ----------------------------------------------------------------------------------------


def define(md: sa.MetaData, datetime_type: Any) -> tuple[sa.Table, sa.Table]:
    """The two tables as m009 creates them (schema.py and the migration both call this)."""
    hourly = sa.Table(
        "usage_hourly",
        md,
        sa.Column("hour", datetime_type, primary_key=True),
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("route", sa.Text, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("usd", sa.Float, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("client_errors", sa.BigInteger, nullable=False),
        sa.Column("rate_limited", sa.BigInteger, nullable=False),
        sa.Column("sum_ms", sa.Float, nullable=False),
        sa.Column("min_ms", sa.Float, nullable=False),
        sa.Column("max_ms", sa.Float, nullable=False),
        # INTEGER, not BIGINT: PostgreSQL sums integers in a bigint but bigints in numeric, many times slower.
        *(sa.Column(name, sa.Integer, nullable=False) for name in BUCKET_COLUMNS),
    )
    guard = sa.Table(
        "usage_hourly_guard",
        md,
        sa.Column("hour", datetime_type, primary_key=True),
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("route", sa.Text, primary_key=True),
        sa.Column("side", sa.Text, primary_key=True),
        sa.Column("label", sa.Text, primary_key=True),
        sa.Column("action", sa.Text, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    return hourly, guard


# -- on write --------------------------------------------------------------------------------------


def aggregate(records: Iterable[RequestRecord]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hourly rows and guard rows that a batch of audit rows adds, sorted by key (so concurrent writers take
    row locks in the same order)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    guard: dict[tuple[Any, ...], int] = {}
    for rec in records:
        key = (hour_of(rec.time), encode(rec.key_id), encode(rec.model), encode(rec.route))
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict(zip(KEYS, key, strict=True))
            row.update(dict.fromkeys(SUMS, 0))
            row.update(usd=0.0, sum_ms=0.0, min_ms=math.inf, max_ms=-math.inf)
            row.update(dict.fromkeys(BUCKET_COLUMNS, 0))
        ms = float(rec.total_ms)
        row["requests"] += 1
        row["prompt_tokens"] += rec.prompt_tokens
        row["completion_tokens"] += rec.completion_tokens
        row["usd"] += rec.cost_usd
        row["errors"] += rec.status >= 500
        row["client_errors"] += 400 <= rec.status < 500 and rec.status != 429
        row["rate_limited"] += rec.status == 429
        row["sum_ms"] += ms
        row["min_ms"] = min(row["min_ms"], ms)
        row["max_ms"] = max(row["max_ms"], ms)
        row[BUCKET_COLUMNS[bucket_of(ms)]] += 1
        verdicts = rec.verdicts if isinstance(rec.verdicts, dict) else {}
        for side in SIDES:
            items = verdicts.get(side)
            for v in items if isinstance(items, list) else ():
                label = v.get("label") if isinstance(v, dict) else None
                if label is None or label == "clean":
                    continue
                gkey = (*key, side, str(label), encode(v.get("action")))
                guard[gkey] = guard.get(gkey, 0) + 1
    hourly = [rows[k] for k in sorted(rows)]
    guards = [{**dict(zip(GUARD_KEYS, k, strict=True)), "n": guard[k]} for k in sorted(guard)]
    return hourly, guards


class HourlyWriter:
    """The two upserts, built once per ledger (building an upsert costs more than running it)."""

    def __init__(self, dialect: str, hourly: sa.Table, guard: sa.Table) -> None:
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        least = sa.func.min if dialect == "sqlite" else sa.func.least  # SQLite's two-argument min() is scalar
        greatest = sa.func.max if dialect == "sqlite" else sa.func.greatest
        h = insert(hourly)
        updates: dict[str, Any] = {c: hourly.c[c] + h.excluded[c] for c in (*SUMS, *BUCKET_COLUMNS)}
        updates["min_ms"] = least(hourly.c.min_ms, h.excluded.min_ms)
        updates["max_ms"] = greatest(hourly.c.max_ms, h.excluded.max_ms)
        self._hourly = h.on_conflict_do_update(index_elements=list(KEYS), set_=updates)
        g = insert(guard)
        self._guard = g.on_conflict_do_update(index_elements=list(GUARD_KEYS), set_={"n": guard.c.n + g.excluded.n})

    def insert(self, conn: Connection, requests: sa.Table, records: Iterable[RequestRecord]) -> int:
        """Insert audit rows and add them to the hourly tables, in conn's transaction; return how many went in.

        One bad row (a repeated request id, say) must not cost the others: when the batch fails, the rows go in one
        by one, and only those written are added up. Raises when none could be written.
        """
        records = list(records)
        columns = [c.name for c in requests.columns]
        rows = [{name: getattr(rec, name) for name in columns} for rec in records]
        if not rows:
            return 0
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(requests), rows)
            one_by_one = False
        except sa.exc.SQLAlchemyError:
            one_by_one = True
        if one_by_one:
            written, failed = [], None
            for rec, row in zip(records, rows, strict=True):
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(requests), [row])
                    written.append(rec)
                except sa.exc.SQLAlchemyError as exc:
                    failed = exc
            if failed is not None and not written:
                raise failed
            records = written
        self.add(conn, records)
        return len(records)

    def add(self, conn: Connection, records: Sequence[RequestRecord]) -> None:
        """Add audit rows just inserted on conn to the hourly tables, in the same transaction."""
        if not records:
            return
        hourly, guard = aggregate(records)
        conn.execute(self._hourly, hourly)
        if guard:
            conn.execute(self._guard, guard)


# -- from the rows in SQL (the backfill, and the partial hours of a report) ------------------------


def bucket_sql(column: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """bucket_of() in SQL: a balanced CASE over EDGES (8 comparisons a row)."""

    def split(lo: int, hi: int) -> sa.ColumnElement[int]:
        # the bucket is in lo..hi (inclusive): bucket j+1 starts at EDGES[j]
        if lo == hi:
            return sa.literal(lo, sa.Integer)
        mid = (lo + hi + 1) // 2
        # repr() round-trips a float exactly; PostgreSQL reads the literal as numeric and casts it to the same double.
        edge = sa.literal_column(repr(EDGES[mid - 1]), sa.Float)
        return sa.case((column < edge, split(lo, mid - 1)), else_=split(mid, hi))

    return split(0, BUCKETS - 1)


def hour_sql(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """The start of a row's UTC hour, as the hourly tables store it."""
    if dialect == "sqlite":
        # SQLite keeps UTC wall time as 'YYYY-MM-DD HH:MM:SS.ffffff' text (see UTCDateTime).
        return sa.func.substr(column, 1, 13).concat(":00:00.000000")
    return sa.func.timezone("UTC", sa.func.date_trunc("hour", sa.func.timezone("UTC", column)))


def count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def from_rows(
    requests: sa.Table,
    groups: Sequence[sa.ColumnElement[Any]],
    where: sa.ColumnElement[bool] | None,
) -> sa.Select[Any]:
    """The hourly sums computed from audit rows, grouped by the given labelled columns (built over `requests`)."""
    t = requests
    inner = sa.select(
        *groups,
        t.c.status,
        t.c.prompt_tokens,
        t.c.completion_tokens,
        t.c.cost_usd,
        t.c.total_ms,
        bucket_sql(t.c.total_ms).label("bucket"),
    )
    if where is not None:
        inner = inner.where(where)
    # OFFSET 0 keeps the subquery from being flattened into the outer one (SQLite and PostgreSQL alike), which would
    # copy the bucket CASE into each of the BUCKETS sums below and evaluate it that many times a row.
    r = inner.offset(0).subquery("bucketed")
    gcols = [r.c[g.name] for g in groups]  # type: ignore[attr-defined]
    return sa.select(
        *gcols,
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(r.c.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(r.c.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(r.c.cost_usd), 0.0).label("usd"),
        count_if(r.c.status >= 500).label("errors"),
        count_if(sa.and_(r.c.status >= 400, r.c.status < 500, r.c.status != 429)).label("client_errors"),
        count_if(r.c.status == 429).label("rate_limited"),
        sa.func.coalesce(sa.func.sum(r.c.total_ms), 0.0).label("sum_ms"),
        sa.func.min(r.c.total_ms).label("min_ms"),
        sa.func.max(r.c.total_ms).label("max_ms"),
        *(sa.cast(count_if(r.c.bucket == i), sa.Integer).label(name) for i, name in enumerate(BUCKET_COLUMNS)),
    ).group_by(*gcols)


def verdicts_from_rows(
    requests: sa.Table,
    groups: Sequence[sa.ColumnElement[Any]],
    where: sa.ColumnElement[bool] | None,
    dialect: str,
    *,
    encode_action: bool = True,
) -> list[sa.Select[Any]]:
    """Triggered verdicts of audit rows, one row per verdict (a SELECT per side, to UNION ALL): the groups, side,
    label and action (encoded as the hourly table keeps it, unless encode_action is False), and n = 1."""
    t = requests
    # Most rows carry only clean verdicts: a row whose JSON has no "label" left once the clean ones are cut out
    # cannot add a count, so it is skipped before the (costlier) JSON unnesting. Only a shortcut: a row written
    # with other spacing simply goes through the unnesting.
    maybe = sa.func.replace(sa.cast(t.c.verdicts, sa.Text), '"label": "clean"', "").like('%"label"%')
    parts = []
    for side in SIDES:
        value = sa.column("value", sa.JSON)
        if dialect == "sqlite":
            elems = sa.func.json_each(t.c.verdicts, f"$.{side}").table_valued(value).alias(f"v_{side}")
        else:
            elems = sa.func.json_array_elements(t.c.verdicts[side]).table_valued(value).alias(f"v_{side}")
        label = elems.c.value["label"].as_string()
        action = elems.c.value["action"].as_string()
        stmt = (
            sa.select(
                *groups,
                sa.literal(side).label("side"),
                label.label("label"),
                (encode_sql(action) if encode_action else action).label("action"),
                sa.literal(1).label("n"),
            )
            .select_from(t)
            .join(elems, sa.true())
            .where(maybe, sa.func.coalesce(label, "clean") != "clean")
        )
        parts.append(stmt if where is None else stmt.where(where))
    return parts


def backfill(conn: Connection, requests: sa.Table, hourly: sa.Table, guard: sa.Table) -> None:
    """Fill the (empty) hourly tables from every audit row, in SQL (migration m009)."""
    dialect = conn.dialect.name
    t = requests
    groups = [
        hour_sql(t.c.time, dialect).label("hour"),
        encode_sql(t.c.key_id).label("key_id"),
        encode_sql(t.c.model).label("model"),
        encode_sql(t.c.route).label("route"),
    ]
    sums = from_rows(t, groups, None)
    conn.execute(sa.insert(hourly).from_select([c.name for c in sums.selected_columns], sums))
    union = sa.union_all(*verdicts_from_rows(t, groups, None, dialect)).subquery("verdicts")
    counted = sa.select(*(union.c[k] for k in GUARD_KEYS), sa.func.sum(union.c.n).label("n")).group_by(
        *(union.c[k] for k in GUARD_KEYS)
    )
    conn.execute(sa.insert(guard).from_select([*GUARD_KEYS, "n"], counted))
