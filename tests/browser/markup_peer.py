"""An OpenAI-compatible upstream whose every chat answer is markup: a model that answers `<script>` on demand.

`warden serve --routes` serves it as the model "markup", so the dashboard's playground receives that answer through
the real gateway (guard, audit row, stream) and must show it as text. The answer streams in several chunks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

# Each part sets window.__xss if it ever runs; the page must show all of it as text.
PAYLOAD = '<script>window.__xss="script"</script><img src=x onerror="window.__xss=\'img\'"> <b>not bold</b>'
PIECES = ["Here is ", "markup: ", *[PAYLOAD[i : i + 12] for i in range(0, len(PAYLOAD), 12)], " (the end)"]
ANSWER = "".join(PIECES)


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "markup", "object": "model", "owned_by": "test"}]}

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any]) -> Any:
        def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "markup", "choices": [choice]}

        usage = {"prompt_tokens": 5, "completion_tokens": len(PIECES), "total_tokens": 5 + len(PIECES)}
        if not body.get("stream"):
            message = {"role": "assistant", "content": ANSWER}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "markup",
                "choices": [choice],
                "usage": usage,
            }

        def events() -> Iterator[str]:
            yield _event(chunk({"role": "assistant", "content": ""}, None))
            for piece in PIECES:
                time.sleep(0.05)  # slow enough that the browser sees the reply grow
                yield _event(chunk({"content": piece}, None))
            yield _event(chunk({}, "stop"))
            yield _event(
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "markup",
                    "choices": [],
                    "usage": usage,
                }
            )
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
