"""Contamination checks measured: recall and precision of the exact tests on planted items, throughput and memory on a
large corpus, and the AUROC of Min-K%++ on items the default model was trained on against items it was not.

Run: .venv/bin/python bench/contamination.py [--items 300] [--scale-mb 200] [--members 60] [--epochs 3] [--out F]

Text: paragraphs of Python standard-library docstrings (human-written, read from this machine's Python at run time,
never copied into the repository). Modules are split in two: one side gives the benchmark items, the other the
background corpus, so the only overlaps are the planted ones (items that overlap the clean background anyway are
dropped first and counted).

1. Exact tests. A share of the items is planted in the corpus verbatim (with case, punctuation and spacing changed),
   a share lightly reworded (about one word in ten deleted, swapped or replaced), the rest not at all. Recall is over
   planted items, precision over items called contaminated (or contaminated-or-partial).
2. Scale. The background is repeated with shuffled documents to --scale-mb and streamed through the test: MB/s and
   the peak resident memory, against the memory before the scan.
3. Membership. --members items are "seen": the default model (transformers runtime on the default GGUF, float32)
   is trained on them for --epochs epochs (AdamW, --lr, batch 4); as many others are "unseen". The AUROC of Min-K%++,
   Min-K% and mean log-likelihood (seen against unseen) is measured before training (the no-signal baseline) and after
   each epoch.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import resource
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from weightwarden.provenance import BenchItem, Block, auroc, exact_overlap
from weightwarden.provenance.exact import CHARS, NGRAM, BenchIndex
from weightwarden.provenance.minkprob import membership_from_stats
from weightwarden.provenance.ngrams import char_values, window_hashes, word_values
from weightwarden.runtimes import resolve
from weightwarden.runtimes.distribution import token_stats

SKIP = {"test", "tests", "idlelib", "lib2to3", "site-packages", "turtledemo", "ensurepip", "pydoc_data"}
# small substitutions for light rewording, written for this bench
SWAPS = {
    "the": "this",
    "a": "one",
    "is": "was",
    "are": "were",
    "and": "plus",
    "of": "for",
    "to": "into",
    "returns": "gives",
    "return": "give",
    "if": "when",
    "not": "never",
    "can": "may",
    "will": "shall",
    "be": "get",
    "this": "that",
    "in": "within",
    "with": "using",
    "for": "to",
    "an": "one",
    "it": "this",
}


def paragraphs() -> dict[str, list[str]]:
    """Prose paragraphs (30 to 150 words) of standard-library docstrings, by module."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in SKIP for part in rel.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            doc = ast.get_docstring(node)
            for para in (doc or "").split("\n\n"):
                text = " ".join(para.split())
                words = text.split()
                letters = sum(c.isalpha() for c in text)
                if 30 <= len(words) <= 150 and ">>>" not in text and letters > 0.75 * len(text):
                    out.setdefault(str(rel), []).append(text)
    return out


def reword(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """About one word in ten deleted, swapped with its neighbour or replaced; case and punctuation kept."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if rng.random() < rate:
            op = rng.choice(("delete", "swap", "replace"))
            if op == "delete":
                i += 1
                continue
            if op == "swap" and i + 1 < len(words):
                out += [words[i + 1], w]
                i += 2
                continue
            out.append(SWAPS.get(w.lower(), w + "s"))
        else:
            out.append(w)
        i += 1
    return " ".join(out)


def disguise(text: str, rng: random.Random) -> str:
    """The same words, with case, punctuation and line breaks changed: still a verbatim copy to the tests."""
    words = text.split()
    return "\n".join(
        " ".join(w.upper() if rng.random() < 0.1 else w.strip(",;") for w in words[i : i + 12])
        for i in range(0, len(words), 12)
    )


def independent(texts: list[str]) -> list[str]:
    """The texts that share no 13-word or 50-letter window with another: a planted copy of one must not match two."""
    keys = [
        set(window_hashes(word_values(t), NGRAM).tolist()) | set(window_hashes(char_values(t), CHARS).tolist())
        for t in texts
    ]
    counts: dict[int, int] = {}
    for k in keys:
        for h in k:
            counts[h] = counts.get(h, 0) + 1
    return [t for t, k in zip(texts, keys, strict=True) if all(counts[h] == 1 for h in k)]


def blocks(docs: list[str]) -> list[Block]:
    return [Block(f"doc{i}", d, True) for i, d in enumerate(docs)]


def exact_experiment(args: argparse.Namespace, by_module: dict[str, list[str]]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    modules = sorted(by_module)
    rng.shuffle(modules)
    bench_modules = set(modules[: len(modules) // 3])
    pool = sorted({p for m in bench_modules for p in by_module[m]})
    background = [p for m in modules if m not in bench_modules for p in by_module[m]]
    # documents of a few paragraphs each, like files of a real corpus
    docs = [" \n\n".join(background[i : i + 5]) for i in range(0, len(background), 5)]
    unique = independent(pool)
    chosen = rng.sample(unique, min(len(unique), args.items * 2))
    candidates = [BenchItem(f"item{i}", t) for i, t in enumerate(chosen)]
    natural = {r.id for r in exact_overlap(candidates, blocks(docs)) if r.verdict != "clean"}
    items = [c for c in candidates if c.id not in natural][: args.items]
    n_plant = round(args.plant * len(items))
    verbatim, reworded = items[:n_plant], items[n_plant : 2 * n_plant]
    planted_docs = list(docs)
    for item in verbatim:
        planted_docs.insert(rng.randrange(len(planted_docs) + 1), disguise(item.text, rng))
    for item in reworded:
        planted_docs.insert(rng.randrange(len(planted_docs) + 1), reword(item.text, rng))
    t0 = time.perf_counter()
    results = {r.id: r for r in exact_overlap(items, blocks(planted_docs))}
    seconds = time.perf_counter() - t0
    chars = sum(len(d) for d in planted_docs)
    truth = {i.id: "verbatim" for i in verbatim} | {i.id: "reworded" for i in reworded}

    def scores(positive: tuple[str, ...]) -> dict[str, float]:
        called = {k for k, r in results.items() if r.verdict in positive}
        tp = len(called & set(truth))
        return {
            "recall_verbatim": sum(results[i.id].verdict in positive for i in verbatim) / max(1, len(verbatim)),
            "recall_reworded": sum(results[i.id].verdict in positive for i in reworded) / max(1, len(reworded)),
            "recall": tp / max(1, len(truth)),
            "precision": tp / max(1, len(called)),
            "false_positives": len(called - set(truth)),
        }

    reworded_cov = [max(results[i.id].word_coverage, results[i.id].char_coverage) for i in reworded]
    return {
        "items": len(items),
        "pool": len(pool),
        "dropped_as_overlapping_each_other": len(pool) - len(unique),
        "dropped_as_naturally_overlapping": len(natural),
        "planted_verbatim": len(verbatim),
        "planted_reworded": len(reworded),
        "unplanted": len(items) - len(truth),
        "corpus_mb": round(chars / 1e6, 2),
        "corpus_documents": len(planted_docs),
        "seconds": round(seconds, 2),
        "contaminated": scores(("contaminated",)),
        "contaminated_or_partial": scores(("contaminated", "partial")),
        "reworded_coverage_median": float(np.median(reworded_cov)) if reworded_cov else None,
        "verdicts": {v: sum(r.verdict == v for r in results.values()) for v in ("contaminated", "partial", "clean")},
    }


def scale_experiment(args: argparse.Namespace, by_module: dict[str, list[str]]) -> dict[str, Any]:
    """Stream a corpus of --scale-mb megabytes (documents made on the fly) past a benchmark index."""
    rng = random.Random(args.seed + 1)
    every = [p for m in sorted(by_module) for p in by_module[m]]
    items = [BenchItem(f"s{i}", t) for i, t in enumerate(rng.sample(every, min(len(every), args.items)))]
    index = BenchIndex(items)
    target = int(args.scale_mb * 1e6)

    def stream() -> Any:
        made = 0
        while made < target:
            doc = " \n\n".join(rng.sample(every, 20))
            made += len(doc)
            for start in range(0, len(doc), 1 << 20):
                yield Block(f"d{made}", doc[start : start + (1 << 20)], start == 0)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    index.scan(stream())
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "corpus_mb": args.scale_mb,
        "bench_items": len(items),
        "seconds": round(seconds, 1),
        "mb_per_s": round(args.scale_mb / seconds, 2),
        "peak_rss_mb_before": round(before),
        "peak_rss_mb_after": round(after),
    }


def membership_experiment(args: argparse.Namespace, by_module: dict[str, list[str]]) -> dict[str, Any]:
    import torch

    from weightwarden.runtimes.hf import TransformersRuntime

    rng = random.Random(args.seed + 2)
    every = sorted({p for m in by_module for p in by_module[m]})
    chosen = rng.sample(every, 2 * args.members)
    seen, unseen = chosen[: args.members], chosen[args.members :]
    artifact = resolve("default")
    assert artifact.path is not None
    t0 = time.perf_counter()
    rt = TransformersRuntime(artifact.path, threads=args.threads)
    load = time.perf_counter() - t0

    def score() -> dict[str, float]:
        stats = {
            name: [token_stats(rt, t, args.max_tokens) for t in texts] for name, texts in (("s", seen), ("u", unseen))
        }
        mk = {name: [membership_from_stats(x, args.k) for x in xs] for name, xs in stats.items()}
        return {
            "min_k_pp": auroc([m.min_k_pp for m in mk["s"]], [m.min_k_pp for m in mk["u"]]),
            "min_k": auroc([m.min_k for m in mk["s"]], [m.min_k for m in mk["u"]]),
            "loglikelihood": auroc(
                [float(np.mean(x.logprob)) for x in stats["s"]], [float(np.mean(x.logprob)) for x in stats["u"]]
            ),
        }

    t0 = time.perf_counter()
    before = score()
    print(f"before training: {before}", file=sys.stderr)
    model = rt.model
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr)
    batches = 0
    losses: list[float] = []
    curve: list[dict[str, float]] = []
    scoring = 0.0
    batches_per_epoch = (len(seen) + 3) // 4
    train_start = time.perf_counter()
    for epoch in range(args.epochs):
        order = list(range(len(seen)))
        rng.shuffle(order)
        for start in range(0, len(order), 4):
            ids = [rt.context_ids("") + rt.tokenize(seen[j])[: args.max_tokens] for j in order[start : start + 4]]
            width = max(len(x) for x in ids)
            pad = rt.eos_id
            input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
            labels = input_ids.masked_fill(mask == 0, -100)
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
            batches += 1
            losses.append(float(loss.detach()))
        model.eval()
        t1 = time.perf_counter()
        curve.append({"epoch": epoch + 1, "steps": batches, "loss": float(np.mean(losses[-batches_per_epoch:]))})
        curve[-1].update(score())
        scoring += time.perf_counter() - t1
        model.train()
        print(f"after epoch {epoch + 1}: {curve[-1]}", file=sys.stderr)
    train_seconds = time.perf_counter() - train_start - scoring
    model.eval()
    return {
        "members": len(seen),
        "non_members": len(unseen),
        "epochs": args.epochs,
        "steps": batches,
        "lr": args.lr,
        "k": args.k,
        "auroc_before_training": before,
        "auroc_by_epoch": curve,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "seconds": {
            "load": round(load, 1),
            "train": round(train_seconds, 1),
            "score_all_items_once": round(scoring / max(1, args.epochs), 1),
            "total": round(time.perf_counter() - t0, 1),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=300, help="benchmark items for the exact tests")
    ap.add_argument("--plant", type=float, default=0.2, help="share planted verbatim (and as many again reworded)")
    ap.add_argument("--scale-mb", type=float, default=200.0, help="corpus size for the throughput run (0: skip)")
    ap.add_argument("--members", type=int, default=60, help="seen items (and as many unseen); 0 skips training")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--k", type=float, default=0.2)
    ap.add_argument("--max-tokens", type=int, default=96, help="tokens of each item trained on and scored")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    by_module = paragraphs()
    results: dict[str, Any] = {"paragraphs": sum(len(v) for v in by_module.values()), "modules": len(by_module)}
    results["exact"] = exact_experiment(args, by_module)
    print(json.dumps(results["exact"], indent=2), file=sys.stderr)
    if args.scale_mb > 0:
        results["scale"] = scale_experiment(args, by_module)
        print(json.dumps(results["scale"], indent=2), file=sys.stderr)
    if args.members > 0:
        results["membership"] = membership_experiment(args, by_module)
    results["settings"] = {k: v for k, v in vars(args).items() if k != "out"}
    results["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
