"""GET /ui/ (admin): the models served, each model's latest audit, the monitor's alerts and today's traffic."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from weightwarden.gateway.auth import Caller
from weightwarden.ui import stats
from weightwarden.ui.auth import require_admin
from weightwarden.ui.context import UiContext, ui_of

router = APIRouter()


def served_models(ui: UiContext) -> list[dict[str, Any]]:
    """The gateway's models (name, kind, hash); for `warden ui` alone, the models in the ledger."""
    if ui.gateway is not None:
        return [{"name": b.name, "kind": b.kind, "hash": b.model_hash} for b in ui.gateway.router.backends.values()]
    return [{"name": m.name, "kind": m.format, "hash": m.hash} for m in ui.ledger.models()]


@router.get("/")
def overview(request: Request, caller: Caller = Depends(require_admin)) -> Response:
    ui = ui_of(request)
    since = stats.midnight()
    return ui.render(
        request,
        "overview.html",
        models=served_models(ui),
        serving=ui.gateway is not None,
        audits=stats.latest_audits(ui.ledger),
        alerts=stats.firing_alerts(ui.ledger),
        total=stats.traffic(ui.ledger, since)[0],
        per_model=stats.traffic(ui.ledger, since, by_model=True),
        since=since,
    )
