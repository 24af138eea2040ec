"""A quick probe of the heads' fit, out of source, before any build: regularisation and how sources are weighted.

Not a build and not the headline: the heads (multiple-instance logistic regression on MiniLM's vectors beside the
decoder's, as shipped) are trained without one group of sources and score that group's chunks, for a few groups
of sources instead of every source alone (so it takes minutes, not the build's eleven); a text's score is its best
chunk's logit, with no gate, static layer or calibration. Each variant is read against the shipped fit (C=0.3,
weight n**-0.5 per text of a source's class of n texts) on the same folds, so the comparison is paired; the build
(`train.py`) is what judges a variant afterwards, by the data card's keep rule.

    PYTHONPATH=src:. python -m training.guard.probe_heads --wheels /tmp/gsrc --cache /tmp/exp/cache.npz \\
        --variant 0.3:0.5 --variant 0.1:0.5 --variant 0.3:1
    PYTHONPATH=src:. python -m training.guard.probe_heads --wheels /tmp/gsrc --cache /tmp/exp/cache.npz \\
        --mlp 64 --mlp 256

--mlp H reads a one-hidden-layer network (H ReLU units) per label in place of the logistic head, trained on the same
rows and sample weights as the shipped multiple-instance fit in that fold (loso.mil_rows), each dimension
standardised on the fold's training chunks (loso.fit_heads_model; pre-registered in the data card, 2026-12-07
17:15 UTC).

--decoder-scale S reads the shipped fit with the decoder's standardised vectors multiplied by S beside MiniLM's unit
vectors (the shipped 0.15 was chosen among 0.05, 0.15 and 0.4 on 64-token texts in the fifteenth session).

--score-only S1,S2 leaves the named training sources out of every fit (the shipped fit otherwise) while still
scoring their texts when their group is left out, and also reads the figures on the other sources (repeatable, one
variant per list; pre-registered in the data card, 2026-12-08 04:17 UTC).

Needs the embedding caches `train.py --decoder 16` fills (MiniLM's and the decoder's, by text).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.probe_common import begin, folds, header, metrics, parser
from training.guard.sources import LABELS

from weightwarden.guard.quality import auc


def variant(spec: str) -> tuple[float, float]:
    try:
        c, power = (float(v) for v in spec.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected C:POWER, e.g. 0.3:0.5") from None
    if c <= 0 or not 0 <= power <= 1:
        raise argparse.ArgumentTypeError(f"{spec!r}: C must be positive and POWER within 0..1")
    return c, power


def name(v: Any) -> str:
    if v[0] == "mlp":
        return f"mlp hidden={v[1]}"
    if v[0] == "scale":
        return f"decoder scale={v[1]}"
    if v[0] == "score_only":
        return f"score only {'+'.join(v[1])}"
    return f"C={v[0]} power={v[1]}"


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--decoder", type=int, default=16, metavar="LAYERS", help="the decoder's layers (0: MiniLM alone)")
    ap.add_argument(
        "--variant",
        type=variant,
        action="append",
        metavar="C:POWER",
        help="a head fit to try: logistic regression's C and the source-weight power (repeatable; the shipped "
        f"{loso.HEAD_C}:{loso.HEAD_POWER} is always run first)",
    )
    ap.add_argument(
        "--mlp",
        type=int,
        action="append",
        metavar="HIDDEN",
        help="also a one-hidden-layer network with this many units per label (repeatable)",
    )
    ap.add_argument(
        "--decoder-scale",
        type=float,
        action="append",
        metavar="S",
        help=f"also the shipped fit with the decoder's standardised vectors multiplied by S instead of "
        f"{loso.DECODER_SCALE} (repeatable)",
    )
    ap.add_argument(
        "--score-only",
        type=lambda v: tuple(sorted(s.strip() for s in v.split(",") if s.strip())),
        action="append",
        metavar="S1,S2",
        help="also the shipped fit with these training sources left out of every fit, still scored (repeatable)",
    )

    def check(args: argparse.Namespace) -> str | None:
        if any(not v for v in args.score_only or []):
            return "--score-only takes source names, comma-separated"
        if args.decoder < 0:
            return "--decoder takes a number of layers (0: MiniLM alone)"
        if any(not (math.isfinite(s) and s > 0) for s in args.decoder_scale or []):
            return "--decoder-scale must be a number above 0"
        if args.decoder_scale and not args.decoder:
            return "--decoder-scale needs the decoder (--decoder above 0)"
        if any(h < 1 for h in args.mlp or []):
            return "--mlp takes a number of hidden units, at least 1"
        return None

    args, say, data = begin(ap, check)
    shipped = (loso.HEAD_C, loso.HEAD_POWER)
    variants: list[Any] = [shipped] + [v for v in (args.variant or []) if v != shipped]
    variants += [("mlp", h) for h in args.mlp or []]
    variants += [("scale", sc) for sc in args.decoder_scale or [] if sc != loso.DECODER_SCALE]
    variants += [("score_only", v) for v in args.score_only or []]
    x, ch, dec, items, train = data.x, data.ch, data.dec, data.items, data.train
    src = np.array([it.source for it in items])
    unknown = {s for v in args.score_only or [] for s in v} - set(src[train])
    if unknown:
        ap.error(f"--score-only: not training sources: {', '.join(sorted(unknown))}")
    scores = {v: np.full((len(items), len(LABELS)), np.nan) for v in variants}
    for g, (fit, left) in enumerate(folds(data, args.groups)):
        xs, chs = loso.with_decoder(x, ch, dec, np.repeat(fit, ch.counts())) if dec is not None else (x, ch)
        for v in variants:
            if v[0] == "scale":
                assert dec is not None
                xv, cv = loso.with_decoder(x, ch, dec, np.repeat(fit, ch.counts()), scale=v[1])
                w, b = loso.fit_heads_mil(xv, cv, items, fit)
                lc = cv.x @ w + b
                del xv, cv
            elif v[0] == "score_only":
                fit_v = fit & ~np.isin(src, v[1])
                xv, cv = loso.with_decoder(x, ch, dec, np.repeat(fit_v, ch.counts())) if dec is not None else (x, ch)
                w, b = loso.fit_heads_mil(xv, cv, items, fit_v)
                lc = cv.x @ w + b
                del xv, cv
            elif v[0] == "mlp":
                lc = loso.fit_heads_model(xs, chs, items, fit, hidden=v[1], hidden_labels=LABELS).logits(chs.x)
            else:
                w, b = loso.fit_heads_mil(xs, chs, items, fit, c=v[0], power=v[1])
                lc = chs.x @ w + b
            per_text = chs.per_text_max(lc)
            scores[v][left] = per_text[left]
            say(f"group {g + 1}/{args.groups} ({int(left.sum())} texts), {name(v)}")
        del xs, chs
    assert not np.isnan(scores[shipped][train]).any()
    result: dict[str, Any] = {**header("probe_heads", args.groups), "variants": {}}
    base = metrics(scores[shipped], items, train)
    for v in variants:
        m = metrics(scores[v], items, train)
        # per source, is this variant's AUC above the shipped fit's (sources with both classes of a label)?
        wins = {}
        for h, label in enumerate(LABELS):
            up = down = 0
            for s in sorted(set(src[train])):
                sm = train & (src == s)
                pos = sm & np.array([label in it.labels for it in items])
                if not pos.any():
                    continue
                neg = train & np.array([not it.labels for it in items])
                a = auc(scores[v][pos, h], scores[v][neg, h]) - auc(scores[shipped][pos, h], scores[shipped][neg, h])
                up += a > 0
                down += a < 0
            wins[label] = {"sources_up": up, "sources_down": down}
        result["variants"][name(v)] = {"metrics": m, "attack_sources_vs_shipped": wins}
        if v[0] == "score_only":
            others = train & ~np.isin(src, v[1])
            result["variants"][name(v)]["metrics_on_other_sources"] = {
                "shipped fit": metrics(scores[shipped], items, others),
                "this variant": metrics(scores[v], items, others),
            }
        print(f"{name(v):<18}", end="")
        for label in LABELS:
            d = m[label]["auc"] - base[label]["auc"]
            print(
                f"  {label} {m[label]['auc']:.4f} ({d:+.4f}) r2 {m[label]['recall_at_2pct_fpr']:.3f}"
                f" [{wins[label]['sources_up']}/{wins[label]['sources_down']}]",
                end="",
            )
        print()
        if v[0] == "score_only":
            on = result["variants"][name(v)]["metrics_on_other_sources"]
            print("  on the other sources:", end="")
            for label in LABELS:
                a, b = on["shipped fit"][label], on["this variant"][label]
                print(
                    f"  {label} {a['auc']:.4f} -> {b['auc']:.4f} ({b['auc'] - a['auc']:+.4f}) r1 "
                    f"{a['recall_at_1pct_fpr']:.3f} -> {b['recall_at_1pct_fpr']:.3f} r2 {a['recall_at_2pct_fpr']:.3f}"
                    f" -> {b['recall_at_2pct_fpr']:.3f}",
                    end="",
                )
            print()
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
