"""The llama.cpp runtime (llama-cpp-python): the default for GGUF files."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.errors import CapabilityError, CorruptModel
from weightwarden.runtimes.base import (
    Chunk,
    Generation,
    GenerationParams,
    LogLikelihood,
    Message,
    PromptLogprobs,
    RuntimeInfo,
    TokenizerFacts,
)
from weightwarden.runtimes.chat_template import render_chat
from weightwarden.runtimes.gguf_file import GGUFSummary, read_gguf
from weightwarden.runtimes.scoring import ScoresContinuations, score_continuation
from weightwarden.runtimes.threads import ThreadChooser


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """llama.cpp prints its load log on fd 2 even with verbose=False in some builds; keep the CLI clean."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)


BATCH_SEQUENCES = 8  # answers decoded together by generate_batch


class LlamaCppRuntime(ScoresContinuations):
    """A GGUF model run by llama.cpp. One lock: a llama.cpp context is not thread-safe."""

    def __init__(self, path: Path, *, n_ctx: int = 2048, threads: int = 0, seed: int = 0) -> None:
        self.path = Path(path)
        self.gguf: GGUFSummary = read_gguf(self.path)  # checks bounds before llama.cpp touches the file
        self.n_ctx = n_ctx
        self.thread_choice = ThreadChooser(threads)
        self.threads = threads or self.thread_choice.cores  # the most threads a call uses
        self.seed = seed
        self._lock = threading.Lock()
        self._ctx_threads: dict[int, int] = {}  # id of a llama.cpp context -> threads it was last given
        self._scorer: Any = None
        self._batcher: Any = None
        t0 = time.perf_counter()
        self._llm = self._load(logits_all=False)
        self.info = RuntimeInfo(
            "llama.cpp",
            self.path.name,
            time.perf_counter() - t0,
            {"n_ctx": n_ctx, "threads": self.threads, "thread_choice": self.thread_choice.describe()},
        )
        meta = self.gguf.metadata
        self.chat_template: str | None = meta.get("tokenizer.chat_template")
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", False))
        self.bos_id: int | None = meta.get("tokenizer.ggml.bos_token_id")
        self.eos_id: int | None = meta.get("tokenizer.ggml.eos_token_id")

    def _load(self, logits_all: bool) -> Any:
        """Load llama.cpp; the scoring copy (logits_all) keeps its KV cache in float32.

        With the default float16 cache, multiple-choice argmax agreed with transformers on 49 of 52 parity items;
        with float32, on 51 of 52 (the remaining one is a 0.08-nat near tie).
        """
        from llama_cpp import GGML_TYPE_F32, Llama

        cache: dict[str, Any] = {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32} if logits_all else {}

        try:
            with quiet_stderr(), contextlib.redirect_stderr(io.StringIO()):
                return Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    seed=self.seed,
                    logits_all=logits_all,
                    verbose=False,
                    **cache,
                )
        except (ValueError, RuntimeError) as exc:
            raise CorruptModel(f"llama.cpp could not load {self.path}: {exc}") from None

    def _threads_for(self, llm: Any) -> Any:
        """Give llm's context the threads chosen for the call about to run (call with the lock held); return llm."""
        n = self.thread_choice.choose()
        ctx = llm.ctx
        if self._ctx_threads.get(id(llm)) != n:
            from llama_cpp import llama_set_n_threads

            llama_set_n_threads(ctx, n, n)
            self._ctx_threads[id(llm)] = n
        return llm

    # -- tokens -----------------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        """Token ids of text; add_special adds BOS (when the model wants one) and parses special tokens."""
        ids = list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=add_special))
        if add_special and self.add_bos and self.bos_id is not None:
            ids = [int(self.bos_id), *ids]
        return ids

    def detokenize(self, tokens: Sequence[int]) -> str:
        return bytes(self._llm.detokenize(list(tokens))).decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        return self.detokenize([token])

    def tokenizer_facts(self) -> TokenizerFacts:
        """The context, vocabulary size, special tokens (as text, special tokens rendered) and chat template."""

        def special(token: int | None) -> str | None:
            if token is None:
                return None
            return bytes(self._llm.detokenize([int(token)], special=True)).decode("utf-8", errors="replace")

        tokens = self.gguf.metadata.get("tokenizer.ggml.tokens")
        vocab = int(tokens["length"]) if isinstance(tokens, dict) and "length" in tokens else None
        return TokenizerFacts(
            n_ctx=self.n_ctx,
            vocab_size=vocab,
            bos_id=self.bos_id,
            eos_id=self.eos_id,
            add_bos=self.add_bos,
            bos_token=special(self.bos_id),
            eos_token=special(self.eos_id),
            chat_template=self.chat_template,
        )

    # -- generation -------------------------------------------------------------------------------------------
    def render(self, messages: Sequence[Message]) -> str:
        def tok(i: int | None) -> str:
            return self.token_text(i) if i is not None else ""

        return render_chat(self.chat_template, messages, bos_token=tok(self.bos_id), eos_token=tok(self.eos_id))

    def _prompt_ids(self, prompt: str, special: bool) -> list[int]:
        ids = self.tokenize(prompt, add_special=special)
        if not ids:
            ids = [int(self.bos_id if self.bos_id is not None else self.eos_id or 0)]
        return ids

    def _kwargs(self, ids: list[int], params: GenerationParams) -> dict[str, Any]:
        if len(ids) >= self.n_ctx:
            raise CapabilityError(
                f"the prompt is {len(ids)} tokens; this model is loaded with a {self.n_ctx}-token context: shorten it"
            )
        kwargs: dict[str, Any] = {
            "max_tokens": max(1, min(params.max_tokens, self.n_ctx - len(ids))),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": 0 if params.temperature > 0 else 1,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "seed": params.seed,
            "stop": list(params.stop) or None,
        }
        if params.logits_processor is not None:
            from llama_cpp import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([params.logits_processor])  # type: ignore[list-item]
        return kwargs

    def _stream(self, ids: list[int], params: GenerationParams) -> Iterator[Chunk]:
        kwargs = self._kwargs(ids, params)
        with self._lock:
            self._threads_for(self._llm)
            self._llm.reset()  # reusing a cached prefix changes batch shapes and so the numerics: greedy would drift
            n = 0
            finish: str | None = None
            for part in self._llm.create_completion(ids, stream=True, **kwargs):
                choice = part["choices"][0]
                finish = choice.get("finish_reason") or finish
                if choice.get("text"):
                    n += 1  # llama-cpp-python streams one piece per token (held-back stop text aside)
                    yield Chunk(text=choice["text"])
                self._threads_for(self._llm)  # a process that started mid-answer gets its core back within a step
            yield Chunk(text="", finish_reason=finish or "stop", prompt_tokens=len(ids), completion_tokens=n)

    def _collect(self, ids: list[int], params: GenerationParams) -> Generation:
        kwargs = self._kwargs(ids, params)
        t0 = time.perf_counter()
        with self._lock:
            self._threads_for(self._llm)
            self._llm.reset()  # see _stream: every answer starts from an empty cache, so temperature 0 repeats
            out = self._llm.create_completion(ids, stream=False, **kwargs)
        choice, usage = out["choices"][0], out["usage"]
        return Generation(
            text=choice["text"],
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            finish_reason=choice.get("finish_reason") or "stop",
            seconds=time.perf_counter() - t0,
        )

    def complete(self, prompt: str, params: GenerationParams = GenerationParams()) -> Generation:
        return self._collect(self._prompt_ids(prompt, special=False), params)

    def complete_stream(self, prompt: str, params: GenerationParams = GenerationParams()) -> Iterator[Chunk]:
        return self._stream(self._prompt_ids(prompt, special=False), params)

    def chat(self, messages: Sequence[Message], params: GenerationParams = GenerationParams()) -> Generation:
        return self._collect(self._prompt_ids(self.render(messages), special=True), params)

    def chat_stream(
        self, messages: Sequence[Message], params: GenerationParams = GenerationParams()
    ) -> Iterator[Chunk]:
        return self._stream(self._prompt_ids(self.render(messages), special=True), params)

    def generate_batch(
        self, prompts: Sequence[str | Sequence[Message]], params: GenerationParams = GenerationParams()
    ) -> list[Generation]:
        """Answer many prompts (a str is completed, a list of messages goes through the chat template) together.

        Greedy answers (temperature 0, no logits processor) are decoded up to BATCH_SEQUENCES at a time in one
        multi-sequence context; anything else runs one prompt at a time.
        """
        ids = [
            self._prompt_ids(p, special=False) if isinstance(p, str) else self._prompt_ids(self.render(p), True)
            for p in prompts
        ]
        if params.temperature > 0 or params.logits_processor is not None or len(ids) < 2:
            return [self._collect(x, params) for x in ids]
        from weightwarden.runtimes.llamacpp_batch import BatchedGreedy, GreedyRequest

        requests = [
            GreedyRequest(x, max(1, min(params.max_tokens, self.n_ctx - len(x))), tuple(params.stop)) for x in ids
        ]
        for x in ids:
            self._kwargs(x, params)  # the same "prompt too long" error as one at a time
        t0 = time.perf_counter()
        with self._lock:
            if self._batcher is None:
                with quiet_stderr():  # llama.cpp warns that the shared cache is longer than the training context
                    self._batcher = BatchedGreedy(
                        self._llm, n_seq=BATCH_SEQUENCES, n_ctx_per_seq=self.n_ctx, threads=self.threads
                    )
            self._batcher.set_threads(self.thread_choice.choose())
            answers = self._batcher.generate(requests, self.detokenize)
        seconds = (time.perf_counter() - t0) / len(ids)
        return [
            Generation(text, len(x), len(out), finish, seconds)
            for x, (out, text, finish) in zip(ids, answers, strict=True)
        ]

    # -- scoring ----------------------------------------------------------------------------------------------
    def context_limit(self) -> int:
        return self.n_ctx

    def _scoring_model(self) -> Any:
        if self._scorer is None:
            self._scorer = self._load(logits_all=True)
        return self._scorer

    def loglikelihood_tokens(self, context: Sequence[int], continuation: Sequence[int]) -> LogLikelihood:
        """Score continuation after context from llama.cpp's raw logits (never its echo logprobs, which are wrong)."""
        tokens, n_ctx_tokens = self._fit(context, continuation)
        with self._lock:
            llm = self._threads_for(self._scoring_model())
            llm.reset()
            llm.eval(tokens)
            logits = llm.scores[: len(tokens)]
            return score_continuation(logits, tokens, n_ctx_tokens)

    def loglikelihood_batch(self, requests: Sequence[tuple[str, str]]) -> list[LogLikelihood]:
        """Score many (context, continuation) pairs, in the order given, computing each shared prefix once.

        The requests run sorted by their tokens, so those that share a context (a multiple-choice item's choices, a
        few-shot preamble) follow each other; each evaluates only the tokens past the longest prefix it shares with
        the one before, whose keys and values are still in the cache. The first request of a batch starts from an
        empty cache, so a batch's scores depend only on its requests.
        """
        if any(not x for _, x in requests):
            raise CapabilityError("a continuation is empty: there is nothing to score")
        encoded = [self._fit(self.context_ids(c), self.tokenize(x)) for c, x in requests]
        order = sorted(range(len(encoded)), key=lambda i: encoded[i][0])
        out: list[LogLikelihood | None] = [None] * len(encoded)
        with self._lock:
            llm = self._threads_for(self._scoring_model())
            llm.reset()
            held: list[int] = []
            for i in order:
                tokens, n_ctx_tokens = encoded[i]
                common = 0
                for a, b in zip(held, tokens, strict=False):
                    if a != b:
                        break
                    common += 1
                keep = min(common, len(tokens) - 1)  # evaluate at least one token
                # Models whose memory cannot be cut at a position (recurrent ones) start again from nothing.
                if keep and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
                    keep = 0
                if keep == 0:
                    llm.reset()
                else:
                    llm.n_tokens = keep
                llm.eval(tokens[keep:])
                held = tokens
                out[i] = score_continuation(llm.scores[: len(tokens)], tokens, n_ctx_tokens)
        return [ll for ll in out if ll is not None]

    def logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Raw next-token logits after each of tokens: shape (len(tokens), n_vocab), float32, from the scoring copy."""
        if not tokens:
            raise CapabilityError("no tokens to read logits for: pass at least one (a BOS token)")
        if len(tokens) > self.n_ctx:
            raise CapabilityError(f"{len(tokens)} tokens do not fit the {self.n_ctx}-token context: shorten the text")
        with self._lock:
            llm = self._threads_for(self._scoring_model())
            llm.reset()
            llm.eval(list(tokens))
            return np.array(llm.scores[: len(tokens)], dtype=np.float32)

    def prompt_logprobs(self, ids: Sequence[int], top: int = 1) -> PromptLogprobs:
        """Log-probabilities of every token after the first and the top-k at every position, from raw logits.

        top: how many of the most likely tokens to report per position (0 for none).
        """
        tokens = [int(i) for i in ids]
        if not tokens:
            raise CapabilityError("there are no tokens to score")
        if len(tokens) > self.n_ctx:
            raise CapabilityError(f"{len(tokens)} tokens do not fit the {self.n_ctx}-token context: shorten them")
        n_vocab = int(self._llm.n_vocab())
        if bad := [t for t in tokens if not 0 <= t < n_vocab]:
            raise CapabilityError(f"token id {bad[0]} is not in this model's vocabulary (0 to {n_vocab - 1})")
        logprobs: list[float] = []
        tops: list[tuple[tuple[int, float], ...]] = []
        with self._lock:
            llm = self._threads_for(self._scoring_model())
            llm.reset()
            llm.eval(tokens)
            # A block of rows at a time: all rows at once in float64 would take n_ctx * n_vocab * 8 bytes.
            for start in range(0, len(tokens), 64):
                rows = np.asarray(llm.scores[start : min(start + 64, len(tokens))], dtype=np.float64)
                peak = rows.max(axis=1, keepdims=True)
                logz = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
                for r, row in enumerate(rows):
                    pos = start + r
                    if pos + 1 < len(tokens):
                        logprobs.append(float(row[tokens[pos + 1]] - logz[r]))
                    if top > 0:
                        best = np.argpartition(row, -top)[-top:] if top < len(row) else np.arange(len(row))
                        best = best[np.argsort(-row[best], kind="stable")]
                        tops.append(tuple((int(t), float(row[t] - logz[r])) for t in best))
                    else:
                        tops.append(())
        return PromptLogprobs(tuple(logprobs), tuple(tops))

    def close(self) -> None:
        with self._lock:
            if self._batcher is not None:
                self._batcher.close()
                self._batcher = None
            for llm in (self._llm, self._scorer):
                if llm is not None:
                    with contextlib.suppress(Exception):
                        llm.close()
            self._scorer = None
