"""A probe, before any build: one injection head, or several, each for one kind of injection, the score their max?

"Injection" covers attacks that share little: orders to drop the instructions, questions that draw out a hidden
configuration, HTML and e-mails with a planted goal, multilingual wrappers. One linear head draws one boundary
around all of them. Here, in each fold, the injection texts' positive chunks (the multiple-instance rows the shipped
fit trains on) are split into C clusters by k-means on their vectors, one logistic head per cluster is fitted against
every benign chunk (same sample weights, each cluster's positives re-balanced against the benign weight), and a
chunk's injection logit is the largest of the C heads'. Jailbreak and harmful keep the shipped fit. C = 2, 3, 4, 6
against the shipped single head (C = 1), 8 groups of sources left out in turn, the same folds for all.

    PYTHONPATH=src:. python -m training.guard.probe_subheads --wheels /tmp/gsrc7 --cache /tmp/exp/cache.npz \\
        --clusters 2 --clusters 3 --clusters 4 --clusters 6 --out FILE.json

Pre-registered in the data card (2026-12-08, twenty-second session) before it was run.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from training.guard import loso
from training.guard import probe_common as common
from training.guard.sources import LABELS


def cluster_heads(
    xc: np.ndarray, rows: np.ndarray, y: np.ndarray, sw: np.ndarray, clusters: int, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """(dims, clusters) weights and (clusters,) biases: one logistic head per k-means cluster of the positives."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    pos, neg = rows[y == 1], rows[y == 0]
    pw, nw = sw[y == 1], sw[y == 0]
    km = KMeans(n_clusters=clusters, n_init=4, random_state=0).fit(xc[pos])
    ws, bs = [], []
    for k in range(clusters):
        mine = km.labels_ == k
        wk = pw[mine] * nw.sum() / max(pw[mine].sum(), 1e-9)
        clf = LogisticRegression(C=c, max_iter=2000)
        sample = np.r_[wk, nw]
        clf.fit(
            xc[np.r_[pos[mine], neg]],
            np.r_[np.ones(mine.sum(), int), np.zeros(len(neg), int)],
            sample_weight=sample / sample.mean(),
        )
        ws.append(clf.coef_[0])
        bs.append(clf.intercept_[0])
    return np.stack(ws, axis=1).astype(np.float32), np.array(bs, np.float32)


def main() -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--clusters", type=int, action="append", required=True, help="injection heads (repeatable)")
    args, say, data = common.begin(
        ap,
        check=lambda a: (
            "--clusters takes a number of heads, at least 2 (1 is the shipped fit, always run)"
            if any(c < 2 for c in a.clusters)
            else None
        ),
    )
    x, ch, dec, items, train = data.x, data.ch, data.dec, data.items, data.train
    assert dec is not None
    cs = [1, *sorted(set(args.clusters))]
    scores = {c: np.full((len(items), len(LABELS)), np.nan) for c in cs}
    inj = LABELS.index("injection")
    for g, (fit, left) in enumerate(common.folds(data, args.groups)):
        xs, chs = loso.with_decoder(x, ch, dec, np.repeat(fit, ch.counts()))
        w, b = loso.fit_heads_mil(xs, chs, items, fit)
        shipped = chs.x @ w + b
        _, _, rows = loso.mil_rows(xs, chs, items, fit)
        r, y, sw = rows[inj]
        for c in cs:
            logits = shipped.copy()
            if c > 1:
                wc, bc = cluster_heads(chs.x, r, y, sw, c, loso.HEAD_C)
                logits[:, inj] = (chs.x @ wc + bc).max(axis=1)
            scores[c][left] = chs.per_text_max(logits)[left]
        say(f"group {g + 1}/{args.groups}")
        del xs, chs
    result: dict[str, Any] = {
        **common.header("probe_subheads", args.groups),
        "variants": {f"C={c}": common.metrics(scores[c], items, train) for c in cs},
    }
    common.print_variants(result["variants"], "C=1", labels=("injection",))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
