"""Guard quality: the guard's build-time figures with their provenance, and its labelled sample scored now."""

from __future__ import annotations

from typing import Any

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.guard import quality


def _failed(summary: str) -> tuple[Status, str, list[dict[str, Any]], dict[str, Any]]:
    return "fail", summary, [], {}


def guard_quality(guard: Any = None) -> tuple[Status, str, list[dict[str, Any]], dict[str, Any]]:
    """(status, summary, rows, data): the build-time figures, checked against the installed guard and scored live.

    fail: figures or weights missing, installed weights or scoring code not the ones measured, or the live sample
    disagrees; warn: a target missed; ok otherwise. guard: what scores the live sample (default: the shared guard).
    """
    try:
        card = quality.encoder_card()
        current = quality.encoder_sha256()
    except (OSError, ValueError) as exc:
        return _failed(f"guard figures unavailable ({exc}); run training/guard/train.py")
    if not card:
        return _failed("model.json has no encoder figures: run training/guard/train.py")
    problems = []
    if card.get("encoder_sha256") != current:
        problems.append("the installed encoder weights are not the ones measured")
    code = quality.scoring_code_sha256()
    if card.get("code_sha256") != code:
        problems.append("the installed scoring code is not the code measured")
    if guard is None:
        from weightwarden.guard.pipeline import guard_for  # the guard's weights load here, not at import

        guard = guard_for(None)
    live = quality.live_check(card, guard)
    problems += live["problems"]
    rows = []
    missed = []
    for la, m in card.get("loso", {}).items():
        held = card.get("held_out", {}).get(la, {})
        rows.append(
            {
                "detector": la,
                "measured": "build time, leave-one-source-out",
                "auc": m["auc"],
                "recall_at_1pct_fpr": m["recall_at_1pct_fpr"],
                "recall_at_2pct_fpr": m["recall_at_2pct_fpr"],
                "threshold": m["threshold"],
                "recall": m["recall_at_threshold"],
                "fpr": m["fpr_at_threshold"],
                "action": card.get("actions", {}).get(la, ""),
                "blocks_from": m.get("blocks_from"),
                "recall_blocked": m.get("recall_blocked"),
                "fpr_blocked": m.get("fpr_blocked"),
                "held_out_recall": held.get("recall_at_threshold"),
                "positives": m["positives"],
                "negatives": m["negatives"],
            }
        )
        target = quality.LOSO_TARGETS.get(la, 0.95)
        if m["auc"] < target:
            missed.append(f"{la} AUC {m['auc']:.3f} < {target}")
        if m["recall_at_2pct_fpr"] < quality.LOSO_RECALL:
            missed.append(f"{la} recall at 2% FPR {m['recall_at_2pct_fpr']:.3f} < {quality.LOSO_RECALL}")
    provenance = (
        f"build-time figures, measured {card.get('measured_at', '?')} leave-one-source-out over "
        f"{len(card.get('training_sources', []))} sources (held out, scored once: "
        f"{', '.join(card.get('held_out_sources', []))}) on encoder {str(card.get('encoder_sha256', ''))[:12]}"
    )
    parts = [
        f"{r['detector']} AUC {r['auc']:.2f} R@2% {r['recall_at_2pct_fpr']:.2f} ({r['action']}"
        + (f", blocks {r['recall_blocked']:.2f} from {r['blocks_from']:.3f}" if r["blocks_from"] is not None else "")
        + ")"
        for r in rows
    ]
    summary = (
        f"{provenance}: "
        + "; ".join(parts)
        + f"; live sample now: {live['attacks_caught']}/{live['attacks']} attacks caught, "
        f"{live['benign_flagged']}/{live['benign']} benign flagged"
    )
    if problems:
        summary += "; FAILED: " + "; ".join(problems)
    elif missed:
        summary += "; targets missed: " + ", ".join(missed)
    status: Status = "fail" if problems else ("warn" if missed else "ok")
    data = {
        "figures": "build time",
        "measured_at": card.get("measured_at"),
        "command": card.get("command"),
        "training_sources": card.get("training_sources", []),
        "held_out_sources": card.get("held_out_sources", []),
        "encoder_sha256": current,
        "measured_on": card.get("encoder_sha256"),
        "code_sha256": code,
        "measured_code": card.get("code_sha256"),
        "thresholds": card.get("thresholds", {}),
        "actions": card.get("actions", {}),
        "block_above": card.get("block_above", {}),
        "kinds": card.get("loso_kinds", {}),
        "held_out": card.get("held_out", {}),
        "targets_missed": missed,
        "problems": problems,
        "live_check": {k: v for k, v in live.items() if k != "scores"},
    }
    return status, summary, rows, data


class Guard:
    name = "guard"
    title = "Guard quality"
    description = (
        "The guard's build-time detection figures with their provenance, checked against the installed weights and "
        "code, and a built-in labelled sample scored now."
    )

    def __init__(self, guard: Any = None) -> None:
        self.guard = guard  # what scores the live sample; None: the shared default guard

    def run(self, ctx: AuditContext | None = None) -> StageResult:
        status, summary, rows, data = guard_quality(self.guard)
        return StageResult(self.name, self.title, status, summary, rows, data)
