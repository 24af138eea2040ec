"""The FastAPI app: create_app(config) wires keys, limits, models, guard, audit and metrics into the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from weightwarden.gateway import errors, openapi, routes_openai, routes_ops
from weightwarden.gateway.auth import KeyGate
from weightwarden.gateway.config import GatewayConfig
from weightwarden.gateway.service import Gateway
from weightwarden.ledger import Ledger
from weightwarden.monitor.rules import load_rules
from weightwarden.monitor.watch import check_rules

log = logging.getLogger("weightwarden.gateway")


def create_app(config: GatewayConfig, *, ledger: Ledger | None = None, open_prefixes: tuple[str, ...] = ()) -> FastAPI:
    """An OpenAI-compatible app over the config's models; loads them now (it may take seconds).

    ledger: an open ledger to share (the caller closes it); by default the app opens config.ledger_url and closes
    it, with the models it loaded, when it shuts down. open_prefixes: paths that need no API key because what is
    mounted there signs callers in itself (the dashboard at /ui).
    """
    if config.alert_rules is not None:
        load_rules(str(config.alert_rules))  # a broken rules file stops the start, not a check hours later
    gw = Gateway(config, ledger)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_forget_old_text(gw)), asyncio.create_task(_check_alert_rules(gw))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            gw.close()

    app = FastAPI(
        title="weightwarden gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.gateway = gw
    # /openapi.json (routes_ops) serves this to the admin key; openapi_url stays None so FastAPI serves nothing.
    app.openapi = lambda: openapi.document(app, config)  # type: ignore[method-assign]
    errors.install(app)
    app.include_router(routes_ops.router)
    app.include_router(routes_openai.router)
    app.add_middleware(KeyGate, keys=gw.keys, on_refused=gw.refused, open_prefixes=open_prefixes)
    return app


async def _check_alert_rules(gw: Gateway) -> None:
    """Evaluate the alert rules every alert_check_seconds and POST changes to the webhook (as `monitor check`)."""
    rules = gw.config.alert_rules
    if rules is None:
        return
    while True:
        try:
            summary = await asyncio.to_thread(check_rules, gw.ledger, str(rules), gw.config.alert_webhook)
            if summary["firing"]:
                log.warning("alert rules firing: %s", ", ".join(summary["firing"]))
        except Exception as exc:
            log.error("could not check the alert rules in %s: %s", rules, exc)
        await asyncio.sleep(gw.config.alert_check_seconds)


async def _forget_old_text(gw: Gateway) -> None:
    """Blank stored text past the retention period, now and then every retention_check_seconds."""
    if not gw.policy.store_text:
        return
    while True:
        try:
            n = await asyncio.to_thread(gw.audit.forget_old_text, gw.policy.retention_days)
            if n:
                log.info("blanked the stored text of %d requests older than %s days", n, gw.policy.retention_days)
        except Exception as exc:
            log.error("could not apply the retention period: %s", exc)
        await asyncio.sleep(gw.config.retention_check_seconds)
