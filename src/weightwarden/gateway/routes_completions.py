"""POST /v1/completions: prompts as text or token ids (one or many), echo, and exact log-probabilities in OpenAI's
legacy shape, as EleutherAI lm-evaluation-harness's `local-completions` model asks for them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from weightwarden.gateway.answers import Completion
from weightwarden.gateway.audit import Exchange
from weightwarden.gateway.backends import Generator, LocalModel, UpstreamModel, generator
from weightwarden.gateway.errors import BadRequest, ContentBlocked, as_gateway_error
from weightwarden.gateway.generation import EventStream, GenerationRun, sse, sse_error
from weightwarden.gateway.handling import (
    answer,
    finish_stream,
    gateway_of,
    guard_input,
    guard_output,
    in_thread,
    pick,
    release,
    usage,
)
from weightwarden.gateway.openapi import GENERATING, documented
from weightwarden.gateway.queue import Job
from weightwarden.gateway.schemas import CompletionRequest, parse_body
from weightwarden.gateway.service import Gateway
from weightwarden.runtimes import Chunk

router = APIRouter()


def completion_work(
    backend: Generator, prompts: list[str | list[int]], body: CompletionRequest, params: Any
) -> Iterator[tuple[int, Any]]:
    """Runs on the model's worker: each prompt's completion chunks, then its logprobs when asked for."""
    for i, prompt in enumerate(prompts):
        parts: list[str] = []
        if body.max_tokens > 0:
            for chunk in backend.complete_stream(prompt, params):
                parts.append(chunk.text)
                yield i, chunk
        if body.logprobs is not None and isinstance(backend, LocalModel):
            yield i, backend.logprobs(prompt, "".join(parts), body.logprobs, body.echo)


@router.post("/v1/completions", **documented(Completion, body=CompletionRequest, errors=GENERATING, stream=True))
async def completions(request: Request) -> Response:
    gw = gateway_of(request)
    ex = gw.begin(request, "/v1/completions")
    state: dict[str, Any] = {"run": None, "reservation": None, "streaming": False, "slot": None}

    async def handle() -> Response:
        raw = await gw.body(request)
        body = parse_body(CompletionRequest, raw)
        backend = generator(pick(gw, ex, body.model))
        state["slot"] = gw.enter(ex, backend)
        prompts = body.prompts
        for p in prompts:
            if isinstance(p, list):
                backend.check_tokens(p)
        if body.logprobs is not None and not backend.scores:
            raise BadRequest(f"{body.model} cannot give log-probabilities", param="logprobs")

        async def fit() -> tuple[Any, int]:
            counts = [await in_thread(backend.prompt_tokens, p) for p in prompts]
            ex.prompt_tokens = sum(counts)
            params = gw.params(
                ex,
                backend,
                max(counts),
                max_tokens=max(body.max_tokens, 1),
                temperature=body.temperature,
                top_p=body.top_p,
                seed=body.seed,
                stop=body.stops,
            )
            generated = params.max_tokens if body.max_tokens > 0 else 0
            return params, generated * len(prompts)

        params, generated = await fit()
        reservation = state["reservation"] = gw.reserve(ex, backend, ex.prompt_tokens + generated, generated)
        texts = [await in_thread(backend.prompt_text, p) for p in prompts]
        cleaned = await guard_input(gw, ex, texts)
        if cleaned != texts:
            # A redacted prompt is sent as its (redacted) text, token prompts included.
            prompts = [p if c == t else c for p, t, c in zip(prompts, texts, cleaned, strict=True)]
            texts = cleaned
            params, generated = await fit()
            gw.extend(backend, reservation, ex.prompt_tokens + generated, generated)
        ex.prompt_text = texts[0] if len(texts) == 1 else json.dumps(texts, ensure_ascii=False)
        loop = asyncio.get_running_loop()
        job: Job[Any]
        if isinstance(backend, UpstreamModel) and body.logprobs is not None:
            forwarded = {**json.loads(raw), "prompt": prompts if len(prompts) > 1 else prompts[0]}
            job = backend.queue.submit(lambda: [backend.passthrough("/completions", forwarded)], loop, state["slot"])
        else:
            job = backend.queue.submit(partial(completion_work, backend, prompts, body, params), loop, state["slot"])
        run = state["run"] = GenerationRun(ex, job, reservation, gw.deadline(ex))
        if body.stream:
            state["streaming"] = True
            events = completion_events(gw, run, body, texts[0])
            return EventStream(events, ex, {"X-Request-Id": ex.request_id}, partial(finish_stream, gw, run))
        async with run.watching(request):
            items = [item async for item in run.items()]
        run.close()
        if len(items) == 1 and isinstance(items[0], dict):  # an upstream's own answer
            return await upstream_completion(gw, ex, items[0], body.model)
        choices: list[dict[str, Any]] = []
        answered: list[str] = []
        for i, text in enumerate(texts):
            chunks = [c for j, c in items if j == i and isinstance(c, Chunk)]
            logprobs = next((lp for j, lp in items if j == i and isinstance(lp, dict)), None)
            completion = "".join(c.text for c in chunks)
            checked = await guard_output(gw, ex, completion, "")
            if checked != completion and logprobs is not None:
                raise ContentBlocked(
                    "the answer needed redaction, which log-probabilities would undo", code="output_blocked"
                )
            finish = next((c.finish_reason for c in chunks if c.finish_reason), "length")
            answered.append((text if body.echo else "") + checked)
            choices.append(
                {
                    "index": i,
                    "text": (text if body.echo else "") + checked,
                    "finish_reason": finish,
                    "logprobs": logprobs,
                }
            )
        ex.response_text = answered[0] if len(answered) == 1 else json.dumps(answered, ensure_ascii=False)
        return JSONResponse(
            {
                "id": f"cmpl-{ex.request_id}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body.model,
                "choices": choices,
                "usage": usage(ex),
            },
            headers={"X-Request-Id": ex.request_id},
        )

    try:
        return await answer(gw, ex, handle)  # type: ignore[no-any-return]
    finally:
        if state["slot"] is not None:
            state["slot"].release()  # a request refused after admission gives its place back (no-op once submitted)
        if not state["streaming"]:
            if state["run"] is not None:
                state["run"].close()
            gw.settle(ex, state["reservation"])


async def upstream_completion(gw: Gateway, ex: Exchange, data: dict[str, Any], model: str) -> Response:
    """An upstream's echo/logprobs answer, passed on under our name, its texts checked by the output guard."""
    for choice in data.get("choices") or []:
        text = choice.get("text") if isinstance(choice, dict) else None
        if gw.guard.enabled and isinstance(text, str) and await guard_output(gw, ex, text, "") != text:
            raise ContentBlocked(
                "the answer needed redaction, which log-probabilities would undo", code="output_blocked"
            )
    if isinstance(data.get("usage"), dict):
        ex.prompt_tokens = int(data["usage"].get("prompt_tokens") or ex.prompt_tokens)
        ex.completion_tokens = int(data["usage"].get("completion_tokens") or 0)
    return JSONResponse(
        {**data, "id": f"cmpl-{ex.request_id}", "model": model}, headers={"X-Request-Id": ex.request_id}
    )


async def completion_events(
    gw: Gateway, run: GenerationRun, body: CompletionRequest, prompt: str
) -> AsyncIterator[str]:
    ex = run.ex
    scanner = gw.guard.stream("")
    created = int(time.time())

    def event(text: str, finish: str | None = None) -> str:
        return sse(
            {
                "id": f"cmpl-{ex.request_id}",
                "object": "text_completion",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            }
        )

    parts: list[str] = []
    finish = "length"
    try:
        if body.echo:
            yield event(prompt)
        async for _, chunk in run.items():
            if not isinstance(chunk, Chunk):
                continue
            finish = chunk.finish_reason or finish
            if chunk.text and (out := await release(gw, scanner.feed, chunk.text)):
                parts.append(out)
                yield event(out)
        if rest := await release(gw, scanner.finish):
            parts.append(rest)
            yield event(rest)
        run.close()
        yield event("", finish)
        if body.include_usage:
            yield sse(
                {
                    "id": f"cmpl-{ex.request_id}",
                    "object": "text_completion",
                    "created": created,
                    "model": body.model,
                    "choices": [],
                    "usage": usage(ex),
                }
            )
        yield sse("[DONE]")
    except Exception as exc:
        err = as_gateway_error(exc)
        ex.fail(err)
        yield sse_error(err)
    finally:
        ex.response_text = "".join(parts)
        if scanner.verdicts:
            ex.verdicts["output"] = scanner.verdicts
        finish_stream(gw, run)
