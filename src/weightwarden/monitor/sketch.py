"""A compact sketch of one request that keeps no text: what drift tests need, even when store_text is off.

A sketch holds the prompt's sentence embedding quantized to int8 (384 bytes for the bundled all-MiniLM-L6-v2, plus
one scale), the prompt's and answer's lengths, a language guess, the guard's scores, and whether the answer reads
as a refusal. An embedding can still tell roughly what was asked, so the serving policy can turn sketches off
(`sketches: false`), and they are deleted with stored text after `retention_days`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from weightwarden.ledger import RequestRecord, SketchRecord
from weightwarden.monitor.language import guess_language

SKETCH_VERSION = 1
MAX_EMBED_CHARS = 2000  # the embedder reads 256 word pieces; more text only costs time

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]

# Openings of an answer that declines; checked on the answer's first few hundred characters only.
_REFUSAL = re.compile(
    r"\b(?:I|we)\s*(?:can(?:no|')t|cannot|won't|will not|am not able to|'m not able to|am unable to|'m unable to)\s+"
    r"(?:help|assist|provide|do|comply|answer|fulfil|fulfill|share|create|write|give|support)"
    r"|\bI'?m\s+sorry,?\s+(?:but|I)\b|\bI\s+apologi[sz]e,?\s+but\b|\bas an AI\b|\bI\s+must\s+(?:decline|refuse)\b"
    r"|\bagainst\s+my\s+(?:guidelines|policy|programming)\b|\bnot\s+(?:able|allowed)\s+to\s+(?:help|assist)\b",
    re.IGNORECASE,
)


def is_refusal(answer: str) -> bool:
    """Whether an answer opens like a refusal ("I can't help with that", "I'm sorry, but...")."""
    return _REFUSAL.search(answer[:400]) is not None


def prompt_of(prompt_text: str | None) -> str:
    """The text a user asked: the last user message of a chat (stored as JSON messages), or the prompt itself."""
    if not prompt_text:
        return ""
    if prompt_text.startswith("["):
        try:
            data = json.loads(prompt_text)
        except ValueError:
            return prompt_text
        if isinstance(data, list):
            users = [m.get("content") for m in data if isinstance(m, dict) and m.get("role") == "user"]
            texts = [c for c in users if isinstance(c, str)]
            if texts:
                return texts[-1]
            strings = [s for s in data if isinstance(s, str)]
            if strings:
                return "\n".join(strings)
    return prompt_text


def quantize(vector: Sequence[float]) -> tuple[bytes, float]:
    """int8 bytes and the scale that maps them back (value = int8 * scale); symmetric, per vector."""
    v = np.asarray(vector, dtype=np.float32)
    peak = float(np.max(np.abs(v))) if v.size else 0.0
    scale = peak / 127.0 if peak > 0 else 1.0
    q = np.clip(np.rint(v / scale), -127, 127).astype(np.int8)
    return q.tobytes(), scale


def dequantize(data: bytes, scale: float) -> NDArray[np.float32]:
    return np.frombuffer(data, dtype=np.int8).astype(np.float32) * np.float32(scale)


def _guard(verdicts: dict[str, Any]) -> tuple[dict[str, float], float | None, float | None]:
    scores: dict[str, float] = {}
    peaks: dict[str, float | None] = {"input": None, "output": None}
    for side, items in (verdicts or {}).items():
        if not isinstance(items, list):
            continue
        for v in items:
            if not isinstance(v, dict) or not isinstance(v.get("score"), (int, float)):
                continue
            score = float(v["score"])
            scores[f"{side}:{v.get('detector')}"] = round(score, 4)
            if side in peaks:
                held = peaks[side]
                peaks[side] = score if held is None else max(held, score)
    return scores, peaks["input"], peaks["output"]


def sketch_requests(
    items: Sequence[tuple[RequestRecord, str | None, str | None]], embed: Embed | None
) -> list[SketchRecord]:
    """Sketch finished requests: (audit record, prompt text, answer text) each; the texts are read, never kept.

    embed: the sentence embedder's embed (unit vectors), or None to sketch without embeddings.
    """
    prompts = [prompt_of(prompt) for _, prompt, _ in items]
    wanted = [i for i, p in enumerate(prompts) if p.strip()]
    vectors: dict[int, Sequence[float]] = {}
    if embed is not None and wanted:
        for i, vec in zip(wanted, embed([prompts[i][:MAX_EMBED_CHARS] for i in wanted]), strict=True):
            vectors[i] = vec
    out = []
    for i, (record, _, answer) in enumerate(items):
        text = prompts[i]
        scores, guard_in, guard_out = _guard(record.verdicts)
        data, scale = quantize(vectors[i]) if i in vectors else (None, None)
        out.append(
            SketchRecord(
                request_id=record.request_id,
                time=record.time,
                version=SKETCH_VERSION,
                model=record.model,
                embedding=data,
                embedding_scale=scale,
                prompt_chars=len(text),
                prompt_words=len(text.split()),
                response_chars=None if answer is None else len(answer),
                language=guess_language(text) if text.strip() else None,
                guard_input=guard_in,
                guard_output=guard_out,
                guard_scores=scores,
                refusal=None if not answer else is_refusal(answer),
            )
        )
    return out
