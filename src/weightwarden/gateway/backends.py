"""What answers a public model name: an in-process runtime, an upstream server, or the bundled embedder.

Each backend owns a ModelQueue; everything that touches a model runs on that queue's workers, never on the event
loop. Token counts before a request runs are exact for in-process models and a safe overestimate (a token is at
least one byte) for upstream ones, so reservations made from them are never too small.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from weightwarden.errors import CapabilityError, RemoteError
from weightwarden.gateway.auth import Caller
from weightwarden.gateway.config import GatewayConfig, ModelSpec
from weightwarden.gateway.errors import BadRequest, Forbidden, NotFound
from weightwarden.gateway.queue import ModelQueue
from weightwarden.runtimes import Chunk, Embedder, GenerationParams, HashCache, Message, Runtime, load_runtime, resolve

log = logging.getLogger("weightwarden.gateway")

TEMPLATE_TOKENS_PER_MESSAGE = 8  # room for role markers when estimating an upstream chat prompt


class LocalModel:
    """An in-process runtime (llama.cpp by default) behind one worker thread: a context runs one request at a time."""

    kind = "local"

    def __init__(self, spec: ModelSpec, runtime: Runtime, model_hash: str, *, owned: bool) -> None:
        self.name = spec.name
        self.runtime = runtime
        self.model_hash: str | None = model_hash
        self.owned = owned
        self.queue = ModelQueue(spec.name, spec.slots, workers=1, line_window=spec.line_window)
        self.n_ctx = int(getattr(runtime, "n_ctx", 0) or 0)
        gguf = getattr(runtime, "gguf", None)
        tokens = gguf.metadata.get("tokenizer.ggml.tokens") if gguf is not None else None
        self.vocab_size = int(tokens["length"]) if isinstance(tokens, dict) and "length" in tokens else None

    @property
    def scores(self) -> bool:
        """Whether this model can give exact prompt log-probabilities (echo with logprobs)."""
        return hasattr(self.runtime, "prompt_logprobs")

    def chat_tokens(self, messages: Sequence[Message]) -> int:
        render = getattr(self.runtime, "render", None)
        if render is None:
            return sum(len(self.runtime.tokenize(m.content)) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)
        return len(self.runtime.tokenize(render(messages), add_special=True))

    def prompt_tokens(self, prompt: str | list[int]) -> int:
        return len(prompt) if isinstance(prompt, list) else max(1, len(self.runtime.tokenize(prompt)))

    def check_tokens(self, ids: Sequence[int]) -> None:
        """Refuse token ids outside the vocabulary before they reach llama.cpp, which does not check them."""
        limit = self.vocab_size
        if limit is not None and (bad := next((t for t in ids if not 0 <= t < limit), None)) is not None:
            raise BadRequest(
                f"token id {bad} is not in the vocabulary of {self.name} (0 to {limit - 1})", param="prompt"
            )

    def prompt_text(self, prompt: str | list[int]) -> str:
        return self.runtime.detokenize(prompt) if isinstance(prompt, list) else prompt

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime.chat_stream(messages, params)

    def complete_stream(self, prompt: str | list[int], params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime.complete_stream(self.prompt_text(prompt), params)

    def logprobs(self, prompt: str | list[int], completion: str, top: int, echo: bool) -> dict[str, Any]:
        """OpenAI's legacy `logprobs` object for a prompt and its completion, from raw logits.

        A string prompt is tokenized as plain text; when the model wants a BOS token it is scored after a hidden one,
        so every prompt token has a log-probability; otherwise the first has none (null), as OpenAI returns.
        Token ids are used as given. The completion is re-tokenized from its text.
        """
        rt: Any = self.runtime
        if isinstance(prompt, list):
            ids, hidden = list(prompt), 0
        else:
            ids, hidden = rt.tokenize(prompt), 0
            if getattr(rt, "add_bos", False) and getattr(rt, "bos_id", None) is not None:
                ids, hidden = [int(rt.bos_id), *ids], 1
        every = ids + (rt.tokenize(completion) if completion else [])
        scored = rt.prompt_logprobs(every, top=max(top, 1))
        tokens: list[str] = []
        token_logprobs: list[float | None] = []
        top_logprobs: list[dict[str, float] | None] = []
        offsets: list[int] = []
        pos = 0 if echo else len(self.prompt_text(prompt))
        for i in range(hidden if echo else len(ids), len(every)):
            piece = rt.detokenize([every[i]])
            tokens.append(piece)
            offsets.append(pos)
            pos += len(piece)
            if i == 0:
                token_logprobs.append(None)
                top_logprobs.append(None)
                continue
            lp = scored.token_logprobs[i - 1]
            token_logprobs.append(lp)
            best: dict[str, float] = {}
            for token_id, value in scored.top[i - 1][:top]:
                best.setdefault(rt.detokenize([token_id]), value)  # most likely first: keep the best of equal texts
            best.setdefault(piece, lp)
            top_logprobs.append(best)
        return {
            "tokens": tokens,
            "token_logprobs": token_logprobs,
            "top_logprobs": top_logprobs,
            "text_offset": offsets,
        }

    def close(self) -> None:
        self.queue.close()
        if self.owned:
            self.runtime.close()


class UpstreamModel:
    """An OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, another gateway) with `slots` parallel calls."""

    kind = "upstream"
    scores = True  # passed through: the upstream says whether it can
    n_ctx = 0
    vocab_size = None

    def __init__(self, spec: ModelSpec, timeout: float) -> None:
        assert spec.url and spec.upstream_model
        self.name, self.url, self.upstream_model = spec.name, spec.url, spec.upstream_model
        self.model_hash: str | None = hashlib.sha256(f"{spec.url}#{spec.upstream_model}".encode()).hexdigest()
        self.api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self.timeout = timeout
        self.queue = ModelQueue(spec.name, spec.slots, workers=spec.slots)
        self._runtime: Any = None
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
        )

    def runtime(self) -> Any:
        """The remote runtime, made on first use so that a server still starting does not stop the gateway."""
        from weightwarden.runtimes.remote import RemoteRuntime

        with self._lock:
            if self._runtime is None:
                self._runtime = RemoteRuntime(
                    self.url, self.upstream_model, api_key=self.api_key or "none", timeout=self.timeout
                )
            return self._runtime

    def chat_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m.content.encode("utf-8")) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)

    def prompt_tokens(self, prompt: str | list[int]) -> int:
        return len(prompt) if isinstance(prompt, list) else max(1, len(prompt.encode("utf-8")))

    def check_tokens(self, ids: Sequence[int]) -> None:
        pass  # the upstream checks its own vocabulary

    def prompt_text(self, prompt: str | list[int]) -> str:
        if isinstance(prompt, list):
            raise BadRequest(f"{self.name} is served by an upstream server: send text prompts", param="prompt")
        return prompt

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime().chat_stream(messages, params)  # type: ignore[no-any-return]

    def complete_stream(self, prompt: str | list[int], params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime().complete_stream(self.prompt_text(prompt), params)  # type: ignore[no-any-return]

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


class EmbedderModel:
    """The bundled all-MiniLM-L6-v2 sentence embedder, loaded on first use (torch takes seconds to import)."""

    kind = "embedder"
    scores = False
    n_ctx = 0
    vocab_size = None

    def __init__(self, spec: ModelSpec, hash_cache: HashCache) -> None:
        self.name = spec.name
        self.queue = ModelQueue(spec.name, spec.slots, workers=1)
        self._embedder: Embedder | None = spec.embedder
        self._owned = spec.embedder is None
        self._hash_cache = hash_cache
        self.model_hash: str | None = spec.model_hash

    def _load(self) -> Any:
        if self._embedder is None:
            from weightwarden.runtimes import load_embedder

            self._embedder = load_embedder()
        if self.model_hash is None:
            path = getattr(self._embedder, "path", None)
            self.model_hash = resolve(str(path), self._hash_cache).sha256 if path else None
        return self._embedder

    def estimate_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(t.encode("utf-8")) + 2 for t in texts)

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """Unit vectors for texts, and the tokens the model read (after its own truncation)."""
        embedder = self._load()
        tokenizer = getattr(getattr(embedder, "model", None), "tokenizer", None)
        if tokenizer is not None:
            limit = int(getattr(embedder.model, "max_seq_length", 512) or 512)
            tokens = sum(min(limit, len(ids)) for ids in tokenizer(list(texts))["input_ids"])
        else:
            tokens = self.estimate_tokens(texts)
        return embedder.embed(texts), tokens

    def close(self) -> None:
        self.queue.close()
        if self._owned and self._embedder is not None:
            self._embedder.close()


Backend = LocalModel | UpstreamModel | EmbedderModel
Generator = LocalModel | UpstreamModel


def generator(backend: Backend) -> Generator:
    """The backend as a text generator; a 400 for the embedder."""
    if isinstance(backend, EmbedderModel):
        raise BadRequest(f"{backend.name} is an embedding model: use /v1/embeddings", param="model")
    return backend


def build_backend(spec: ModelSpec, config: GatewayConfig, cache: HashCache) -> Backend:
    """Load (or wrap) what answers one spec."""
    if spec.kind == "embedder":
        return EmbedderModel(spec, cache)
    if spec.kind == "upstream":
        return UpstreamModel(spec, config.upstream_timeout)
    if spec.runtime is not None:
        path = getattr(spec.runtime, "path", None)
        digest = spec.model_hash or (resolve(str(path), cache).sha256 if path else hashlib.sha256(b"").hexdigest())
        return LocalModel(spec, spec.runtime, digest, owned=False)
    artifact = resolve(spec.ref, cache)
    runtime = load_runtime(artifact, n_ctx=config.n_ctx, threads=config.threads, timeout=config.upstream_timeout)
    return LocalModel(spec, runtime, spec.model_hash or artifact.sha256, owned=True)


class Router:
    """Public model names to backends."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = {b.name: b for b in backends}
        if len(self.backends) != len(backends):
            raise CapabilityError("two models have the same public name: give each a different name")

    def get(self, name: str, caller: Caller) -> Backend:
        """The backend for name, if the caller may use it; NotFound or Forbidden otherwise."""
        backend = self.backends.get(name)
        if backend is None:
            known = ", ".join(n for n in self.backends if caller.may_use(n)) or "none"
            raise NotFound(f"no model {name!r} here; this key may use: {known}", code="model_not_found", param="model")
        if not caller.may_use(name):
            raise Forbidden(f"this key may not use model {name!r}", code="model_not_allowed", param="model")
        return backend

    def visible(self, caller: Caller) -> list[Backend]:
        return [b for name, b in self.backends.items() if caller.may_use(name)]

    def close(self) -> None:
        for backend in self.backends.values():
            with contextlib.suppress(Exception):
                backend.close()
