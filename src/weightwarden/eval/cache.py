"""A runtime seen through the ledger's eval_cache: each request is looked up by (model hash, request sha256) first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from weightwarden.runtimes.base import Generation, GenerationParams, LogLikelihood, Message, Runtime


def request_sha(request: dict[str, Any]) -> str:
    """sha256 of a request's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


GenerationRequest = tuple[str, bool, int, tuple[str, ...]]
"""(prompt, through the chat template, max_tokens, stop strings): one greedy generation."""


class ResponseStore(Protocol):
    """Where cached answers live: the ledger's eval_cache, or a worker's MemoryStore that the driver writes back."""

    def cached_response(self, model_hash: str, request_sha: str) -> Any | None: ...

    def cache_response(self, model_hash: str, request_sha: str, response: Any) -> None: ...


class MemoryStore:
    """Cached answers in a dict, seeded with what the ledger held; `added` keeps the new ones to write back later.

    An eval worker on another process or machine has no ledger: the driver looks its items' requests up, sends the
    answers it found, and stores what the worker added, so the ledger's cache ends up as a one-process run leaves it.
    """

    def __init__(self, seed: dict[str, Any] | None = None) -> None:
        self.responses: dict[str, Any] = dict(seed or {})
        self.added: dict[str, Any] = {}

    def cached_response(self, model_hash: str, request_sha: str) -> Any | None:
        return self.responses.get(request_sha)

    def cache_response(self, model_hash: str, request_sha: str, response: Any) -> None:
        if request_sha not in self.responses:
            self.responses[request_sha] = response
            self.added[request_sha] = response

    def take_added(self) -> dict[str, Any]:
        """The answers added since the last call."""
        added, self.added = self.added, {}
        return added


def loglikelihood_request(backend: str, context: str, continuation: str) -> dict[str, Any]:
    """The cache's request for a log-likelihood (the backend is part of it: backends differ in the last digits)."""
    return {"kind": "loglikelihood", "context": context, "continuation": continuation, "params": {"backend": backend}}


def generation_request(backend: str, req: GenerationRequest, *, batched: bool = False) -> dict[str, Any]:
    """The cache's request for a greedy generation; batched answers get their own keys (they can differ)."""
    prompt, chat, max_tokens, stop = req
    wire: dict[str, Any] = {
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": 0,
        "stop": list(stop),
        "backend": backend,
    }
    if batched:
        wire["batched"] = True
    if chat:
        return {"kind": "chat", "messages": [{"role": "user", "content": prompt}], "params": wire}
    return {"kind": "complete", "context": prompt, "params": wire}


@dataclass(frozen=True)
class Answer:
    """A generated answer as the cache keeps it."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class CachedRuntime:
    """Runs loglikelihood and generation requests on a runtime unless the ledger already holds the answer.

    ledger: the ledger (or any ResponseStore); None: no cache, every request runs. calls: requests actually run;
    hits: requests answered from the cache.
    """

    def __init__(
        self,
        runtime: Runtime,
        model_hash: str,
        ledger: ResponseStore | None = None,
        *,
        batch_generations: bool = False,
    ) -> None:
        self.runtime = runtime
        self.model_hash = model_hash
        self.ledger = ledger
        self.calls = 0
        self.hits = 0
        self.batches = 0  # batched runtime calls made by prefetch
        self._ready: dict[str, dict[str, Any]] = {}  # answers prefetched for requests not yet asked
        # Answers decoded in batches can differ from one-at-a-time ones, so they are cached under their own keys:
        # a run without batching never reuses them.
        self.batch_generations = batch_generations
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
        return loglikelihood_request(self._backend, context, continuation)

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

    def _gen_request(self, prompt: str, chat: bool, max_tokens: int, stop: tuple[str, ...]) -> dict[str, Any]:
        return generation_request(self._backend, (prompt, chat, max_tokens, stop), batched=self.batch_generations)

    @staticmethod
    def _gen_response(gen: Generation) -> dict[str, Any]:
        return {
            "text": gen.text,
            "finish_reason": gen.finish_reason,
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
        }

    def prefetch_generations(self, requests: Sequence[GenerationRequest]) -> None:
        """Answer the generation requests the cache lacks together, so generate() finds them.

        A runtime with generate_batch (llama.cpp) decodes several greedy answers per step; others answer one by one.
        Requests are grouped by their length limit and stop strings, which a batch shares.
        """
        missing: dict[str, GenerationRequest] = {}
        for req in requests:
            sha = request_sha(self._gen_request(*req))
            if sha in self._ready or sha in missing:
                continue
            if self.ledger is not None and self.ledger.cached_response(self.model_hash, sha) is not None:
                continue
            missing[sha] = req
        batch_fn = getattr(self.runtime, "generate_batch", None)
        if len(missing) < 2 or batch_fn is None:
            return  # generate() runs them one by one
        by_params: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        for sha, (_, _, max_tokens, stop) in missing.items():
            by_params.setdefault((max_tokens, stop), []).append(sha)
        for (max_tokens, stop), shas in by_params.items():
            params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0, stop=stop)
            prompts = [[Message("user", missing[sha][0])] if missing[sha][1] else missing[sha][0] for sha in shas]
            answers = batch_fn(prompts, params)
            self.batches += 1
            for sha, gen in zip(shas, answers, strict=True):
                found = self._gen_response(gen)
                self._store(sha, found)
                self._ready[sha] = found

    def generate(self, prompt: str, *, chat: bool, max_tokens: int, stop: tuple[str, ...] = ()) -> Answer:
        """A greedy (temperature 0) answer: through the chat template as one user message, or as raw completion."""
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0, stop=stop)
        request = self._gen_request(prompt, chat, max_tokens, stop)
        sha = request_sha(request)
        found = self._ready.pop(sha, None)
        if found is None:
            sha, found = self._lookup(request)
        if found is None:
            gen = (
                self.runtime.chat([Message("user", prompt)], params) if chat else self.runtime.complete(prompt, params)
            )
            found = self._gen_response(gen)
            self._store(sha, found)
        return Answer(
            str(found["text"]),
            str(found["finish_reason"]),
            int(found["prompt_tokens"]),
            int(found["completion_tokens"]),
        )
