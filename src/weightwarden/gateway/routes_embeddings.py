"""POST /v1/embeddings (the bundled all-MiniLM-L6-v2, or an upstream), and the tokenizer routes vLLM offers
(/tokenize, /detokenize, /tokenizer_info), which lm-evaluation-harness's remote tokenizer uses."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from weightwarden.gateway import answers
from weightwarden.gateway.audit import Exchange
from weightwarden.gateway.backends import EmbedderModel, LocalModel, UpstreamModel
from weightwarden.gateway.errors import BadRequest
from weightwarden.gateway.generation import GenerationRun
from weightwarden.gateway.handling import answer, gateway_of, in_thread, pick
from weightwarden.gateway.openapi import GENERATING, READING, documented
from weightwarden.gateway.queue import Job
from weightwarden.gateway.schemas import DetokenizeRequest, EmbeddingRequest, TokenizeRequest, parse_body
from weightwarden.gateway.service import Gateway

router = APIRouter()


@router.post("/v1/embeddings", **documented(answers.EmbeddingList, body=EmbeddingRequest, errors=GENERATING))
async def embeddings(request: Request) -> Response:
    gw = gateway_of(request)
    ex = gw.begin(request, "/v1/embeddings")
    state: dict[str, Any] = {"run": None, "reservation": None, "slot": None}

    async def handle() -> Response:
        raw = await gw.body(request)
        body = parse_body(EmbeddingRequest, raw)
        backend = pick(gw, ex, body.model)
        texts = body.texts
        loop = asyncio.get_running_loop()
        job: Job[Any]
        if isinstance(backend, UpstreamModel):
            state["slot"] = gw.enter(ex, backend)
            estimate = backend.prompt_tokens("".join(texts))
            state["reservation"] = gw.reserve(ex, backend, estimate, 0)
            job = backend.queue.submit(
                lambda: [backend.passthrough("/embeddings", json.loads(raw))], loop, state["slot"]
            )
        elif isinstance(backend, EmbedderModel):
            embedder = backend
            state["slot"] = gw.enter(ex, backend)
            state["reservation"] = gw.reserve(ex, backend, backend.estimate_tokens(texts), 0)
            job = backend.queue.submit(lambda: [embedder.embed(texts)], loop, state["slot"])
        else:
            raise BadRequest(
                f"{body.model} is not an embedding model; this gateway embeds with all-MiniLM-L6-v2", param="model"
            )
        run = state["run"] = GenerationRun(ex, job, state["reservation"], gw.deadline(ex))
        async with run.watching(request):
            items = [item async for item in run.items()]
        ex.model_hash = backend.model_hash  # known once the embedder has loaded
        if isinstance(items[0], dict):
            passed = items[0]
            ex.prompt_tokens = int((passed.get("usage") or {}).get("prompt_tokens") or 0)
            return JSONResponse({**passed, "model": body.model}, headers={"X-Request-Id": ex.request_id})
        vectors, tokens = items[0]
        ex.prompt_tokens = tokens
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
            headers={"X-Request-Id": ex.request_id},
        )

    try:
        return await answer(gw, ex, handle)  # type: ignore[no-any-return]
    finally:
        if state["slot"] is not None:
            state["slot"].release()
        if state["run"] is not None:
            state["run"].close()
            ex.completion_tokens = 0
        gw.settle(ex, state["reservation"])


def encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector


# -- tokenizer routes (as vLLM offers them) ----------------------------------------------------------------


def local_model(gw: Gateway, ex: Exchange, name: str | None) -> LocalModel:
    assert ex.caller is not None
    if name is None:
        found = next((b for b in gw.router.visible(ex.caller) if isinstance(b, LocalModel)), None)
        if found is None:
            raise BadRequest("no in-process model to tokenize with: name one with `model`", param="model")
        ex.model, ex.model_hash = found.name, found.model_hash
        return found
    backend = pick(gw, ex, name)
    if not isinstance(backend, LocalModel):
        raise BadRequest(f"{name} is not an in-process model: its tokenizer is not here", param="model")
    return backend


@router.post("/tokenize", **documented(answers.Tokens, body=TokenizeRequest, errors=READING))
async def tokenize(request: Request) -> dict[str, Any]:
    gw = gateway_of(request)
    ex = gw.begin(request, "/tokenize")

    async def handle() -> dict[str, Any]:
        body = parse_body(TokenizeRequest, await gw.body(request))
        backend = local_model(gw, ex, body.model)
        rt: Any = backend.runtime
        ids = await in_thread(rt.tokenize, body.prompt, True)  # special tokens are parsed, as vLLM's route does
        if not body.add_special_tokens and getattr(rt, "add_bos", False) and ids[:1] == [getattr(rt, "bos_id", None)]:
            ids = ids[1:]
        return {"tokens": ids, "count": len(ids), "max_model_len": backend.n_ctx}

    try:
        return await answer(gw, ex, handle)  # type: ignore[no-any-return]
    finally:
        gw.audit.finish(ex)


@router.post("/detokenize", **documented(answers.Detokenized, body=DetokenizeRequest, errors=READING))
async def detokenize(request: Request) -> dict[str, Any]:
    gw = gateway_of(request)
    ex = gw.begin(request, "/detokenize")

    async def handle() -> dict[str, Any]:
        body = parse_body(DetokenizeRequest, await gw.body(request))
        backend = local_model(gw, ex, body.model)
        backend.check_tokens(body.tokens)
        return {"prompt": await in_thread(backend.runtime.detokenize, body.tokens)}

    try:
        return await answer(gw, ex, handle)  # type: ignore[no-any-return]
    finally:
        gw.audit.finish(ex)


@router.get("/tokenizer_info", **documented(answers.TokenizerInfo, errors=(400, 403, 404)))
async def tokenizer_info(request: Request, model: str | None = None) -> dict[str, Any]:
    gw = gateway_of(request)
    ex = gw.begin(request, "/tokenizer_info")

    async def handle() -> dict[str, Any]:
        backend = local_model(gw, ex, model)
        rt: Any = backend.runtime
        llm = getattr(rt, "_llm", None)

        def special(token_id: int | None) -> str | None:
            if token_id is None or llm is None:
                return None
            return bytes(llm.detokenize([int(token_id)], special=True)).decode("utf-8", errors="replace")

        return {
            "model": backend.name,
            "eos_token": special(getattr(rt, "eos_id", None)),
            "bos_token": special(getattr(rt, "bos_id", None)),
            "pad_token": None,
            "chat_template": getattr(rt, "chat_template", None),
            "model_max_length": backend.n_ctx,
            "add_bos_token": bool(getattr(rt, "add_bos", False)),
        }

    try:
        return await answer(gw, ex, handle)  # type: ignore[no-any-return]
    finally:
        gw.audit.finish(ex)
