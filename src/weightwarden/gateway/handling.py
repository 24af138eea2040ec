"""What every route shares: finding the gateway, running blocking work off the event loop, and the audit row of a
route that runs no model (the model list, the tokenizer routes, the admin routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from weightwarden.gateway.errors import as_gateway_error
from weightwarden.gateway.request import Outcome, RequestContext
from weightwarden.gateway.service import Gateway

T = TypeVar("T")


def gateway_of(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(partial(fn, *args))


async def audited(request: Request, route: str, work: Callable[[RequestContext, Outcome], Awaitable[T]]) -> T:
    """Run a route's work for an authenticated request; failures answer in the OpenAI shape; always audited.

    work(ctx, outcome) may note the model it used on the outcome.
    """
    gw = gateway_of(request)
    ctx, outcome = gw.begin(request, route), Outcome()
    try:
        return await work(ctx, outcome)
    except Exception as exc:
        err = as_gateway_error(exc)
        outcome.fail(err)
        raise err from None
    finally:
        gw.audit.finish(ctx, outcome)
