"""A minimal OpenAI-compatible /v1/completions server over the real llama.cpp runtime, for remote-runtime tests.

It returns correct echo log-probabilities (from raw logits), or none at all when started with logprobs=False, so the
remote runtime can be tested on both paths against real numbers over real HTTP.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from ports import free_port
from weightwarden.runtimes import GenerationParams
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


def make_app(rt: LlamaCppRuntime, *, logprobs: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "smol", "object": "model", "owned_by": "test"}]}

    @app.post("/v1/completions")
    def completions(body: dict[str, Any]) -> dict[str, Any]:
        prompt = str(body["prompt"])
        gen = rt.complete(prompt, GenerationParams(max_tokens=int(body.get("max_tokens") or 16)))
        choice: dict[str, Any] = {"index": 0, "text": gen.text, "finish_reason": gen.finish_reason, "logprobs": None}
        if body.get("echo"):
            choice["text"] = prompt + gen.text
            if logprobs and body.get("logprobs") is not None:
                ids = rt.tokenize(prompt)
                scored = rt.loglikelihood_tokens(ids[:1], ids[1:])
                pieces = [rt.detokenize([i]) for i in ids]
                offsets, pos = [], 0
                for piece in pieces:
                    offsets.append(pos)
                    pos += len(piece)
                lps: list[float | None] = [None, *scored.token_logprobs]
                choice["logprobs"] = {
                    "tokens": pieces,
                    "token_logprobs": lps,
                    "text_offset": offsets,
                    "top_logprobs": [None] + [{p: lp} for p, lp in zip(pieces[1:], scored.token_logprobs, strict=True)],
                }
        usage = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": "smol",
            "choices": [choice],
            "usage": usage,
        }

    return app


class PeerServer:
    """uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> PeerServer:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
