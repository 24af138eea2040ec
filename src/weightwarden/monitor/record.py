"""Every drift report and rule check lands in the ledger: an event always, and a run for each known model.

An event (kind `monitor`) holds the whole result, whatever models the traffic went to. A run (kind `monitor`) is
added for each model hash that served requests in the window and that the ledger knows (inspected, evaluated), so
the model's audit shows its latest monitor result beside its other runs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from weightwarden.ledger import Ledger
from weightwarden.ledger import schema as tables
from weightwarden.monitor.window import Window

KIND = "monitor"


def served_models(ledger: Ledger, window: Window, model: str | None = None) -> list[str]:
    """Hashes of the ledger's known models that answered requests in the window (of one public name when given)."""
    r, m = tables.requests, tables.models
    stmt = (
        sa.select(r.c.model_hash)
        .distinct()
        .where(r.c.time >= window.since, r.c.time < window.until, r.c.model_hash.in_(sa.select(m.c.hash)))
        .order_by(r.c.model_hash)
    )
    if model is not None:
        stmt = stmt.where(r.c.model == model)
    return [row["model_hash"] for row in ledger.query("served models", stmt)]


def record_result(
    ledger: Ledger, what: str, config: dict[str, Any], summary: dict[str, Any], window: Window, model: str | None
) -> list[str]:
    """Write the event and the runs; return the run ids (none when no served model is in the ledger)."""
    ledger.add_event(KIND, {"what": what, "config": config, "summary": summary})
    run_ids = []
    for model_hash in served_models(ledger, window, model):
        run_id = ledger.start_run(KIND, model_hash, {"what": what, **config})
        ledger.finish_run(run_id, "ok", {"what": what, **summary})
        run_ids.append(run_id)
    return run_ids


def latest_result(ledger: Ledger, model_hash: str) -> dict[str, Any] | None:
    """The newest monitor run of a model (what, when, summary), for its audit report; None when it has none."""
    runs = ledger.runs(model_hash=model_hash, kind=KIND, limit=1)
    if not runs:
        return None
    run = runs[0]
    return {"run_id": run.id, "time": run.started_at.isoformat(), "config": run.config, "summary": run.summary}
