"""An OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, another gateway) as a backend, with `slots`
parallel calls. Prompt tokens are estimated at one per byte (a token is at least one byte), so reservations are
never too small; requests for log-probabilities and embeddings are passed through and the upstream's JSON is
answered under this gateway's name."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from weightwarden.errors import RemoteError
from weightwarden.gateway.backends.base import TEMPLATE_TOKENS_PER_MESSAGE, Capabilities, Prompt, Refusing, queue_for
from weightwarden.gateway.config import ModelKind, ModelSpec
from weightwarden.gateway.errors import BadRequest
from weightwarden.runtimes import Chunk, GenerationParams, Message

if TYPE_CHECKING:
    from weightwarden.runtimes.remote import RemoteRuntime


UPSTREAM_CAPABILITIES = Capabilities(
    chat=True,
    completions=True,
    streaming=True,
    embeddings=True,
    logprobs=True,  # passed through: the upstream says whether it can
    passthrough=True,
    batching=True,
)


class Estimates(Refusing):
    """Token counts made without the upstream's tokenizer: one per byte, never too few."""

    def chat_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m.content.encode("utf-8")) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)

    def prompt_tokens(self, prompt: Prompt) -> int:
        return len(prompt) if isinstance(prompt, list) else max(1, len(prompt.encode("utf-8")))

    def check_tokens(self, ids: Sequence[int]) -> None:
        pass  # the upstream checks its own vocabulary

    def prompt_text(self, prompt: Prompt) -> str:
        if isinstance(prompt, list):
            raise BadRequest(f"{self.name} is served by an upstream server: send text prompts", param="prompt")
        return prompt

    def estimate_tokens(self, texts: Sequence[str]) -> int:
        return self.prompt_tokens("".join(texts))


class UpstreamModel(Estimates):
    """A model another server runs; this gateway keeps the keys, limits, guard and ledger in front of it."""

    kind: ModelKind = "upstream"
    n_ctx = 0  # the upstream checks its own context
    capabilities = UPSTREAM_CAPABILITIES

    def __init__(self, spec: ModelSpec, timeout: float) -> None:
        assert spec.url and spec.upstream_model
        self.name, self.url, self.upstream_model = spec.name, spec.url, spec.upstream_model
        self.model_hash: str | None = hashlib.sha256(f"{spec.url}#{spec.upstream_model}".encode()).hexdigest()
        self.api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self.timeout = timeout
        self.queue = queue_for(spec, self.capabilities)
        self._runtime: RemoteRuntime | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
        )

    def runtime(self) -> RemoteRuntime:
        """The remote runtime, made on first use so that a server still starting does not stop the gateway."""
        from weightwarden.runtimes.remote import RemoteRuntime  # the openai package loads on first use

        with self._lock:
            if self._runtime is None:
                self._runtime = RemoteRuntime(
                    self.url, self.upstream_model, api_key=self.api_key or "none", timeout=self.timeout
                )
            return self._runtime

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime().chat_stream(messages, params)

    def complete_stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime().complete_stream(self.prompt_text(prompt), params)

    def passthrough(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST body (with the upstream's model name) to the upstream and return its JSON answer."""
        try:
            resp = self._http.post(path, json={**body, "model": self.upstream_model})
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach the upstream of {self.name} at {self.url}: {exc}") from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code != 200 or not isinstance(data, dict):
            said = data.get("error", data) if isinstance(data, dict) else resp.text[:200]
            if 400 <= resp.status_code < 500:
                raise BadRequest(f"the upstream of {self.name} refused the request: {said}")
            raise RemoteError(f"the upstream of {self.name} answered {resp.status_code}: {said}")
        return data

    def close(self) -> None:
        self.queue.close()
        self._http.close()
        with contextlib.suppress(Exception):
            if self._runtime is not None:
                self._runtime.close()
