"""The OpenAI routes: /v1/models and /v1/chat/completions here; /v1/completions (routes_completions) and
/v1/embeddings with the tokenizer routes (routes_embeddings) are included in this router.

Every handler follows one path: the exchange begins; the body is read (413 past the limit) and checked (400);
the model is found (404) and allowed (403); the model's queue and the key's requests per minute admit the request
(429) before any other work, then its tokens are counted and reserved against the key's token limits and budgets
(429); the guard scans the input (400 when it blocks); the worker runs it under the time limit (504); the output
guard scans the answer; the key is charged what was used; the audit row is written.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from weightwarden.gateway import answers, routes_completions, routes_embeddings
from weightwarden.gateway.backends import generator
from weightwarden.gateway.errors import as_gateway_error
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
from weightwarden.gateway.schemas import ChatRequest, parse_body
from weightwarden.gateway.service import Gateway
from weightwarden.runtimes import GenerationParams, Message

router = APIRouter()


# -- models -------------------------------------------------------------------------------------------


@router.get("/v1/models", **documented(answers.ModelList))
async def list_models(request: Request) -> dict[str, Any]:
    gw = gateway_of(request)
    ex = gw.begin(request, "/v1/models")
    assert ex.caller is not None
    try:
        data = [
            {"id": b.name, "object": "model", "created": 0, "owned_by": "weightwarden", "kind": b.kind}
            for b in gw.router.visible(ex.caller)
        ]
        return {"object": "list", "data": data}
    finally:
        gw.audit.finish(ex)


# -- chat -----------------------------------------------------------------------------------------------


@router.post(
    "/v1/chat/completions", **documented(answers.ChatCompletion, body=ChatRequest, errors=GENERATING, stream=True)
)
async def chat_completions(request: Request) -> Response:
    gw = gateway_of(request)
    ex = gw.begin(request, "/v1/chat/completions")
    state: dict[str, Any] = {"run": None, "reservation": None, "streaming": False, "slot": None}

    async def handle() -> Response:
        body = parse_body(ChatRequest, await gw.body(request))
        backend = generator(pick(gw, ex, body.model))
        state["slot"] = gw.enter(ex, backend)
        messages = [Message("system" if m.role == "developer" else m.role, m.text()) for m in body.messages]

        async def fit() -> GenerationParams:
            ex.prompt_tokens = await in_thread(backend.chat_tokens, messages)
            return gw.params(
                ex,
                backend,
                ex.prompt_tokens,
                max_tokens=body.requested_max_tokens,
                temperature=body.temperature,
                top_p=body.top_p,
                seed=body.seed,
                stop=body.stops,
            )

        params = await fit()
        reservation = state["reservation"] = gw.reserve(
            ex, backend, ex.prompt_tokens + params.max_tokens, params.max_tokens
        )
        # User and tool messages are the untrusted ones; system messages are the caller's own instructions.
        scanned = [i for i, m in enumerate(messages) if m.role in ("user", "tool")]
        cleaned = await guard_input(gw, ex, [messages[i].content for i in scanned])
        if any(messages[i].content != text for i, text in zip(scanned, cleaned, strict=True)):
            for i, text in zip(scanned, cleaned, strict=True):
                messages[i] = Message(messages[i].role, text)
            params = await fit()  # redaction changed the prompt: count it again
            gw.extend(backend, reservation, ex.prompt_tokens + params.max_tokens, params.max_tokens)
        ex.prompt_text = json.dumps([m.as_dict() for m in messages], ensure_ascii=False)
        job = backend.queue.submit(
            partial(backend.chat_stream, messages, params), asyncio.get_running_loop(), state["slot"]
        )
        run = state["run"] = GenerationRun(ex, job, state["reservation"], gw.deadline(ex))
        system = "\n".join(m.content for m in messages if m.role == "system")
        if body.stream:
            state["streaming"] = True
            events = chat_events(gw, run, body, system)
            return EventStream(events, ex, {"X-Request-Id": ex.request_id}, partial(finish_stream, gw, run))
        async with run.watching(request):
            text = "".join([c.text async for c in run.items() if c.text])
        run.close()
        content = await guard_output(gw, ex, text, system)
        ex.response_text = content
        finish = run.final.finish_reason if run.final and run.final.finish_reason else "stop"
        return JSONResponse(
            {
                "id": f"chatcmpl-{ex.request_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.model,
                "system_fingerprint": (ex.model_hash or "")[:12] or None,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                ],
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


async def chat_events(gw: Gateway, run: GenerationRun, body: ChatRequest, system: str) -> AsyncIterator[str]:
    """The SSE events of a streamed chat completion; settles and audits when the stream ends, however it ends."""
    ex = run.ex
    scanner = gw.guard.stream(system)
    created = int(time.time())

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        return sse(
            {
                "id": f"chatcmpl-{ex.request_id}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
        )

    parts: list[str] = []
    try:
        yield event({"role": "assistant", "content": ""})
        async for chunk in run.items():
            if chunk.text and (out := await release(gw, scanner.feed, chunk.text)):
                parts.append(out)
                yield event({"content": out})
        if rest := await release(gw, scanner.finish):
            parts.append(rest)
            yield event({"content": rest})
        run.close()
        yield event({}, run.final.finish_reason if run.final and run.final.finish_reason else "stop")
        if body.include_usage:
            yield sse(
                {
                    "id": f"chatcmpl-{ex.request_id}",
                    "object": "chat.completion.chunk",
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


router.include_router(routes_completions.router)
router.include_router(routes_embeddings.router)
