"""A runtime seen through the ledger's eval_cache: each request is looked up by (model hash, request sha256) first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weightwarden.ledger import Ledger
from weightwarden.runtimes.base import GenerationParams, LogLikelihood, Message, Runtime


def request_sha(request: dict[str, Any]) -> str:
    """sha256 of a request's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Answer:
    """A generated answer as the cache keeps it."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class CachedRuntime:
    """Runs loglikelihood and generation requests on a runtime unless the ledger already holds the answer.

    ledger None: no cache, every request runs. calls: requests actually run; hits: requests answered from the cache.
    """

    def __init__(self, runtime: Runtime, model_hash: str, ledger: Ledger | None = None) -> None:
        self.runtime = runtime
        self.model_hash = model_hash
        self.ledger = ledger
        self.calls = 0
        self.hits = 0
        self.batches = 0  # batched runtime calls made by prefetch
        self._ready: dict[str, dict[str, Any]] = {}  # answers prefetched for requests not yet asked
        # The backend is part of every request: llama.cpp and transformers need not agree to the last digit.
        self._backend = runtime.info.name

    def _lookup(self, request: dict[str, Any]) -> tuple[str, Any | None]:
        sha = request_sha(request)
        if self.ledger is None:
            return sha, None
        found = self.ledger.cached_response(self.model_hash, sha)
        if found is not None:
            self.hits += 1
        return sha, found

    def _store(self, sha: str, response: dict[str, Any]) -> None:
        self.calls += 1
        if self.ledger is not None:
            self.ledger.cache_response(self.model_hash, sha, response)

    def _ll_request(self, context: str, continuation: str) -> dict[str, Any]:
        return {
            "kind": "loglikelihood",
            "context": context,
            "continuation": continuation,
            "params": {"backend": self._backend},
        }

    @staticmethod
    def _ll_response(ll: LogLikelihood) -> dict[str, Any]:
        return {"tokens": list(ll.tokens), "token_logprobs": list(ll.token_logprobs), "is_greedy": ll.is_greedy}

    def prefetch(self, requests: Sequence[tuple[str, str]]) -> None:
        """Run the log-likelihood requests the cache lacks in one batched call, so loglikelihood() finds them.

        A runtime with loglikelihood_batch (llama.cpp and transformers) scores them together; others one by one.
        Each answer is stored in the ledger's cache as it would be unbatched.
        """
        missing: dict[str, tuple[str, str]] = {}
        for context, continuation in requests:
            sha = request_sha(self._ll_request(context, continuation))
            if sha in self._ready or sha in missing:
                continue
            if self.ledger is not None and self.ledger.cached_response(self.model_hash, sha) is not None:
                continue  # loglikelihood() will find it in the ledger (and count the hit)
            missing[sha] = (context, continuation)
        if not missing:
            return
        batch_fn = getattr(self.runtime, "loglikelihood_batch", None)
        pairs = list(missing.values())
        if batch_fn is not None:
            answers = list(batch_fn(pairs))
            self.batches += 1
        else:
            answers = [self.runtime.loglikelihood(c, x) for c, x in pairs]
        for sha, ll in zip(missing, answers, strict=True):
            found = self._ll_response(ll)
            self._store(sha, found)
            self._ready[sha] = found

    def loglikelihood(self, context: str, continuation: str) -> LogLikelihood:
        sha = request_sha(self._ll_request(context, continuation))
        found = self._ready.pop(sha, None)
        if found is None:
            sha, found = self._lookup(self._ll_request(context, continuation))
        if found is None:
            found = self._ll_response(self.runtime.loglikelihood(context, continuation))
            self._store(sha, found)
        return LogLikelihood(tuple(found["tokens"]), tuple(found["token_logprobs"]), bool(found["is_greedy"]))

    def generate(self, prompt: str, *, chat: bool, max_tokens: int, stop: tuple[str, ...] = ()) -> Answer:
        """A greedy (temperature 0) answer: through the chat template as one user message, or as raw completion."""
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0, stop=stop)
        wire = {
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "seed": 0,
            "stop": list(stop),
            "backend": self._backend,
        }
        request: dict[str, Any] = (
            {"kind": "chat", "messages": [{"role": "user", "content": prompt}], "params": wire}
            if chat
            else {"kind": "complete", "context": prompt, "params": wire}
        )
        sha, found = self._lookup(request)
        if found is None:
            gen = (
                self.runtime.chat([Message("user", prompt)], params) if chat else self.runtime.complete(prompt, params)
            )
            found = {
                "text": gen.text,
                "finish_reason": gen.finish_reason,
                "prompt_tokens": gen.prompt_tokens,
                "completion_tokens": gen.completion_tokens,
            }
            self._store(sha, found)
        return Answer(
            str(found["text"]),
            str(found["finish_reason"]),
            int(found["prompt_tokens"]),
            int(found["completion_tokens"]),
        )
