"""GET/POST /ui/login (sign in with an API key) and POST /ui/logout."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from weightwarden.errors import WardenError
from weightwarden.gateway.handling import in_thread
from weightwarden.ui.auth import (
    LOGIN_COOKIE,
    csrf_protect,
    end_session,
    login_token,
    set_cookie,
    signed_in,
    start_session,
)
from weightwarden.ui.context import ui_of
from weightwarden.ui.forms import read_form

router = APIRouter()
LOGIN_COOKIE_SECONDS = 3600


def _login_page(request: Request, status: int = 200, message: str | None = None) -> Response:
    token = login_token(request)
    response = ui_of(request).render(request, "login.html", status, message=message)
    set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_COOKIE_SECONDS)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    caller = signed_in(request)
    if caller is not None:
        return RedirectResponse("/ui/" if caller.admin else "/ui/usage", status_code=303)
    return _login_page(request)


@router.post("/login", dependencies=[Depends(csrf_protect)])
async def login(request: Request) -> Response:
    ui = ui_of(request)
    form = await read_form(request, ui.settings.max_form_bytes)
    key = form.text("key")
    if not key:
        return _login_page(request, 400, "Enter your API key (it starts with ww-).")
    try:
        caller = await in_thread(ui.keys.authenticate, f"Bearer {key}")
    except WardenError as exc:
        return _login_page(request, 401, f"That key does not work: {exc}")
    response = RedirectResponse("/ui/" if caller.admin else "/ui/usage", status_code=303)
    await in_thread(start_session, request, response, caller)
    return response


@router.post("/logout", dependencies=[Depends(csrf_protect)])
async def logout(request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    await in_thread(end_session, request, response)
    return response
