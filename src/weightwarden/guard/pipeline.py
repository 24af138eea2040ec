"""The guard as one call: normalise and decode once, run the policy's detectors, apply thresholds and actions.

from weightwarden.guard import scan, scan_output
result = scan(user_text)                      # default policy, input side
if result.blocked: ...
result = scan_output(answer, canaries=(canary,), system_prompt=system)
safe_answer = result.redacted_text or answer
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from weightwarden.guard.base import CLEAN, Detector, GuardError, ScanContext, Side, Span, Verdict
from weightwarden.guard.classifier import LinearModel, bundled_linear
from weightwarden.guard.embedding import EmbeddingModel, bundled_embedding
from weightwarden.guard.encoder import EncoderModel, bundled_encoder
from weightwarden.guard.layered import Layers
from weightwarden.guard.normalize import Text
from weightwarden.guard.pii import PLACEHOLDERS
from weightwarden.guard.policy import Policy, Rule, default_policy
from weightwarden.guard.registry import DETECTORS, entry

# The registry's order: injection and harmful run before jailbreak, which reads what they found in decoded views.
ORDER = tuple(DETECTORS)


@dataclass
class ScanResult:
    """Everything the guard concluded about one text.

    redacted_text: the text with every span of a triggered `redact` rule replaced, or None when nothing was.
    labels: the labels of triggered verdicts, in detector order; scores: each detector's score.
    """

    side: Side
    verdicts: list[Verdict]
    blocked: bool
    redacted_text: str | None
    labels: list[str]
    scores: dict[str, float]
    latency_ms: float
    chars: int
    policy: str
    warnings: list[str] = field(default_factory=list)
    text: str | None = field(default=None, repr=False)  # the scanned text, for explanations; not serialised

    @property
    def flagged(self) -> bool:
        return bool(self.labels)

    def verdict(self, detector: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.detector == detector), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "blocked": self.blocked,
            "labels": self.labels,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "redacted_text": self.redacted_text,
            "latency_ms": round(self.latency_ms, 3),
            "chars": self.chars,
            "policy": self.policy,
            "warnings": self.warnings,
            "verdicts": [v.as_dict() for v in self.verdicts],
        }


def redact(text: str, verdicts: Iterable[Verdict]) -> str | None:
    """Replace the spans of triggered redact verdicts with placeholders ([EMAIL], [SECRET:aws_access_key], ...)."""
    spans: list[tuple[int, int, str]] = []
    for v in verdicts:
        if not v.triggered or v.action != "redact":
            continue
        for sp in v.spans:
            if v.detector == "pii":
                ph = PLACEHOLDERS.get(sp.kind, "[PII]")
            elif v.detector == "secrets":
                ph = f"[SECRET:{sp.kind}]" if sp.kind else "[SECRET]"
            else:
                ph = f"[{v.detector.upper()}]"
            spans.append((sp.start, sp.end, ph))
    if not spans:
        return None
    spans.sort()
    merged: list[tuple[int, int, str]] = []
    for s, e, ph in spans:
        if merged and s < merged[-1][1]:
            ps, pe, pph = merged[-1]
            merged[-1] = (ps, max(pe, e), pph)
        else:
            merged.append((s, e, ph))
    out, pos = [], 0
    for s, e, ph in merged:
        out.append(text[pos:s])
        out.append(ph)
        pos = e
    out.append(text[pos:])
    return "".join(out)


class Guard:
    """A policy with its detectors built once; thread-safe to share (detectors keep no per-text state).

    layers: which layers the learned detectors use (patterns, linear, embedding); default from the policy.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        layers: Iterable[str] | None = None,
        model: LinearModel | None = None,
        deep_model: EmbeddingModel | None = None,
        encoder: EncoderModel | None = None,
    ) -> None:
        self.policy = policy or default_policy()
        if layers is not None:
            enabled = frozenset(layers)
        elif self.policy.layers is not None:
            enabled = frozenset(self.policy.layers) | ({"embedding"} if self.policy.deep else set())
        else:  # a policy written before `layers:` existed keeps the layers it was written for
            enabled = frozenset({"patterns", "linear"} | ({"embedding"} if self.policy.deep else set()))
        # the linear model also carries the toxicity lexicon, so it loads whenever a policy scans for toxicity
        wants_linear = bool({"linear", "embedding"} & enabled) or any(
            r.detector == "toxicity" for r in (*self.policy.input, *self.policy.output)
        )
        model = model or (bundled_linear() if wants_linear else None)
        if "embedding" in enabled and deep_model is None:
            deep_model = bundled_embedding()
        if "encoder" in enabled and encoder is None:
            encoder = bundled_encoder()
        self.layers = Layers(model, deep_model, enabled, encoder)
        self._detectors: dict[tuple[Side, str], Detector] = {}
        sides: tuple[Side, ...] = ("input", "output")
        for side in sides:
            for rule in self.policy.rules(side):
                self._detectors[(side, rule.detector)] = entry(rule.detector).build(rule, self.layers)

    def scan(self, text: str | bytes, side: Side = "input", context: ScanContext | None = None) -> ScanResult:
        """Scan one text on one side of the conversation with this guard's policy."""
        t0 = time.perf_counter()
        warnings: list[str] = []
        if isinstance(text, bytes):
            decoded = text.decode("utf-8", errors="replace")
            if "\ufffd" in decoded and b"\xef\xbf\xbd" not in text:
                warnings.append(
                    f"input was not valid UTF-8: {decoded.count(chr(0xFFFD))} byte sequence(s) replaced with U+FFFD"
                )
            text = decoded
        if not isinstance(text, str):
            raise GuardError(f"the guard scans text, not {type(text).__name__}: pass a str (or UTF-8 bytes)")
        if len(text) > self.policy.max_chars:
            raise GuardError(
                f"text of {len(text):,} characters is longer than the policy's max_chars ({self.policy.max_chars:,}): "
                "split it, or raise max_chars in the policy; the guard never truncates"
            )
        if "\x00" in text:
            warnings.append("input contains NUL characters; they were ignored for detection")
        ctx = context or ScanContext()
        doc = Text(text)
        rules = {r.detector: r for r in self.policy.rules(side)}
        verdicts: list[Verdict] = []
        for name in ORDER:
            rule = rules.get(name)
            if rule is None:
                continue
            detector = self._detectors[(side, name)]
            d0 = time.perf_counter()
            finding = detector.detect(doc, ctx)
            ms = (time.perf_counter() - d0) * 1000
            verdicts.append(
                self._verdict(
                    rule, finding.score, finding.label or detector.label, list(finding.spans), finding.details, ms
                )
            )
        blocked = any(v.triggered and v.action == "block" for v in verdicts)
        return ScanResult(
            side=side,
            verdicts=verdicts,
            blocked=blocked,
            redacted_text=redact(text, verdicts),
            labels=[v.label for v in verdicts if v.triggered],
            scores={v.detector: v.score for v in verdicts},
            latency_ms=(time.perf_counter() - t0) * 1000,
            chars=len(text),
            policy=self.policy.name,
            warnings=warnings,
            text=text,
        )

    @staticmethod
    def _verdict(
        rule: Rule, score: float, label: str, spans: list[Span], details: dict[str, Any], ms: float
    ) -> Verdict:
        triggered = score >= rule.threshold and score > 0.0
        cats = rule.options.get("categories")
        if triggered and cats and label.split(":", 1)[-1] not in cats:
            triggered = False
            details = {**details, "category_not_in_policy": True}
        if rule.block_above is not None:
            details = {**details, "block_above": rule.block_above}
        return Verdict(
            detector=rule.detector,
            label=label if triggered else CLEAN,
            score=score,
            spans=spans if triggered else [],
            latency_ms=ms,
            action=rule.action_at(score) if triggered else "allow",
            threshold=rule.threshold,
            details=details,
        )

    def scan_input(self, text: str | bytes) -> ScanResult:
        return self.scan(text, "input")

    def scan_output(self, text: str | bytes, *, canaries: Sequence[str] = (), system_prompt: str = "") -> ScanResult:
        """Scan a model's answer: leakage of the system prompt or its canaries, PII, secrets, toxic language."""
        return self.scan(text, "output", ScanContext(tuple(canaries), system_prompt))

    def scan_batch(self, texts: Sequence[str | bytes], side: Side = "input") -> list[ScanResult]:
        """Scan many texts with one set of loaded detectors (what `warden scan --jsonl` uses)."""
        return [self.scan(t, side) for t in texts]


def result_text(result: ScanResult, start: int, end: int) -> str:
    """The scanned text's characters [start, end), when the result kept the text."""
    return result.text[start:end] if result.text is not None else ""


def explain(result: ScanResult) -> list[dict[str, Any]]:
    """Why each detector decided as it did: the deciding layer, its score against the threshold, and the span.

    One entry per detector that scored above zero or acted: {detector, decision, layer, score, threshold, span, why}.
    """
    out: list[dict[str, Any]] = []
    for v in result.verdicts:
        layer = str(v.details.get("layer", "patterns"))
        if v.score <= 0.0 and not v.triggered and layer != "gate":
            continue
        gate = v.details.get("gate_score")
        span = v.spans[0] if v.spans else None
        best = v.details.get("best_span")
        if span is None and isinstance(best, list) and len(best) == 2:
            span = Span(int(best[0]), int(best[1]), result_text(result, int(best[0]), int(best[1])), "best")
        if layer == "gate":
            why = f"the gate stopped it ({float(gate or 0):.3f} below its threshold): the encoder never ran"
        elif layer == "screen" and not v.triggered:
            why = (
                f"MiniLM's heads alone put every label under the screen's cut (this one {v.score:.3f}; the policy "
                f"acts from {v.threshold:.3f}): the decoder never ran; allowed"
            )
        elif v.triggered and v.details.get("block_above") is not None and v.score >= v.details["block_above"]:
            why = (
                f"{layer} scored {v.score:.3f} >= block_above {v.details['block_above']:.3f} "
                f"(flags from threshold {v.threshold:.3f}): {v.action}"
            )
        elif v.triggered:
            why = f"{layer} scored {v.score:.3f} >= threshold {v.threshold:.3f}: {v.action}"
        else:
            why = f"{layer} scored {v.score:.3f} < threshold {v.threshold:.3f}: allowed"
        if gate is not None and layer != "gate":
            why += f" (gate {float(gate):.3f})"
        out.append(
            {
                "detector": v.detector,
                "decision": v.action,
                "layer": layer,
                "score": round(v.score, 4),
                "threshold": v.threshold,
                "span": {"start": span.start, "end": span.end, "text": span.text[:200], "kind": span.kind}
                if span
                else None,
                "why": why,
            }
        )
    return out


@cache
def _default_guard() -> Guard:
    return Guard()


def guard_for(policy: Policy | None) -> Guard:
    """The shared default guard for the default policy, else a new one for `policy`."""
    return _default_guard() if policy is None else Guard(policy)


def scan(text: str | bytes, policy: Policy | None = None) -> ScanResult:
    """Scan a user's input with `policy` (default: the bundled policy): injection, jailbreak, harm, PII, secrets."""
    return guard_for(policy).scan(text, "input")


def scan_output(
    text: str | bytes, policy: Policy | None = None, *, canaries: Sequence[str] = (), system_prompt: str = ""
) -> ScanResult:
    """Scan a model's answer with `policy`: system-prompt leakage, PII, secrets, toxic language."""
    return guard_for(policy).scan_output(text, canaries=canaries, system_prompt=system_prompt)
