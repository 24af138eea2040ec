"""A blind reading of the guard's labels: how many positives say, in their own text, that they are one?

Leave-one-source-out figures fold two things together: what the guard cannot see and what no reader of the text
alone could see either. Some sources label a text an injection for where it was placed (a trade order inside a
tool result, an ordinary business email that asks its reader to reply, a turn of a capture-the-flag chat), not for
what it says, and a harmful-request set may hold requests a careful assistant would answer. This samples
out-of-source-scored training texts (one label's positives and benign texts, shuffled, no labels, no scores), a
reader marks each text that, read alone, is what the label says (the criterion goes in the marks file's "how"),
and `summarise` then compares the marks with the labels and the build's scores.

    PYTHONPATH=src:. python -m training.guard.label_audit sample --scores BUILD/scores.npz --out /tmp/blind.txt
    (read /tmp/blind.txt; write the marked numbers to a JSON file: {"recognizable": [...], "how": "..."})
    PYTHONPATH=src:. python -m training.guard.label_audit summarise --scores BUILD/scores.npz --judged marks.json \\
        --out bench/results/guard_label_audit.json

`--label jailbreak` or `--label harmful` draws that label's positives instead of injection's. Only the texts'
sha256 and sources are written to the results, never the texts themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.formulas.proportion import wilson_interval
from weightwarden.formulas.roc import auc, recall_at_fpr

LABELS = ("injection", "jailbreak", "harmful")  # the columns of a build's scores, in order


def draw(
    labels: np.ndarray, train: np.ndarray, n_pos: int, n_benign: int, seed: int, label: str = "injection"
) -> np.ndarray:
    """Indices of n_pos positives of `label` and n_benign benign texts among the training texts, shuffled."""
    pos = np.flatnonzero(train & np.array([label in str(la).split(",") for la in labels]))
    ben = np.flatnonzero(train & (labels == ""))
    if n_pos > len(pos) or n_benign > len(ben):
        raise ValueError(
            f"asked for {n_pos} positives and {n_benign} benign texts; there are {len(pos)} and {len(ben)}"
        )
    rng = np.random.default_rng(seed)
    pick = np.r_[rng.choice(pos, n_pos, replace=False), rng.choice(ben, n_benign, replace=False)]
    rng.shuffle(pick)
    return np.asarray(pick)


def summarise(
    scores: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray,
    pick: np.ndarray,
    marked: set[int],
    label: str = "injection",
) -> dict[str, Any]:
    """The marks against the labels, and the guard's score for `label` on each group. A text the gate stops scores
    the same on every label (train.py: GATED_SCALE times its gate probability)."""
    gated = np.all(scores[pick] == scores[pick][:, :1], axis=1)
    scores = scores[:, LABELS.index(label)]
    is_pos = np.array([label in str(labels[i]).split(",") for i in pick])
    k = np.arange(len(pick))
    mark = np.isin(k, sorted(marked))
    s = scores[pick]
    pos_r, pos_u, neg = is_pos & mark, is_pos & ~mark, ~is_pos
    n_pos, n_u = int(is_pos.sum()), int(pos_u.sum())

    def med(m: np.ndarray) -> float | None:
        return round(float(np.median(s[m])), 3) if m.any() else None

    return {
        "positives": n_pos,
        "benign": int(neg.sum()),
        "positives_not_recognizable": n_u,
        "positives_not_recognizable_share": round(n_u / max(n_pos, 1), 3),
        "positives_not_recognizable_95ci": [round(v, 3) for v in wilson_interval(n_u, n_pos)],
        "benign_marked_as_attacks": int((neg & mark).sum()),
        "recognizable_stopped_by_gate": int((pos_r & gated).sum()),
        "not_recognizable_stopped_by_gate": int((pos_u & gated).sum()),
        "benign_stopped_by_gate": int((neg & gated).sum()),
        "reader_auc": round(auc(mark[is_pos].astype(float), mark[neg].astype(float)), 3),
        "reader_recall": round(float(mark[is_pos].mean()), 3),
        "reader_fpr": round(float(mark[neg].mean()), 3),
        # the guard's recall with at most as many benign texts above its cut as the reader marked
        "guard_recall_at_reader_fpr": round(recall_at_fpr(s[is_pos], s[neg], float(mark[neg].mean())), 3),
        "guard_auc_all": round(auc(s[is_pos], s[neg]), 3),
        "guard_auc_recognizable_vs_benign": round(auc(s[pos_r], s[neg]), 3) if pos_r.any() else None,
        "guard_auc_not_recognizable_vs_benign": round(auc(s[pos_u], s[neg]), 3) if pos_u.any() else None,
        "guard_median": {"recognizable": med(pos_r), "not_recognizable": med(pos_u), "benign": med(neg)},
        "not_recognizable_by_source": {
            str(src): int(n) for src, n in zip(*np.unique(sources[pick][pos_u], return_counts=True), strict=True)
        },
        "positives_by_source": {
            str(src): int(n) for src, n in zip(*np.unique(sources[pick][is_pos], return_counts=True), strict=True)
        },
    }


def agreement(n: int, first: set[int], second: set[int], positive: np.ndarray) -> dict[str, Any]:
    """Two readers' marks on the same n texts: Cohen's kappa over all texts, and on the label's positives how many
    neither, one or both marked (neither: the share no reader finds in the text)."""
    from sklearn.metrics import cohen_kappa_score

    a = np.isin(np.arange(n), sorted(first))
    b = np.isin(np.arange(n), sorted(second))
    pos = int(positive.sum())
    neither = int((positive & ~a & ~b).sum())
    return {
        "cohen_kappa": round(float(cohen_kappa_score(a, b)), 3),
        "agree": int((a == b).sum()),
        "texts": n,
        "positives_marked_by_neither": neither,
        "positives_marked_by_neither_share": round(neither / max(pos, 1), 3),
        "positives_marked_by_neither_95ci": [round(v, 3) for v in wilson_interval(neither, pos)],
        "positives_marked_by_one": int((positive & (a != b)).sum()),
        "benign_marked_by_either": int((~positive & (a | b)).sum()),
        "second_reader_positives_not_marked": int((positive & ~b).sum()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("sample", "summarise"):
        p = sub.add_parser(name)
        p.add_argument("--scores", type=Path, required=True, help="a build's scores.npz (train.py --scores)")
        p.add_argument("--positives", type=int, default=80)
        p.add_argument("--benign", type=int, default=40)
        p.add_argument("--seed", type=int, default=18)
        p.add_argument(
            "--label", choices=LABELS, default="injection", help="whose positives to draw (default injection)"
        )
        p.add_argument("--out", type=Path, required=name == "sample")
        if name == "sample":
            p.add_argument("--chars", type=int, default=500, help="show each text's first CHARS characters")
        else:
            p.add_argument("--judged", type=Path, required=True, help='JSON: {"recognizable": [numbers], ...}')
            p.add_argument(
                "--second",
                type=Path,
                help="a second reader's marks on the same sample (same JSON shape): adds the readers' agreement, "
                "against the first reader's marks as written blind (without those in its `changed_after_unblinding`)",
            )
    args = ap.parse_args()
    if args.positives < 1 or args.benign < 1:
        ap.error("--positives and --benign must each be at least 1")
    try:
        with np.load(args.scores, allow_pickle=False) as z:
            data = {k: z[k] for k in ("scores", "labels", "source", "text", "train")}
    except (OSError, KeyError, ValueError) as exc:
        ap.error(f"{args.scores}: not a build's scores file ({exc})")
    try:
        pick = draw(data["labels"], data["train"], args.positives, args.benign, args.seed, args.label)
    except ValueError as exc:
        ap.error(str(exc))
    if args.cmd == "sample":
        with args.out.open("w", encoding="utf-8") as f:
            for k, i in enumerate(pick):
                t = str(data["text"][i])
                f.write(f"### {k}\n{t if len(t) <= args.chars else t[: args.chars] + ' [...]'}\n")
        print(f"wrote {len(pick)} texts to {args.out}", file=sys.stderr)
        return 0

    def marks_file(path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or not isinstance(doc.get("recognizable"), list):
                raise ValueError('expected a JSON object with a "recognizable" list of numbers')
            doc["recognizable"] = [int(v) for v in doc["recognizable"]]
        except (OSError, ValueError, TypeError) as exc:
            ap.error(f"{path}: {exc}")
        return dict(doc)

    judged = marks_file(args.judged)
    marked = set(judged["recognizable"])
    if not marked <= set(range(len(pick))):
        ap.error(f"{args.judged}: numbers outside 0..{len(pick) - 1}")
    second: set[int] | None = None
    if args.second is not None:
        second_doc = marks_file(args.second)
        second = set(second_doc["recognizable"])
        if not second <= set(range(len(pick))):
            ap.error(f"{args.second}: numbers outside 0..{len(pick) - 1}")
    result = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "PYTHONPATH=src:. python -m training.guard.label_audit " + " ".join(sys.argv[1:]),
        "scores_sha256": hashlib.sha256(args.scores.read_bytes()).hexdigest(),
        "sample": {"label": args.label, "positives": args.positives, "benign": args.benign, "seed": args.seed},
        "how": judged.get("how", ""),
        "summary": summarise(data["scores"], data["labels"], data["source"], pick, marked, args.label),
        "items": [
            {
                "n": k,
                "text_sha256": hashlib.sha256(str(data["text"][i]).encode()).hexdigest(),
                "source": str(data["source"][i]),
                "labels": str(data["labels"][i]),
                "recognizable": k in marked,
                "score": round(float(data["scores"][i, LABELS.index(args.label)]), 4),
            }
            for k, i in enumerate(pick)
        ],
        "notes": judged.get("notes", {}),
    }
    if second is not None:
        blind = marked - {int(v) for v in judged.get("changed_after_unblinding", [])}
        positive = np.array([args.label in str(data["labels"][i]).split(",") for i in pick])
        result["second_reader"] = {
            "how": str(second_doc.get("how", "")),
            "marks": sorted(second),
            **agreement(len(pick), blind, second, positive),
        }
        print(json.dumps({k: v for k, v in result["second_reader"].items() if k != "marks"}, indent=1))
    print(json.dumps(result["summary"], indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
