"""Streamed chat completions from an OpenAI-compatible server, one real HTTP stream per call, safe to call from many
threads at once; a 429 is waited out as the server asks (retry-after-ms or retry-after) and counted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from weightwarden.errors import RemoteError
from weightwarden.runtimes import Chunk, GenerationParams, Message

MAX_WAITS = 50  # 429s in a row before a request counts as refused
LONGEST_WAIT_S = 30.0


def _retry_after(response: httpx.Response) -> float:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value:
            try:
                return min(LONGEST_WAIT_S, max(0.01, float(value) * scale))
            except ValueError:
                pass
    return 0.5


class RemoteStreamer:
    """POST /chat/completions with stream=True; yields text chunks, then one with finish reason and token counts."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float = 300.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.client = httpx.Client(
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )
        self._lock = threading.Lock()
        self.throttled = 0  # 429 answers waited out

    def _body(self, messages: Sequence[Message], params: GenerationParams) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [m.as_dict() for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        body = self._body(messages, params)
        for _ in range(MAX_WAITS):
            try:
                with self.client.stream("POST", self.url, json=body) as response:
                    if response.status_code == 429:
                        response.read()
                        with self._lock:
                            self.throttled += 1
                        time.sleep(_retry_after(response))
                        continue
                    if response.status_code != 200:
                        response.read()
                        raise RemoteError(f"{self.url} answered {response.status_code}: {response.text[:300]}")
                    yield from self._events(response)
                    return
            except httpx.ConnectError:
                raise RemoteError(f"cannot reach {self.url}: is the server running and the URL right?") from None
            except httpx.HTTPError as exc:
                raise RemoteError(f"{self.url} broke off the stream: {exc}") from None
        raise RemoteError(f"{self.url} answered 429 {MAX_WAITS} times in a row: lower --clients")

    def _events(self, response: httpx.Response) -> Iterator[Chunk]:
        finish: str | None = None
        usage: dict[str, Any] = {}
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if event.get("error"):
                raise RemoteError(f"{self.url} sent an error mid-stream: {event['error']}")
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                finish = choice.get("finish_reason") or finish
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    yield Chunk(text=text)
        yield Chunk("", finish or "stop", usage.get("prompt_tokens"), usage.get("completion_tokens"))

    def close(self) -> None:
        self.client.close()
