"""Operations: /health (the one route without a key), /metrics (any key), and the admin routes (the admin key).

POST /admin/keys               make a key; the answer holds its secret, the only time it is shown
GET  /admin/keys               every key, without secrets
POST /admin/keys/{id}/revoke   revoke a key now
GET  /admin/requests           audit rows, newest first (?key_id=&model=&route=&status=&limit=)
GET  /openapi.json             the OpenAPI document of every route
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from weightwarden.gateway import answers
from weightwarden.gateway.auth import describe_key, parse_expiry
from weightwarden.gateway.errors import Forbidden, NotFound
from weightwarden.gateway.handling import audited, gateway_of
from weightwarden.gateway.metrics import CONTENT_TYPE
from weightwarden.gateway.openapi import documented
from weightwarden.gateway.request import Outcome, RequestContext
from weightwarden.gateway.schemas import KeyCreateRequest, parse_body
from weightwarden.gateway.service import Gateway

router = APIRouter()


@router.get("/health", **documented(answers.Health, open_route=True))
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse, **documented())
async def metrics(request: Request) -> PlainTextResponse:
    # Scrapes are not audited: a row every 15 seconds would drown the rows that matter.
    return PlainTextResponse(gateway_of(request).metrics.render(), media_type=CONTENT_TYPE)


async def admin_call(request: Request, route: str, work: Any) -> Any:
    """Run an admin route's work (a function of the gateway, in a thread) for the admin key only, audited."""

    async def run(ctx: RequestContext, outcome: Outcome) -> Any:
        if ctx.caller is None or not ctx.caller.admin:
            raise Forbidden("this route needs the admin key", code="admin_only")
        return await anyio.to_thread.run_sync(work, gateway_of(request))

    return await audited(request, route, run)


@router.post("/admin/keys", **documented(answers.NewKey, body=KeyCreateRequest, errors=(400, 403, 413)))
async def create_key(request: Request) -> dict[str, Any]:
    raw = await gateway_of(request).body(request)

    def work(gw: Gateway) -> dict[str, Any]:
        body = parse_body(KeyCreateRequest, raw)
        secret, key = gw.keys.create(
            body.name,
            models=body.models,
            rpm=body.rpm,
            tpm=body.tpm,
            budget_tokens=body.budget_tokens,
            budget_usd=body.budget_usd,
            expires_at=parse_expiry(body.expires),
        )
        return {**describe_key(key), "key": secret}

    return await admin_call(request, "/admin/keys", work)  # type: ignore[no-any-return]


@router.get("/admin/keys", **documented(answers.KeyList, errors=(403,)))
async def list_keys(request: Request) -> dict[str, Any]:
    def work(gw: Gateway) -> dict[str, Any]:
        return {"object": "list", "data": [describe_key(k) for k in gw.ledger.api_keys()]}

    return await admin_call(request, "/admin/keys", work)  # type: ignore[no-any-return]


@router.post("/admin/keys/{key_id}/revoke", **documented(answers.Key, errors=(403, 404)))
async def revoke_key(request: Request, key_id: str) -> dict[str, Any]:
    def work(gw: Gateway) -> dict[str, Any]:
        # The ledger raises a LedgerError (a 500: "unavailable") for an unknown id; the caller named a wrong one.
        if not any(k.id == key_id for k in gw.ledger.api_keys()):
            raise NotFound(f"no key {key_id!r}: GET /admin/keys lists the ids", code="key_not_found")
        return describe_key(gw.ledger.revoke_api_key(key_id))

    return await admin_call(request, "/admin/keys/revoke", work)  # type: ignore[no-any-return]


@router.get("/admin/requests", **documented(answers.AuditRows, errors=(400, 403)))
async def list_requests(
    request: Request,
    key_id: str | None = None,
    model: str | None = None,
    route: str | None = None,
    status: int | None = Query(None, ge=100, le=599),  # an HTTP status; a huge number overflows SQLite's INTEGER
    limit: int = 100,
) -> dict[str, Any]:
    def work(gw: Gateway) -> dict[str, Any]:
        rows = gw.ledger.requests(
            key_id=key_id, model=model, route=route, status=status, limit=min(max(limit, 1), 10_000)
        )
        return {"object": "list", "data": [{**asdict(r), "time": r.time.isoformat()} for r in rows]}

    return await admin_call(request, "/admin/requests", work)  # type: ignore[no-any-return]


@router.get("/openapi.json", **documented(dict[str, Any], errors=(403,)))
async def openapi(request: Request) -> dict[str, Any]:
    """This gateway's OpenAPI document, for the admin key."""
    build = request.app.openapi  # openapi.document, set by create_app
    return await admin_call(request, "/openapi.json", lambda gw: build())  # type: ignore[no-any-return]
