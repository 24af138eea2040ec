"""An in-process runtime (llama.cpp by default) as a backend: one worker thread, since a context runs one request
at a time. What the runtime can do beyond the Runtime protocol (render its chat template, score prompts, describe
its tokenizer) is read once, from the runtime protocols it implements, into the backend's capabilities."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from weightwarden.gateway.backends.base import (
    TEMPLATE_TOKENS_PER_MESSAGE,
    Capabilities,
    Prompt,
    Refusing,
    queue_for,
    refusal,
)
from weightwarden.gateway.config import ModelKind, ModelSpec
from weightwarden.gateway.errors import BadRequest
from weightwarden.runtimes import (
    Chunk,
    DescribesTokenizer,
    GenerationParams,
    Message,
    RendersChat,
    Runtime,
    ScoresPrompts,
    TokenizerFacts,
)


class LocalModel(Refusing):
    """A runtime the gateway runs in its own process."""

    kind: ModelKind = "local"

    def __init__(self, spec: ModelSpec, runtime: Runtime, model_hash: str, *, owned: bool) -> None:
        self.name = spec.name
        self.runtime = runtime
        self.model_hash: str | None = model_hash
        self.owned = owned
        self.facts = runtime.tokenizer_facts() if isinstance(runtime, DescribesTokenizer) else TokenizerFacts()
        self.n_ctx = self.facts.n_ctx
        self._template = runtime if isinstance(runtime, RendersChat) else None
        self._scorer = runtime if isinstance(runtime, ScoresPrompts) else None
        self.capabilities = Capabilities(
            chat=True,
            completions=True,
            streaming=True,
            logprobs=self._scorer is not None,
            token_prompts=True,
            tokenizer=True,
            watermark=True,
        )
        self.queue = queue_for(spec, self.capabilities)

    def chat_tokens(self, messages: Sequence[Message]) -> int:
        if self._template is None:
            return sum(len(self.runtime.tokenize(m.content)) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)
        return len(self.runtime.tokenize(self._template.render(messages), add_special=True))

    def prompt_tokens(self, prompt: Prompt) -> int:
        return len(prompt) if isinstance(prompt, list) else max(1, len(self.runtime.tokenize(prompt)))

    def check_tokens(self, ids: Sequence[int]) -> None:
        """Refuse token ids outside the vocabulary before they reach llama.cpp, which does not check them."""
        limit = self.facts.vocab_size
        if limit is not None and (bad := next((t for t in ids if not 0 <= t < limit), None)) is not None:
            raise BadRequest(
                f"token id {bad} is not in the vocabulary of {self.name} (0 to {limit - 1})", param="prompt"
            )

    def prompt_text(self, prompt: Prompt) -> str:
        return self.runtime.detokenize(prompt) if isinstance(prompt, list) else prompt

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime.chat_stream(messages, params)

    def complete_stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        return self.runtime.complete_stream(self.prompt_text(prompt), params)

    def logprobs(self, prompt: Prompt, completion: str, top: int, echo: bool) -> dict[str, Any]:
        """OpenAI's legacy `logprobs` object for a prompt and its completion, from raw logits.

        A string prompt is tokenized as plain text; when the model wants a BOS token it is scored after a hidden one,
        so every prompt token has a log-probability; otherwise the first has none (null), as OpenAI returns.
        Token ids are used as given. The completion is re-tokenized from its text.
        """
        if self._scorer is None:
            raise refusal(self.name, "logprobs")
        rt, facts = self.runtime, self.facts
        if isinstance(prompt, list):
            ids, hidden = list(prompt), 0
        else:
            ids, hidden = rt.tokenize(prompt), 0
            if facts.add_bos and facts.bos_id is not None:
                ids, hidden = [int(facts.bos_id), *ids], 1
        every = ids + (rt.tokenize(completion) if completion else [])
        scored = self._scorer.prompt_logprobs(every, top=max(top, 1))
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

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        """Token ids as vLLM's /tokenize gives them: special tokens parsed, BOS only when asked for."""
        ids = self.runtime.tokenize(text, True)
        if not add_special_tokens and self.facts.add_bos and ids[:1] == [self.facts.bos_id]:
            ids = ids[1:]
        return ids

    def detokenize(self, ids: Sequence[int]) -> str:
        self.check_tokens(ids)
        return self.runtime.detokenize(ids)

    def tokenizer_facts(self) -> TokenizerFacts:
        return self.facts

    def close(self) -> None:
        self.queue.close()
        if self.owned:
            self.runtime.close()
