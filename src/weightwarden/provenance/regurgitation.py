"""Verbatim regurgitation: prompt the model with a document's own prefix and compare what it writes with what
the document says next (the "extractable memorization" test of Carlini et al.).

Each probe takes `prefix_tokens` tokens of a document, generates `new_tokens` greedily, and measures, against the
document's true continuation (whitespace collapsed): the longest common substring, the share of the answer's word
n-grams that the continuation also has, and the common prefix (the whole continuation reproduced means extracted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from weightwarden.provenance.base import CorpusError
from weightwarden.provenance.corpus import Corpus, CorpusStats
from weightwarden.provenance.ngrams import WORD
from weightwarden.runtimes.base import GenerationParams, Runtime

THRESHOLD_CHARS = 50  # the same length as the 50-character contamination test
NGRAM = 5
_SPACE = re.compile(r"\s+")


def squash(text: str) -> str:
    """Whitespace runs as one space, ends trimmed: line breaks and indentation are not content."""
    return _SPACE.sub(" ", text).strip()


def longest_common(a: str, b: str) -> str:
    """The longest substring of both a and b."""
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return a[match.a : match.a + match.size]


def ngram_overlap(answer: str, reference: str, n: int = NGRAM) -> float:
    """Share of answer's word n-grams (lowercased, punctuation ignored) that reference also has; 0 without any."""
    a, r = WORD.findall(answer.lower()), WORD.findall(reference.lower())
    grams = [tuple(a[i : i + n]) for i in range(len(a) - n + 1)]
    if not grams:
        return 0.0
    ref = {tuple(r[i : i + n]) for i in range(len(r) - n + 1)}
    return sum(g in ref for g in grams) / len(grams)


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Probe:
    """One prompt from a document and what came of it; offset is the prefix's first token in the document."""

    offset: int
    prompt: str
    expected: str
    generated: str
    longest: str
    ngram_overlap: float
    prefix_chars: int

    @property
    def extracted(self) -> bool:
        return bool(self.expected) and self.prefix_chars >= len(squash(self.expected))

    def as_dict(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "prompt": self.prompt,
            "expected": self.expected,
            "generated": self.generated,
            "longest_chars": len(self.longest),
            "longest": self.longest,
            "ngram_overlap": round(self.ngram_overlap, 4),
            "extracted": self.extracted,
        }


@dataclass
class DocumentResult:
    doc: str
    tokens: int
    probes: list[Probe] = field(default_factory=list)
    note: str = ""

    @property
    def longest_chars(self) -> int:
        return max((len(p.longest) for p in self.probes), default=0)

    @property
    def ngram_overlap(self) -> float:
        return max((p.ngram_overlap for p in self.probes), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "doc": self.doc,
            "tokens": self.tokens,
            "longest_chars": self.longest_chars,
            "ngram_overlap": round(self.ngram_overlap, 4),
            "extracted": any(p.extracted for p in self.probes),
            "note": self.note,
            "probes": [p.as_dict() for p in self.probes],
        }


@dataclass
class RegurgitationReport:
    documents: list[DocumentResult]
    threshold_chars: int
    settings: dict[str, Any]
    corpus: CorpusStats | None = None

    def flagged(self) -> list[DocumentResult]:
        """Documents whose longest verbatim overlap reaches the threshold, longest first."""
        over = [d for d in self.documents if d.probes and d.longest_chars >= self.threshold_chars]
        return sorted(over, key=lambda d: (-d.longest_chars, d.doc))

    def as_dict(self) -> dict[str, Any]:
        probed = [d for d in self.documents if d.probes]
        return {
            "settings": {**self.settings, "threshold_chars": self.threshold_chars},
            "documents": len(self.documents),
            "probed": len(probed),
            "flagged": [d.doc for d in self.flagged()],
            "corpus": self.corpus.as_dict() if self.corpus else None,
            "results": [d.as_dict() for d in self.documents],
        }


def probe_document(
    runtime: Runtime, doc: str, text: str, *, prefix_tokens: int = 50, new_tokens: int = 50, probes: int = 3
) -> DocumentResult:
    """Probe one document at up to `probes` evenly spaced offsets; too short a document gets a note instead."""
    ids = runtime.tokenize(text)
    result = DocumentResult(doc, len(ids))
    room = len(ids) - prefix_tokens - new_tokens
    if len(ids) < prefix_tokens + max(1, new_tokens // 2):
        result.note = (
            f"too short to probe: {len(ids)} tokens, needs {prefix_tokens + max(1, new_tokens // 2)} "
            "(lower --prefix-tokens to probe it)"
        )
        return result
    count = max(1, min(probes, room + 1 if room >= 0 else 1))
    offsets = sorted({round(i * max(room, 0) / max(count - 1, 1)) for i in range(count)})
    params = GenerationParams(max_tokens=new_tokens, temperature=0.0)
    for offset in offsets:
        prompt = runtime.detokenize(ids[offset : offset + prefix_tokens])
        expected = runtime.detokenize(ids[offset + prefix_tokens : offset + prefix_tokens + new_tokens])
        generated = runtime.complete(prompt, params).text
        gen, exp = squash(generated), squash(expected)
        result.probes.append(
            Probe(
                offset,
                prompt,
                expected,
                generated,
                longest_common(gen, exp),
                ngram_overlap(gen, exp),
                common_prefix(gen, exp),
            )
        )
    return result


def check_regurgitation(
    runtime: Runtime,
    documents: Corpus | Iterable[tuple[str, str]],
    *,
    prefix_tokens: int = 50,
    new_tokens: int = 50,
    probes: int = 3,
    threshold_chars: int = THRESHOLD_CHARS,
    max_documents: int | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> RegurgitationReport:
    """Probe every document (or the first max_documents) of a corpus or of (name, text) pairs.

    progress: called with (documents done, name of the last) after each document.
    """
    if prefix_tokens < 1 or new_tokens < 1 or probes < 1:
        raise CorpusError("--prefix-tokens, --new-tokens and --probes must each be at least 1")
    corpus = documents if isinstance(documents, Corpus) else None
    pairs: Iterable[tuple[str, str]] = documents.documents() if isinstance(documents, Corpus) else documents
    results: list[DocumentResult] = []
    for name, text in pairs:
        if max_documents is not None and len(results) >= max_documents:
            break
        results.append(
            probe_document(runtime, name, text, prefix_tokens=prefix_tokens, new_tokens=new_tokens, probes=probes)
        )
        if progress is not None:
            progress(len(results), name)
    if not results:
        raise CorpusError("the corpus holds no documents to probe: give a folder of .txt, .md or .jsonl documents")
    settings = {"prefix_tokens": prefix_tokens, "new_tokens": new_tokens, "probes": probes, "ngram": NGRAM}
    return RegurgitationReport(results, threshold_chars, settings, corpus.stats if corpus else None)
