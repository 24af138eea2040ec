"""The path of a request to a model, one stage after another; every model route goes through it.

    begin        the request's context (RequestContext, never changed), after KeyGate checked its key (401)
    pick         the model, if the key may use it (404, 403) and it can do what is asked (400)
    admit        a slot in the model's queue and the key's requests per minute (429): microseconds, before any work
    reserve      the most the request may use, against the key's token limits and budgets (429)
    check_input  the guard on the untrusted text (400 when it blocks)
    start        the work on the model's queue, under the request's time limit (504)
    check_output the guard on the answer
    settle       the key is charged what was used and the audit row is written, however the request ended

A ModelRequest holds what one request holds (its slot, reservation and run) and its Outcome; a model route's
outcome is written here and nowhere else, from the values the stages return.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from weightwarden.gateway.backends import Backend, require
from weightwarden.gateway.backends.base import Capability
from weightwarden.gateway.errors import ContentBlocked, GatewayError, as_gateway_error
from weightwarden.gateway.generation import EventStream, GenerationRun
from weightwarden.gateway.guard_hook import Decision, blocked_labels
from weightwarden.gateway.handling import gateway_of, in_thread
from weightwarden.gateway.limits import Reservation, counts_requests, holds_tokens
from weightwarden.gateway.queue import Slot
from weightwarden.gateway.request import Outcome, RequestContext, Usage
from weightwarden.gateway.service import Gateway
from weightwarden.runtimes import GenerationParams

Work = Callable[[], Iterable[tuple[int, Any]]]


class ModelRequest:
    """One request to a model, from its context to its audit row."""

    def __init__(self, gw: Gateway, ctx: RequestContext) -> None:
        self.gw, self.ctx = gw, ctx
        self.outcome = Outcome()
        self.slot: Slot | None = None
        self.reservation: Reservation | None = None
        self.backend: Backend | None = None
        self.run: GenerationRun | None = None
        self.streaming = False  # the answer is a stream, which settles when it ends
        self._estimate = Usage()  # prompt tokens counted before the model ran
        self._generates = True
        self._settled = False

    def pick(self, name: str, capability: Capability) -> Backend:
        """The backend for name, for a request that needs capability; 404, 403 or 400."""
        self.backend = pick(self.gw, self.ctx, self.outcome, name, capability)
        return self.backend

    async def admit(self, backend: Backend, request: Request | None = None) -> None:
        """A queue slot and the key's requests per minute, or 429 holding nothing.

        request: its body already read, it is watched for the client going away while the request waits for a slot.
        """
        self.slot = await self.gw.enter(self.ctx, backend, None if request is None else partial(disconnected, request))
        assert self.ctx.caller is not None
        if counts_requests(self.ctx.caller):  # the ledger decides, off the event loop; serve() frees the slot on 429
            await in_thread(self.gw.count_request, self.ctx)

    def counted(self, prompt_tokens: int) -> None:
        """The request's prompt tokens as counted (or estimated) before the model runs."""
        self._estimate = Usage(prompt_tokens)
        self.outcome.usage = self._estimate

    def sampled(self, params: GenerationParams) -> None:
        """How the answer will be sampled: a watermarked answer's row keeps the key's fingerprint."""
        if params.logits_processor is not None and self.gw.watermark is not None:
            self.outcome.watermark = self.gw.watermark.config.fingerprint

    async def reserve(self, backend: Backend, tokens: int, completion_tokens: int) -> None:
        """Reserve tokens in all, completion_tokens of them generated, against the key's limits; 429 if they say no."""
        assert self.ctx.caller is not None
        if holds_tokens(self.ctx.caller):  # the ledger decides: off the event loop
            self.reservation = await in_thread(self.gw.reserve, self.ctx, backend, tokens, completion_tokens)
        else:
            self.reservation = self.gw.reserve(self.ctx, backend, tokens, completion_tokens)

    async def grow(self, backend: Backend, tokens: int, completion_tokens: int) -> None:
        """Grow the reservation to tokens in all (a redacted prompt came out longer); 429 if the limits say no."""
        if self.reservation is not None and self.reservation.held:
            await in_thread(self.gw.extend, backend, self.reservation, tokens, completion_tokens)
        else:
            self.gw.extend(backend, self.reservation, tokens, completion_tokens)

    async def check_input(self, texts: list[str], keep: Callable[[list[str]], str | None] | None = None) -> list[str]:
        """The texts to send to the model (redacted where the policy says); ContentBlocked when the guard blocks.

        keep: the prompt as the audit row stores it, made from the (redacted) texts; a blocked prompt's row keeps it
        too (when the policy stores text), so the guard page can show what was refused.
        """
        if not self.gw.guard.enabled or not texts:
            return texts
        decision: Decision = await in_thread(self.gw.guard.check_input, texts)
        self.outcome.verdicts["input"] = decision.verdicts
        if decision.blocked:
            if keep is not None:
                self.outcome.prompt_text = keep(decision.texts)
            raise ContentBlocked(f"the prompt was blocked by the guard: {blocked_labels(decision)}")
        return decision.texts

    async def check_output(self, text: str, system: str) -> str:
        """The answer as it may be sent (redacted where the policy says); ContentBlocked when the guard blocks."""
        if not self.gw.guard.enabled:
            return text
        decision: Decision = await in_thread(self.gw.guard.check_output, text, system)
        self.outcome.verdicts["output"] = decision.verdicts
        if decision.blocked:
            raise ContentBlocked(
                f"the answer was stopped by the output guard: {blocked_labels(decision)}", code="output_blocked"
            )
        return decision.texts[0]

    def start(self, backend: Backend, work: Work, *, prompt_text: str | None, generates: bool = True) -> GenerationRun:
        """Queue work in the request's slot; the run reads its items under the request's time limit.

        prompt_text: what the audit row keeps as the prompt; generates: False when the work makes no tokens.
        """
        assert self.slot is not None
        self.outcome.prompt_text = prompt_text
        self._generates = generates
        job = backend.queue.submit(work, asyncio.get_running_loop(), self.slot)
        self.run = GenerationRun(job, self.ctx.t0, self.gw.deadline(self.ctx))
        return self.run

    def streamed(self, events: AsyncIterator[str]) -> EventStream:
        """The answer as server-sent events; the request settles when the stream ends, however it ends."""
        assert self.run is not None
        self.streaming = True
        return EventStream(events, self.run, self.ctx.headers, self.settle)

    def close_run(self) -> Usage:
        """Stop the run if it still goes and take what it used (once); a client gone first makes the status 499."""
        run = self.run
        if run is not None and not run.closed:
            run.close()
            used = run.usage(self._estimate.prompt_tokens)
            self.outcome.usage = used if self._generates else Usage(used.prompt_tokens)
            self.outcome.ttft_ms = run.ttft_ms
            if self.backend is not None:
                self.outcome.model_hash = self.backend.model_hash  # an embedder's is known once it has loaded
            if run.client_gone and self.outcome.status < 400:
                self.outcome.status, self.outcome.error = 499, "client_closed_request"
        return self.outcome.usage

    def answered(
        self, text: str | None, *, usage: Usage | None = None, output: list[dict[str, Any]] | None = None
    ) -> None:
        """What was sent back: its text, the usage an upstream reported, the verdicts of a streamed answer's scan."""
        self.outcome.response_text = text
        if usage is not None:
            self.outcome.usage = usage
        if output:
            self.outcome.verdicts["output"] = output

    def fail(self, exc: BaseException) -> GatewayError:
        err = as_gateway_error(exc)
        self.outcome.fail(err)
        return err

    def settle(self) -> None:
        """Charge the key what the request used and write its audit row; only the first call counts."""
        if self._settled:
            return
        self._settled = True
        usage = self.close_run()
        self.outcome.cost_usd = self.gw.charge(self.reservation, self.outcome.model, usage)
        self.gw.audit.finish(self.ctx, self.outcome)


async def disconnected(request: Request) -> None:
    """Return when the client of a request whose body has been read goes away."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def pick(gw: Gateway, ctx: RequestContext, outcome: Outcome, name: str, capability: Capability) -> Backend:
    """The backend for name, if the caller may use it (404, 403) and it declares capability (400); the model is
    noted on the outcome, so a refused request's row names it too."""
    assert ctx.caller is not None
    outcome.model = name
    backend = gw.router.get(name, ctx.caller)
    outcome.model_hash = backend.model_hash
    require(backend, capability)
    return backend


async def serve(request: Request, route: str, handle: Callable[[ModelRequest], Awaitable[Response]]) -> Response:
    """Run a model route's handler; any failure is recorded and answered in the OpenAI shape; a plain answer is
    settled here, a stream when it ends."""
    mr = ModelRequest(gateway_of(request), gateway_of(request).begin(request, route))
    try:
        return await handle(mr)
    except Exception as exc:
        raise mr.fail(exc) from None
    finally:
        if mr.slot is not None:
            mr.slot.release()  # a request refused after admission gives its place back (no-op once submitted)
        if not mr.streaming:
            mr.settle()
