"""POST /v1/embeddings (the bundled all-MiniLM-L6-v2, or an upstream), and the tokenizer routes vLLM offers
(/tokenize, /detokenize, /tokenizer_info), which lm-evaluation-harness's remote tokenizer uses."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from weightwarden.gateway import answers
from weightwarden.gateway.backends import Backend
from weightwarden.gateway.errors import BadRequest
from weightwarden.gateway.handling import audited, gateway_of, in_thread
from weightwarden.gateway.openapi import GENERATING, READING, documented
from weightwarden.gateway.pipeline import ModelRequest, pick, serve
from weightwarden.gateway.request import Outcome, RequestContext, Usage
from weightwarden.gateway.schemas import DetokenizeRequest, EmbeddingRequest, TokenizeRequest, parse_body

router = APIRouter()


@router.post("/v1/embeddings", **documented(answers.EmbeddingList, body=EmbeddingRequest, errors=GENERATING))
async def embeddings(request: Request) -> Response:
    async def handle(mr: ModelRequest) -> Response:
        raw = await mr.gw.body(request)
        body = parse_body(EmbeddingRequest, raw)
        backend = mr.pick(body.model, "embeddings")
        texts = body.texts
        await mr.admit(backend, request)
        passthrough = backend.capabilities.passthrough
        await mr.reserve(backend, backend.estimate_tokens(texts), 0)
        if passthrough:
            run = mr.start(
                backend,
                lambda: [(0, backend.passthrough("/embeddings", json.loads(raw)))],
                prompt_text=None,
                generates=False,
            )
        else:
            run = mr.start(backend, lambda: [(0, backend.embed(texts))], prompt_text=None, generates=False)
        async with run.watching(request):
            items = [item async for _, item in run.items()]
        mr.close_run()
        if passthrough:
            passed = items[0]
            mr.answered(None, usage=Usage(int((passed.get("usage") or {}).get("prompt_tokens") or 0)))
            return JSONResponse({**passed, "model": body.model}, headers=mr.ctx.headers)
        vectors, tokens = items[0]
        mr.answered(None, usage=Usage(tokens))
        if body.dimensions is not None and body.dimensions != len(vectors[0]):
            raise BadRequest(
                f"{body.model} gives {len(vectors[0])} dimensions, not {body.dimensions}", param="dimensions"
            )
        out = [
            {"object": "embedding", "index": i, "embedding": encode(v, body.encoding_format)}
            for i, v in enumerate(vectors)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": out,
                "model": body.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            headers=mr.ctx.headers,
        )

    return await serve(request, "/v1/embeddings", handle)


def encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector


# -- tokenizer routes (as vLLM offers them) ----------------------------------------------------------------


def tokenizer_model(request: Request, ctx: RequestContext, outcome: Outcome, name: str | None) -> Backend:
    """The named model, or the first the key may use that has its tokenizer here."""
    gw = gateway_of(request)
    assert ctx.caller is not None
    if name is None:
        found = next((b for b in gw.router.visible(ctx.caller) if b.capabilities.tokenizer), None)
        if found is None:
            raise BadRequest("no in-process model to tokenize with: name one with `model`", param="model")
        name = found.name
    return pick(gw, ctx, outcome, name, "tokenizer")


@router.post("/tokenize", **documented(answers.Tokens, body=TokenizeRequest, errors=READING))
async def tokenize(request: Request) -> dict[str, Any]:
    async def work(ctx: RequestContext, outcome: Outcome) -> dict[str, Any]:
        body = parse_body(TokenizeRequest, await gateway_of(request).body(request))
        backend = tokenizer_model(request, ctx, outcome, body.model)
        ids = await in_thread(backend.tokenize, body.prompt, body.add_special_tokens)
        return {"tokens": ids, "count": len(ids), "max_model_len": backend.n_ctx}

    return await audited(request, "/tokenize", work)


@router.post("/detokenize", **documented(answers.Detokenized, body=DetokenizeRequest, errors=READING))
async def detokenize(request: Request) -> dict[str, Any]:
    async def work(ctx: RequestContext, outcome: Outcome) -> dict[str, Any]:
        body = parse_body(DetokenizeRequest, await gateway_of(request).body(request))
        backend = tokenizer_model(request, ctx, outcome, body.model)
        return {"prompt": await in_thread(backend.detokenize, body.tokens)}

    return await audited(request, "/detokenize", work)


@router.get("/tokenizer_info", **documented(answers.TokenizerInfo, errors=(400, 403, 404)))
async def tokenizer_info(request: Request, model: str | None = None) -> dict[str, Any]:
    async def work(ctx: RequestContext, outcome: Outcome) -> dict[str, Any]:
        backend = tokenizer_model(request, ctx, outcome, model)
        facts = backend.tokenizer_facts()
        return {
            "model": backend.name,
            "eos_token": facts.eos_token,
            "bos_token": facts.bos_token,
            "pad_token": None,
            "chat_template": facts.chat_template,
            "model_max_length": backend.n_ctx,
            "add_bos_token": facts.add_bos,
        }

    return await audited(request, "/tokenizer_info", work)
