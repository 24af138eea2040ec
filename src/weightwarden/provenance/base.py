"""Where a model's text and a benchmark's items came from: the shared vocabulary and errors.

ProvenanceError(WardenError)   a provenance check cannot run as asked
├── CorpusError                a training corpus or document folder that cannot be read or holds no text
└── BenchError                 a benchmark file that cannot be read or holds no items
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weightwarden.errors import WardenError


class ProvenanceError(WardenError):
    """A provenance check (contamination, regurgitation) cannot run as asked."""


class CorpusError(ProvenanceError):
    """A corpus that cannot be read or holds no text."""


class BenchError(ProvenanceError):
    """A benchmark file that cannot be read or holds no items."""


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of an item's or a document's own text."""

    start: int
    end: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text}


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or touching [start, end) ranges merged into disjoint ones."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
