"""A probe, not a build: would the hand-written patterns, added to the encoder cascade, rank attacks better?

The default policy runs the cascade alone (`layers: [gate, encoder]`); the older patterns layer (`injection.py`,
`jailbreak.py`, `harmful.py`) is off. This reads a build's leave-one-source-out scores (`train.py --scores`), scores
every text with each label's patterns, and combines the two as the pipeline would if a policy named both layers
(noisy-OR, `layered.combine`). The patterns were written in the project's first week (last changed 2026-12-03) by
people who had read garak's probes and the project's own composed examples (`project/v1`), so on those sources they
are in-source evidence; the figures are printed on every training source and again without those sources (and
without every `project/` source, written later by the same team), where the patterns meet text their authors had
not read. Figures: AUC and recall at 1% and 2% FPR, the cascade alone against cascade plus patterns, the share
of each benign kind the patterns alone score at 0.5 or more, and (JSON only) each attack source's AUC both ways.

    PYTHONPATH=src:. python -m training.guard.probe_patterns /tmp/build21q/scores.npz --out FILE.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from training.guard.probe_common import header, rates

from weightwarden.guard import harmful, injection, jailbreak
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import noisy_or, scan

PATTERNS = {"injection": injection.PATTERNS, "jailbreak": jailbreak.PATTERNS, "harmful": harmful.PATTERNS}


def pattern_scores(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), len(PATTERNS)))
    for i, t in enumerate(texts):
        text = Text(t)
        for j, pats in enumerate(PATTERNS.values()):
            out[i, j] = scan(text, pats).score
    return out


def figures(scores: np.ndarray, labels: np.ndarray, keep: np.ndarray) -> dict[str, dict[str, float]]:
    benign = keep & (labels == "")
    out = {}
    for j, label in enumerate(PATTERNS):
        pos = keep & np.array([label in str(x).split(",") for x in labels])
        out[label] = {
            "attacks": int(pos.sum()),
            "benign": int(benign.sum()),
            **rates(scores[pos, j], scores[benign, j]),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scores", type=Path, help="a build's scores.npz (train.py --scores)")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    try:
        with np.load(args.scores, allow_pickle=False) as z:
            texts = [str(t) for t in z["text"]]
            labels, sources, kinds = z["labels"], z["source"], z["kind"]
            train, enc = z["train"].astype(bool), z["scores"].astype(np.float64)
    except (OSError, KeyError, ValueError) as exc:
        ap.error(f"{args.scores}: not a build's scores file ({exc})")
    pat = pattern_scores(texts)
    enc = np.nan_to_num(enc, nan=0.0)  # the held-out sources' rows (not scored out of source) are never read
    both = np.vectorize(noisy_or)(enc, pat)
    read = np.array([s.startswith("garak") or s == "project/v1" for s in sources])
    written = np.array([s.startswith("project/") for s in sources])
    subsets = {
        "every training source": train,
        "without garak and project/v1 (read by the patterns' authors)": train & ~read,
        "without garak and every project/ source": train & ~read & ~written,
    }
    result: dict[str, Any] = {**header("probe_patterns"), "subsets": {}}
    for name, keep in subsets.items():
        alone, combined = figures(enc, labels, keep), figures(both, labels, keep)
        benign = keep & (labels == "")
        by_kind = {
            str(k): {
                "texts": int((benign & (kinds == k)).sum()),
                **{
                    lab: round(float((pat[benign & (kinds == k), j] >= 0.5).mean()), 4)
                    for j, lab in enumerate(PATTERNS)
                },
            }
            for k in sorted(set(kinds[benign]))
        }
        result["subsets"][name] = {"cascade": alone, "cascade_and_patterns": combined, "patterns_fire_by_kind": by_kind}
        print(f"== {name}")
        for label in PATTERNS:
            a, c = alone[label], combined[label]
            print(
                f"  {label:<10} {a['attacks']:5d} attacks  AUC {a['auc']:.4f} -> {c['auc']:.4f}"
                f"  recall@1% {a['recall_at_1pct_fpr']:.3f} -> {c['recall_at_1pct_fpr']:.3f}"
                f"  recall@2% {a['recall_at_2pct_fpr']:.3f} -> {c['recall_at_2pct_fpr']:.3f}"
            )
        for k, row in by_kind.items():
            print(
                f"  patterns >= 0.5 on benign {k:<14} ({row['texts']:4d}): "
                + ", ".join(f"{lab} {row[lab]:.3f}" for lab in PATTERNS)
            )
    every = subsets["every training source"]
    result["per_source"] = {}
    for source in sorted(set(sources[every])):
        row = {}
        for j, label in enumerate(PATTERNS):
            pos = every & (sources == source) & np.array([label in str(x).split(",") for x in labels])
            if pos.sum() >= 5:
                benign = every & (labels == "")
                row[label] = {
                    "attacks": int(pos.sum()),
                    "auc_cascade": rates(enc[pos, j], enc[benign, j])["auc"],
                    "auc_cascade_and_patterns": rates(both[pos, j], both[benign, j])["auc"],
                    "patterns_fire": round(float((pat[pos, j] >= 0.5).mean()), 4),
                }
        if row:
            result["per_source"][str(source)] = row
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
