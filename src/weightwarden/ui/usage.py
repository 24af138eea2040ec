"""GET /ui/usage (any signed-in key): its own requests, tokens and USD today and over 7 days, and its budgets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from weightwarden.gateway.auth import Caller
from weightwarden.ui import stats
from weightwarden.ui.auth import require_signed_in
from weightwarden.ui.context import ui_of

router = APIRouter()


@router.get("/usage")
def usage(request: Request, caller: Caller = Depends(require_signed_in)) -> Response:
    ui = ui_of(request)
    record = caller.record if caller.record is None else ui.ledger.api_key(caller.key_id)  # fresh spent totals
    return ui.render(
        request, "usage.html", key=record, usage=stats.key_usage(ui.ledger, caller.key_id), share=stats.budget_share
    )
