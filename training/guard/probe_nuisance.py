"""A probe, before any build: do the heads generalise better across sources when the directions that tell sources
apart within a class are taken out of their inputs?

In each fold, on the training texts' chunk vectors (MiniLM's beside the decoder's, as shipped), every (source,
class) group's mean is centred on its class's mean (class: benign, or a text's labels), one row per group; the top
K right singular vectors of those rows are the directions along which sources of the same class differ (markup,
language, a benchmark's template: the style of a source rather than what its texts ask). The heads are then fitted
(the shipped multiple-instance logistic heads) on the vectors with those K directions projected out, and the left-out
group's chunks are scored through the same projection. A linear head on projected vectors is a linear head on the
original ones (weights P w), so the run time would not change, only the shipped weights. 8 groups of sources, each
left out in turn, every variant on the same folds as the shipped fit (K = 0).

    PYTHONPATH=src:. python -m training.guard.probe_nuisance --wheels /tmp/gsrc7 --cache /tmp/exp/cache.npz \\
        --k 4 --k 8 --k 16 --k 32 --out FILE.json

Pre-registered in the data card (2026-12-08, twenty-second session) before it was run.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from training.guard import loso
from training.guard import probe_common as common
from training.guard.sources import LABELS, Item


def style_directions(xc: np.ndarray, owner: np.ndarray, items: list[Item], fit: np.ndarray, k: int) -> np.ndarray:
    """(dims, k): the top directions of the (source, class) means of the training chunks, each centred on its
    class's mean (each group one row, so a large source counts as much as a small one)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for t in np.flatnonzero(fit):
        it = items[t]
        groups.setdefault((it.source, ",".join(it.labels) or "benign"), []).append(t)
    chunk_of = {t: np.flatnonzero(owner == t) for ts in groups.values() for t in ts}
    means = {g: xc[np.concatenate([chunk_of[t] for t in ts])].mean(axis=0) for g, ts in groups.items()}
    classes = sorted({c for _, c in means})
    rows = []
    for c in classes:
        members = [m for (s, cc), m in means.items() if cc == c]
        if len(members) < 2:
            continue
        centre = np.mean(members, axis=0)
        rows += [m - centre for m in members]
    _, _, vt = np.linalg.svd(np.stack(rows), full_matrices=False)
    return np.asarray(vt[:k].T)


def main() -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--k", type=int, action="append", required=True, help="directions to project out (repeatable)")
    args, say, data = common.begin(
        ap, check=lambda a: "--k takes a number of directions, at least 1" if any(k < 1 for k in a.k) else None
    )
    x, ch, dec, items, train = data.x, data.ch, data.dec, data.items, data.train
    assert dec is not None
    owner = np.repeat(np.arange(len(items)), ch.counts())
    ks = [0, *sorted(set(args.k))]
    scores = {k: np.full((len(items), len(LABELS)), np.nan) for k in ks}
    for g, (fit, left) in enumerate(common.folds(data, args.groups)):
        xs, chs = loso.with_decoder(x, ch, dec, np.repeat(fit, ch.counts()))
        basis = style_directions(chs.x, owner, items, fit, max(ks))
        for k in ks:
            v = basis[:, :k]
            xs_k = xs - (xs @ v) @ v.T if k else xs
            ch_k = loso.Chunked(chs.x - (chs.x @ v) @ v.T, chs.first) if k else chs
            w, b = loso.fit_heads_mil(xs_k, ch_k, items, fit)
            scores[k][left] = ch_k.per_text_max(ch_k.x @ w + b)[left]
        say(f"group {g + 1}/{args.groups}")
        del xs, chs
    result: dict[str, Any] = {
        **common.header("probe_nuisance", args.groups),
        "variants": {f"k={k}": common.metrics(scores[k], items, train) for k in ks},
    }
    common.print_variants(result["variants"], "k=0")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
