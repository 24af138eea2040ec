"""`warden serve` (the OpenAI-compatible gateway) and `warden logs` (its audit rows)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from weightwarden.cli.common import DbOption, JsonOption, QuietOption, err_console, settings
from weightwarden.cli.output import Format, FormatOption, Grid, pick_format, show
from weightwarden.errors import ConfigError
from weightwarden.gateway.config import EMBEDDER_NAME, GatewayConfig, ModelSpec, load_routes
from weightwarden.gateway.policy import load_serving_policy
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.watermark.base import load_watermark_config


def _public_name(ref: str) -> str:
    return ref if ref == "default" else Path(ref).stem or ref


def serve(
    model: Annotated[
        str | None,
        typer.Argument(
            help="A model to serve in-process: `default`, a .gguf file or a model folder.", show_default=False
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="Policy YAML: guard rules, store_text, retention_days, prices.", show_default=False
        ),
    ] = None,
    routes: Annotated[
        Path | None,
        typer.Option(
            "--routes", help="Routing YAML: public model names to local models or upstream servers.", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Public name of MODEL (default: `default`, or the file's stem).")
    ] = None,
    upstream: Annotated[
        list[str] | None,
        typer.Option(
            "--upstream",
            help="An OpenAI-compatible server (http://host:port/v1) to serve --upstream-model from; repeat it for a "
            "pool with health checks, retries and a circuit breaker per server.",
            show_default=False,
        ),
    ] = None,
    upstream_model: Annotated[
        str | None,
        typer.Option(
            "--upstream-model",
            help="The model name the --upstream servers know (also its public name).",
            show_default=False,
        ),
    ] = None,
    upstream_key_env: Annotated[
        str | None,
        typer.Option(
            "--upstream-key-env",
            help="Environment variable holding the --upstream servers' API key.",
            show_default=False,
        ),
    ] = None,
    slots: Annotated[
        int,
        typer.Option(
            "--slots",
            min=0,
            help="Requests admitted per model, running or waiting; more get 429 with the time their turn would come "
            "(0: for a local model, the one it runs and one more as it nears its end; 8 for the embedder).",
        ),
    ] = 0,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds a request may take in all.")] = 300.0,
    max_body: Annotated[int, typer.Option("--max-body-bytes", min=1024, help="Largest request body accepted.")] = 1
    << 20,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens one request may ask for.")] = 4096,
    embedder: Annotated[
        bool, typer.Option("--embedder/--no-embedder", help=f"Serve {EMBEDDER_NAME} on /v1/embeddings.")
    ] = True,
    alert_rules: Annotated[
        Path | None,
        typer.Option(
            "--alert-rules",
            help="Check these alert rules (as `warden monitor check`) while serving.",
            show_default=False,
        ),
    ] = None,
    alert_webhook: Annotated[
        str | None,
        typer.Option(
            "--alert-webhook", help="POST a JSON alert here when rules start or stop firing.", show_default=False
        ),
    ] = None,
    alert_every: Annotated[
        float, typer.Option("--alert-every", min=1.0, help="Seconds between two checks of the alert rules.")
    ] = 300.0,
    with_ui: Annotated[
        bool, typer.Option("--ui/--no-ui", help="Serve the dashboard at /ui (sign in with a key).")
    ] = True,
    db: DbOption = None,
    quiet: QuietOption = False,
) -> None:
    """Serve MODEL (and the models in --routes) over an OpenAI-compatible API with keys, limits, guard and audit.

    Every route but /health needs a key (`warden keys create`). The admin key comes from WARDEN_ADMIN_KEY, or is
    made and printed once, on the first start, and stored hashed. The dashboard at /ui signs in with a key too.
    """
    import uvicorn

    from weightwarden.gateway.app import create_app  # FastAPI loads only for this command
    from weightwarden.gateway.auth import KeyStore

    s = settings(db=db)
    specs: list[ModelSpec] = []
    if model is not None:
        specs.append(ModelSpec(name or _public_name(model), "local", ref=model, slots=slots))
    if upstream:
        specs.append(_pool_from_flags(upstream, upstream_model, upstream_key_env, slots))
    if routes is not None:
        specs.extend(load_routes(routes))
    if not specs:
        specs.append(ModelSpec(name or "default", "local", ref="default", slots=slots))
    if embedder and all(sp.kind != "embedder" for sp in specs):
        specs.append(ModelSpec(EMBEDDER_NAME, "embedder", slots=slots))
    serving = load_serving_policy(policy)
    # watermark: true in the policy: the configured key, or a new one in HOME (its fingerprint goes in each audit row)
    mark = load_watermark_config(s, create=True) if serving.watermark else None
    config = GatewayConfig(
        ledger_url=s.db_url,
        models=tuple(specs),
        policy=serving,
        watermark=mark,
        admin_key=os.environ.get("WARDEN_ADMIN_KEY") or None,
        max_body_bytes=max_body,
        request_timeout=timeout,
        max_tokens_limit=max_tokens,
        default_max_tokens=min(512, max_tokens),
        n_ctx=s.n_ctx,
        threads=s.threads,
        upstream_timeout=s.timeout,
        hash_cache=s.home / "hash-cache.json",
        alert_rules=alert_rules,
        alert_webhook=alert_webhook,
        alert_check_seconds=alert_every,
    )
    with Ledger(config.ledger_url) as ledger:
        secret = KeyStore(ledger, config.admin_key).ensure_admin()
        if secret is not None:
            err_console.print("[bold]admin key[/] (shown this once; it is stored only as a hash):", highlight=False)
            typer.echo(secret)
        app = create_app(config, ledger=ledger, open_prefixes=("/ui",) if with_ui else ())
        if with_ui:
            from weightwarden.cli.ui import detection_key
            from weightwarden.ui import UiContext, UiSettings, mount_ui

            gw = app.state.gateway
            ui_settings = UiSettings(session_hours=s.ui_session_hours)
            mount_ui(app, UiContext(ledger, gw.keys, gateway=gw, settings=ui_settings, watermark=detection_key(s)))
        if not quiet:
            guard = "on" if app.state.gateway.guard.enabled else "off"
            if mark is not None:
                guard += f" · watermark key {mark.fingerprint}"
            names = ", ".join(sp.name for sp in specs)
            err_console.print(
                f"serving {names} on http://{host}:{port}/v1 · guard {guard} · ledger {ledger.url}"
                + (f" · dashboard http://{host}:{port}/ui/" if with_ui else ""),
                highlight=False,
            )
        uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info")


def _pool_from_flags(urls: list[str], model: str | None, key_env: str | None, slots: int) -> ModelSpec:
    """The pool that --upstream (repeated) and --upstream-model name."""
    if not model:
        raise ConfigError("--upstream needs --upstream-model: the model name the upstream servers serve")
    if bad := [u for u in urls if not u.startswith(("http://", "https://"))]:
        raise ConfigError(f"--upstream {bad[0]!r} is not a URL: write http://host:port/v1")
    cleaned = tuple(dict.fromkeys(u.rstrip("/") for u in urls))
    return ModelSpec(model, "upstream", upstream_model=model, api_key_env=key_env, slots=slots, upstreams=cleaned)


_AGO = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str | None, option: str) -> datetime | None:
    """A point in time: a duration ago (15m, 2h, 7d, 1w) or an ISO date or datetime (UTC if no zone)."""
    if text is None:
        return None
    if match := _AGO.fullmatch(text.strip().lower()):
        return utcnow() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: use a duration ago like 15m, 2h, 7d, or a date like 2026-11-01"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _row(r: RequestRecord) -> dict[str, Any]:
    return {**asdict(r), "time": r.time.isoformat()}


def _labels(r: RequestRecord) -> str:
    fired = [f"{side}:{v['label']}" for side, vs in r.verdicts.items() for v in vs if v.get("label") != "clean"]
    return ", ".join(fired) or "-"


def logs(
    key: Annotated[str | None, typer.Option("--key", help="Only this key id.", show_default=False)] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Only this public model name.", show_default=False)
    ] = None,
    route: Annotated[
        str | None, typer.Option("--route", help="Only this route, e.g. /v1/chat/completions.", show_default=False)
    ] = None,
    status: Annotated[int | None, typer.Option("--status", help="Only this HTTP status.", show_default=False)] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From: 15m, 2h, 7d, or a date.", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before: 15m, 2h, 7d, or a date.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Most rows to show.")] = 50,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    db: DbOption = None,
) -> None:
    """The gateway's audit rows, newest first: one per request, with key, model, status, tokens, times and verdicts."""
    fmt_ = pick_format(fmt, as_json)
    with Ledger(settings(db=db).db_url) as ledger:
        rows = ledger.requests(
            key_id=key,
            model=model,
            route=route,
            status=status,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
            limit=limit,
        )
    if fmt_ is Format.json:
        typer.echo(json.dumps([_row(r) for r in rows], ensure_ascii=False))
        return
    columns = (
        "time (UTC)",
        "request",
        "key",
        "model",
        "route",
        "status",
        "tokens in/out",
        "ttft ms",
        "total ms",
        "USD",
        "guard",
    )
    grid = Grid(f"gateway requests ({len(rows)}, newest first)", columns, right=columns[5:10])
    for r in rows:
        grid.add(
            f"{r.time:%Y-%m-%d %H:%M:%S}",
            r.request_id,
            r.key_id or "-",
            r.model or "-",
            r.route,
            f"{r.status}" + (f" {r.error}" if r.error else ""),
            f"{r.prompt_tokens}/{r.completion_tokens}",
            f"{r.ttft_ms:.0f}" if r.ttft_ms is not None else "-",
            f"{r.total_ms:.0f}",
            f"{r.cost_usd:.6f}",
            _labels(r),
        )
    show(grid, fmt_)
