"""Measured quality of the guard: its build-time figures, and a live check of them.

The figures are build-time figures: training/guard/train.py measures them leave-one-source-out and stores them,
with when, on which sources and on which weights and code, in model.json's `encoder` section. The audit's guard
stage (weightwarden.audit.stages.guard) reports them as such, checks that the installed weights and scoring code
are the ones measured (sha256), and scores a small built-in labelled sample (live_sample.yaml) now: it fails when
the sample's scores differ from the ones the build stored, or when the sample's recall or false-positive rate
contradicts the stored figures.
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
SCORING_MODULES = ("decoder.py", "encoder.py", "gate_features.py", "layered.py", "learned.py")


def metrics_path() -> Path:
    return weights_dir() / METRICS_FILE


def weights_sha256() -> str:
    return hashlib.sha256((weights_dir() / LINEAR_FILE).read_bytes()).hexdigest()


def encoder_sha256() -> str:
    return hashlib.sha256((weights_dir() / ENCODER_FILE).read_bytes()).hexdigest()


def scoring_code_sha256(folder: Path | None = None) -> str:
    """sha256 of the syntax trees of the modules that turn the weights into scores (comments, docstrings and layout
    ignored: rewording what the code says about itself does not make the stored figures stale)."""
    import ast

    h = hashlib.sha256()
    here = folder or Path(__file__).resolve().parent
    for name in SCORING_MODULES:
        tree = ast.parse((here / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        h.update(name.encode() + b"\x00" + ast.dump(tree).encode())
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
