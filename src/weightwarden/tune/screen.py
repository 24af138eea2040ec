"""Screening training data before a tune: personal data and secrets a model could learn and repeat."""

from __future__ import annotations

from dataclasses import dataclass

from weightwarden.guard import pii, secrets
from weightwarden.tune.data import Dataset


@dataclass(frozen=True)
class DataFinding:
    """One hit: the line of the file, the kind (email, iban, aws_key, ...), and a masked excerpt."""

    line: int
    kind: str
    excerpt: str


def _mask(text: str) -> str:
    return text[:2] + "*" * max(0, len(text) - 4) + text[-2:] if len(text) > 4 else "*" * len(text)


def screen(data: Dataset) -> list[DataFinding]:
    """Every PII and secret hit in the data's messages, with the guard's own validated detectors."""
    found: list[DataFinding] = []
    for ex in data.examples:
        for m in ex.messages:
            for kind, s, e in pii.find(m.content):
                found.append(DataFinding(ex.line, kind.name, _mask(m.content[s:e])))
            for rule, s, e, _ in secrets.find(m.content):
                found.append(DataFinding(ex.line, rule, _mask(m.content[s:e])))
    return found
