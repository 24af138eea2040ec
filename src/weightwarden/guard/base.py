"""The guard's vocabulary: a Detector looks at a Text and returns a Verdict with the Spans that triggered it.

GuardError(WardenError)        the guard cannot run as asked
├── PolicyError                a policy file that cannot be used
└── GuardModelError            the bundled guard weights are missing or do not match this code
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from weightwarden.errors import ConfigError, WardenError

if TYPE_CHECKING:
    from weightwarden.guard.normalize import Text

Action = Literal["block", "redact", "flag", "log"]
ACTIONS: tuple[Action, ...] = ("block", "redact", "flag", "log")
Side = Literal["input", "output"]
CLEAN = "clean"


class GuardError(WardenError):
    """The guard cannot run as asked."""


class PolicyError(GuardError, ConfigError):
    """A guard policy that cannot be used."""


class GuardModelError(GuardError):
    """The bundled guard weights are missing, corrupt, or made for another version of the code."""


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of the text that was scanned (always the caller's text, never a decoded view)."""

    start: int
    end: int
    text: str
    kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "kind": self.kind}


@dataclass
class Verdict:
    """What one detector concluded about one text.

    label: the detector's label when score >= threshold (for example `injection`, `harmful:cyber`), else `clean`.
    action: what the policy does about it when triggered (block, redact, flag, log); `allow` when not triggered.
    details: detector-specific facts, for example the obfuscation that hid an attack or the PII kinds found.
    """

    detector: str
    label: str
    score: float
    spans: list[Span] = field(default_factory=list)
    latency_ms: float = 0.0
    action: str = "allow"
    threshold: float = 0.5
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def triggered(self) -> bool:
        return self.label != CLEAN

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "label": self.label,
            "score": round(self.score, 4),
            "threshold": self.threshold,
            "action": self.action,
            "latency_ms": round(self.latency_ms, 3),
            "spans": [s.as_dict() for s in self.spans],
            "details": self.details,
        }


@dataclass(frozen=True)
class Finding:
    """A raw detector output before the policy's threshold and action are applied."""

    score: float
    spans: tuple[Span, ...] = ()
    label: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanContext:
    """Facts about the conversation that output-side detectors need: canaries planted, the system prompt."""

    canaries: tuple[str, ...] = ()
    system_prompt: str = ""


class Detector(Protocol):
    """One technique: `name` is its key in a policy, `label` what a hit is called, `sides` where it may run."""

    name: str
    label: str
    description: str
    sides: tuple[Side, ...]

    def detect(self, text: Text, context: ScanContext) -> Finding: ...
