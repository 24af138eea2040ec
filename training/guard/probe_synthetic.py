"""A probe: do the synthetic planted-note twins (training/guard/synthetic.py) help the heads out of source?

Not a build and not the headline. The shipped heads (multiple-instance logistic regression on MiniLM's vectors
beside the decoder's layer 16) are fitted on every group of training sources but one, with and without the first
N twins of project/synthetic-planted added to every fit, and score the left-out group; the synthetic texts are
never scored. A text's score is its best chunk's logit (no gate, static layer or calibration). Figures are read
on all training sources and on those not written for the project (project/planted-instructions and
project/documents share the synthetic set's design, so their figures are not out of source for it).

    PYTHONPATH=src:. python -m training.guard.probe_synthetic --wheels /tmp/gsrc7 --cache /tmp/exp/cache.npz \\
        --pairs 200 --pairs 400 --out bench/results/guard_probe_synthetic.json

Needs the embedding caches `train.py --decoder 16` fills; the synthetic texts' vectors are added to them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.probe_common import begin, folds, header, metrics, parser, print_variants, source_aucs
from training.guard.sources import LABELS
from training.guard.synthetic import SOURCE, planted_items


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument(
        "--pairs", type=int, action="append", metavar="N", help="twins added to every fit (repeatable; default 400)"
    )

    def check(args: argparse.Namespace) -> str | None:
        if any(n < 1 for n in args.pairs or []):
            return "--pairs takes a number of twins, at least 1"
        return None

    args, say, data = begin(ap, check, extra=lambda a: planted_items(max(a.pairs or [400])))
    sizes = sorted(set(args.pairs or [400]))
    items, x, ch, dec = data.items, data.x, data.ch, data.dec
    assert dec is not None
    src = np.array([it.source for it in items])
    synth = src == SOURCE
    order = np.cumsum(synth) - 1  # the twins' order, pair by pair: text k of the set is pair k // 2
    real = data.train & ~synth
    data.train = real  # the folds are groups of the real sources; the synthetic texts join every fit
    names = ["none"] + [f"pairs={n}" for n in sizes]
    scores = {nm: np.full((len(items), len(LABELS)), np.nan) for nm in names}
    for g, (fit, left) in enumerate(folds(data, args.groups)):
        for nm, n in zip(names, [0, *sizes], strict=True):
            fit_v = fit | (synth & (order < 2 * n))
            xs, chs = loso.with_decoder(x, ch, dec, np.repeat(fit_v, ch.counts()))
            w, b = loso.fit_heads_mil(xs, chs, items, fit_v)
            scores[nm][left] = chs.per_text_max(chs.x @ w + b)[left]
            del xs, chs
            say(f"group {g + 1}/{args.groups} ({int(left.sum())} texts), {nm}")
    assert not np.isnan(scores["none"][real]).any()
    outside = real & np.array([not s.startswith("project/") for s in src])
    result: dict[str, Any] = {**header("probe_synthetic", args.groups), "source": SOURCE, "variants": {}}
    for subset, mask in (("all training sources", real), ("sources not written for the project", outside)):
        variants = {nm: metrics(scores[nm], items, mask) for nm in names}
        print(f"== {subset}")
        print_variants(variants, "none")
        for nm in names:
            result["variants"].setdefault(nm, {})[subset] = variants[nm]
    neg = real & np.array([not it.labels for it in items])
    inj = real & np.array(["injection" in it.labels for it in items])
    aucs = {nm: source_aucs(scores[nm][:, 0], items, inj, neg) for nm in names}
    per_source = {s: {nm: aucs[nm][s] for nm in names} for s in aucs["none"]}
    result["injection_auc_per_source"] = per_source
    for nm in names[1:]:
        up = sum(v[nm] > v["none"] for v in per_source.values())
        down = sum(v[nm] < v["none"] for v in per_source.values())
        print(f"{nm}: injection AUC up on {up} sources, down on {down}")
        result["variants"][nm]["injection_sources_up_down"] = [up, down]
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
