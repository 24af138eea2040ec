"""`warden keys create|list|revoke`: the gateway's API keys, stored hashed in the ledger; a secret is shown once."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from weightwarden.cli.common import DbOption, JsonOption, console, err_console, settings
from weightwarden.cli.output import Grid, show
from weightwarden.gateway.auth import KeyStore, describe_key, parse_expiry
from weightwarden.ledger import ApiKeyRecord, Ledger
from weightwarden.ledger.records import utcnow

app = typer.Typer(name="keys", help="Make, list and revoke the gateway's API keys.", no_args_is_help=True)


def _models(values: list[str] | None) -> list[str]:
    return [m.strip() for v in values or [] for m in v.split(",") if m.strip()]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    models: Annotated[
        list[str] | None, typer.Option("--models", help="Models the key may use, comma-separated (default: all).")
    ] = None,
    rpm: Annotated[int | None, typer.Option("--rpm", min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option("--tpm", min=1, help="Tokens per minute (prompt + completion).")] = None,
    budget_tokens: Annotated[
        int | None, typer.Option("--budget-tokens", min=0, help="Tokens the key may use in all.")
    ] = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", min=0.0, help="USD the key may spend in all (policy prices).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="30d, 12h, 90m, 2w, a date (2026-12-31) or never.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key: may also use the admin routes.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Make an API key. Its secret is printed once and never stored: keep it now."""
    when = parse_expiry(expires)
    with Ledger(settings(db=db).db_url) as ledger:
        secret, key = KeyStore(ledger).create(
            name,
            models=_models(models),
            rpm=rpm,
            tpm=tpm,
            budget_tokens=budget_tokens,
            budget_usd=budget_usd,
            expires_at=when,
            admin=admin,
        )
    if as_json:
        typer.echo(json.dumps({**describe_key(key), "key": secret}))
        return
    # The secret alone on stdout, so that KEY=$(warden keys create --name app) works.
    err_console.print(f"key [bold]{key.id}[/] ({name}) made; its secret, shown this once:", highlight=False)
    typer.echo(secret)


def _status(key: ApiKeyRecord) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utcnow():
        return "expired"
    return "active"


def _limit(value: Any) -> str:
    return "-" if value is None else str(value)


@app.command("list")
def list_keys(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Every key with its limits and what it has spent (never its secret)."""
    with Ledger(settings(db=db).db_url) as ledger:
        keys = ledger.api_keys()
    if as_json:
        typer.echo(json.dumps([{**describe_key(k), "status": _status(k)} for k in keys]))
        return
    columns = ("id", "name", "status", "models", "rpm", "tpm", "tokens used/budget", "USD used/budget", "expires")
    grid = Grid(f"API keys ({len(keys)})", columns, right=columns[4:8])
    for k in keys:
        grid.add(
            k.id,
            k.name,
            _status(k),
            ",".join(k.models) or "all",
            _limit(k.rpm),
            _limit(k.tpm),
            f"{k.spent_tokens}/{_limit(k.budget_tokens)}",
            f"{k.spent_usd:.4f}/{_limit(k.budget_usd)}",
            f"{k.expires_at:%Y-%m-%d %H:%M}" if k.expires_at else "never",
        )
    show(grid)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `warden keys list` shows it.")],
    db: DbOption = None,
) -> None:
    """Revoke a key now; a running gateway refuses it from its next request."""
    with Ledger(settings(db=db).db_url) as ledger:
        key = ledger.revoke_api_key(key_id)
    console.print(
        f"key [bold]{key.id}[/] ({key.name}) revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC", highlight=False
    )
