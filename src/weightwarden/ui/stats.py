"""The numbers of the core pages, each one SQL aggregate over the ledger (never a loop over request rows)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from weightwarden.ledger import Ledger
from weightwarden.ledger import schema as t
from weightwarden.ledger.records import utcnow

AUDIT_KIND = "audit"
MONITOR_KIND = "monitor"


@dataclass(frozen=True)
class Traffic:
    """Requests in a window: how many, how many failed (status >= 400), tokens and USD."""

    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    model: str | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def midnight() -> datetime:
    """Midnight UTC today."""
    now = utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def traffic(ledger: Ledger, since: datetime, *, key_id: str | None = None, by_model: bool = False) -> list[Traffic]:
    """Aggregates of the requests since a time (of one key, if given): one row, or one per model."""
    r = t.requests
    columns: list[Any] = [
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(sa.case((r.c.status >= 400, 1), else_=0)), 0).label("errors"),
        sa.func.coalesce(sa.func.sum(r.c.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(r.c.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(r.c.cost_usd), 0.0).label("usd"),
    ]
    stmt = sa.select(*columns, *([r.c.model] if by_model else [])).where(r.c.time >= since)
    if key_id is not None:
        stmt = stmt.where(r.c.key_id == key_id)
    if by_model:
        stmt = stmt.group_by(r.c.model).order_by(sa.func.count().desc())
    return [
        Traffic(
            int(row["requests"]),
            int(row["errors"]),
            int(row["prompt_tokens"]),
            int(row["completion_tokens"]),
            float(row["usd"]),
            row.get("model"),
        )
        for row in ledger.query("traffic", stmt)
    ]


def key_usage(ledger: Ledger, key_id: str) -> dict[str, Traffic]:
    """A key's traffic today and over the last 7 days."""
    return {
        "today": traffic(ledger, midnight(), key_id=key_id)[0],
        "week": traffic(ledger, utcnow() - timedelta(days=7), key_id=key_id)[0],
    }


def latest_audits(ledger: Ledger) -> list[dict[str, Any]]:
    """The newest audit run of each model: its id, model name, status, time and how many stages passed/warned/failed."""
    runs, models = t.runs, t.models
    latest = (
        sa.select(runs.c.model_hash, sa.func.max(runs.c.started_at).label("at"))
        .where(runs.c.kind == AUDIT_KIND)
        .group_by(runs.c.model_hash)
        .subquery()
    )
    stmt = (
        sa.select(runs.c.id, runs.c.model_hash, runs.c.status, runs.c.started_at, runs.c.summary, models.c.name)
        .join(latest, sa.and_(runs.c.model_hash == latest.c.model_hash, runs.c.started_at == latest.c.at))
        .join(models, models.c.hash == runs.c.model_hash)
        .where(runs.c.kind == AUDIT_KIND)
        .order_by(runs.c.started_at.desc())
    )
    out = []
    for row in ledger.query("latest audits", stmt):
        stages = (row["summary"] or {}).get("stages")
        counts = Counter(s.get("status") for s in stages.values()) if isinstance(stages, dict) else Counter()
        out.append({**row, "stages": dict(counts)})
    return out


def firing_alerts(ledger: Ledger, scan: int = 200) -> dict[str, Any] | None:
    """The newest alert-rules check the monitor recorded: when, which rules fired; None if none was recorded."""
    e = t.events
    stmt = sa.select(e.c.time, e.c.payload).where(e.c.kind == MONITOR_KIND).order_by(e.c.id.desc()).limit(scan)
    for row in ledger.query("alerts", stmt):
        payload = row["payload"] or {}
        if payload.get("what") == "check":
            summary = payload.get("summary") or {}
            return {"time": row["time"], "firing": list(summary.get("firing") or []), "rules": payload.get("config")}
    return None


def budget_share(spent: float, budget: float | None) -> float | None:
    """The share of a budget used, 0..1, or None without a budget."""
    if budget is None:
        return None
    if budget <= 0:
        return 1.0
    return max(0.0, min(1.0, spent / budget))
