"""Guard: the active policy, triggered verdicts counted over 24 hours and 7 days (from the hourly guard counts),
recent blocks and flags with the deciding span marked, and the guard's stored quality figures with where and when
they were measured (never presented as measured now)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weightwarden.gateway.auth import Caller
from weightwarden.guard.policy import Policy, default_policy
from weightwarden.guard.quality import encoder_card, metrics_path
from weightwarden.ledger import RequestRecord
from weightwarden.monitor import parse_window
from weightwarden.ui import queries
from weightwarden.ui.pages.common import require_admin, ui_context

router = APIRouter()
Admin = Annotated[Caller, Depends(require_admin)]
CONTEXT_CHARS = 400  # text shown around the deciding span
COUNT_WINDOWS = ("24h", "7d")


def segments(text: str, spans: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The text cut into (piece, marked) pieces: marked where a span lies. The template escapes every piece.

    A span's offsets are used when they still point at its text; otherwise its text is looked for. Long texts are
    cut to CONTEXT_CHARS around the first span.
    """
    marks: list[tuple[int, int]] = []
    for s in spans:
        start, end, piece = s.get("start"), s.get("end"), str(s.get("text") or "")
        if (
            isinstance(start, int)
            and isinstance(end, int)
            and 0 <= start < end <= len(text)
            and (not piece or text[start:end] == piece)
        ):
            marks.append((start, end))
        elif piece and (at := text.find(piece)) >= 0:
            marks.append((at, at + len(piece)))
    marks.sort()
    lo, hi = 0, len(text)
    if len(text) > CONTEXT_CHARS:
        centre = marks[0][0] if marks else 0
        lo = max(0, centre - CONTEXT_CHARS // 2)
        hi = min(len(text), lo + CONTEXT_CHARS)
    out: list[tuple[str, bool]] = [("…", False)] if lo > 0 else []
    at = lo
    for start, end in marks:
        start, end = max(start, at), min(end, hi)
        if start >= end:
            continue
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < hi:
        out.append((text[at:hi], False))
    if hi < len(text):
        out.append(("…", False))
    return out


def hit(rec: RequestRecord) -> dict[str, Any] | None:
    found = queries.deciding(rec)
    if found is None:
        return None
    side, verdict = found
    text = rec.prompt_text if side == "input" else rec.response_text
    spans = [s for s in verdict.get("spans") or [] if isinstance(s, dict)]
    return {
        "rec": rec,
        "side": side,
        "verdict": verdict,
        "stored_text": text is not None,
        "segments": segments(text, spans) if text is not None else [(str(s.get("text", "")), True) for s in spans],
    }


def active_policy(gateway: Any) -> tuple[Policy, str]:
    """The gateway's guard policy and where it came from; the bundled default when no gateway is attached."""
    serving = getattr(gateway, "policy", None)
    guard = getattr(serving, "guard", None)
    if isinstance(guard, Policy):
        return guard, str(getattr(serving, "source", "the gateway's policy"))
    return default_policy(), "the bundled default policy (no gateway is attached to this dashboard)"


def quality() -> dict[str, Any]:
    """The stored figures: the encoder layer's leave-one-source-out figures (model.json) and the older layers'
    in-source figures (metrics.json), each with what the files say about where and when they were measured."""
    card = encoder_card()
    path = metrics_path()
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    latency = metrics.get("latency") or {}
    return {
        "measured_at": card.get("measured_at"),
        "command": card.get("command"),
        "held_out": card.get("held_out_sources") or card.get("held_out"),
        "loso": card.get("loso") or {},
        "thresholds": card.get("thresholds") or {},
        "metrics_path": str(path),
        "detectors": metrics.get("detectors") or {},
        "eval_set": metrics.get("eval_set") or {},
        "metrics_machine": ", ".join(
            f"{k} {latency[k]}" for k in ("machine", "cores", "python") if latency.get(k) is not None
        ),
    }


@router.get("/guard", response_class=HTMLResponse)
def guard_page(request: Request, _: Admin) -> HTMLResponse:
    ui = ui_context(request)
    policy, source = active_policy(ui.gateway)
    found = queries.guard_hits(ui.ledger)
    hits = [h for rec in found.hits if (h := hit(rec)) is not None]
    return ui.render(
        request,
        "guard.html",
        policy=policy.as_dict(),
        policy_source=source,
        hits=hits,
        complete=found.complete,
        budget=queries.GUARD_SCAN_ROWS,
        counts=counts(ui.ledger),
        quality=quality(),
    )


def counts(ledger: Any) -> list[dict[str, Any]]:
    """Triggered verdicts by side, label and action over the last 24 hours and 7 days (exact, see guard_counts)."""
    table: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for name in COUNT_WINDOWS:
        for c in queries.guard_counts(ledger, parse_window(name)):
            row = table.setdefault((c.side, c.label, c.action), {"side": c.side, "label": c.label, "action": c.action})
            row[name] = c.n
    return sorted(table.values(), key=lambda r: tuple(-r.get(w, 0) for w in reversed(COUNT_WINDOWS)))
