"""The transformers runtime: torch on the CPU, for Hugging Face directories and (dequantized) GGUF files."""

from __future__ import annotations

import os
import queue
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
    LogitsProcessor,
    LogLikelihood,
    Message,
    RuntimeInfo,
    TokenizerFacts,
)
from weightwarden.runtimes.chat_template import render_chat
from weightwarden.runtimes.gguf_file import read_gguf
from weightwarden.runtimes.scoring import ScoresContinuations, score_continuation


class _TorchLogits:
    """A weightwarden LogitsProcessor as a transformers one: numpy in and out, one row per sequence in the batch."""

    def __init__(self, fn: LogitsProcessor, torch: Any) -> None:
        self.fn = fn
        self.torch = torch

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        rows = [self.fn(ids.tolist(), row.float().numpy()) for ids, row in zip(input_ids, scores, strict=True)]
        return self.torch.from_numpy(np.stack(rows).astype(np.float32)).to(scores.dtype)


class _TokenQueue:
    """A transformers streamer (put/end, as BaseStreamer) that hands each step's new token ids to a queue; the first
    put is the prompt, which is skipped."""

    def __init__(self, out: queue.Queue[Any]) -> None:
        self.out = out
        self._prompt = True

    def put(self, value: Any) -> None:
        if self._prompt:
            self._prompt = False
            return
        self.out.put([int(t) for t in value.reshape(-1).tolist()])

    def end(self) -> None:
        pass  # the generating thread signals the end itself, after generate() returns or raises


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class TransformersRuntime(ScoresContinuations):
    """A model run by transformers in float32 on the CPU. A GGUF file is dequantized on load (needs `accelerate`)."""

    def __init__(self, path: Path, *, threads: int = 0, max_context: int = 2048) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.path = Path(path)
        self.max_context = max_context
        self._lock = threading.Lock()
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {}
        self.add_bos = False
        if self.path.is_file():
            summary = read_gguf(self.path)
            folder, kwargs["gguf_file"] = str(self.path.parent), self.path.name
            self.add_bos = bool(summary.metadata.get("tokenizer.ggml.add_bos_token", False))
        else:
            folder = str(self.path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise CorruptModel(f"transformers could not load {self.path}: {exc}") from None
        self.model.eval()
        if not self.path.is_file():
            self.add_bos = bool(getattr(self.tokenizer, "add_bos_token", False))
        self.bos_id = self.tokenizer.bos_token_id
        self.eos_id = self.tokenizer.eos_token_id
        self.chat_template: str | None = getattr(self.tokenizer, "chat_template", None)
        self.info = RuntimeInfo(
            "transformers",
            self.path.name,
            time.perf_counter() - t0,
            {"dtype": "float32", "threads": torch.get_num_threads()},
        )

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        ids = list(self.tokenizer.encode(text, add_special_tokens=False))
        if add_special and self.add_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids = [int(self.bos_id), *ids]
        return ids

    def detokenize(self, tokens: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(tokens)))

    def tokenizer_facts(self) -> TokenizerFacts:
        """The context, vocabulary size, special tokens and chat template, as the gateway's tokenizer routes report."""
        return TokenizerFacts(
            n_ctx=self.max_context,
            vocab_size=len(self.tokenizer),
            bos_id=self.bos_id,
            eos_id=self.eos_id,
            add_bos=self.add_bos,
            bos_token=self.tokenizer.bos_token,
            eos_token=self.tokenizer.eos_token,
            chat_template=self.chat_template,
        )

    def render(self, messages: Sequence[Message]) -> str:
        return render_chat(
            self.chat_template,
            messages,
            bos_token=self.tokenizer.bos_token or "",
            eos_token=self.tokenizer.eos_token or "",
        )

    # -- generation -------------------------------------------------------------------------------------------
    def _generate_kwargs(self, ids: list[int], params: GenerationParams) -> dict[str, Any]:
        torch = self._torch
        if len(ids) >= self.max_context:
            raise CapabilityError(
                f"the prompt is {len(ids)} tokens, over the {self.max_context}-token limit: shorten it"
            )
        kwargs: dict[str, Any] = {
            "input_ids": torch.tensor([ids]),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
            "max_new_tokens": max(1, min(params.max_tokens, self.max_context - len(ids))),
            "pad_token_id": self.eos_id,
        }
        if params.temperature > 0:
            torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.logits_processor is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([_TorchLogits(params.logits_processor, torch)])
        return kwargs

    def _run(self, ids: list[int], params: GenerationParams) -> Generation:
        t0 = time.perf_counter()
        with self._lock, self._torch.no_grad():
            out = self.model.generate(**self._generate_kwargs(ids, params))
        new = out[0, len(ids) :].tolist()
        hit_eos = bool(new) and new[-1] == self.eos_id
        if hit_eos:
            new = new[:-1]
        text, stopped = _cut_at_stop(self.detokenize(new), params.stop)
        finish = "stop" if hit_eos or stopped else "length"
        return Generation(text, len(ids), len(new) + int(hit_eos), finish, time.perf_counter() - t0)

    def _stream(self, ids: list[int], params: GenerationParams) -> Iterator[Chunk]:
        """Token by token: generate() runs in a thread (holding the lock) and pushes each new token to a queue; the
        text of the tokens so far is sent as it grows, so the streamed pieces join into what _run returns. With stop
        strings the whole answer is generated first (a stop can only be cut from text that is complete)."""
        if params.stop:
            gen = self._run(ids, params)
            yield Chunk(text=gen.text)
            yield Chunk("", gen.finish_reason, gen.prompt_tokens, gen.completion_tokens)
            return
        kwargs = self._generate_kwargs(ids, params)  # a prompt that is too long fails here, in the caller's thread
        pieces: queue.Queue[Any] = queue.Queue()
        done = object()

        def work() -> None:
            try:
                with self._lock, self._torch.no_grad():
                    self.model.generate(**kwargs, streamer=_TokenQueue(pieces))
            except BaseException as exc:  # raised again in the consumer's thread
                pieces.put(exc)
                return
            pieces.put(done)

        threading.Thread(target=work, name="transformers-stream", daemon=True).start()
        new: list[int] = []
        hit_eos = False
        sent = ""
        while (item := pieces.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            for token in item:
                if token == self.eos_id:
                    hit_eos = True
                else:
                    new.append(token)
            text = self.detokenize(new)
            # A character split over tokens shows as U+FFFD until its last byte arrives: wait for it.
            if len(text) > len(sent) and text.startswith(sent) and not text.endswith("\ufffd"):
                yield Chunk(text=text[len(sent) :])
                sent = text
        text = self.detokenize(new)
        if text != sent:  # what is left; were the text ever rewritten behind what was sent, only its new end goes
            common = next((i for i, (a, b) in enumerate(zip(text, sent, strict=False)) if a != b), len(sent))
            yield Chunk(text=text[max(common, len(sent)) :] if text.startswith(sent) else text[common:])
        yield Chunk("", "stop" if hit_eos else "length", len(ids), len(new) + int(hit_eos))

    def complete(self, prompt: str, params: GenerationParams = GenerationParams()) -> Generation:
        return self._run(self.tokenize(prompt, add_special=True), params)

    def complete_stream(self, prompt: str, params: GenerationParams = GenerationParams()) -> Iterator[Chunk]:
        return self._stream(self.tokenize(prompt, add_special=True), params)

    def chat(self, messages: Sequence[Message], params: GenerationParams = GenerationParams()) -> Generation:
        return self._run(self.tokenize(self.render(messages)), params)

    def chat_stream(
        self, messages: Sequence[Message], params: GenerationParams = GenerationParams()
    ) -> Iterator[Chunk]:
        return self._stream(self.tokenize(self.render(messages)), params)

    # -- scoring ----------------------------------------------------------------------------------------------
    def context_limit(self) -> int:
        return self.max_context

    def loglikelihood_tokens(self, context: Sequence[int], continuation: Sequence[int]) -> LogLikelihood:
        tokens, n_ctx = self._fit(context, continuation)
        with self._lock, self._torch.no_grad():
            logits = self.model(self._torch.tensor([tokens])).logits[0].double().numpy()
        return score_continuation(logits, tokens, n_ctx)

    def loglikelihood_batch(
        self, requests: Sequence[tuple[str, str]], *, max_batch_tokens: int = 4096, max_batch: int = 32
    ) -> list[LogLikelihood]:
        """Score many (context, continuation) pairs, in the order given, several sequences per forward pass.

        Sequences of similar length go together (longest first) and are padded on the left, with position ids
        counted from each sequence's first real token, so every sequence sees what it would see alone; only the
        logits of the last positions (those that score a continuation) are computed. A batch holds at most
        max_batch sequences and max_batch_tokens padded tokens.
        """
        torch = self._torch
        if any(not x for _, x in requests):
            raise CapabilityError("a continuation is empty: there is nothing to score")
        encoded = [self._fit(self.context_ids(c), self.tokenize(x)) for c, x in requests]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
        out: list[LogLikelihood | None] = [None] * len(encoded)
        pad = int(self.eos_id if self.eos_id is not None else 0)
        start = 0
        while start < len(order):
            width = len(encoded[order[start]][0])  # the longest in the batch: sorted longest first
            size = max(1, min(max_batch, max_batch_tokens // max(1, width), len(order) - start))
            chosen = order[start : start + size]
            start += size
            ids = torch.full((len(chosen), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chosen), width), dtype=torch.long)
            for row, i in enumerate(chosen):
                tokens = encoded[i][0]
                ids[row, width - len(tokens) :] = torch.tensor(tokens)
                mask[row, width - len(tokens) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            keep = max(len(encoded[i][0]) - encoded[i][1] for i in chosen) + 1
            with self._lock, torch.no_grad():
                try:
                    logits = self.model(
                        input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
                    ).logits
                except TypeError:  # an architecture without logits_to_keep: compute every position, keep the end
                    logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -keep:]
            rows = logits.double().numpy()  # (batch, keep, vocab): position p is column keep - (width - p)
            for row, i in enumerate(chosen):
                tokens, n_ctx = encoded[i]
                n_cont = len(tokens) - n_ctx
                # The logits after the last context token and after each continuation token but the last.
                window = rows[row, keep - 1 - n_cont : keep - 1]
                out[i] = score_continuation(window, [tokens[n_ctx - 1], *tokens[n_ctx:]], 1)
        return [ll for ll in out if ll is not None]

    def logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Raw next-token logits after each of tokens: shape (len(tokens), vocab), float32."""
        if not tokens:
            raise CapabilityError("no tokens to read logits for: pass at least one (a BOS token)")
        if len(tokens) > self.max_context:
            raise CapabilityError(f"{len(tokens)} tokens are over the {self.max_context}-token limit: shorten the text")
        with self._lock, self._torch.no_grad():
            out = self.model(self._torch.tensor([list(tokens)])).logits[0]
        return np.asarray(out.float().numpy(), dtype=np.float32)

    def close(self) -> None:
        pass
