"""`warden ui`: the dashboard alone over a ledger, for a machine that serves no models."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from weightwarden.cli.common import DbOption, QuietOption, err_console, settings
from weightwarden.config import Settings
from weightwarden.ledger import Ledger

if TYPE_CHECKING:
    from weightwarden.watermark import WatermarkConfig


def detection_key(s: Settings) -> WatermarkConfig | None:
    """The configured watermark key for the playground's detector, or None (detection never makes a key)."""
    from weightwarden.watermark import WatermarkError, load_watermark_config

    try:
        return load_watermark_config(s)
    except WatermarkError:
        return None


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080,
    db: DbOption = None,
    quiet: QuietOption = False,
) -> None:
    """Serve the dashboard at /ui over the ledger, without models (the playground says so).

    Sign in with an admin key (WARDEN_ADMIN_KEY, or the one `warden serve` printed) to see every page; any other
    key sees its own usage. Sessions last ui_session_hours (default 8) and are kept in the ledger.
    """
    import uvicorn

    from weightwarden.gateway.auth import KeyStore
    from weightwarden.ui import UiContext, UiSettings, create_ui_app

    s = settings(db=db)
    with Ledger(s.db_url) as ledger:
        keys = KeyStore(ledger, os.environ.get("WARDEN_ADMIN_KEY") or None)
        secret = keys.ensure_admin()
        if secret is not None:
            err_console.print("[bold]admin key[/] (shown this once; it is stored only as a hash):", highlight=False)
            typer.echo(secret)
        context = UiContext(
            ledger,
            keys,
            settings=UiSettings(session_hours=s.ui_session_hours),
            watermark=detection_key(s),
        )
        app = create_ui_app(context)
        if not quiet:
            err_console.print(f"dashboard on http://{host}:{port}/ui/ · ledger {ledger.url}", highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info")
