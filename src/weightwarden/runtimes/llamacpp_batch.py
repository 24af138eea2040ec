"""Greedy generation of several prompts at once on llama.cpp: one decode call advances every unfinished answer.

llama-cpp-python's high-level `Llama` serves one sequence per context. Here a second context on the same loaded
weights holds up to `n_seq` sequences in one key/value cache (llama.cpp's own multi-sequence batching, as its
server's parallel slots use it): each prompt is read into its own sequence, then every step decodes one token of
every sequence still running in a single batch. On a CPU the weights are read once per step instead of once per
sequence, which is where the speed comes from.

Only greedy decoding (temperature 0) without a logits processor is batched; anything else goes one at a time
through `LlamaCppRuntime`.

The same batch gives the same answers every time on one machine: each group starts from a cleared cache (cells
from 0, in request order) and the thread count is fixed for the context; llama.cpp's CPU kernels compute each
output in one thread, so how threads share the work does not change the sums. What can change greedy words at a
near tie: another CPU (its SIMD kernels), another thread count (llama.cpp splits attention over 512+ cache cells
among threads when one sequence is left), and another batch (other sequences, other cells, other shapes).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightwarden.errors import CapabilityError


@dataclass(frozen=True)
class GreedyRequest:
    """One prompt (token ids) to answer greedily, with its own length limit and stop strings."""

    ids: list[int]
    max_tokens: int
    stop: tuple[str, ...] = ()


@dataclass
class _Seq:
    request: GreedyRequest
    seq_id: int
    pos: int
    out: list[int]
    text: str = ""
    finish: str | None = None


class BatchedGreedy:
    """A multi-sequence llama.cpp context over an already loaded model (shares its weights)."""

    def __init__(self, llm: Any, *, n_seq: int, n_ctx_per_seq: int, threads: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.n_seq = n_seq
        self.n_ctx_per_seq = n_ctx_per_seq
        # The loaded model's own context settings (attention kernel, cache types, threads), so that answers differ
        # from one-at-a-time ones only by the batch shapes; then room for n_seq sequences.
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx_per_seq * n_seq
        params.n_batch = max(512, n_seq)
        params.n_ubatch = max(512, n_seq)
        params.n_seq_max = n_seq
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True  # one cache shared by all sequences: a short answer leaves room to a long one
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise CapabilityError("llama.cpp could not make a batched context (out of memory?): use batch size 0")
        self._vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self.n_vocab = int(llm.n_vocab())
        self._batch = llama_cpp.llama_batch_init(max(512, n_seq), 0, n_seq)

    def close(self) -> None:
        """Free the context (before the model it shares: LlamaCppRuntime.close does that in order)."""
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            self._lib.llama_free(self._ctx)
            self._ctx = None

    def _add(self, token: int, pos: int, seq_id: int, logits: bool) -> None:
        b = self._batch
        i = b.n_tokens
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq_id
        b.logits[i] = logits
        b.n_tokens = i + 1

    def _decode(self) -> None:
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise CapabilityError(f"llama.cpp could not decode a batch (code {rc}): the answers do not fit the cache")

    def _argmax(self, index: int) -> int:
        ptr = self._lib.llama_get_logits_ith(self._ctx, index)
        row = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))
        return int(np.argmax(row))  # the first of equal maxima, as llama.cpp's greedy sampler picks

    def set_threads(self, n: int) -> None:
        """The threads the next decodes use (chosen per call from the load; see runtimes/threads.py)."""
        self._lib.llama_set_n_threads(self._ctx, n, n)

    def generate(
        self, requests: Sequence[GreedyRequest], detokenize: Callable[[list[int]], str]
    ) -> list[tuple[list[int], str, str]]:
        """(completion token ids, text, finish reason) for each request, in order; at most n_seq at a time."""
        out: list[tuple[list[int], str, str]] = []
        for start in range(0, len(requests), self.n_seq):
            out.extend(self._group(requests[start : start + self.n_seq], detokenize))
        return out

    def _group(
        self, requests: Sequence[GreedyRequest], detokenize: Callable[[list[int]], str]
    ) -> list[tuple[list[int], str, str]]:
        lib = self._lib
        lib.llama_memory_clear(lib.llama_get_memory(self._ctx), True)
        seqs = []
        for seq_id, req in enumerate(requests):
            if not req.ids or len(req.ids) >= self.n_ctx_per_seq:
                raise CapabilityError(
                    f"a prompt of {len(req.ids)} tokens does not fit the {self.n_ctx_per_seq}-token context"
                )
            seq = _Seq(req, seq_id, len(req.ids), [])
            # Read the prompt alone (its last position gives the first token's logits), 512 tokens at a time.
            for chunk in range(0, len(req.ids), 512):
                self._batch.n_tokens = 0
                part = req.ids[chunk : chunk + 512]
                for j, tok in enumerate(part):
                    self._add(tok, chunk + j, seq_id, chunk + j == len(req.ids) - 1)
                self._decode()
            self._step(seq, self._argmax(self._batch.n_tokens - 1), detokenize)
            seqs.append(seq)
        while running := [s for s in seqs if s.finish is None]:
            self._batch.n_tokens = 0
            for s in running:
                self._add(s.out[-1], s.pos, s.seq_id, True)
                s.pos += 1
            self._decode()
            for i, s in enumerate(running):
                self._step(s, self._argmax(i), detokenize)
        return [(s.out, s.text, s.finish or "length") for s in seqs]

    def _step(self, seq: _Seq, token: int, detokenize: Callable[[list[int]], str]) -> None:
        """Take the next token of one sequence and decide whether it is finished."""
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            seq.finish = "stop"
            return
        seq.out.append(token)
        text = detokenize(seq.out)
        cut = min((i for s in seq.request.stop if s and (i := text.find(s)) >= 0), default=-1)
        if cut >= 0:
            seq.text, seq.finish = text[:cut], "stop"
            return
        seq.text = text
        if len(seq.out) >= seq.request.max_tokens or seq.pos + 1 >= self.n_ctx_per_seq:
            seq.finish = "length"
