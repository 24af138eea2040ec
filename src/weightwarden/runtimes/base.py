"""The Runtime protocol: what every way of running a model offers, and the values it returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Role = Literal["system", "user", "assistant", "tool"]

LogitsProcessor = Callable[[Sequence[int], np.ndarray], np.ndarray]
"""Called before each sampled token with the token ids so far (prompt included) and the next-token logits (one row,
the full vocabulary); returns the logits to sample from. Runs before temperature and top-p."""


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class GenerationParams:
    """How to sample. temperature 0 means greedy and is deterministic; seed makes sampling repeatable."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    logits_processor: LogitsProcessor | None = None  # e.g. a watermark; local runtimes only


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"
    seconds: float = 0.0
    first_token_seconds: float | None = None


@dataclass(frozen=True)
class Chunk:
    """One piece of a streamed answer; the last chunk carries finish_reason and token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class LogLikelihood:
    """log P(continuation | context), token by token.

    tokens: the continuation's token ids as scored; token_logprobs: natural-log probability of each;
    is_greedy: every continuation token was the argmax at its position.
    """

    tokens: tuple[int, ...]
    token_logprobs: tuple[float, ...]
    is_greedy: bool

    @property
    def total(self) -> float:
        return float(sum(self.token_logprobs))


@dataclass
class RuntimeInfo:
    name: str  # "llama.cpp", "transformers", "remote", "sentence-transformers"
    model: str
    load_seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Runtime(Protocol):
    """One loaded model. Every method is deterministic at temperature 0."""

    info: RuntimeInfo

    def chat(self, messages: Sequence[Message], params: GenerationParams = ...) -> Generation: ...

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams = ...) -> Iterator[Chunk]: ...

    def complete(self, prompt: str, params: GenerationParams = ...) -> Generation: ...

    def complete_stream(self, prompt: str, params: GenerationParams = ...) -> Iterator[Chunk]: ...

    def loglikelihood(self, context: str, continuation: str) -> LogLikelihood: ...

    def tokenize(self, text: str, add_special: bool = False) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TokenizerFacts:
    """What a runtime's tokenizer and context are, as the gateway's tokenizer routes report them.

    n_ctx: the context the model is loaded with (0 when unknown); vocab_size: None when unknown;
    bos_token / eos_token: the special tokens' text.
    """

    n_ctx: int = 0
    vocab_size: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    add_bos: bool = False
    bos_token: str | None = None
    eos_token: str | None = None
    chat_template: str | None = None


@dataclass(frozen=True)
class PromptLogprobs:
    """Log-probabilities over a token sequence, as OpenAI's echo returns them.

    token_logprobs[i]: log P(ids[i + 1] | ids[: i + 1]), one fewer than the ids.
    top[i]: the k most likely (token id, log-probability) after ids[: i + 1], most likely first, one per id:
    the last entry is the model's next-token distribution after the whole sequence.
    """

    token_logprobs: tuple[float, ...]
    top: tuple[tuple[tuple[int, float], ...], ...]


@runtime_checkable
class DescribesTokenizer(Protocol):
    """A runtime that can say what its tokenizer and context are."""

    def tokenizer_facts(self) -> TokenizerFacts: ...


@runtime_checkable
class RendersChat(Protocol):
    """A runtime that renders messages with the model's own chat template."""

    def render(self, messages: Sequence[Message]) -> str: ...


@runtime_checkable
class ScoresPrompts(Protocol):
    """A runtime that gives exact log-probabilities of every token of a sequence, from raw logits."""

    def prompt_logprobs(self, ids: Sequence[int], top: int = 1) -> PromptLogprobs: ...


@runtime_checkable
class Embedder(Protocol):
    """A sentence-embedding model."""

    info: RuntimeInfo

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def close(self) -> None: ...
