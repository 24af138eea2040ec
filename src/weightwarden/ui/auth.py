"""STAND-IN for ui-core's sessions (issue 16): the dependency names of the contract, checked against an API key.

Dropped at merge in favour of ui-core's auth.py. Here a caller signs in by sending its gateway key as
`Authorization: Bearer <secret>`; no header -> 303 to /ui/login, a non-admin key -> 403.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from weightwarden.gateway.auth import Caller
from weightwarden.ui.context import ui_context


def require_signed_in(request: Request) -> Caller:
    header = request.headers.get("authorization")
    if not header:
        raise HTTPException(303, "sign in first", headers={"Location": "/ui/login"})
    try:
        return ui_context(request).keys.authenticate(header)
    except Exception:
        raise HTTPException(303, "sign in again", headers={"Location": "/ui/login"}) from None


def require_admin(request: Request) -> Caller:
    caller = require_signed_in(request)
    if not caller.admin:
        raise HTTPException(403, "this page is for admin keys")
    return caller


def csrf_protect(request: Request) -> None:
    """The stand-in has no forms that post."""
