"""From conversations to training tensors: the model's own chat template, labels on answer tokens only, packing."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weightwarden.runtimes.base import Message
from weightwarden.runtimes.chat_template import render_chat
from weightwarden.tune.base import TuneError
from weightwarden.tune.data import Example

IGNORE = -100  # the label torch's cross-entropy skips: prompt tokens and padding


@dataclass(frozen=True)
class Encoded:
    """One conversation as token ids, with the label of each token (its id on answers, IGNORE elsewhere)."""

    line: int
    ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def answer_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass(frozen=True)
class Block:
    """One training sequence: several whole conversations packed side by side, each seeing only itself."""

    parts: tuple[Encoded, ...]

    @property
    def length(self) -> int:
        return sum(len(p.ids) for p in self.parts)


class ChatEncoder:
    """Renders conversations with a tokenizer's chat template (sandboxed) and marks which tokens are answers.

    Each assistant turn is rendered after the prompt that leads to it, so the tokens the model learns are exactly
    those it would generate after the runtime renders the same prompt with a generation prompt.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.template: str | None = getattr(tokenizer, "chat_template", None)
        self.bos = tokenizer.bos_token or ""
        self.eos = tokenizer.eos_token or ""
        self.add_bos = bool(getattr(tokenizer, "add_bos_token", False)) and tokenizer.bos_token_id is not None

    def render(self, messages: Sequence[Message], generation_prompt: bool) -> str:
        return render_chat(
            self.template, messages, bos_token=self.bos, eos_token=self.eos, add_generation_prompt=generation_prompt
        )

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False)) if text else []

    def encode(self, example: Example) -> Encoded:
        msgs = list(example.messages)
        ids: list[int] = [int(self.tokenizer.bos_token_id)] if self.add_bos else []
        labels: list[int] = [IGNORE] * len(ids)
        done = ""
        for i, m in enumerate(msgs):
            if m.role != "assistant":
                continue
            prompt = self.render(msgs[:i], True)
            full = self.render(msgs[: i + 1], False)
            if not prompt.startswith(done) or not full.startswith(prompt):
                raise TuneError(
                    "the model's chat template does not render a conversation as a prefix of its continuation, "
                    "so answer tokens cannot be told apart: use prompt/completion data or a model with a "
                    "ChatML-style template"
                )
            head, answer = self._ids(prompt[len(done) :]), self._ids(full[len(prompt) :])
            ids += head + answer
            labels += [IGNORE] * len(head) + answer
            done = full
        return Encoded(example.line, tuple(ids), tuple(labels))


def encode_all(
    encoder: ChatEncoder, examples: Sequence[Example], max_tokens: int
) -> tuple[list[Encoded], list[tuple[int, str]]]:
    """Encode every example; those over max_tokens or without answer tokens are left out and reported by line."""
    kept: list[Encoded] = []
    skipped: list[tuple[int, str]] = []
    for ex in examples:
        enc = encoder.encode(ex)
        if len(enc.ids) > max_tokens:
            skipped.append((ex.line, f"{len(enc.ids)} tokens, over the {max_tokens}-token limit"))
        elif enc.answer_tokens == 0:
            skipped.append((ex.line, "no answer tokens after rendering"))
        else:
            kept.append(enc)
    return kept, skipped


def pack(encoded: Sequence[Encoded], block_size: int, *, packing: bool = True, seed: int = 0) -> list[Block]:
    """Group conversations into blocks of at most block_size tokens (first fit, longest first); never split one.

    Without packing every conversation is its own block. The input order is shuffled with the seed first, so
    conversations of equal length land in blocks independently of the file's order.
    """
    order = list(encoded)
    random.Random(seed).shuffle(order)
    if not packing:
        return [Block((e,)) for e in order]
    order.sort(key=lambda e: -len(e.ids))
    bins: list[list[Encoded]] = []
    room: list[int] = []
    for e in order:
        n = len(e.ids)
        for i, free in enumerate(room):
            if n <= free:
                bins[i].append(e)
                room[i] -= n
                break
        else:
            bins.append([e])
            room.append(block_size - n)
    return [Block(tuple(b)) for b in bins]


def collate(blocks: Sequence[Block], pad_id: int, torch: Any) -> dict[str, Any]:
    """Tensors for one batch: ids, labels, position ids restarting per conversation, and a 4-D boolean mask.

    The mask is causal within each conversation and blocks attention across conversations packed in one row;
    padding attends only to padding (a row with nothing to attend to would make softmax NaN).
    """
    width = max(b.length for b in blocks)
    n = len(blocks)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    positions = torch.zeros((n, width), dtype=torch.long)
    segments = torch.full((n, width), -1, dtype=torch.long)
    for row, block in enumerate(blocks):
        at = 0
        for s, part in enumerate(block.parts):
            k = len(part.ids)
            ids[row, at : at + k] = torch.tensor(part.ids)
            labels[row, at : at + k] = torch.tensor(part.labels)
            positions[row, at : at + k] = torch.arange(k)
            segments[row, at : at + k] = s
            at += k
        positions[row, at:] = torch.arange(width - at)
    causal = torch.tril(torch.ones((width, width), dtype=torch.bool))
    mask = (segments[:, :, None] == segments[:, None, :]) & causal[None]
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "attention_mask": mask[:, None]}
