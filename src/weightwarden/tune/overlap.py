"""Training on the test: which evaluation items the training data already contains.

A tune is judged on the user's task and on the quality and safety suites; an item that also sits in the training
data makes that judgement worthless. Two checks, both exact: the provenance stage's windows (13-word and 50-character
n-grams, an item counts when half of it is covered), and, for items too short for a window, the item's whole
normalised text inside one training conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weightwarden.eval.base import Task
from weightwarden.eval.suites import EvalTask
from weightwarden.eval.task import render_template
from weightwarden.formulas.hashing import window_hashes
from weightwarden.provenance.bench import BenchItem
from weightwarden.provenance.corpus import Block
from weightwarden.provenance.exact import CHARS, NGRAM, BenchIndex
from weightwarden.provenance.ngrams import char_values, word_values
from weightwarden.tune.data import Dataset, Example

SHORT_MIN_CHARS = 24  # a shorter item ("Yes", "Paris") says nothing when found inside a conversation
_NON_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Overlap:
    """One evaluation item found in the training data: the task, the item, how much of it, and the lines."""

    task: str
    item: str
    coverage: float
    lines: tuple[int, ...]
    excerpt: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "item": self.item,
            "coverage": round(self.coverage, 3),
            "lines": list(self.lines),
            "excerpt": self.excerpt,
        }


def _tasks(tasks: Sequence[EvalTask]) -> list[Task]:
    out: list[Task] = []
    for t in tasks:
        out.extend(t.resolved if not isinstance(t, Task) else (t,))
    return list({t.id: t for t in out}.values())


def _item_text(task: Task, item: dict[str, Any]) -> str:
    """What a model is asked for the item (and, when the task names one, its answer)."""
    try:
        asked = render_template(task.template, item) if task.template else ""
    except Exception:  # a template that fails on one item is the eval's problem, not the overlap check's
        asked = ""
    if not asked:
        asked = " ".join(str(v) for k, v in item.items() if k != "id" and isinstance(v, str))
    answer = item.get(task.target_field)
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    if isinstance(answer, str) and not isinstance(item.get(task.choices_field), list):
        asked = f"{asked} {answer}"
    return asked


def _normal(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def _example_text(ex: Example) -> str:
    return "\n".join(m.content for m in ex.messages)


def _blocks(examples: Sequence[Example]) -> list[Block]:
    return [Block(f"line {ex.line}", _example_text(ex), True) for ex in examples]


def find_overlaps(data: Dataset, tasks: Sequence[EvalTask], *, limit: int = 50) -> list[Overlap]:
    """The evaluation items (at most limit) that the training data contains, with the lines they appear on."""
    keyed: list[tuple[str, str, str]] = []  # (task id, item id, text)
    for task in _tasks(tasks):
        for n, item in enumerate(task.items):
            keyed.append((task.id, str(item.get("id", n)), _item_text(task, item)))
    if not keyed:
        return []
    items = [BenchItem(f"{t}\x00{i}", text) for t, i, text in keyed]
    index = BenchIndex(items)
    index.scan(_blocks(data.examples))
    texts = {f"{t}\x00{i}": text for t, i, text in keyed}
    wholes = [f" {_normal(_example_text(ex))} " for ex in data.examples]
    found: dict[str, tuple[float, str]] = {}
    for r in index.results():
        if r.verdict == "contaminated":
            found[r.id] = (max(r.word_coverage, r.char_coverage), r.spans[0].text if r.spans else "")
        elif r.verdict == "too short":
            norm = _normal(texts[r.id])
            if len(norm) >= SHORT_MIN_CHARS and any(f" {norm} " in whole for whole in wholes):
                found[r.id] = (1.0, texts[r.id])
    by_line = [(ex.line, _windows(_example_text(ex)), whole) for ex, whole in zip(data.examples, wholes, strict=True)]
    out: list[Overlap] = []
    for key, (coverage, excerpt) in list(found.items())[:limit]:
        task_id, item_id = key.split("\x00", 1)
        mine, norm = _windows(texts[key]), f" {_normal(texts[key])} "
        lines = tuple(n for n, theirs, whole in by_line if (mine & theirs) or norm in whole)[:10]
        out.append(Overlap(task_id, item_id, coverage, lines, excerpt[:120]))
    return out


def _windows(text: str) -> set[int]:
    """The text's 13-word and 50-character window hashes, as the provenance check takes them."""
    w = window_hashes(word_values(text), NGRAM).tolist()
    c = window_hashes(char_values(text), CHARS).tolist()
    return {*w, *(~x & 0xFFFFFFFFFFFFFFFF for x in c)}  # the two kinds of window never collide with each other
