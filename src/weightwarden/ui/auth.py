"""Signing in to the dashboard with a gateway key, server-side sessions and CSRF tokens.

A session is a random cookie (`warden_ui`: HttpOnly, SameSite=Strict, Path=/ui, Secure over https) whose sha256 is
a row of ui_sessions with the key id, a CSRF token and an expiry; signing out deletes the row. The key is checked
again on every page, so a revoked key's sessions stop at once. Every POST carries the CSRF token (the `csrf` form
field, or the X-CSRF-Token header for fetch); the sign-in form, before any session, carries the token of a
short-lived `warden_ui_login` cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response

from weightwarden.errors import WardenError
from weightwarden.gateway.auth import Caller
from weightwarden.gateway.handling import in_thread
from weightwarden.ledger import UiSessionRecord
from weightwarden.ledger.records import utcnow
from weightwarden.ui.context import ui_of
from weightwarden.ui.errors import UiProblem
from weightwarden.ui.forms import FORM_TYPE, read_form

COOKIE = "warden_ui"
LOGIN_COOKIE = "warden_ui_login"
COOKIE_PATH = "/ui"
CSRF_HEADER = "x-csrf-token"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def start_session(request: Request, response: Response, caller: Caller) -> None:
    """Record a new session for caller and set its cookie on response."""
    ui = ui_of(request)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    hours = ui.settings.session_hours
    ui.ledger.add_ui_session(
        UiSessionRecord(_digest(token), caller.key_id, secrets.token_urlsafe(32), now, now + timedelta(hours=hours))
    )
    set_cookie(request, response, COOKIE, token, int(hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def end_session(request: Request, response: Response) -> None:
    """Delete the request's session row and its cookie."""
    token = request.cookies.get(COOKIE)
    if token:
        ui_of(request).ledger.delete_ui_session(_digest(token))
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def signed_in(request: Request) -> Caller | None:
    """The caller of the request's session, or None (no cookie, an unknown or expired session, a dead key).

    Found once per request; the session's CSRF token goes to request.state.ui_csrf for the page's forms.
    """
    if hasattr(request.state, "ui_caller"):
        found: Caller | None = request.state.ui_caller
        return found
    request.state.ui_caller = None
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    ui = ui_of(request)
    session = ui.ledger.ui_session(_digest(token))
    if session is None:
        return None
    if session.expires_at <= utcnow():
        ui.ledger.delete_ui_session(session.id_hash)
        return None
    try:
        caller = ui.keys.caller(session.key_id)
    except WardenError:
        ui.ledger.delete_ui_session(session.id_hash)  # the key was revoked or expired: so is its session
        return None
    request.state.ui_caller, request.state.ui_csrf = caller, session.csrf
    return caller


def require_signed_in(request: Request) -> Caller:
    """The signed-in caller; a 303 to the sign-in page when there is none."""
    caller = signed_in(request)
    if caller is None:
        raise UiProblem(401, "sign in with your API key", redirect="/ui/login")
    return caller


def require_admin(request: Request) -> Caller:
    """The signed-in admin; a 303 to the sign-in page when nobody is signed in, 403 for another key."""
    caller = require_signed_in(request)
    if not caller.admin:
        raise UiProblem(403, "this page is for the admin key; your key can open its own usage page (My usage)")
    return caller


def login_token(request: Request) -> str:
    """The CSRF token of the sign-in form: the login cookie's, or a new one (the page sets the cookie)."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    request.state.ui_csrf = token
    return token


async def csrf_protect(request: Request) -> None:
    """Refuse a POST (403) whose CSRF token is missing or is not this session's (or the login cookie's)."""
    caller = await in_thread(signed_in, request)  # a ledger read: off the event loop
    expected = request.state.ui_csrf if caller is not None else request.cookies.get(LOGIN_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").lower().startswith(FORM_TYPE):
        form = await read_form(request, ui_of(request).settings.max_form_bytes)
        sent = form.fields.get("csrf")
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise UiProblem(403, "the form's security token is missing or out of date: reload the page and send it again")
