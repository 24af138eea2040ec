"""The Backend protocol: what answers a public model name, and the capabilities it declares.

Routes ask a backend's `capabilities` what it can do and call it only through this protocol; a backend answers
what it cannot do with the 400 that `refusal` words, so a route never probes an object for a method.

Every backend owns a ModelQueue; everything that touches a model runs on that queue's workers, never on the event
loop. Token counts before a request runs are exact for in-process models and a safe overestimate for upstream
ones, so reservations made from them are never too small.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from weightwarden.gateway.config import ModelKind, ModelSpec
from weightwarden.gateway.errors import BadRequest
from weightwarden.gateway.queue import ModelQueue
from weightwarden.runtimes import Chunk, GenerationParams, Message, TokenizerFacts

Prompt = str | list[int]  # a completion prompt: text, or token ids
Capability = Literal["chat", "completions", "embeddings", "logprobs", "tokenizer"]
TEMPLATE_TOKENS_PER_MESSAGE = 8  # room for role markers when a chat prompt is estimated without its template


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do.

    chat, completions, streaming: the generation routes; embeddings: /v1/embeddings; logprobs: exact prompt
    log-probabilities (completions with echo and logprobs); token_prompts: prompts given as token ids;
    tokenizer: /tokenize, /detokenize and /tokenizer_info from the model's own vocabulary; passthrough: the backend
    answers logprobs and embedding requests itself and its JSON is passed on; watermark: generation takes the
    gateway's logits processor, so answers can be marked; batching: several requests run at once (a worker per
    slot) rather than one at a time.
    """

    chat: bool = False
    completions: bool = False
    streaming: bool = False
    embeddings: bool = False
    logprobs: bool = False
    token_prompts: bool = False
    tokenizer: bool = False
    passthrough: bool = False
    watermark: bool = False
    batching: bool = False

    def has(self, capability: Capability) -> bool:
        return bool(getattr(self, capability))


_REFUSALS: dict[Capability, tuple[str, str]] = {
    "chat": ("{name} is an embedding model: use /v1/embeddings", "model"),
    "completions": ("{name} is an embedding model: use /v1/embeddings", "model"),
    "embeddings": ("{name} is not an embedding model; this gateway embeds with all-MiniLM-L6-v2", "model"),
    "logprobs": ("{name} cannot give log-probabilities", "logprobs"),
    "tokenizer": ("{name} is not an in-process model: its tokenizer is not here", "model"),
}


@dataclass(frozen=True)
class Restart(Chunk):
    """The backend starts the answer again from its beginning (a pool member failed mid-answer and another took
    the request): the chunks that came before for this prompt are void. A whole answer is simply made again; a
    stream that has already sent text cannot take it back, so it fails instead."""

    text: str = ""


def queue_for(spec: ModelSpec, capabilities: Capabilities) -> ModelQueue:
    """The queue in front of a backend: a worker per slot when it runs requests at once, else one."""
    workers = spec.slots if capabilities.batching else 1
    return ModelQueue(
        spec.name,
        spec.slots,
        workers=workers,
        line_window=spec.line_window,
        park_window=spec.park_window,
        park=spec.park,
    )


def refusal(name: str, capability: Capability) -> BadRequest:
    """The 400 for asking model `name` for what it cannot do."""
    message, param = _REFUSALS[capability]
    return BadRequest(message.format(name=name), param=param)


def require(backend: Backend, capability: Capability) -> None:
    """Raise the backend's refusal unless it declares the capability."""
    if not backend.capabilities.has(capability):
        raise refusal(backend.name, capability)


class Backend(Protocol):
    """One public model name: its queue, what it can do, and how to run each kind of request on it.

    n_ctx: the context length, 0 when unknown (an upstream checks its own); model_hash: the ledger identity (None
    until an embedder has loaded). Methods for a capability the backend does not declare raise its refusal.
    """

    name: str
    kind: ModelKind
    capabilities: Capabilities
    queue: ModelQueue
    n_ctx: int
    model_hash: str | None

    # -- generation: the counts run on the event loop's threads, the streams on the queue's workers
    def chat_tokens(self, messages: Sequence[Message]) -> int: ...

    def prompt_tokens(self, prompt: Prompt) -> int: ...

    def check_tokens(self, ids: Sequence[int]) -> None: ...

    def prompt_text(self, prompt: Prompt) -> str: ...

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]: ...

    def complete_stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]: ...

    def logprobs(self, prompt: Prompt, completion: str, top: int, echo: bool) -> dict[str, Any]: ...

    def passthrough(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...

    # -- embeddings
    def estimate_tokens(self, texts: Sequence[str]) -> int: ...

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]: ...

    # -- tokenizer
    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]: ...

    def detokenize(self, ids: Sequence[int]) -> str: ...

    def tokenizer_facts(self) -> TokenizerFacts: ...

    def ready(self) -> None:
        """Raise Unavailable (503) when nothing behind this model can take a request now (a pool whose upstreams
        are all failing); called before a request is admitted, so a stream is refused before it starts."""

    def close(self) -> None: ...


class Refusing:
    """What a backend cannot do, answered with its refusal; each backend overrides what it declares."""

    name: str

    def chat_tokens(self, messages: Sequence[Message]) -> int:
        raise refusal(self.name, "chat")

    def prompt_tokens(self, prompt: Prompt) -> int:
        raise refusal(self.name, "completions")

    def check_tokens(self, ids: Sequence[int]) -> None:
        raise refusal(self.name, "completions")

    def prompt_text(self, prompt: Prompt) -> str:
        raise refusal(self.name, "completions")

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        raise refusal(self.name, "chat")

    def complete_stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        raise refusal(self.name, "completions")

    def logprobs(self, prompt: Prompt, completion: str, top: int, echo: bool) -> dict[str, Any]:
        raise refusal(self.name, "logprobs")

    def passthrough(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raise refusal(self.name, "logprobs" if path == "/completions" else "embeddings")

    def estimate_tokens(self, texts: Sequence[str]) -> int:
        raise refusal(self.name, "embeddings")

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        raise refusal(self.name, "embeddings")

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        raise refusal(self.name, "tokenizer")

    def detokenize(self, ids: Sequence[int]) -> str:
        raise refusal(self.name, "tokenizer")

    def tokenizer_facts(self) -> TokenizerFacts:
        raise refusal(self.name, "tokenizer")

    def ready(self) -> None:
        pass  # a model in this process, or one upstream that is tried on every request
