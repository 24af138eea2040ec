"""A chat completion as a GenerationTask: messages in, one assistant message (or its chunks) out."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from weightwarden.gateway.backends import Backend
from weightwarden.gateway.backends.base import Capability
from weightwarden.gateway.generate import Answer, CheckOutput, Sampling, numbered
from weightwarden.gateway.generation import GenerationRun
from weightwarden.gateway.request import Usage
from weightwarden.gateway.schemas import ChatRequest
from weightwarden.runtimes import GenerationParams, Message

UNTRUSTED_ROLES = ("user", "tool")  # system messages are the caller's own instructions


@dataclass(frozen=True)
class ChatTask:
    model: str
    messages: tuple[Message, ...]
    sampling: Sampling
    stream: bool
    include_usage: bool
    request_id: str
    capability: Capability = "chat"

    @classmethod
    def of(cls, body: ChatRequest, request_id: str) -> ChatTask:
        messages = tuple(Message("system" if m.role == "developer" else m.role, m.text()) for m in body.messages)
        sampling = Sampling(body.requested_max_tokens, body.temperature, body.top_p, body.seed, body.stops)
        return cls(body.model, messages, sampling, body.stream, body.include_usage, request_id)

    @property
    def system(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "system")

    def check(self, backend: Backend) -> None:
        pass

    def count(self, backend: Backend) -> list[int]:
        return [backend.chat_tokens(self.messages)]

    def completion_budget(self, params: GenerationParams) -> int:
        return params.max_tokens

    def resolved(self, backend: Backend) -> ChatTask:
        return self

    def _scanned(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.role in UNTRUSTED_ROLES]

    def untrusted(self) -> list[str]:
        return [self.messages[i].content for i in self._scanned()]

    def redacted(self, texts: list[str]) -> ChatTask | None:
        messages = list(self.messages)
        for i, text in zip(self._scanned(), texts, strict=True):
            messages[i] = Message(messages[i].role, text)
        return None if tuple(messages) == self.messages else dataclasses.replace(self, messages=tuple(messages))

    def prompt_text(self) -> str:
        return json.dumps([m.as_dict() for m in self.messages], ensure_ascii=False)

    def work(self, backend: Backend, params: GenerationParams, raw: bytes) -> Callable[[], Iterator[tuple[int, Any]]]:
        return lambda: numbered(0, backend.chat_stream(self.messages, params))

    # -- answers ------------------------------------------------------------------------------------------------
    def _chunk(self, created: int, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{self.request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def _delta(self, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return self._chunk(created, [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}])

    def opening(self, created: int) -> list[dict[str, Any]]:
        return [self._delta(created, {"role": "assistant", "content": ""})]

    def text_event(self, text: str, created: int) -> dict[str, Any]:
        return self._delta(created, {"content": text})

    def final_event(self, run: GenerationRun, created: int) -> dict[str, Any]:
        return self._delta(created, {}, run.finish_reason("stop"))

    def usage_event(self, usage: Usage, created: int) -> dict[str, Any]:
        return self._chunk(created, [], usage=usage.as_dict())

    async def answer(
        self, items: Sequence[tuple[int, Any]], run: GenerationRun, usage: Usage, backend: Backend, check: CheckOutput
    ) -> Answer:
        content = await check("".join(c.text for _, c in items if c.text), self.system)
        body = {
            "id": f"chatcmpl-{self.request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": (backend.model_hash or "")[:12] or None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": run.finish_reason("stop"),
                    "logprobs": None,
                }
            ],
            "usage": usage.as_dict(),
        }
        return Answer(body, content)
