"""STAND-IN for ui-core's UiContext (issue 16): the ledger, the key store, an optional gateway, and render().

Dropped at merge in favour of ui-core's context.py; pages use only `ui_context(request)`, `.ledger`, `.keys`,
`.gateway` and `.render(request, name, **ctx)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from weightwarden.gateway.auth import KeyStore
from weightwarden.ledger import Ledger


def _env() -> Environment:
    # as ui-core's: every template escaped, a missing value an error, block tags leave no blank lines
    return Environment(
        loader=PackageLoader("weightwarden.ui", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class UiContext:
    ledger: Ledger
    keys: KeyStore
    gateway: Any = None
    env: Environment = field(default_factory=_env)

    def render(self, request: Request, name: str, **ctx: Any) -> HTMLResponse:
        page = self.env.get_template(name).render(request=request, csrf="", nav=[], **ctx)
        return HTMLResponse(page)


def ui_context(request: Request) -> UiContext:
    """The UiContext the app was built with (kept on app.state.ui)."""
    ui: UiContext = request.app.state.ui
    return ui
