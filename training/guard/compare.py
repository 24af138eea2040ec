"""Two guard builds compared on the training texts they share, each text scored out of source by each build.

    PYTHONPATH=src:. python -m training.guard.train ... --scores /tmp/before.npz   # one build
    PYTHONPATH=src:. python -m training.guard.train ... --scores /tmp/after.npz    # the other
    PYTHONPATH=src:. python -m training.guard.compare /tmp/before.npz /tmp/after.npz

A build that adds sources changes the pool its leave-one-source-out figures are read on; read on the texts both
builds trained on (matched by text), with the same benign texts on both sides, the figures compare. AUC and recall at
1% and 2% FPR are computed as the build's own figures are (weightwarden.guard.quality).

Beside each change, a 95% interval for it (`--bootstrap N` resamples, default 1000; 0 leaves it out): whole sources
are drawn with replacement, the same draw scored by both builds, so the interval counts how much a change this size
moves with which sources happen to be in the pool (texts of one source rise and fall together; resampling single
texts would give intervals too narrow to decide on).

Below that, whether a change holds across sources rather than how large it is pooled (`--per-source`, on by
default). Each source is a unit. An attack source's figure is the AUC of its texts against the benign texts of every
other shared source; a benign source's figure is the AUC of every other source's attacks against its texts. Per label
and side, the units' changes (after - before) go to a Wilcoxon signed-rank test (scipy), the usual test for two
classifiers compared over many data sets (Demsar, JMLR 2006). The two sides are not independent: the attack units
share the benign pool, so a change in one benign source moves every attack unit a little (and the other way round).
The last column says whether the gain rests on one source: the pooled AUC change with each source left out in turn,
lowest and highest. Each p is also given adjusted by Holm's method over the comparison's tests (up to six), since a
change with no effect would otherwise show some label falling at p < 0.05 now and then by chance alone.
Under that table, the data card's keep rule: whether clauses 1 and 2 are met, read off these tests (clause 3 is
speed, measured by bench/guard_weights.py on a quiet machine).

Last, the operating point (`--operating-point`, on by default, where the after file carries each text's benign kind):
the curves above read the whole ranking, but the default policy flags from thresholds that keep every benign kind
at most 2% flagged, and a build can rank better and still flag less (the thirteenth session found safe-but-alarming
requests setting harmful's threshold). Each build's flag thresholds are set on the shared texts alone, by
train.py's own rule, with the after build's kinds for both (so a change of kinds does not pass for a change of
model), and each label's recall at its threshold is printed, with the benign kind that sets it.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from training.guard.sources import KINDS, LABELS

from weightwarden.guard.quality import auc, recall_at_fpr

SCORES_KEYS = {"text", "train", "labels", "source", "scores"}  # what train.py --scores writes and this reads


def shared(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Indices, in a and in b, of the texts both builds trained on."""
    where_b = {str(t): i for i, t in enumerate(b["text"]) if b["train"][i]}
    pairs = [(i, where_b[str(t)]) for i, t in enumerate(a["text"]) if a["train"][i] and str(t) in where_b]
    return np.array([i for i, _ in pairs], dtype=int), np.array([j for _, j in pairs], dtype=int)


def figures(scores: np.ndarray, labels: np.ndarray) -> dict[str, tuple[int, float, float, float]]:
    """Per label: positives, AUC, recall at 1% and at 2% FPR against every benign text given."""
    benign = labels == ""
    out = {}
    for h, label in enumerate(LABELS):
        pos = np.array([label in str(x).split(",") for x in labels], dtype=bool)
        p, n = scores[pos, h], scores[benign, h]
        if not len(p) or not len(n):  # nothing to rank for this label
            continue
        out[label] = (int(pos.sum()), auc(p, n), recall_at_fpr(p, n, 0.01), recall_at_fpr(p, n, 0.02))
    return out


def paired_intervals(
    sa: np.ndarray, sb: np.ndarray, labels: np.ndarray, sources: np.ndarray, n: int, seed: int = 20261206
) -> dict[str, list[tuple[float, float]]]:
    """Per label, for AUC and recall at 1% and 2% FPR: the 2.5th and 97.5th percentiles of (after - before) over `n`
    draws of whole sources with replacement. A draw without positives or benign texts of a label skips that label."""
    groups = [np.flatnonzero(sources == s) for s in np.unique(sources)]
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[np.ndarray]] = {}
    for _ in range(n):
        idx = np.concatenate([groups[k] for k in rng.integers(0, len(groups), len(groups))])
        fa, fb = figures(sa[idx], labels[idx]), figures(sb[idx], labels[idx])
        for label in fa.keys() & fb.keys():
            diffs.setdefault(label, []).append(np.subtract(fb[label][1:], fa[label][1:]))
    out = {}
    for label, rows in diffs.items():
        lo, hi = np.percentile(np.array(rows), [2.5, 97.5], axis=0)
        out[label] = [(float(x), float(y)) for x, y in zip(lo, hi, strict=True)]
    return out


def source_units(
    scores: np.ndarray, labels: np.ndarray, sources: np.ndarray, label: str, min_texts: int = 5
) -> dict[str, float]:
    """Per source with at least `min_texts` texts on one side for `label`: "attack:<source>" the AUC of its positives
    against the benign texts of the other sources, "benign:<source>" the AUC of the other sources' positives against
    its benign texts."""
    h = LABELS.index(label)
    pos = np.array([label in str(x).split(",") for x in labels], dtype=bool)
    benign = labels == ""
    out = {}
    for s in np.unique(sources):
        own, other = sources == s, sources != s
        if (pos & own).sum() >= min_texts and (benign & other).any():
            out[f"attack:{s}"] = auc(scores[pos & own, h], scores[benign & other, h])
        if (benign & own).sum() >= min_texts and (pos & other).any():
            out[f"benign:{s}"] = auc(scores[pos & other, h], scores[benign & own, h])
    return out


def per_source_test(
    sa: np.ndarray, sb: np.ndarray, labels: np.ndarray, sources: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per label: for each side ("attack", "benign") how many source units rose, fell, their median change and the
    two-sided p of a Wilcoxon signed-rank test on the changes (1.0 where every change is zero); and "drop_one", the
    lowest and highest pooled AUC change with one source left out."""
    from scipy.stats import wilcoxon

    out: dict[str, dict[str, Any]] = {}
    for label in LABELS:
        ua, ub = source_units(sa, labels, sources, label), source_units(sb, labels, sources, label)
        row: dict[str, Any] = {}
        for side in ("attack", "benign"):
            keys = sorted(k for k in ua.keys() & ub.keys() if k.startswith(side + ":"))
            if not keys:
                continue
            d = np.array([ub[k] - ua[k] for k in keys])
            row[side] = {
                "units": len(keys),
                "rose": int((d > 0).sum()),
                "fell": int((d < 0).sum()),
                "median": float(np.median(d)),
                "p": float(wilcoxon(d).pvalue) if np.count_nonzero(d) else 1.0,
            }
        if not row:
            continue
        drops = []
        for s in np.unique(sources):
            keep = sources != s
            fa, fb = figures(sa[keep], labels[keep]), figures(sb[keep], labels[keep])
            if label in fa and label in fb:
                drops.append(fb[label][1] - fa[label][1])
        row["drop_one"] = (float(min(drops)), float(max(drops))) if drops else None
        out[label] = row
    tests = [(label, side) for label, row in out.items() for side in ("attack", "benign") if side in row]
    for (label, side), adj in zip(tests, holm([out[la][si]["p"] for la, si in tests]), strict=True):
        out[label][side]["p_holm"] = adj
    return out


def operating_point(
    scores: np.ndarray, labels: np.ndarray, kinds: np.ndarray, sources: np.ndarray
) -> dict[str, Any] | None:
    """The default policy's flag thresholds as train.py sets them (at least 1% of the benign texts pooled, then
    raised until the labels together flag at most FLAG_KIND_FPR of every benign kind), read on these texts alone:
    per label the threshold, the recall of its attacks at it and the benign kind that label flags most of; and
    per benign kind the share flagged by any label. None where no benign text has one of the benign kinds."""
    from training.guard import loso
    from training.guard.sources import Item
    from training.guard.train import flag_thresholds

    items = [
        Item("", tuple(str(la).split(",")) if la else (), str(s), str(k), "", "", "", "")
        for la, s, k in zip(labels, sources, kinds, strict=True)
    ]
    benign = labels == ""
    if not np.isin(kinds[benign], KINDS).any():  # no benign kind to cap (train.py's rule needs one)
        return None
    mask = np.ones(len(items), dtype=bool)
    pooled = {la: loso.threshold_at(scores[benign, h], loso.TARGET_FPR) for h, la in enumerate(LABELS)}
    cuts = flag_thresholds(scores, items, mask, pooled)
    kind_rows = {k: benign & (kinds == k) for k in KINDS if (benign & (kinds == k)).any()}
    flagged = np.any([scores[:, h] >= cuts[la] for h, la in enumerate(LABELS)], axis=0)
    out: dict[str, Any] = {"kinds": {k: float(flagged[m].mean()) for k, m in kind_rows.items()}, "labels": {}}
    for h, la in enumerate(LABELS):
        pos = np.array([la in str(x).split(",") for x in labels], dtype=bool)
        by_kind = {k: float((scores[m, h] >= cuts[la]).mean()) for k, m in kind_rows.items()}
        out["labels"][la] = {
            "threshold": cuts[la],
            "recall": float((scores[pos, h] >= cuts[la]).mean()) if pos.any() else float("nan"),
            "kind": max(by_kind, key=lambda k: by_kind[k]) if by_kind else "-",
        }
    return out


def keep_rule(test: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Clauses 1 and 2 of the data card's keep rule, read off per_source_test's result: (1) no label and side falls
    (median change below zero) with a Holm-adjusted p below 0.05; (2) for at least one label the lowest AUC change
    with one source left out is above zero. Clause 3 (speed) needs bench/guard_weights.py and is not read here."""
    falls = [
        (row[side]["p_holm"], label, side)
        for label, row in test.items()
        for side in ("attack", "benign")
        if side in row and row[side]["median"] < 0
    ]
    worst = min(falls) if falls else None
    floors = [(row["drop_one"][0], label) for label, row in test.items() if row.get("drop_one")]
    best = max(floors) if floors else None
    return {
        "clause1": worst is None or worst[0] >= 0.05,
        "worst_fall": worst,
        "clause2": best is not None and best[0] > 0,
        "best_floor": best,
    }


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment of p values tested together (scipy has none; Holm 1979): the k-th smallest is
    multiplied by (m - k + 1), and no adjusted p is below the one before it in that order, nor above 1."""
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for k, i in enumerate(sorted(range(m), key=lambda j: ps[j])):
        running = max(running, min(1.0, (m - k) * ps[i]))
        adjusted[i] = running
    return adjusted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path, help="train.py --scores file of one build")
    ap.add_argument("after", type=Path, help="train.py --scores file of the other")
    ap.add_argument("--bootstrap", type=int, default=1000, help="source resamples for the intervals (0: none)")
    ap.add_argument(
        "--per-source",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the Wilcoxon signed-rank test over sources (see above)",
    )
    ap.add_argument(
        "--operating-point",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="recall at the flag thresholds each build's scores give on the shared texts (see above)",
    )
    args = ap.parse_args(argv)
    try:
        a, b = (dict(np.load(p, allow_pickle=False)) for p in (args.before, args.after))
        for path, d in ((args.before, a), (args.after, b)):
            missing = sorted(SCORES_KEYS - d.keys())
            if missing:
                raise ValueError(f"{path} lacks {', '.join(missing)}")
        ia, ib = shared(a, b)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        print(f"error: cannot read the scores files (written by train.py --scores): {exc}", file=sys.stderr)
        return 2
    if not len(ia):
        print("error: the two builds share no training text", file=sys.stderr)
        return 1
    if not np.array_equal(a["labels"][ia], b["labels"][ib]):
        print("error: the shared texts carry different labels in the two builds", file=sys.stderr)
        return 1
    print(f"{len(ia)} training texts in both builds (before {int(a['train'].sum())}, after {int(b['train'].sum())})")
    fa, fb = figures(a["scores"][ia], a["labels"][ia]), figures(b["scores"][ib], b["labels"][ib])
    print("| label | positives | AUC | recall @1% FPR | recall @2% FPR |\n|---|---|---|---|---|")
    for label in (la for la in LABELS if la in fa):
        (n, *x), (_, *y) = fa[label], fb[label]
        cells = " | ".join(f"{u:.3f} -> {v:.3f}" for u, v in zip(x, y, strict=True))
        print(f"| {label} | {n} | {cells} |")
    if args.bootstrap > 0:
        ci = paired_intervals(a["scores"][ia], b["scores"][ib], a["labels"][ia], a["source"][ia], args.bootstrap)
        print(f"\nafter - before, 95% interval over {args.bootstrap} draws of whole sources:")
        print("| label | AUC | recall @1% FPR | recall @2% FPR |\n|---|---|---|---|")
        for label in (la for la in LABELS if la in ci and la in fa):
            (_, *x), (_, *y) = fa[label], fb[label]
            cells = " | ".join(
                f"{v - u:+.3f} ({lo:+.3f} .. {hi:+.3f})" for u, v, (lo, hi) in zip(x, y, ci[label], strict=True)
            )
            print(f"| {label} | {cells} |")
    if args.per_source:
        test = per_source_test(a["scores"][ia], b["scores"][ib], a["labels"][ia], a["source"][ia])
        print("\nper source (AUC of each source's texts against the other side), Wilcoxon signed-rank over sources:")
        print(
            "| label | side | units | rose | fell | median change | p | p, Holm over these tests "
            "| AUC change, one source left out |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for label, row in test.items():
            drop = row["drop_one"]
            span = f"{drop[0]:+.4f} .. {drop[1]:+.4f}" if drop else "-"
            for side in ("attack", "benign"):
                if side in row:
                    t = row[side]
                    print(
                        f"| {label} | {side} | {t['units']} | {t['rose']} | {t['fell']} | {t['median']:+.4f} "
                        f"| {t['p']:.3g} | {t['p_holm']:.3g} | {span} |"
                    )
        rule = keep_rule(test)
        worst, best = rule["worst_fall"], rule["best_floor"]
        print(
            "\nkeep rule (data card): clause 1 "
            + ("met" if rule["clause1"] else "NOT met")
            + (f" (worst fall: {worst[1]} {worst[2]}, Holm p {worst[0]:.3g})" if worst else " (nothing fell)")
            + "; clause 2 "
            + ("met" if rule["clause2"] else "NOT met")
            + (f" (highest floor of the AUC change, one source left out: {best[1]} {best[0]:+.4f})" if best else "")
            + "; clause 3: bench/guard_weights.py --against the shipped encoder.npz, on a quiet machine"
        )
    if args.operating_point and "kind" in b:
        kinds = b["kind"][ib]  # one set of kinds for both builds: the after build's (the before file needs none)
        pa = operating_point(a["scores"][ia], a["labels"][ia], kinds, a["source"][ia])
        pb = operating_point(b["scores"][ib], b["labels"][ib], kinds, b["source"][ib])
    else:
        pa = pb = None
    if pa is None or pb is None:
        if args.operating_point:
            print("\n(no benign kinds in the shared texts' scores: the operating point is left out)")
    else:
        print(
            "\nat the default policy's flag thresholds, set on the shared texts by train.py's rule"
            " (with the after build's kinds):"
        )
        print("| label | threshold | recall at it | benign kind it flags most |\n|---|---|---|---|")
        for la in LABELS:
            x, y = pa["labels"][la], pb["labels"][la]
            print(
                f"| {la} | {x['threshold']:.4f} -> {y['threshold']:.4f} | {x['recall']:.3f} -> {y['recall']:.3f} "
                f"| {x['kind']} -> {y['kind']} |"
            )
        print("| benign kind | flagged (any label) |\n|---|---|")
        for k in pb["kinds"]:
            print(f"| {k} | {pa['kinds'][k]:.4f} -> {pb['kinds'][k]:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
