"""The playground (admin): chat with a served model through the gateway's own request path, and watermark detection.

POST /ui/playground/chat runs the prompt down the same stages as /v1/chat/completions (the signed-in key's limits,
the guard on input and output, an audit row). With `Accept: text/event-stream` (ui.js) the answer streams as events
`text` (a JSON string), `verdicts` (the guard's, by side), `problem` (a message) and `done`; a plain form post (no
JavaScript) gets the page back with the whole answer. Model output is always text: templates escape it, ui.js sets
textContent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from weightwarden.errors import WardenError
from weightwarden.gateway.auth import Caller
from weightwarden.gateway.backends import Backend
from weightwarden.gateway.chat import ChatTask
from weightwarden.gateway.generate import Sampling, generate
from weightwarden.gateway.handling import in_thread
from weightwarden.gateway.pipeline import ModelRequest
from weightwarden.gateway.service import Gateway
from weightwarden.runtimes import Message
from weightwarden.ui.auth import csrf_protect, require_admin
from weightwarden.ui.context import UiContext, ui_of
from weightwarden.ui.errors import UiProblem
from weightwarden.ui.forms import Form, read_form
from weightwarden.watermark import detect_text

router = APIRouter()
ROUTE = "/ui/playground/chat"
NO_MODELS = "no models are served here (`warden ui` shows the ledger only): open the dashboard of `warden serve`"


def chat_models(gw: Gateway | None) -> list[str]:
    return [b.name for b in gw.router.backends.values() if b.capabilities.chat] if gw is not None else []


def _page(request: Request, status: int = 200, **values: Any) -> Response:
    ui = ui_of(request)
    base: dict[str, Any] = {"turn": None, "detection": None, "detect_error": None, "text": "", "prompt": ""}
    return ui.render(
        request,
        "playground.html",
        status,
        models=chat_models(ui.gateway),
        no_models=NO_MODELS if ui.gateway is None else None,
        watermark=ui.watermark_config(),
        **{**base, **values},
    )


@router.get("/playground")
def playground(request: Request, caller: Caller = Depends(require_admin)) -> Response:
    return _page(request)


def _task(ui: UiContext, form: Form, request_id: str, stream: bool) -> ChatTask:
    models = chat_models(ui.gateway)
    prompt = form.text("prompt", required=True, limit=ui.settings.max_prompt_chars, label="Prompt", strip=False)
    model = form.text("model") or (models[0] if models else "")
    if model not in models:
        raise UiProblem(400, f"no chat model {model[:80]!r} is served here: pick one of {', '.join(models) or 'none'}")
    max_tokens = form.integer("max_tokens", label="Most tokens")
    temperature = form.number("temperature", label="Temperature")
    if temperature is not None and temperature > 2:
        raise UiProblem(400, f"Temperature must be between 0 and 2, not {temperature}")
    sampling = Sampling(max_tokens or 256, 0.7 if temperature is None else temperature, 1.0, None, ())
    return ChatTask(model, (Message("user", prompt),), sampling, stream, True, request_id)


@router.post("/playground/chat", dependencies=[Depends(csrf_protect)])
async def chat(request: Request, caller: Caller = Depends(require_admin)) -> Response:
    ui = ui_of(request)
    form = await read_form(request, ui.settings.max_form_bytes)
    gw = ui.gateway
    if gw is None:
        raise UiProblem(503, NO_MODELS)
    streaming = "text/event-stream" in request.headers.get("accept", "")
    request.state.caller = caller  # the gateway's request path reads the caller where its key gate puts it
    mr = ModelRequest(gw, gw.begin(request, ROUTE))
    task = _task(ui, form, mr.ctx.request_id, streaming)
    prompt = task.messages[0].content
    try:
        answer = await generate(request, mr, task, b"")
    except Exception as exc:
        err = mr.fail(exc)
        if streaming:
            events = [
                _event("problem", err.message),
                _event("verdicts", verdict_lines(mr.outcome.verdicts)),
                _event("done", ""),
            ]
            return StreamingResponse(iter(events), status_code=err.status, media_type="text/event-stream")
        turn = _turn(task, prompt, None, mr, err.message)
        return await in_thread(lambda: _page(request, err.status, turn=turn, prompt=prompt))
    finally:
        if mr.slot is not None:
            mr.slot.release()
        if not mr.streaming:
            mr.settle()
    if streaming:
        assert isinstance(answer, StreamingResponse)
        answer.body_iterator = _translated(answer.body_iterator, mr)
        answer.headers["cache-control"] = "no-store"
        return answer
    body = json.loads(bytes(answer.body))
    reply = body["choices"][0]["message"]["content"]
    turn = _turn(task, prompt, reply, mr, None, usage=body.get("usage"))
    return await in_thread(lambda: _page(request, turn=turn, prompt=prompt))


def _turn(
    task: ChatTask, prompt: str, reply: str | None, mr: ModelRequest, error: str | None, usage: Any = None
) -> dict[str, Any]:
    return {
        "model": task.model,
        "prompt": prompt,
        "reply": reply,
        "error": error,
        "verdicts": verdict_lines(mr.outcome.verdicts),
        "request_id": mr.ctx.request_id,
        "usage": usage,
    }


def verdict_lines(verdicts: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The guard's verdicts as lines to show: side, detector, label, score, action, and whether it fired."""
    return [
        {
            "side": side,
            "detector": v.get("detector"),
            "label": v.get("label"),
            "score": v.get("score"),
            "action": v.get("action"),
            "fired": v.get("label") not in (None, "clean", "safe", "benign"),
        }
        for side in ("input", "output")
        for v in verdicts.get(side, [])
    ]


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _translated(chunks: Any, mr: ModelRequest) -> AsyncIterator[str]:
    """The gateway's OpenAI stream as the playground's events, ending with the guard's verdicts."""
    async for raw in chunks:
        for line in str(raw).splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if "error" in data:
                yield _event("problem", data["error"].get("message", "the request failed"))
            for choice in data.get("choices", []):
                if text := choice.get("delta", {}).get("content"):
                    yield _event("text", text)
    # The gateway's stream has ended (its generator settled the request): every verdict is in.
    yield _event("verdicts", verdict_lines(mr.outcome.verdicts))
    yield _event("done", mr.ctx.request_id)


class _Tokens:
    """A served model's tokenizer as the watermark detector reads it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        return self.backend.tokenize(text, add_special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.backend.detokenize(ids)


@router.post("/playground/watermark", dependencies=[Depends(csrf_protect)])
async def watermark(request: Request, caller: Caller = Depends(require_admin)) -> Response:
    ui = ui_of(request)
    form = await read_form(request, ui.settings.max_form_bytes)
    text = form.text("text", required=True, limit=ui.settings.max_prompt_chars, label="Text", strip=False)
    config = ui.watermark_config()
    gw = ui.gateway
    backend = (
        next((b for b in gw.router.backends.values() if b.capabilities.tokenizer and b.capabilities.chat), None)
        if gw
        else None
    )
    if config is None:
        error = "no watermark key is configured: set WARDEN_WATERMARK_KEY or run `warden watermark keygen`"
        return await in_thread(lambda: _page(request, 409, detect_error=error, text=text))
    if backend is None:
        return await in_thread(lambda: _page(request, 409, detect_error=NO_MODELS, text=text))
    try:
        found = await in_thread(detect_text, text, _Tokens(backend), config)
    except WardenError as exc:
        problem = str(exc)
        return await in_thread(lambda: _page(request, 400, detect_error=problem, text=text))
    return await in_thread(lambda: _page(request, detection=found, model=backend.name, text=text))
