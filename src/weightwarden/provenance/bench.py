"""Benchmark items to check for contamination, from a JSONL, JSON, YAML or plain-text file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from weightwarden.provenance.base import BenchError
from weightwarden.provenance.corpus import text_of


@dataclass(frozen=True)
class BenchItem:
    id: str
    text: str


def _records(path: Path, raw: str) -> list[Any]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        records = []
        for number, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise BenchError(f"{path}, line {number}, is not JSON ({exc}): fix or remove that line") from None
        return records
    if suffix in (".json", ".yaml", ".yml"):
        try:
            data = json.loads(raw) if suffix == ".json" else yaml.safe_load(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise BenchError(f"{path} cannot be parsed: {exc}") from None
        if isinstance(data, dict):
            data = data.get("items", data.get("examples"))
        if not isinstance(data, list):
            raise BenchError(f"{path} should hold a list of items (or a mapping with an `items` list)")
        return data
    # plain text: items separated by blank lines
    return [part.strip() for part in raw.split("\n\n") if part.strip()]


def load_bench(path: Path) -> list[BenchItem]:
    """Items with a `text` field, or `question` (+ `choices`) + `answer`, or strings; ids from `id` or position."""
    path = Path(path).expanduser()
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read the benchmark file {path}: {exc.strerror}") from None
    if b"\x00" in raw_bytes[:8192]:
        raise BenchError(f"{path} is a binary file: give a JSONL, JSON, YAML or text file of benchmark items")
    raw = raw_bytes.decode("utf-8", errors="replace")
    items: list[BenchItem] = []
    unusable = 0
    for number, record in enumerate(_records(path, raw), 1):
        text = text_of(record)
        if not text or not text.strip():
            unusable += 1
            continue
        ident = record.get("id", number) if isinstance(record, dict) else number
        items.append(BenchItem(str(ident), text))
    if not items:
        raise BenchError(
            f"{path} holds no benchmark items: each needs a `text` field, or `question` and `answer` fields"
            + (f" ({unusable} records had neither)" if unusable else "")
        )
    if len({i.id for i in items}) != len(items):
        raise BenchError(f"{path} repeats item ids: give every item a distinct `id`")
    return items
