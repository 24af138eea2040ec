"""A probe: is an injection's most suspicious chunk off-topic for the rest of its text, and does that help?

Not a build and not the headline. The shipped heads (multiple-instance logistic regression on MiniLM's vectors
beside the decoder's layer 16) are fitted on every group of training sources but one and score the left-out
group's chunks. For a text of two or more chunks, d = 1 - cos(the vector of its chunk with the highest injection
logit, the mean vector of its other chunks), with the static table's vectors (the mean of a chunk's token vectors)
and with MiniLM's; a text of one chunk has d = 0 and a flag. Injection's score becomes a logistic regression on
(logit, d, flag) fitted on half of the groups' out-of-source scores and applied to the other half, and the other
way round; jailbreak and harmful keep the heads' scores. Read on all training sources and on those not written
for the project (pre-registered in the data card, 2026-12-08 04:08 UTC).

    PYTHONPATH=src:. python -m training.guard.probe_coherence --wheels /tmp/gsrc7 --cache /tmp/exp/cache.npz \\
        --static /tmp/static256 --out bench/results/guard_probe_coherence.json

Needs the embedding caches `train.py --decoder 16` fills and the distilled static table (`static.py distill`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import loso, static
from training.guard.probe_common import begin, folds, header, metrics, parser, print_variants, source_aucs
from training.guard.sources import LABELS

from weightwarden.guard.quality import auc


def unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9), dtype=np.float32)


def dissimilarity(vecs: np.ndarray, first: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Per text, 1 - cos(its chunk `pick`, the mean of its other chunks), from unit chunk vectors; 0 for a text of
    one chunk."""
    ends = np.append(first[1:], len(vecs))
    out = np.zeros(len(first), np.float32)
    for i, (s, e) in enumerate(zip(first, ends, strict=True)):
        if e - s < 2 or not s <= pick[i] < e:  # one chunk, or a text no fold scored (held out)
            continue
        rest = np.delete(vecs[s:e], pick[i] - s, axis=0).mean(axis=0)
        out[i] = 1.0 - float(unit(rest) @ vecs[pick[i]])
    return out


def stacked(logit: np.ndarray, d: np.ndarray, flag: np.ndarray, y: np.ndarray, use: np.ndarray, half: np.ndarray):
    """Each half's injection score from a logistic regression on (logit, d, flag) fitted on the other half's
    injection and benign texts (`use`); also the two fits' coefficients."""
    from sklearn.linear_model import LogisticRegression

    feats = np.c_[logit, d, flag]
    out = np.full(len(logit), np.nan)
    coefs = []
    for h in (0, 1):
        fit = use & (half != h)
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(feats[fit], y[fit])
        apply = (half == h) & ~np.isnan(logit)  # the texts some fold scored
        out[apply] = clf.decision_function(feats[apply])
        coefs.append([round(float(c), 4) for c in (*clf.coef_[0], clf.intercept_[0])])
    return out, coefs


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--static", type=Path, required=True, help="the distilled static table's folder (model2vec)")

    def check(args: argparse.Namespace) -> str | None:
        if not (args.static / "model.safetensors").is_file():
            return f"{args.static}: no static table there (static.py distill makes one)"
        return None

    args, say, data = begin(ap, check)
    items, x, ch, dec, train = data.items, data.x, data.ch, data.dec, data.train
    assert dec is not None
    table, tok = static.load_static(args.static)
    ids = static.token_ids(tok, data.flat)
    st = unit(np.stack([table[i].mean(axis=0) for i in ids]))
    mini = unit(ch.x)
    say(f"static vectors of {len(st)} chunks")
    base = np.full((len(items), len(LABELS)), np.nan)
    chunk_inj = np.full(len(ch.x), np.nan, np.float32)
    group = np.full(len(items), -1)
    owner = np.repeat(np.arange(len(items)), ch.counts())
    for g, (fit, left) in enumerate(folds(data, args.groups)):
        xs, chs = loso.with_decoder(x, ch, dec, np.repeat(fit, ch.counts()))
        w, b = loso.fit_heads_mil(xs, chs, items, fit)
        lc = chs.x @ w + b
        base[left] = chs.per_text_max(lc)[left]
        rows = np.isin(owner, np.flatnonzero(left))
        chunk_inj[rows] = lc[rows, 0]
        group[left] = g
        del xs, chs
        say(f"group {g + 1}/{args.groups} ({int(left.sum())} texts)")
    assert not np.isnan(base[train]).any()
    pick = np.zeros(len(items), int)
    pick[train] = ch.argmax_chunk(np.nan_to_num(chunk_inj, nan=-1e9), np.flatnonzero(train))
    flag = (ch.counts() < 2).astype(np.float32)
    y = np.array(["injection" in it.labels for it in items])
    benign = np.array([not it.labels for it in items])
    use = train & (y | benign)
    half = (group >= args.groups // 2).astype(int)
    src = np.array([it.source for it in items])
    outside = train & np.array([not s.startswith("project/") for s in src])
    variants: dict[str, np.ndarray] = {"heads": base}
    result: dict[str, Any] = {**header("probe_coherence", args.groups), "coefficients": {}, "variants": {}}
    d_of = {}
    for name, vecs in (("static d", st), ("MiniLM d", mini)):
        d = dissimilarity(vecs, ch.first, pick)
        d_of[name] = d
        s, coefs = stacked(base[:, 0], d, flag, y, use, half)
        v = base.copy()
        v[:, 0] = s
        variants[name] = v
        result["coefficients"][name] = {"logit, d, flag, intercept (fit on half 1, then half 0)": coefs}
    # the stacking with d = 0 everywhere: what the combination alone does to the ranking
    s0, coefs0 = stacked(base[:, 0], np.zeros(len(items), np.float32), flag, y, use, half)
    v0 = base.copy()
    v0[:, 0] = s0
    variants["logit and flag alone"] = v0
    result["coefficients"]["logit and flag alone"] = coefs0
    for subset, mask in (("all training sources", train), ("sources not written for the project", outside)):
        m = {k: metrics(v, items, mask) for k, v in variants.items()}
        print(f"== {subset}")
        print_variants(m, "heads")
        for k in variants:
            result["variants"].setdefault(k, {})[subset] = m[k]
    multi = train & (flag == 0)
    for name, d in d_of.items():
        pos, neg = multi & y, multi & benign
        result.setdefault("d_alone_on_texts_of_two_or_more_chunks", {})[name] = {
            "auc_injection_vs_benign": round(auc(d[pos], d[neg]), 4),
            "injection_texts": int(pos.sum()),
            "benign_texts": int(neg.sum()),
        }
    print(json.dumps(result["d_alone_on_texts_of_two_or_more_chunks"]), json.dumps(result["coefficients"]))
    aucs = {k: source_aucs(v[:, 0], items, train & y, train & benign) for k, v in variants.items()}
    result["injection_auc_per_source"] = {s: {k: aucs[k][s] for k in variants} for s in aucs["heads"]}
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
