"""One check inside a stage (the watermark round trip, the contamination test): a verdict, a line, rows, data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weightwarden.audit.result import Status

ORDER: dict[Status, int] = {"ok": 0, "warn": 1, "fail": 2}


@dataclass
class Check:
    status: Status
    summary: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def worst(*statuses: Status) -> Status:
    """The worst of several verdicts: fail over warn over ok."""
    return max(statuses, key=ORDER.__getitem__)
