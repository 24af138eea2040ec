"""Driving one generation from the event loop: its time limit, its client going away, and its settlement.

A GenerationRun reads a job's chunks with the request's deadline; past it, the job is cancelled and the request
ends with 504. A client that disconnects cancels the job too (a watcher for plain responses, EventStream for
streamed ones), so the model stops within a token. Whatever happened, close() stops the job and usage() says
what the request used; the request path then settles the key's reservation and audits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from weightwarden.gateway.backends.base import Restart
from weightwarden.gateway.errors import GatewayError, Timeout, error_body
from weightwarden.gateway.queue import Job
from weightwarden.gateway.request import Usage
from weightwarden.runtimes import Chunk


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event carrying data (JSON, or a literal such as [DONE])."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n"


def sse_error(err: GatewayError) -> str:
    return sse(error_body(err))


class GenerationRun:
    """One job's items, read under a deadline; Chunks are counted, other items (log-probabilities) passed on.

    Every item is an (index, item) pair: the index of the prompt it answers. t0: when the request arrived
    (perf_counter), for the time to first token; deadline: monotonic time past which the job is cancelled.
    """

    def __init__(self, job: Job[tuple[int, Any]], t0: float, deadline: float) -> None:
        self.job, self.t0, self.deadline = job, t0, deadline
        self.final: Chunk | None = None
        self.ttft_ms: float | None = None
        self.client_gone = False
        self.consumed = 0
        self.open_tokens = 0  # text chunks of the generation under way
        self.prompt_total = 0
        self.completion_total = 0
        self.closed = False

    async def items(self) -> AsyncIterator[tuple[int, Any]]:
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
            if isinstance(item[1], Restart):
                self.open_tokens = 0  # the void attempt's tokens are not the client's
            elif isinstance(item[1], Chunk):
                self._count(item[1])
            yield item

    def _count(self, chunk: Chunk) -> None:
        if chunk.text:
            self.open_tokens += 1
            if self.ttft_ms is None:
                self.ttft_ms = (time.perf_counter() - self.t0) * 1000
        if chunk.finish_reason is not None:
            self.final = chunk
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
            self.client_gone = True
            self.job.cancel()

        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()

    def close(self) -> None:
        """Stop the job if it still runs; safe to call more than once."""
        if not self.closed:
            self.closed = True
            if self.job.outcome is None:
                self.job.cancel()

    def usage(self, estimated_prompt_tokens: int) -> Usage:
        """The tokens used: the model's own prompt count (the estimate made before it ran when it gave none), and
        every token generated, including those made but never read when the generation was cut short."""
        unread = max(0, self.job.produced - self.consumed)
        return Usage(self.prompt_total or estimated_prompt_tokens, self.completion_total + self.open_tokens + unread)

    def finish_reason(self, default: str) -> str:
        return self.final.finish_reason if self.final and self.final.finish_reason else default


class EventStream(StreamingResponse):
    """A text/event-stream response that notices a client going away even while no event is being sent.

    When the stream ends, however it ends, the event generator is closed (so its finally runs) and then on_close
    runs: it must be idempotent, and it is what settles a stream whose generator never started. A client that goes
    away is noted on the run.
    """

    def __init__(
        self, events: AsyncIterator[str], run: GenerationRun, headers: dict[str, str], on_close: Callable[[], None]
    ) -> None:
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", **headers})
        self.run = run
        self._events = events
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def listen(group: anyio.abc.TaskGroup) -> None:
            await self.listen_for_disconnect(receive)
            self.run.client_gone = True
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(listen, group)
                try:
                    await self.stream_response(send)
                except OSError:
                    self.run.client_gone = True
                group.cancel_scope.cancel()
        finally:
            if isinstance(self._events, AsyncGenerator):
                with anyio.CancelScope(shield=True):
                    await self._events.aclose()
            self._on_close()
