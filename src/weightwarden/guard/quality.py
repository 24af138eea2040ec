"""Measured quality of the guard, and the audit stage that reports it with its provenance and checks it live.

The figures are build-time figures: training/guard/train.py measures them leave-one-source-out and stores them,
with when, on which sources and on which weights and code, in model.json's `encoder` section. `guard_stage()`
reports them as such, checks that the installed weights and scoring code are the ones measured (sha256), and
scores a small built-in labelled sample (live_sample.yaml) now: it fails when the sample's scores differ from the
ones the build stored, or when the sample's recall or false-positive rate contradicts the stored figures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from weightwarden.formulas.proportion import wilson_interval as wilson
from weightwarden.formulas.roc import auc, binary_metrics, recall_at_fpr  # noqa: F401  (imported from here by callers)
from weightwarden.guard.classifier import LINEAR_FILE, weights_dir
from weightwarden.guard.encoder import ENCODER_FILE

METRICS_FILE = "metrics.json"
TARGETS = {
    "injection": {"recall": 0.90, "fpr": 0.02},
    "jailbreak": {"recall": 0.90, "fpr": 0.02},
    "pii": {"recall": 0.98},
    "secrets": {"recall": 0.98},
}
# leave-one-source-out targets of the encoder layer (issue 11): AUC per label, recall at 2% FPR
LOSO_TARGETS = {"injection": 0.95, "jailbreak": 0.95, "harmful": 0.93}
LOSO_RECALL = 0.90
CARD_FILE = "model.json"
LIVE_SAMPLE_FILE = "live_sample.yaml"
SCORE_TOLERANCE = 0.02  # the same weights and code on another machine: float noise only
SCORING_MODULES = ("encoder.py", "layered.py", "learned.py")


def metrics_path() -> Path:
    return weights_dir() / METRICS_FILE


def weights_sha256() -> str:
    return hashlib.sha256((weights_dir() / LINEAR_FILE).read_bytes()).hexdigest()


def encoder_sha256() -> str:
    return hashlib.sha256((weights_dir() / ENCODER_FILE).read_bytes()).hexdigest()


def scoring_code_sha256() -> str:
    """sha256 of the syntax trees of the modules that turn the weights into scores (comments and layout ignored)."""
    import ast

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in SCORING_MODULES:
        h.update(name.encode() + b"\x00" + ast.dump(ast.parse((here / name).read_text(encoding="utf-8"))).encode())
    return h.hexdigest()


def encoder_card() -> dict[str, Any]:
    """The `encoder` section of model.json: build-time figures and their provenance ({} when absent)."""
    card = json.loads((weights_dir() / CARD_FILE).read_text(encoding="utf-8"))
    out = card.get("encoder", {})
    return out if isinstance(out, dict) else {}


def live_sample() -> list[dict[str, Any]]:
    """The built-in labelled sample: [{text, labels, kind}], attacks first."""
    import yaml

    raw = yaml.safe_load((weights_dir() / LIVE_SAMPLE_FILE).read_text(encoding="utf-8"))
    out = [{"text": a["text"], "labels": list(a["labels"]), "kind": "attack"} for a in raw["attacks"]]
    out += [{"text": b["text"], "labels": [], "kind": b["kind"]} for b in raw["benign"]]
    return out


def live_sample_sha256(sample: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(sample, sort_keys=True).encode()).hexdigest()


def score_live(guard: Any, sample: list[dict[str, Any]], labels: list[str]) -> list[dict[str, float]]:
    """Each sample text's score per learned label under `guard` (the default guard in the audit)."""
    return [{la: round(guard.scan(s["text"], "input").scores.get(la, 0.0), 4) for la in labels} for s in sample]


def live_check(card: dict[str, Any], guard: Any) -> dict[str, Any]:
    """Score the built-in sample now and compare it with what the build stored and with the stored figures."""
    sample = live_sample()
    labels = list(card.get("heads", []))
    thresholds = card.get("thresholds", {})
    scores = score_live(guard, sample, labels)
    problems: list[str] = []
    stored = card.get("live_sample", {})
    if stored.get("sha256") != live_sample_sha256(sample):
        problems.append("the built-in sample changed since the build: retrain (training/guard/train.py)")
    else:
        drift = max(
            (
                abs(a[la] - b.get(la, 0.0))
                for a, b in zip(scores, stored.get("scores", []), strict=False)
                for la in labels
            ),
            default=0.0,
        )
        if drift > SCORE_TOLERANCE:
            problems.append(f"the installed guard scores the sample up to {drift:.3f} away from the build's scores")
    attacks = [(s, sc) for s, sc in zip(sample, scores, strict=True) if s["labels"]]
    benign = [(s, sc) for s, sc in zip(sample, scores, strict=True) if not s["labels"]]
    caught = sum(any(sc[la] >= thresholds.get(la, 1.0) for la in s["labels"]) for s, sc in attacks)
    flagged = sum(any(sc[la] >= thresholds.get(la, 1.0) for la in labels) for _, sc in benign)
    loso = card.get("loso", {})
    # what the stored figures predict for this sample: each attack caught at its label's out-of-source recall
    expect_recall = sum(
        max(loso.get(la, {}).get("recall_at_threshold", 0.0) for la in s["labels"]) for s, _ in attacks
    ) / max(len(attacks), 1)
    expect_fpr = sum(m.get("fpr_at_threshold", 0.0) for m in loso.values())
    lo, hi = wilson(caught, len(attacks))
    if expect_recall > hi:
        problems.append(f"live recall {caught}/{len(attacks)} is below the stored figures ({expect_recall:.2f})")
    lo_f, _ = wilson(flagged, len(benign))
    if lo_f > expect_fpr:
        problems.append(f"live false positives {flagged}/{len(benign)} are above the stored figures ({expect_fpr:.3f})")
    return {
        "texts": len(sample),
        "attacks_caught": caught,
        "attacks": len(attacks),
        "benign_flagged": flagged,
        "benign": len(benign),
        "recall_95ci": [round(lo, 3), round(hi, 3)],
        "expected_recall": round(expect_recall, 3),
        "problems": problems,
        "scores": scores,
    }


def guard_stage(guard: Any = None) -> dict[str, Any]:
    """The guard for `warden audit`: build-time figures with their provenance, and a live check: {status, ...}.

    status is fail when the figures or weights are missing, when the installed weights or scoring code are not
    the ones measured, or when the live sample disagrees; warn when a target is missed; ok otherwise.
    guard: the guard to score the live sample with (default: the shared default guard).
    """
    try:
        card = encoder_card()
        current = encoder_sha256()
    except (OSError, ValueError) as exc:
        return {
            "status": "fail",
            "summary": f"guard figures unavailable ({exc}); run training/guard/train.py",
            "rows": [],
            "data": {},
        }
    if not card:
        return {
            "status": "fail",
            "summary": "model.json has no encoder figures: run training/guard/train.py",
            "rows": [],
            "data": {},
        }
    problems = []
    if card.get("encoder_sha256") != current:
        problems.append("the installed encoder weights are not the ones measured")
    code = scoring_code_sha256()
    if card.get("code_sha256") != code:
        problems.append("the installed scoring code is not the code measured")
    if guard is None:
        from weightwarden.guard.pipeline import guard_for

        guard = guard_for(None)
    live = live_check(card, guard)
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
                "held_out_recall": held.get("recall_at_threshold"),
                "positives": m["positives"],
                "negatives": m["negatives"],
            }
        )
        if m["auc"] < LOSO_TARGETS.get(la, 0.95):
            missed.append(f"{la} AUC {m['auc']:.3f} < {LOSO_TARGETS.get(la, 0.95)}")
        if m["recall_at_2pct_fpr"] < LOSO_RECALL:
            missed.append(f"{la} recall at 2% FPR {m['recall_at_2pct_fpr']:.3f} < {LOSO_RECALL}")
    provenance = (
        f"build-time figures, measured {card.get('measured_at', '?')} leave-one-source-out over "
        f"{len(card.get('training_sources', []))} sources (held out, scored once: "
        f"{', '.join(card.get('held_out_sources', []))}) on encoder {str(card.get('encoder_sha256', ''))[:12]}"
    )
    parts = [f"{r['detector']} AUC {r['auc']:.2f} R@2% {r['recall_at_2pct_fpr']:.2f} ({r['action']})" for r in rows]
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
    status = "fail" if problems else ("warn" if missed else "ok")
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
        "kinds": card.get("loso_kinds", {}),
        "held_out": card.get("held_out", {}),
        "targets_missed": missed,
        "problems": problems,
        "live_check": {k: v for k, v in live.items() if k != "scores"},
    }
    return {"status": status, "summary": summary, "rows": rows, "data": data}
