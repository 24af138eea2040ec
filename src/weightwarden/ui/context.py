"""What every dashboard page needs: the ledger, the key store, the gateway (for the playground) and the templates.

A page finds it with `ui_of(request)` and answers with `ui.render(request, "page.html", **values)`; render adds
`caller` (who is signed in), `csrf` (the token every form posts back) and `nav` (the links this caller may follow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from weightwarden.gateway.auth import Caller, KeyStore
from weightwarden.ledger import Ledger

if TYPE_CHECKING:
    from weightwarden.gateway.service import Gateway
    from weightwarden.watermark import WatermarkConfig

TEMPLATES = Path(__file__).parent / "templates"

# (path under /ui, label, admin only)
NAV: tuple[tuple[str, str, bool], ...] = (
    ("/", "Overview", True),
    ("/runs", "Runs", True),
    ("/compare", "Compare", True),
    ("/traffic", "Traffic", True),
    ("/guard", "Guard", True),
    ("/keys", "Keys", True),
    ("/playground", "Playground", True),
    ("/usage", "My usage", False),
)


@dataclass(frozen=True)
class UiSettings:
    """session_hours: how long a sign-in lasts; max_form_bytes: the largest form a page accepts (413 past it);
    max_prompt_chars: the longest playground prompt or pasted text."""

    session_hours: float = 8.0
    max_form_bytes: int = 256 * 1024
    max_prompt_chars: int = 32_000


@dataclass
class UiContext:
    """The dashboard's parts. gateway: the serving gateway (None for `warden ui`: no playground); watermark: the key
    to detect with when the gateway has none of its own."""

    ledger: Ledger
    keys: KeyStore
    gateway: Gateway | None = None
    settings: UiSettings = field(default_factory=UiSettings)
    watermark: WatermarkConfig | None = None
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,  # every template, whatever its name: model output is text, never HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["url"] = lambda path="/": "/ui" + path

    def watermark_config(self) -> WatermarkConfig | None:
        """The key answers are marked with: the gateway's when it marks, else the one configured for detection."""
        if self.gateway is not None and self.gateway.watermark is not None:
            return self.gateway.watermark.config
        return self.watermark

    def nav(self, caller: Caller | None, path: str) -> list[dict[str, Any]]:
        if caller is None:
            return []
        return [
            {
                "href": "/ui" + p,
                "label": label,
                "current": path == "/ui" + p or (p != "/" and path.startswith("/ui" + p)),
            }
            for p, label, admin_only in NAV
            if caller.admin or not admin_only
        ]

    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        """The template name filled with values, the caller, the CSRF token and the navigation."""
        caller: Caller | None = getattr(request.state, "ui_caller", None)
        csrf: str = getattr(request.state, "ui_csrf", "")
        html = self.env.get_template(name).render(
            request=request, caller=caller, csrf=csrf, nav=self.nav(caller, request.url.path), **values
        )
        return HTMLResponse(html, status_code=status)


def ui_of(request: Request) -> UiContext:
    """The dashboard's context, from the app it is mounted on."""
    ui: UiContext = request.app.state.ui
    return ui


ui_context = ui_of  # the name ui-pages' modules were written against
