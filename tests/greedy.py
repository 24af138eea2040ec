"""Checks on greedy answers that hold on any CPU.

A 135M model's greedy words at near ties change with the CPU's SIMD kernels (DESIGN.md), so no test asserts which
words it picks. Two answers made by the very same computation (same runtime object, same prompt, same parameters,
same process) must be equal; answers made by different computations (another backend, another process, a batch)
are judged by the model's own logits: each picked token must be the top choice up to noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Logits by which a picked token may fall below the top one: near ties between kernels are far smaller
# (test_batched_greedy_generation measures them), while a wrong model, template or sampling misses by whole logits.
NOISE = 0.5


def answer_gap(rt: Any, prompt_ids: Sequence[int], answer: str, first: int | None = None) -> float:
    """The most logits by which any token of answer falls short of rt's top choice at its place.

    rt: a runtime with `logits` and `tokenize` (llama.cpp or transformers). After a near tie the answer may go
    its own way, and each later token is judged after the answer's own earlier tokens, so that is no failure;
    a sampled answer, another prompt or template, or another model misses by whole logits within a few tokens.
    first: judge only the answer's first tokens (for a server that is greedy with penalties of its own).
    """
    ids = rt.tokenize(answer)[:first]
    assert ids, "the answer is empty: there is nothing to judge"
    rows = rt.logits([*prompt_ids, *ids])[len(prompt_ids) - 1 : -1]
    return max(float(row.max() - row[token]) for row, token in zip(rows, ids, strict=True))


def chat_ids(rt: Any, question: str) -> list[int]:
    """The prompt tokens of one user message through rt's chat template, as its chat() reads them."""
    from weightwarden.runtimes import Message

    return list(rt.tokenize(rt.render([Message("user", question)]), add_special=True))


def stop_inside(text: str) -> tuple[str, int]:
    """A stop string taken from the middle of text (a word of it) and where it first occurs."""
    words = text.split()
    assert words, f"the answer {text!r} has no words to stop on"
    stop = words[len(words) // 2]
    return stop, text.find(stop)
