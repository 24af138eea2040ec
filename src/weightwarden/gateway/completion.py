"""A text completion as a GenerationTask: prompts as text or token ids (one or many), echo, and exact
log-probabilities in OpenAI's legacy shape, as EleutherAI lm-evaluation-harness's `local-completions` asks for them.
An upstream asked for log-probabilities answers the whole request itself; its JSON is passed on."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from weightwarden.gateway.backends import Backend, Prompt, require
from weightwarden.gateway.backends.base import Capability
from weightwarden.gateway.errors import ContentBlocked
from weightwarden.gateway.generate import Answer, CheckOutput, Sampling
from weightwarden.gateway.generation import GenerationRun
from weightwarden.gateway.request import Usage
from weightwarden.gateway.schemas import CompletionRequest
from weightwarden.runtimes import Chunk, GenerationParams


def _undoable() -> ContentBlocked:
    return ContentBlocked("the answer needed redaction, which log-probabilities would undo", code="output_blocked")


@dataclass(frozen=True)
class CompletionTask:
    """texts: the prompts as text, once resolved (token prompts detokenized); max_tokens 0 scores without
    generating (with echo)."""

    model: str
    prompts: tuple[Prompt, ...]
    sampling: Sampling
    stream: bool
    include_usage: bool
    request_id: str
    max_tokens: int
    echo: bool
    logprobs: int | None
    texts: tuple[str, ...] = ()
    capability: Capability = "completions"
    system: str = ""

    @classmethod
    def of(cls, body: CompletionRequest, request_id: str) -> CompletionTask:
        sampling = Sampling(max(body.max_tokens, 1), body.temperature, body.top_p, body.seed, body.stops)
        return cls(
            body.model,
            tuple(body.prompts),
            sampling,
            body.stream,
            body.include_usage,
            request_id,
            body.max_tokens,
            body.echo,
            body.logprobs,
        )

    def _passed_through(self, backend: Backend) -> bool:
        return self.logprobs is not None and backend.capabilities.passthrough

    def check(self, backend: Backend) -> None:
        for p in self.prompts:
            if isinstance(p, list):
                backend.check_tokens(p)
        if self.logprobs is not None:
            require(backend, "logprobs")

    def count(self, backend: Backend) -> list[int]:
        return [backend.prompt_tokens(p) for p in self.prompts]

    def completion_budget(self, params: GenerationParams) -> int:
        return (params.max_tokens if self.max_tokens > 0 else 0) * len(self.prompts)

    def resolved(self, backend: Backend) -> CompletionTask:
        return dataclasses.replace(self, texts=tuple(backend.prompt_text(p) for p in self.prompts))

    def untrusted(self) -> list[str]:
        return list(self.texts)

    def redacted(self, texts: list[str]) -> CompletionTask | None:
        if texts == list(self.texts):
            return None
        # A redacted prompt is sent as its (redacted) text, token prompts included.
        prompts = tuple(p if c == t else c for p, t, c in zip(self.prompts, self.texts, texts, strict=True))
        return dataclasses.replace(self, prompts=prompts, texts=tuple(texts))

    def prompt_text(self) -> str:
        return self.texts[0] if len(self.texts) == 1 else json.dumps(list(self.texts), ensure_ascii=False)

    def work(self, backend: Backend, params: GenerationParams, raw: bytes) -> Callable[[], Iterator[tuple[int, Any]]]:
        if self._passed_through(backend):
            prompts = list(self.prompts)
            forwarded = {**json.loads(raw), "prompt": prompts if len(prompts) > 1 else prompts[0]}
            return lambda: iter([(0, backend.passthrough("/completions", forwarded))])
        return lambda: self._complete(backend, params)

    def _complete(self, backend: Backend, params: GenerationParams) -> Iterator[tuple[int, Any]]:
        """Runs on the model's worker: each prompt's completion chunks, then its logprobs when asked for."""
        for i, prompt in enumerate(self.prompts):
            parts: list[str] = []
            if self.max_tokens > 0:
                chunks = backend.complete_stream(prompt, params)
                try:
                    for chunk in chunks:
                        parts.append(chunk.text)
                        yield i, chunk
                finally:
                    if isinstance(chunks, Generator):
                        chunks.close()  # a cancelled request stops llama.cpp now
            if self.logprobs is not None:
                yield i, backend.logprobs(prompt, "".join(parts), self.logprobs, self.echo)

    # -- answers ------------------------------------------------------------------------------------------------
    def _event(self, created: int, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": f"cmpl-{self.request_id}",
            "object": "text_completion",
            "created": created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def text_event(self, text: str, created: int, finish: str | None = None) -> dict[str, Any]:
        return self._event(created, [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}])

    def opening(self, created: int) -> list[dict[str, Any]]:
        return [self.text_event(self.texts[0], created)] if self.echo else []

    def final_event(self, run: GenerationRun, created: int) -> dict[str, Any]:
        return self.text_event("", created, run.finish_reason("length"))

    def usage_event(self, usage: Usage, created: int) -> dict[str, Any]:
        return self._event(created, [], usage=usage.as_dict())

    async def answer(
        self, items: Sequence[tuple[int, Any]], run: GenerationRun, usage: Usage, backend: Backend, check: CheckOutput
    ) -> Answer:
        if self._passed_through(backend):
            return await self._upstream_answer(items[0][1], usage, check)
        choices: list[dict[str, Any]] = []
        answered: list[str] = []
        for i, text in enumerate(self.texts):
            chunks = [c for j, c in items if j == i and isinstance(c, Chunk)]
            logprobs = next((lp for j, lp in items if j == i and isinstance(lp, dict)), None)
            completion = "".join(c.text for c in chunks)
            checked = await check(completion, "")
            if checked != completion and logprobs is not None:
                raise _undoable()
            finish = next((c.finish_reason for c in chunks if c.finish_reason), "length")
            answered.append((text if self.echo else "") + checked)
            choices.append({"index": i, "text": answered[-1], "finish_reason": finish, "logprobs": logprobs})
        body = self._event(int(time.time()), choices, usage=usage.as_dict())
        return Answer(body, answered[0] if len(answered) == 1 else json.dumps(answered, ensure_ascii=False))

    async def _upstream_answer(self, data: dict[str, Any], usage: Usage, check: CheckOutput) -> Answer:
        """An upstream's echo/logprobs answer, passed on under this gateway's name, its texts checked by the guard."""
        for choice in data.get("choices") or []:
            text = choice.get("text") if isinstance(choice, dict) else None
            if isinstance(text, str) and await check(text, "") != text:
                raise _undoable()
        reported = data.get("usage")
        if isinstance(reported, dict):
            prompt = int(reported.get("prompt_tokens") or usage.prompt_tokens)
            usage = Usage(prompt, int(reported.get("completion_tokens") or 0))
        return Answer({**data, "id": f"cmpl-{self.request_id}", "model": self.model}, None, usage)
