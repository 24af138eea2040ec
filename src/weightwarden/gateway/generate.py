"""The one generation path that chat and completions share: count and reserve, guard the input, run the model,
then stream the answer through the output guard or collect it, check it and answer in one piece.

What differs between the two routes is a GenerationTask: the prompt (messages, or prompts as text or token ids),
which of its texts are untrusted, the work run on the model's worker, and the shape of the answers and events.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from weightwarden.errors import RemoteError
from weightwarden.gateway.backends import Backend
from weightwarden.gateway.backends.base import Capability, Restart
from weightwarden.gateway.generation import GenerationRun, sse, sse_error
from weightwarden.gateway.handling import in_thread
from weightwarden.gateway.pipeline import ModelRequest
from weightwarden.gateway.request import Usage
from weightwarden.gateway.service import Gateway
from weightwarden.runtimes import Chunk, GenerationParams

CheckOutput = Callable[[str, str], Awaitable[str]]  # (answer, system prompt) -> the answer as it may be sent


@dataclass(frozen=True)
class Sampling:
    """What a request asks of the sampler; max_tokens None for the gateway's default."""

    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A whole answer: its JSON body, its text for the audit row, and the usage an upstream reported, if it did."""

    body: dict[str, Any]
    text: str | None
    usage: Usage | None = None


class GenerationTask(Protocol):
    """One chat or completion request, as the generation path needs it; tasks are immutable."""

    @property
    def model(self) -> str: ...

    @property
    def capability(self) -> Capability: ...

    @property
    def stream(self) -> bool: ...

    @property
    def include_usage(self) -> bool: ...

    @property
    def sampling(self) -> Sampling: ...

    @property
    def system(self) -> str:
        """The caller's own instructions, which the output guard reads the answer against."""

    def check(self, backend: Backend) -> None:
        """Refuse what the backend cannot do with this request (after admission)."""

    def count(self, backend: Backend) -> list[int]:
        """Prompt tokens of each prompt (runs in a thread)."""

    def completion_budget(self, params: GenerationParams) -> int:
        """The most tokens the request may generate, in all."""

    def resolved(self, backend: Backend) -> Self:
        """The task with its prompts as text, for the guard and the audit row (runs in a thread)."""

    def untrusted(self) -> list[str]:
        """The texts the input guard scans."""

    def redacted(self, texts: list[str]) -> Self | None:
        """The task with the untrusted texts replaced, or None when none changed."""

    def prompt_text(self) -> str: ...

    def work(self, backend: Backend, params: GenerationParams, raw: bytes) -> Callable[[], Iterator[tuple[int, Any]]]:
        """What runs on the model's worker: (prompt index, Chunk or other item) pairs."""

    def opening(self, created: int) -> list[dict[str, Any]]:
        """The events a stream starts with."""

    def text_event(self, text: str, created: int) -> dict[str, Any]: ...

    def final_event(self, run: GenerationRun, created: int) -> dict[str, Any]: ...

    def usage_event(self, usage: Usage, created: int) -> dict[str, Any]: ...

    async def answer(
        self, items: Sequence[tuple[int, Any]], run: GenerationRun, usage: Usage, backend: Backend, check: CheckOutput
    ) -> Answer:
        """The whole answer from the run's items (the run is over)."""


def numbered(index: int, chunks: Iterator[Chunk]) -> Iterator[tuple[int, Chunk]]:
    """chunks as (index, chunk) pairs; closing this closes chunks, so llama.cpp stops at once."""
    try:
        for chunk in chunks:
            yield index, chunk
    finally:
        if isinstance(chunks, Generator):
            chunks.close()


@dataclass(frozen=True)
class Fitted:
    """A task's sampling fitted to the config and the model's context, and the tokens it may use at most."""

    params: GenerationParams
    prompt_tokens: int
    completion_budget: int

    @property
    def most(self) -> int:
        return self.prompt_tokens + self.completion_budget


async def fit(gw: Gateway, mr: ModelRequest, backend: Backend, task: GenerationTask) -> Fitted:
    """Count the task's prompts and fit its sampling to the config and the model's context."""
    counts = await in_thread(task.count, backend)
    mr.counted(sum(counts))
    s = task.sampling
    params = gw.params(
        backend,
        max(counts),
        max_tokens=s.max_tokens,
        temperature=s.temperature,
        top_p=s.top_p,
        seed=s.seed,
        stop=s.stop,
    )
    mr.sampled(params)
    return Fitted(params, sum(counts), task.completion_budget(params))


async def generate(request: Request, mr: ModelRequest, task: GenerationTask, raw: bytes) -> Response:
    """Run task on its model and answer it, streamed or whole."""
    gw = mr.gw
    backend = mr.pick(task.model, task.capability)
    await mr.admit(backend, request)
    task.check(backend)
    fitted = await fit(gw, mr, backend, task)
    await mr.reserve(backend, fitted.most, fitted.completion_budget)
    task = await in_thread(task.resolved, backend)
    cleaned = await mr.check_input(task.untrusted(), lambda texts: (task.redacted(texts) or task).prompt_text())
    if (changed := task.redacted(cleaned)) is not None:
        task = changed
        fitted = await fit(gw, mr, backend, task)  # redaction changed the prompt: count it again
        await mr.grow(backend, fitted.most, fitted.completion_budget)
    run = mr.start(backend, task.work(backend, fitted.params, raw), prompt_text=task.prompt_text())
    if task.stream:
        # The first item is awaited before the response starts, so a model or upstream that fails before its first
        # token (a refused connection, a half-open breaker's failed trial, the time limit) is answered with its own
        # status, not with a 200 whose stream ends in an error event.
        stream = run.items()
        async with run.watching(request):
            first = await anext(stream, None)
        return mr.streamed(events(mr, task, run, resumed(first, stream)))
    items: list[tuple[int, Any]] = []
    async with run.watching(request):
        async for item in run.items():
            if isinstance(item[1], Restart):  # nothing was sent yet: keep only the new attempt's chunks
                items = [kept for kept in items if kept[0] != item[0]]
            else:
                items.append(item)
    usage = mr.close_run()
    answer = await task.answer(items, run, usage, backend, mr.check_output)
    mr.answered(answer.text, usage=answer.usage)
    return JSONResponse(answer.body, headers=mr.ctx.headers)


Item = tuple[int, Any]  # (prompt index, Chunk or other item), as a run yields them


async def resumed(first: Item | None, rest: AsyncIterator[Item]) -> AsyncIterator[Item]:
    """A run's items after its first was taken: first (None when the run had none), then the rest."""
    if first is None:
        return
    yield first
    async for item in rest:
        yield item


async def events(
    mr: ModelRequest, task: GenerationTask, run: GenerationRun, items: AsyncIterator[Item]
) -> AsyncIterator[str]:
    """The server-sent events of a streamed answer (items: the run's), released through the output guard as it
    grows; settles when the stream ends, however it ends."""
    gw = mr.gw
    scanner = gw.guard.stream(task.system)

    async def release(step: Callable[..., str], *args: str) -> str:
        # One step of the scanner: in a thread when the guard scans (milliseconds), inline when it is off.
        return await in_thread(step, *args) if gw.guard.enabled else step(*args)

    created = int(time.time())
    parts: list[str] = []
    try:
        for opening in task.opening(created):
            yield sse(opening)
        async for _, chunk in items:
            if isinstance(chunk, Restart):
                raise RemoteError(f"the upstream of {task.model} failed after the answer had begun; retry the request")
            if isinstance(chunk, Chunk) and chunk.text and (out := await release(scanner.feed, chunk.text)):
                parts.append(out)
                yield sse(task.text_event(out, created))
        if rest := await release(scanner.finish):
            parts.append(rest)
            yield sse(task.text_event(rest, created))
        usage = mr.close_run()
        yield sse(task.final_event(run, created))
        if task.include_usage:
            yield sse(task.usage_event(usage, created))
        yield sse("[DONE]")
    except Exception as exc:
        yield sse_error(mr.fail(exc))
    finally:
        mr.answered("".join(parts), output=scanner.verdicts)
        mr.settle()
