"""The OpenAI routes: /v1/models, /v1/chat/completions and /v1/completions here; /v1/embeddings and the tokenizer
routes (routes_embeddings) are included in this router.

Chat and completions go down one path (generate.py) through the stages of pipeline.py: the key was checked by
KeyGate (401); the body is read (413) and checked (400); the model is found (404), allowed (403) and able (400);
the model's queue and the key's requests per minute admit the request (429) before any other work; its tokens are
counted and reserved against the key's token limits and budgets (429); the guard scans the input (400 when it
blocks); the worker runs it under the time limit (504); the output guard scans the answer; the key is charged
what was used; the audit row is written.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from weightwarden.gateway import answers, routes_embeddings
from weightwarden.gateway.chat import ChatTask
from weightwarden.gateway.completion import CompletionTask
from weightwarden.gateway.generate import generate
from weightwarden.gateway.handling import audited, gateway_of
from weightwarden.gateway.openapi import GENERATING, documented
from weightwarden.gateway.pipeline import ModelRequest, serve
from weightwarden.gateway.request import Outcome, RequestContext
from weightwarden.gateway.schemas import ChatRequest, CompletionRequest, parse_body

router = APIRouter()


@router.get("/v1/models", **documented(answers.ModelList))
async def list_models(request: Request) -> dict[str, Any]:
    gw = gateway_of(request)

    async def work(ctx: RequestContext, outcome: Outcome) -> dict[str, Any]:
        assert ctx.caller is not None
        data = [
            {"id": b.name, "object": "model", "created": 0, "owned_by": "weightwarden", "kind": b.kind}
            for b in gw.router.visible(ctx.caller)
        ]
        return {"object": "list", "data": data}

    return await audited(request, "/v1/models", work)


@router.post(
    "/v1/chat/completions", **documented(answers.ChatCompletion, body=ChatRequest, errors=GENERATING, stream=True)
)
async def chat_completions(request: Request) -> Response:
    async def handle(mr: ModelRequest) -> Response:
        raw = await mr.gw.body(request)
        task = ChatTask.of(parse_body(ChatRequest, raw), mr.ctx.request_id)
        return await generate(request, mr, task, raw)

    return await serve(request, "/v1/chat/completions", handle)


@router.post(
    "/v1/completions", **documented(answers.Completion, body=CompletionRequest, errors=GENERATING, stream=True)
)
async def completions(request: Request) -> Response:
    async def handle(mr: ModelRequest) -> Response:
        raw = await mr.gw.body(request)
        task = CompletionTask.of(parse_body(CompletionRequest, raw), mr.ctx.request_id)
        return await generate(request, mr, task, raw)

    return await serve(request, "/v1/completions", handle)


router.include_router(routes_embeddings.router)
