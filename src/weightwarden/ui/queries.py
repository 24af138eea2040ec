"""The SQL behind the read-only admin pages: small reads with LIMITs and indexed filters, aggregates in SQL.

Written for a ledger with millions of audit rows: nothing here reads the requests table without a time bound or a
LIMIT, and counts over hours come from the hourly pre-aggregates (m009), never from rows in Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from weightwarden.ledger import ItemRecord, Ledger, ModelRecord, RequestRecord, RunRecord, hourly
from weightwarden.ledger import schema as t
from weightwarden.monitor import Window
from weightwarden.ui.traffic_rollup import Parts

PER_PAGE = 50
ITEMS_PER_PAGE = 100
GUARD_SCAN_ROWS = 100_000  # the guard page reads at most the rows of this many requests' hours for its hits
MONITOR_KIND = "monitor"


def find_model(ledger: Ledger, model_id: str) -> ModelRecord | None:
    """The model with this sha256, or the only one whose sha256 starts with it (8 or more hex digits)."""
    model_id = model_id.strip().lower()
    found = ledger.model(model_id)
    if found is not None or len(model_id) < 8 or not all(c in "0123456789abcdef" for c in model_id):
        return found
    stmt = sa.select(t.models.c.hash).where(t.models.c.hash.like(model_id + "%")).limit(2)
    rows = ledger.query("a model by hash prefix", stmt)
    return ledger.model(rows[0]["hash"]) if len(rows) == 1 else None


def _run_filter(stmt: sa.Select[Any], model_hash: str | None, kind: str | None) -> sa.Select[Any]:
    if model_hash:
        stmt = stmt.where(t.runs.c.model_hash == model_hash)
    if kind:
        stmt = stmt.where(t.runs.c.kind == kind)
    return stmt


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first, with the models' names."""

    runs: list[RunRecord]
    names: dict[str, str]
    page: int
    has_next: bool


def runs_page(
    ledger: Ledger, *, model_hash: str | None, kind: str | None, page: int, per_page: int = PER_PAGE
) -> RunPage:
    """Runs of one model and/or kind, newest first, `per_page` at a time (page counts from 1)."""
    r = t.runs
    cols = [r.c.id, r.c.kind, r.c.model_hash, r.c.config, r.c.started_at, r.c.ended_at, r.c.status]
    stmt = sa.select(*cols).order_by(r.c.started_at.desc(), r.c.id.desc()).limit(per_page + 1)
    stmt = _run_filter(stmt, model_hash, kind).offset((page - 1) * per_page)
    rows = ledger.query("runs", stmt)
    runs = [RunRecord(**row, summary=None) for row in rows[:per_page]]
    return RunPage(runs, model_names(ledger, {run.model_hash for run in runs}), page, len(rows) > per_page)


def model_names(ledger: Ledger, hashes: set[str]) -> dict[str, str]:
    if not hashes:
        return {}
    stmt = sa.select(t.models.c.hash, t.models.c.name).where(t.models.c.hash.in_(sorted(hashes)))
    return {row["hash"]: row["name"] for row in ledger.query("model names", stmt)}


def run_kinds(ledger: Ledger) -> list[str]:
    stmt = sa.select(t.runs.c.kind).distinct().order_by(t.runs.c.kind)
    return [row["kind"] for row in ledger.query("run kinds", stmt)]


def latest_run(ledger: Ledger, model_hash: str, kind: str) -> RunRecord | None:
    runs = ledger.runs(model_hash=model_hash, kind=kind, limit=1)
    return runs[0] if runs else None


def recent_runs(ledger: Ledger, kind: str | None = None, limit: int = 200) -> list[RunRecord]:
    """Runs for the pickers, newest first, without their (possibly large) summaries."""
    return runs_page(ledger, model_hash=None, kind=kind, page=1, per_page=limit).runs


def run_items(
    ledger: Ledger, run_id: str, page: int = 1, per_page: int = ITEMS_PER_PAGE
) -> tuple[list[ItemRecord], int]:
    """One page of a run's items in the order they were added, and how many the run has."""
    i = t.items
    stmt = sa.select(i).where(i.c.run_id == run_id).order_by(i.c.id).limit(per_page).offset((page - 1) * per_page)
    items = [ItemRecord(**row) for row in ledger.query("items", stmt)]
    count = ledger.query("item count", sa.select(sa.func.count()).select_from(i).where(i.c.run_id == run_id))
    return items, int(next(iter(count[0].values())))


def item(ledger: Ledger, run_id: str, item_id: int) -> ItemRecord | None:
    i = t.items
    rows = ledger.query("an item", sa.select(i).where(i.c.run_id == run_id, i.c.id == item_id))
    return ItemRecord(**rows[0]) if rows else None


def family(ledger: Ledger, model: ModelRecord) -> list[ModelRecord]:
    """The model, its base (from a tune's lineage) and every model tuned from either: one family."""
    models = ledger.models()  # one row per model artifact: small next to requests

    def base_of(m: ModelRecord) -> str | None:
        lineage = (m.metadata or {}).get("lineage") or {}
        base = lineage.get("base_model") if isinstance(lineage, dict) else None
        return base.get("sha256") if isinstance(base, dict) else None

    root = base_of(model) or model.hash
    return [m for m in models if m.hash == root or base_of(m) == root]


def family_eval_runs(ledger: Ledger, hashes: list[str], limit: int = 60) -> list[RunRecord]:
    """Finished eval runs of these models, oldest first (the newest `limit`)."""
    r = t.runs
    stmt = (
        sa.select(r)
        .where(r.c.model_hash.in_(hashes), r.c.kind == "eval", r.c.status == "ok")
        .order_by(r.c.started_at.desc(), r.c.id.desc())
        .limit(limit)
    )
    return [RunRecord(**row) for row in reversed(ledger.query("eval runs of a family", stmt))]


def monitor_events(ledger: Ledger, limit: int = 20) -> list[dict[str, Any]]:
    """The newest monitor results (drift reports, rule checks, canaries), from the events the monitor writes."""
    e = t.events
    stmt = sa.select(e.c.time, e.c.payload).where(e.c.kind == MONITOR_KIND).order_by(e.c.time.desc()).limit(limit)
    return ledger.query("monitor events", stmt)


def recent_errors(ledger: Ledger, since: datetime, limit: int = 20) -> list[RequestRecord]:
    """The newest 5xx answers since a time."""
    return _newest_where(ledger, t.requests.c.status >= 500, since, limit)


def _newest_where(ledger: Ledger, cond: sa.ColumnElement[bool], since: datetime, limit: int) -> list[RequestRecord]:
    r = t.requests
    stmt = sa.select(r).where(r.c.time >= since, cond).order_by(r.c.time.desc()).limit(limit)
    return [RequestRecord(**row) for row in ledger.query("requests", stmt)]


@dataclass(frozen=True)
class GuardHits:
    """The newest blocked or flagged requests, newest first; complete is False when the search stopped at its row
    budget with hours still unread that hold a block or a flag."""

    hits: list[RequestRecord]
    complete: bool
    rows_read_at_most: int


def guard_hits(ledger: Ledger, limit: int = 50, budget: int = GUARD_SCAN_ROWS) -> GuardHits:
    """The newest `limit` blocked or flagged requests, newest first.

    The hourly guard counts (usage_hourly_guard, written in the same transaction as the rows) say which hours hold a
    triggered verdict whose action is block or flag; only those hours' rows are read, newest hour first, each through
    the time index with ORDER BY time DESC and a LIMIT. A row whose verdict JSON names a block or a flag is a
    candidate; Python keeps those whose triggered verdict really blocked or flagged. The search stops at `limit`
    hits, or once the hours read held `budget` rows (usage_hourly's counts), so one page view reads a bounded number
    of rows however rare the blocks are.
    """
    g, h, r = t.usage_hourly_guard, t.usage_hourly, t.requests
    text = sa.cast(r.c.verdicts, sa.Text)
    maybe = sa.or_(*(text.contains(f'"action": "{a}"') | text.contains(f'"action":"{a}"') for a in ("block", "flag")))
    actions = [hourly.encode("block"), hourly.encode("flag")]
    out: list[RequestRecord] = []
    read, before = 0, None
    while True:
        stmt = sa.select(g.c.hour).where(g.c.action.in_(actions)).distinct().order_by(g.c.hour.desc()).limit(24)
        hours = [
            row["hour"]
            for row in ledger.query("guard hours", stmt if before is None else stmt.where(g.c.hour < before))
        ]
        if not hours:
            return GuardHits(out, True, read)
        sizes = sa.select(h.c.hour, sa.func.sum(h.c.requests).label("n")).where(h.c.hour.in_(hours)).group_by(h.c.hour)
        rows_in = {row["hour"]: int(row["n"]) for row in ledger.query("guard hour sizes", sizes)}
        for hour in hours:
            if out and read >= budget:
                return GuardHits(out, False, read)
            read += rows_in.get(hour, 0)
            end = hour + timedelta(hours=1)
            stmt = sa.select(r).where(r.c.time >= hour, r.c.time < end, maybe).order_by(r.c.time.desc())
            for row in ledger.query("guard hits", stmt.limit(2 * (limit - len(out)))):
                rec = RequestRecord(**row)
                if deciding(rec) is not None and len(out) < limit:
                    out.append(rec)
            if len(out) >= limit:
                return GuardHits(out, True, read)
        before = hours[-1]


@dataclass(frozen=True)
class GuardCount:
    side: str
    label: str
    action: str | None
    n: int


def guard_counts(ledger: Ledger, window: Window) -> list[GuardCount]:
    """Triggered guard verdicts (label other than clean) over a window by side, label and action, most first: whole
    hours from usage_hourly_guard, the partial hours at either end from the rows (exact)."""
    g = t.usage_hourly_guard
    parts = Parts.of(window)
    selects: list[sa.Select[Any]] = []
    if parts.hours is not None:
        where = sa.and_(g.c.hour >= parts.hours[0], g.c.hour < parts.hours[1])
        selects.append(sa.select(g.c.side, g.c.label, g.c.action, g.c.n).where(where))
    if parts.ends:
        r = t.requests
        ends = sa.or_(*(sa.and_(r.c.time >= a, r.c.time < b) for a, b in parts.ends))
        selects.extend(hourly.verdicts_from_rows(r, [], ends, ledger.dialect))
    u = sa.union_all(*selects).subquery("verdicts")
    stmt = sa.select(u.c.side, u.c.label, u.c.action, sa.func.sum(u.c.n).label("n")).group_by(
        u.c.side, u.c.label, u.c.action
    )
    found = [
        GuardCount(row["side"], row["label"], hourly.decode(row["action"]), int(row["n"]))
        for row in ledger.query("guard counts", stmt)
    ]
    return sorted(found, key=lambda c: (-c.n, c.side, c.label, c.action or ""))


def deciding(rec: RequestRecord) -> tuple[str, dict[str, Any]] | None:
    """The side and verdict that decided a request: the first block, else the first flag; None if neither."""
    verdicts = rec.verdicts if isinstance(rec.verdicts, dict) else json.loads(rec.verdicts or "{}")
    for action in ("block", "flag"):
        for side in ("input", "output"):
            for v in verdicts.get(side) or []:
                if isinstance(v, dict) and v.get("label") not in (None, "clean") and v.get("action") == action:
                    return side, v
    return None


def item_ids(ledger: Ledger, run_id: str, keys: list[str]) -> dict[str, int]:
    """The item ids of these keys in a run (for links to item pages)."""
    if not keys:
        return {}
    i = t.items
    stmt = sa.select(i.c.key, i.c.id).where(i.c.run_id == run_id, i.c.key.in_(sorted(set(keys))))
    return {row["key"]: int(row["id"]) for row in ledger.query("item ids", stmt)}
