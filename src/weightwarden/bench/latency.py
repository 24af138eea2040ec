"""Timed streaming: C clients at once, each sending every prompt of the workload; per request the time to the first
generated text and the tokens generated; per phase the generated tokens per second over its wall time."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from weightwarden.runtimes import Chunk, GenerationParams, Message

Streamer = Callable[[Sequence[Message], GenerationParams], Iterator[Chunk]]


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile (q in [0, 1]); nan for no values. p99 of a few requests is their slowest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Sample:
    """One streamed request: seconds to the first text (None when nothing was generated), in all, tokens made."""

    ttft_s: float | None
    seconds: float
    tokens: int


@dataclass(frozen=True)
class Phase:
    """The requests of C concurrent clients, summarised."""

    clients: int
    requests: int
    tokens: int
    wall_s: float
    tokens_per_s: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    throttled: int = 0  # 429 answers waited out (remote servers)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def timed_request(stream: Streamer, prompt: str, params: GenerationParams) -> Sample:
    t0 = time.perf_counter()
    first: float | None = None
    tokens = 0
    pieces = 0
    for chunk in stream([Message("user", prompt)], params):
        if chunk.text:
            pieces += 1
            if first is None:
                first = time.perf_counter() - t0
        if chunk.completion_tokens is not None:
            tokens = chunk.completion_tokens
    # A server that sends no usage: count its text pieces (one per token on llama.cpp and vLLM)
    return Sample(first, time.perf_counter() - t0, tokens or pieces)


def run_phase(stream: Streamer, prompts: Sequence[str], clients: int, params: GenerationParams) -> Phase:
    """Every client sends every prompt, client i starting at prompt i, so concurrent clients ask different things."""
    samples: list[Sample] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            for k in range(len(prompts)):
                s = timed_request(stream, prompts[(i + k) % len(prompts)], params)
                with lock:
                    samples.append(s)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,), name=f"bench-client-{i}") for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    tokens = sum(s.tokens for s in samples)
    ttfts = [s.ttft_s * 1000 for s in samples if s.ttft_s is not None]
    return Phase(
        clients=clients,
        requests=len(samples),
        tokens=tokens,
        wall_s=wall,
        tokens_per_s=tokens / wall if wall > 0 else 0.0,
        ttft_p50_ms=percentile(ttfts, 0.5),
        ttft_p99_ms=percentile(ttfts, 0.99),
    )
