"""What every OpenAI route shares: finding the gateway and the model, the guard on both sides, failures in the
OpenAI shape, and the end of a stream."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from weightwarden.gateway.audit import Exchange
from weightwarden.gateway.backends import Backend
from weightwarden.gateway.errors import ContentBlocked, as_gateway_error
from weightwarden.gateway.generation import GenerationRun
from weightwarden.gateway.guard_hook import blocked_labels
from weightwarden.gateway.service import Gateway

T = TypeVar("T")


def gateway_of(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(partial(fn, *args))


def usage(ex: Exchange) -> dict[str, int]:
    return {
        "prompt_tokens": ex.prompt_tokens,
        "completion_tokens": ex.completion_tokens,
        "total_tokens": ex.prompt_tokens + ex.completion_tokens,
    }


async def guard_input(gw: Gateway, ex: Exchange, texts: list[str]) -> list[str]:
    """The texts to send to the model (redacted where the policy says); ContentBlocked when the guard blocks."""
    if not gw.guard.enabled or not texts:
        return texts
    decision = await in_thread(gw.guard.check_input, texts)
    ex.verdicts["input"] = decision.verdicts
    if decision.blocked:
        raise ContentBlocked(f"the prompt was blocked by the guard: {blocked_labels(decision)}")
    return decision.texts


async def guard_output(gw: Gateway, ex: Exchange, text: str, system: str) -> str:
    if not gw.guard.enabled:
        return text
    decision = await in_thread(gw.guard.check_output, text, system)
    ex.verdicts["output"] = decision.verdicts
    if decision.blocked:
        raise ContentBlocked(
            f"the answer was stopped by the output guard: {blocked_labels(decision)}", code="output_blocked"
        )
    return decision.texts[0]


def pick(gw: Gateway, ex: Exchange, name: str) -> Backend:
    assert ex.caller is not None
    ex.model = name
    backend = gw.router.get(name, ex.caller)
    ex.model_hash = backend.model_hash
    return backend


async def answer(gw: Gateway, ex: Exchange, handle: Callable[[], Any]) -> Any:
    """Run a handler body; on any failure record it on the exchange and answer in the OpenAI shape."""
    try:
        return await handle()
    except Exception as exc:
        err = as_gateway_error(exc)
        ex.fail(err)
        raise err from None


def finish_stream(gw: Gateway, run: GenerationRun) -> None:
    """Stop the generation if it still runs, charge the key and audit; safe to call more than once."""
    run.close()
    gw.settle(run.ex, run.reservation)


async def release(gw: Gateway, step: Callable[..., str], *args: str) -> str:
    """One step of the stream scanner: in a thread when the guard scans (milliseconds), inline when it is off."""
    return await in_thread(step, *args) if gw.guard.enabled else step(*args)
