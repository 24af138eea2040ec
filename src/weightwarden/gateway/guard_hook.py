"""The seam between the gateway and the guard: prompts are scanned before the model, answers after it.

This is the gateway's only import of weightwarden.guard, and it is lazy: without a usable guard the gateway runs
with the guard off (and says so at startup) rather than not at all. Streamed answers are scanned over a sliding
window; the last few characters (back to a word boundary) are held back, so a secret or an e-mail address split
across tokens is redacted before any of it is sent.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from weightwarden.errors import ConfigError
from weightwarden.gateway.errors import ContentBlocked

if TYPE_CHECKING:
    from weightwarden.guard import Guard, Policy, ScanResult

log = logging.getLogger("weightwarden.gateway")


def guard_missing() -> str | None:
    """Why the guard cannot be used, or None when it can."""
    try:
        from weightwarden.guard import Guard, parse_policy  # noqa: F401
    except ImportError as exc:
        return f"the guard package cannot be imported ({exc})"
    return None


def load_guard_policy(data: dict[str, Any] | None, source: str) -> Policy:
    """The guard's policy from the guard keys of a policy file, or the guard's bundled default when there are none."""
    if (why := guard_missing()) is not None:
        raise ConfigError(f"{source} configures the guard, but {why}: remove the input/output keys or fix the install")
    from weightwarden.guard import default_policy, parse_policy

    return default_policy() if data is None else parse_policy(data, source)


def compact(results: Sequence[ScanResult]) -> list[dict[str, Any]]:
    """One entry per detector: its strongest verdict over the texts scanned; span text is left out, it may be PII."""
    best: dict[str, Any] = {}
    for result in results:
        for v in result.verdicts:
            held = best.get(v.detector)
            if held is None or (v.triggered, v.score) > (held.triggered, held.score):
                best[v.detector] = v
    return [
        {
            "detector": v.detector,
            "label": v.label,
            "score": round(float(v.score), 4),
            "threshold": v.threshold,
            "action": v.action,
            "spans": [{"start": s.start, "end": s.end, "kind": s.kind} for s in v.spans],
        }
        for v in best.values()
    ]


@dataclass
class Decision:
    """What the guard decided about the texts of one side of a request.

    texts: the texts to use from here on, redacted where a redact rule fired.
    """

    blocked: bool
    labels: list[str]
    texts: list[str]
    verdicts: list[dict[str, Any]] = field(default_factory=list)


class GuardHook:
    """The policy's input and output detectors, or nothing when the guard is off (no policy, or one without rules)."""

    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy
        self._guard: Guard | None = None
        if policy is not None and (policy.input or policy.output):
            from weightwarden.guard import Guard

            self._guard = Guard(policy)

    @property
    def enabled(self) -> bool:
        return self._guard is not None

    def check_input(self, texts: Sequence[str]) -> Decision:
        """Scan the texts a caller sent (user and tool messages, or prompts)."""
        if self._guard is None:
            return Decision(False, [], list(texts))
        results = [self._guard.scan(t, "input") for t in texts]
        return _decide(results, texts)

    def check_output(self, text: str, system_prompt: str = "") -> Decision:
        """Scan a whole answer."""
        if self._guard is None:
            return Decision(False, [], [text])
        return _decide([self._guard.scan_output(text, system_prompt=system_prompt)], [text])

    def stream(self, system_prompt: str = "") -> StreamScanner:
        return StreamScanner(self._guard, system_prompt)


def _decide(results: Sequence[ScanResult], texts: Sequence[str]) -> Decision:
    labels = sorted({label for r in results for label in r.labels})
    blocked = any(r.blocked for r in results)
    out = [r.redacted_text if r.redacted_text is not None else t for r, t in zip(results, texts, strict=True)]
    return Decision(blocked, labels, out, compact(results))


def blocked_labels(decision: Decision) -> str:
    return ", ".join(v["label"] for v in decision.verdicts if v["action"] == "block") or "policy"


class StreamScanner:
    """Scans a streamed answer as it grows and releases what is safe to send.

    window: characters already sent that are scanned again with the new text, for context;
    holdback: characters kept back (then further, to a word boundary) until more text arrives;
    step: how much new text to gather between scans, since each scan costs a few milliseconds.
    """

    def __init__(
        self, guard: Guard | None, system_prompt: str, *, window: int = 1024, holdback: int = 32, step: int = 64
    ) -> None:
        self._guard = guard
        self._system = system_prompt
        self.window, self.holdback, self.step = window, holdback, step
        self.raw = ""
        self.released = 0
        self.verdicts: list[dict[str, Any]] = []

    def feed(self, text: str) -> str:
        """Add streamed text; return what may be sent now (maybe nothing). Raises ContentBlocked."""
        self.raw += text
        if self._guard is None:
            out, self.released = self.raw[self.released :], len(self.raw)
            return out
        if len(self.raw) - self.released < self.holdback + self.step:
            return ""
        start = max(0, self.released - self.window)
        result = self._scan(self.raw[start:])
        cut = len(self.raw) - self.holdback
        space = max(self.raw.rfind(" ", self.released, cut), self.raw.rfind("\n", self.released, cut))
        if space >= 0:
            cut = space + 1
        elif cut - self.released < 4 * self.window:
            return ""  # one long run of non-space characters, perhaps a secret: wait for its end
        for v in result.verdicts:
            for s in v.spans if v.triggered and v.action == "redact" else ():
                if start + s.start < cut < start + s.end:
                    cut = start + s.start  # never send half of a span that will be redacted
        if cut <= self.released:
            return ""
        out = self._redacted(self.released, cut, result, start)
        self.released = cut
        return out

    def finish(self) -> str:
        """Scan the whole answer once more and return the rest of it. Raises ContentBlocked."""
        if self._guard is None:
            out, self.released = self.raw[self.released :], len(self.raw)
            return out
        result = self._scan(self.raw)
        out = self._redacted(self.released, len(self.raw), result, 0)
        self.released = len(self.raw)
        return out

    def _scan(self, text: str) -> ScanResult:
        assert self._guard is not None
        result = self._guard.scan_output(text, system_prompt=self._system)
        self.verdicts = compact([result])
        if result.blocked:
            labels = ", ".join(v.label for v in result.verdicts if v.triggered and v.action == "block")
            raise ContentBlocked(f"the answer was stopped by the output guard: {labels}", code="output_blocked")
        return result

    def _redacted(self, lo: int, hi: int, result: ScanResult, offset: int) -> str:
        """raw[lo:hi] with the redact spans of result (found in raw[offset:]) replaced by their placeholders."""
        from weightwarden.guard.base import Span
        from weightwarden.guard.pipeline import redact

        shifted = []
        for v in result.verdicts:
            if not (v.triggered and v.action == "redact"):
                continue
            spans = [
                Span(max(offset + s.start, lo) - lo, min(offset + s.end, hi) - lo, s.text, s.kind)
                for s in v.spans
                if offset + s.end > lo and offset + s.start < hi
            ]
            if spans:
                shifted.append(dataclasses.replace(v, spans=spans))
        segment = self.raw[lo:hi]
        if not shifted:
            return segment
        return redact(segment, shifted) or segment
