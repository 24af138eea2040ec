"""Driving one generation from the event loop: its time limit, its client going away, and its settlement.

A GenerationRun reads a job's chunks with the request's deadline; past it, the job is cancelled and the request
ends with 504. A client that disconnects cancels the job too (a watcher for plain responses, EventStream for
streamed ones), so the model stops within a token. close() settles the key's reservation to the tokens used and
the exchange's token counts are filled in by close(), whatever happened; the route then settles and audits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from weightwarden.gateway.audit import Exchange
from weightwarden.gateway.errors import GatewayError, Timeout, error_body
from weightwarden.gateway.limits import Reservation
from weightwarden.gateway.queue import Job
from weightwarden.runtimes import Chunk


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event carrying data (JSON, or a literal such as [DONE])."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n"


def sse_error(err: GatewayError) -> str:
    return sse(error_body(err))


class GenerationRun:
    """One job's items, read under a deadline; Chunks are counted, other items (log-probabilities) passed on.

    An item may also be an (index, Chunk) pair, for requests with several prompts.
    """

    def __init__(self, ex: Exchange, job: Job[Any], reservation: Reservation | None, deadline: float) -> None:
        self.ex, self.job, self.reservation, self.deadline = ex, job, reservation, deadline
        self.final: Chunk | None = None
        self.consumed = 0
        self.open_tokens = 0  # text chunks of the generation under way
        self.prompt_total = 0
        self.completion_total = 0
        self.finals = 0
        self.closed = False

    async def items(self) -> AsyncIterator[Any]:
        """The job's items; raises Timeout (and cancels the job) when the deadline passes."""
        while True:
            remaining = self.deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                item = await asyncio.wait_for(self.job.next(), remaining)
            except TimeoutError:
                self.job.cancel()
                raise Timeout(
                    "the request ran past the gateway's time limit and was stopped: ask for fewer tokens, or retry"
                ) from None
            if item is None:
                return
            self.consumed += 1
            chunk = item[1] if isinstance(item, tuple) else item
            if isinstance(chunk, Chunk):
                self._count(chunk)
            yield item

    def _count(self, chunk: Chunk) -> None:
        if chunk.text:
            self.open_tokens += 1
            self.ex.first_token()
        if chunk.finish_reason is not None:
            self.final = chunk
            self.finals += 1
            self.prompt_total += chunk.prompt_tokens or 0
            self.completion_total += (
                chunk.completion_tokens if chunk.completion_tokens is not None else self.open_tokens
            )
            self.open_tokens = 0

    @contextlib.asynccontextmanager
    async def watching(self, request: Request) -> AsyncIterator[None]:
        """Cancel the job if the client disconnects while a plain (not streamed) answer is being made."""

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            self.ex.client_gone = True
            self.job.cancel()

        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()

    def close(self) -> None:
        """Stop the job if it still runs and put the tokens used into the exchange; only the first call counts."""
        if self.closed:
            return
        self.closed = True
        if self.job.outcome is None:
            self.job.cancel()
        if self.prompt_total:
            self.ex.prompt_tokens = self.prompt_total  # the model's own count; the estimate made before stays if none
        # A generation cut short: each item the worker made but nobody read was a token too.
        self.ex.completion_tokens = self.completion_total + self.open_tokens + max(0, self.job.produced - self.consumed)
        if self.ex.client_gone and self.ex.status < 400:
            self.ex.status, self.ex.error = 499, "client_closed_request"


class EventStream(StreamingResponse):
    """A text/event-stream response that notices a client going away even while no event is being sent.

    When the stream ends, however it ends, the event generator is closed (so its finally runs) and then on_close
    runs: it must be idempotent, and it is what settles a stream whose generator never started.
    """

    def __init__(
        self, events: AsyncIterator[str], ex: Exchange, headers: dict[str, str], on_close: Callable[[], None]
    ) -> None:
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", **headers})
        self.ex = ex
        self._events = events
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def listen(group: anyio.abc.TaskGroup) -> None:
            await self.listen_for_disconnect(receive)
            self.ex.client_gone = True
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(listen, group)
                try:
                    await self.stream_response(send)
                except OSError:
                    self.ex.client_gone = True
                group.cancel_scope.cancel()
        finally:
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            self._on_close()
