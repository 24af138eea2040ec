"""The Backend contract: every kind of backend declares its capabilities, does what it declares on real input, and
answers what it does not declare with the 400 that names the route or model to use instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from weightwarden.gateway import ModelSpec
from weightwarden.gateway.backends import Backend
from weightwarden.gateway.backends.base import Capability
from weightwarden.gateway.backends.embedder import EmbedderModel
from weightwarden.gateway.backends.local import LocalModel
from weightwarden.gateway.backends.upstream import UpstreamModel
from weightwarden.gateway.errors import BadRequest
from weightwarden.runtimes import Chunk, GenerationParams, HashCache, Message, RuntimeInfo
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

# One call per capability that a route makes only when the backend declares it.
CALLS: dict[Capability, Callable[[Backend], object]] = {
    "chat": lambda b: b.chat_tokens([Message("user", "Hello there")]),
    "completions": lambda b: b.prompt_tokens("Hello there"),
    "embeddings": lambda b: b.embed(["Hello there"]),
    "logprobs": lambda b: b.logprobs("The capital of France is", " Paris", 2, True),
    "tokenizer": lambda b: b.tokenize("Hello there", True),
}


class BareRuntime:
    """A runtime with only what the Runtime protocol asks for: no template, no scoring, no tokenizer facts."""

    info = RuntimeInfo("fake", "bare", 0.0)

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        return list(range(len(text.split())))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return " ".join(map(str, tokens))

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        yield Chunk("hi", "stop", 1, 1)

    def complete_stream(self, prompt: str, params: GenerationParams) -> Iterator[Chunk]:
        yield Chunk("hi", "stop", 1, 1)

    def close(self) -> None:
        pass


@pytest.fixture
def backends(llama: LlamaCppRuntime, tmp_path: Path) -> Iterator[dict[str, Backend]]:
    made: dict[str, Backend] = {
        "llama.cpp": LocalModel(ModelSpec("default", runtime=llama), llama, "a" * 64, owned=False),
        "bare": LocalModel(ModelSpec("bare", runtime=BareRuntime()), BareRuntime(), "b" * 64, owned=False),  # type: ignore[arg-type]
        "upstream": UpstreamModel(
            ModelSpec("up", "upstream", url="http://127.0.0.1:9/v1", upstream_model="m"), timeout=1.0
        ),
        "embedder": EmbedderModel(ModelSpec("minilm", "embedder"), HashCache(tmp_path / "hashes.json")),
    }
    yield made
    for backend in made.values():
        backend.close()


def test_what_a_backend_does_not_declare_is_refused_with_a_400_that_says_what_to_use(
    backends: dict[str, Backend],
) -> None:
    refused = 0
    for kind, backend in backends.items():
        for capability, call in CALLS.items():
            if backend.capabilities.has(capability):
                continue
            with pytest.raises(BadRequest) as caught:
                call(backend)
            assert backend.name in caught.value.message, (kind, capability)
            refused += 1
    assert refused >= 8  # the embedder refuses text, the upstream the tokenizer, the bare runtime scoring


def test_the_llama_cpp_backend_does_what_it_declares_on_real_input(
    backends: dict[str, Backend], llama: LlamaCppRuntime
) -> None:
    local = backends["llama.cpp"]
    caps = local.capabilities
    assert caps.chat and caps.completions and caps.streaming and caps.logprobs and caps.tokenizer and caps.watermark
    assert not caps.embeddings and not caps.passthrough and not caps.batching and local.queue.workers == 1
    for capability, call in CALLS.items():
        if caps.has(capability):
            assert call(local), capability
    rendered = llama.render([Message("user", "Hello there")])
    assert local.chat_tokens([Message("user", "Hello there")]) == len(llama.tokenize(rendered, add_special=True))
    facts = local.tokenizer_facts()
    assert facts.eos_token == "<|im_end|>" and facts.n_ctx == local.n_ctx == llama.n_ctx
    assert local.tokenize(facts.eos_token, add_special_tokens=False) == [llama.eos_id]
    scored = local.logprobs("The capital of France is", " Paris", 2, True)
    assert scored["tokens"][-1] == " Paris" and scored["token_logprobs"][-1] > -2.0


def test_capabilities_come_from_what_each_backend_is(backends: dict[str, Backend]) -> None:
    bare, upstream, embedder = backends["bare"], backends["upstream"], backends["embedder"]
    assert bare.capabilities.chat and not bare.capabilities.logprobs and bare.n_ctx == 0
    assert bare.chat_tokens([Message("user", "one two three")]) == 3 + 8  # no template: words plus role markers
    assert upstream.capabilities.passthrough and upstream.capabilities.batching and not upstream.capabilities.tokenizer
    assert upstream.queue.workers == upstream.queue.slots
    assert embedder.capabilities.embeddings and not (embedder.capabilities.chat or embedder.capabilities.completions)
