"""Exact log-likelihoods from raw logits, shared by every local runtime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from weightwarden.errors import CapabilityError
from weightwarden.runtimes.base import LogLikelihood


def score_continuation(logits: np.ndarray, tokens: Sequence[int], n_context: int) -> LogLikelihood:
    """Score tokens[n_context:] given logits[i] = the model's logits after reading tokens[: i + 1].

    logits has one row per input position (at least len(tokens) - 1 rows); the sum is done in float64.
    """
    cont = list(tokens[n_context:])
    rows = np.asarray(logits[n_context - 1 : len(tokens) - 1], dtype=np.float64)
    if rows.shape[0] != len(cont):
        raise ValueError(f"need {len(cont)} logit rows, got {rows.shape[0]}")
    peak = rows.max(axis=1, keepdims=True)
    logz = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
    picked = rows[np.arange(len(cont)), cont]
    logprobs = picked - logz
    greedy = bool(np.all(rows.argmax(axis=1) == np.asarray(cont)))
    return LogLikelihood(
        tokens=tuple(int(t) for t in cont), token_logprobs=tuple(float(x) for x in logprobs), is_greedy=greedy
    )


class ScoresContinuations:
    """What the local runtimes (transformers, llama.cpp) share in scoring a continuation after a context: the
    context's tokens, the string entry point and the window rule. A runtime sets bos_id, eos_id and add_bos and
    provides tokenize, loglikelihood_tokens and context_limit."""

    bos_id: int | None
    eos_id: int | None
    add_bos: bool

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        raise NotImplementedError

    def loglikelihood_tokens(self, context: Sequence[int], continuation: Sequence[int]) -> LogLikelihood:
        raise NotImplementedError

    def context_limit(self) -> int:
        """How many tokens the model reads at once when it scores."""
        raise NotImplementedError

    def context_ids(self, context: str) -> list[int]:
        """Context tokens as scored: BOS when the model wants one; BOS/EOS alone when the context is empty."""
        ids = self.tokenize(context) if context else []
        prefix = self.bos_id if self.bos_id is not None else self.eos_id
        if (self.add_bos or not ids) and prefix is not None:
            ids = [int(prefix), *ids]
        return ids

    def loglikelihood(self, context: str, continuation: str) -> LogLikelihood:
        if not continuation:
            raise CapabilityError("the continuation is empty: there is nothing to score")
        return self.loglikelihood_tokens(self.context_ids(context), self.tokenize(continuation))

    def _fit(self, context: Sequence[int], continuation: Sequence[int]) -> tuple[list[int], int]:
        """The tokens to run and how many of them are context: the end is kept when the whole is too long."""
        if not context:
            raise CapabilityError("the context needs at least one token (a BOS token) to score the continuation")
        if not continuation:
            raise CapabilityError("the continuation is empty: there is nothing to score")
        limit = self.context_limit()
        if len(continuation) >= limit:
            raise CapabilityError(
                f"the continuation alone is {len(continuation)} tokens, over the {limit}-token context"
            )
        tokens = [*context, *continuation][-limit:]  # keep the end: the continuation and as much context as fits
        return tokens, len(tokens) - len(continuation)
