"""What every read-only page shares: the context, the admin dependency, the 404 page, page numbers, JSON text."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from weightwarden.ui.auth import require_admin
from weightwarden.ui.context import UiContext, ui_context

__all__ = ["UiContext", "not_found", "page_number", "pretty", "require_admin", "ui_context"]


def not_found(request: Request, what: str, hint: str) -> HTMLResponse:
    """The 404 page: what was not found, and where to look instead."""
    resp = ui_context(request).render(request, "not_found.html", what=what, hint=hint)
    resp.status_code = 404
    return resp


def page_number(text: str | None) -> int:
    """A page number from a query string: 1 for anything that is not a positive integer."""
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


def pretty(value: Any) -> str:
    """JSON as indented text (the template escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
