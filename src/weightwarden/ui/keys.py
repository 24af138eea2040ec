"""GET/POST /ui/keys (admin): keys with their limits and budgets used; create one (secret shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from weightwarden.errors import WardenError
from weightwarden.gateway.auth import Caller, parse_expiry
from weightwarden.gateway.handling import in_thread
from weightwarden.ledger.records import utcnow
from weightwarden.ui import stats
from weightwarden.ui.auth import csrf_protect, require_admin
from weightwarden.ui.context import ui_of
from weightwarden.ui.errors import UiProblem
from weightwarden.ui.forms import read_form

router = APIRouter()
NAME_LIMIT = 200


def _page(request: Request, status: int = 200, **values: object) -> Response:
    ui = ui_of(request)
    return ui.render(
        request,
        "keys.html",
        status,
        keys=ui.ledger.api_keys(),
        now=utcnow(),
        share=stats.budget_share,
        models=_model_names(request),
        **{"new_secret": None, "new_key": None, **values},
    )


def _model_names(request: Request) -> list[str]:
    gw = ui_of(request).gateway
    return list(gw.router.backends) if gw is not None else []


@router.get("/keys")
def keys_page(request: Request, caller: Caller = Depends(require_admin)) -> Response:
    return _page(request)


@router.post("/keys", dependencies=[Depends(require_admin), Depends(csrf_protect)])
async def create_key(request: Request) -> Response:
    ui = ui_of(request)
    form = await read_form(request, ui.settings.max_form_bytes)
    name = form.text("name", required=True, limit=NAME_LIMIT, label="Name")
    models = [m.strip() for m in form.text("models", limit=2000).replace(",", " ").split() if m.strip()]
    limits = {
        "rpm": form.integer("rpm", label="Requests per minute"),
        "tpm": form.integer("tpm", label="Tokens per minute"),
        "budget_tokens": form.integer("budget_tokens", label="Token budget"),
        "budget_usd": form.number("budget_usd", label="USD budget"),
    }
    try:
        expires_at = parse_expiry(form.text("expires", limit=40) or None)
    except WardenError as exc:
        raise UiProblem(400, str(exc)) from None
    secret, record = await in_thread(
        lambda: ui.keys.create(name, models=models, expires_at=expires_at, **limits)  # type: ignore[arg-type]
    )
    return await in_thread(lambda: _page(request, new_secret=secret, new_key=record))


@router.post("/keys/{key_id}/revoke", dependencies=[Depends(require_admin), Depends(csrf_protect)])
async def revoke_key(request: Request, key_id: str) -> Response:
    ui = ui_of(request)
    try:
        await in_thread(ui.ledger.revoke_api_key, key_id)
    except WardenError:
        raise UiProblem(404, f"no key {key_id!r}: the keys page lists the ids") from None
    return RedirectResponse("/ui/keys", status_code=303)
