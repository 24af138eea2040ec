"""A guard that sees nothing: what a broken install looks like to the live check and the audit's guard stage."""

from __future__ import annotations

from dataclasses import dataclass, field

LEARNED = ("injection", "jailbreak", "harmful")


@dataclass
class BlindResult:
    scores: dict[str, float]


@dataclass
class BlindGuard:
    """Scores every learned label 0 and remembers what it was asked."""

    calls: list[str] = field(default_factory=list)

    def scan(self, text: str, side: str = "input") -> BlindResult:
        self.calls.append(text)
        return BlindResult({la: 0.0 for la in LEARNED})
