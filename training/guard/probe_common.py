"""What the guard's probes share: the training texts with their cached vectors, the folds of sources, the figures.

A probe (probe_heads, probe_layers, probe_prompted, probe_nuisance, probe_subheads) compares ways of fitting or
feeding the heads on the same folds, each a group of sources left out in turn; none is a build or a headline.
probe_patterns reads a build's scores instead and uses only the figures' helpers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.corpus import HELD_OUT, build, find_wheels
from training.guard.embed import embed_all, embed_decoder
from training.guard.sources import LABELS, Item

from weightwarden.guard.encoder import chunks
from weightwarden.guard.quality import auc, recall_at_fpr


def sayer() -> Callable[[str], None]:
    """A progress printer on stderr, each line with the seconds since it was made."""
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return say


@dataclass
class Loaded:
    items: list[Item]
    flat: list[str]  # every text's chunks, in order
    x: np.ndarray  # MiniLM's vector of each text
    ch: loso.Chunked  # MiniLM's vector of each chunk
    dec: np.ndarray | None  # the decoder's vector of each chunk (None: not asked for)
    train: np.ndarray  # texts of the training sources (the held-out ones never enter a probe)


def load(
    wheels: Path, cache: Path, say: Callable[[str], None], decoder: int = 16, extra: Sequence[Item] = ()
) -> Loaded:
    """The corpus as train.py builds it (then `extra` after it), with the vectors train.py's caches hold (MiniLM
    int8; the decoder's `decoder` layers, 0 for none)."""
    items, _ = build(wheels)
    items += list(extra)
    texts = [it.text for it in items]
    x = embed_all(texts, cache, say, int8=loso.ENCODER_INT8)
    pieces = [chunks(t, loso.CHUNK) for t in texts]
    first = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    flat = [t[s:e] for t, ps in zip(texts, pieces, strict=True) for s, e in ps]
    ch = loso.Chunked(embed_all(flat, cache, say, int8=loso.ENCODER_INT8), first)
    dec = embed_decoder(flat, cache.with_name(f"{cache.stem}.dec{decoder}.npz"), decoder, say) if decoder else None
    train = np.array([it.source not in HELD_OUT for it in items])
    return Loaded(items, flat, x, ch, dec, train)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every probe takes: --wheels, --cache, --groups, --out."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheels", type=Path, required=True, help="folder holding the downloaded wheels")
    ap.add_argument("--cache", type=Path, required=True, help="train.py's embedding cache (MiniLM, decoder 16)")
    ap.add_argument("--groups", type=int, default=8, help="groups of sources, each left out in turn (default 8)")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    return ap


def begin(
    ap: argparse.ArgumentParser,
    check: Callable[[argparse.Namespace], str | None] | None = None,
    extra: Callable[[argparse.Namespace], Sequence[Item]] | None = None,
) -> tuple[argparse.Namespace, Callable[[str], None], Loaded]:
    """Parse the options (`check` returns a complaint about them, or None), then load the corpus and its cached
    vectors (the decoder's `--decoder` layers where the probe has that option, else 16; torch on two threads),
    with `extra(args)`'s texts after the corpus."""
    import torch

    args = ap.parse_args()
    if args.groups < 2:
        ap.error("--groups must be at least 2")
    if not args.cache.is_file():
        ap.error(f"{args.cache}: no embedding cache there; run train.py with --cache first")
    if not args.wheels.is_dir() or not find_wheels(args.wheels):
        ap.error(f"{args.wheels}: no source wheels there (the data card's Rebuild section downloads them)")
    complaint = check(args) if check is not None else None
    if complaint:
        ap.error(complaint)
    say = sayer()
    torch.set_num_threads(2)
    more = extra(args) if extra is not None else ()
    return args, say, load(args.wheels, args.cache, say, decoder=getattr(args, "decoder", 16), extra=more)


def lazily(make: Callable[[], Any]) -> Callable[[], Callable[[list[str]], np.ndarray]]:
    """For embed.cached_vectors: builds the embedder (`make()`, whose .embed is called) once, and only if asked."""
    held: list[Any] = []

    def loader() -> Callable[[list[str]], np.ndarray]:
        if not held:
            held.append(make())
        return held[0].embed  # type: ignore[no-any-return]

    return loader


def feature_scores(
    data: Loaded, feats: dict[str, np.ndarray], groups: int, say: Callable[[str], None]
) -> dict[str, np.ndarray]:
    """Per feature set (chunk vectors in the decoder's place), each text's score from the shipped heads' fit on
    every fold but its own."""
    scores = {k: np.full((len(data.items), len(LABELS)), np.nan) for k in feats}
    for g, (fit, left) in enumerate(folds(data, groups)):
        for name, f in feats.items():
            xs, chs = loso.with_decoder(data.x, data.ch, f, np.repeat(fit, data.ch.counts()))
            w, b = loso.fit_heads_mil(xs, chs, data.items, fit)
            scores[name][left] = chs.per_text_max(chs.x @ w + b)[left]
            del xs, chs
        say(f"group {g + 1}/{groups}")
    return scores


def folds(data: Loaded, groups: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, left out) text masks, one pair per group of training sources."""
    group_of = loso.source_groups(data.items, data.train, groups)
    text_group = np.array([group_of.get(it.source, -1) for it in data.items])
    return [(data.train & (text_group != g), data.train & (text_group == g)) for g in range(groups)]


def rates(pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    """AUC and recall at 1% and 2% FPR of attack scores `pos` against benign scores `neg`."""
    return {
        "auc": round(auc(pos, neg), 4),
        "recall_at_1pct_fpr": round(recall_at_fpr(pos, neg, 0.01), 4),
        "recall_at_2pct_fpr": round(recall_at_fpr(pos, neg, 0.02), 4),
    }


def source_aucs(score: np.ndarray, items: list[Item], pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    """Per source with texts in `pos`, the AUC of those texts' scores against the scores of every text in `neg`."""
    src = np.array([it.source for it in items])
    return {s: round(auc(score[pos & (src == s)], score[neg]), 4) for s in sorted(set(src[pos]))}


def metrics(scores: np.ndarray, items: list[Item], mask: np.ndarray) -> dict[str, dict[str, float]]:
    """Per label, its texts in `mask` against the benign texts in `mask`."""
    benign = mask & np.array([not it.labels for it in items])
    return {
        label: rates(scores[mask & np.array([label in it.labels for it in items]), h], scores[benign, h])
        for h, label in enumerate(LABELS)
    }


def header(module: str, groups: int | None = None) -> dict[str, Any]:
    """When, how and where a probe's figures were measured."""
    out: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": f"PYTHONPATH=src:. python -m training.guard.{module} " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    if groups is not None:
        out["groups"] = groups
    return out


def print_variants(variants: dict[str, dict[str, dict[str, float]]], base: str, labels: Sequence[str] = LABELS) -> None:
    """One line per variant: each label's AUC (its change against `base`) and recall at 1% and 2% FPR."""
    width = max(len(n) for n in variants) + 2
    for name, m in variants.items():
        print(f"{name:<{width}}", end="")
        for label in labels:
            print(
                f"  {label} {m[label]['auc']:.4f} ({m[label]['auc'] - variants[base][label]['auc']:+.4f})"
                f" r1 {m[label]['recall_at_1pct_fpr']:.3f} r2 {m[label]['recall_at_2pct_fpr']:.3f}",
                end="",
            )
        print()


def decoder_states(
    model: Any,
    fused: Any,
    ids: Any,
    read: Sequence[int],
    past: list[tuple[Any, Any]] | None = None,
    explicit_mask: bool = False,
) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """weightwarden.guard.decoder.lean_llama_forward, reading the final-normed state (tokens, dims) after each layer
    in `read` (counted from 1), and continuing after `past` (each layer's rotated keys and values of a prefix) when
    given. Without `past` attention is causal as in the run time's forward (the same vectors, to the bit); with it
    (or `explicit_mask`, for a prefix computed the way its continuations will be), an explicit mask lets the new
    tokens see the prefix. Also returns each layer's keys and values so far."""
    import torch

    cfg = model.config
    heads, kv, dim = cfg.num_attention_heads, cfg.num_key_value_heads, model.layers[0].self_attn.head_dim
    x = model.embed_tokens(ids)
    n = len(ids)
    start = 0 if past is None else int(past[0][0].shape[1])
    cos, sin = model.rotary_emb(x, torch.arange(start, start + n)[None])
    cos, sin = cos[0][None], sin[0][None]
    mask = None
    if past is not None or explicit_mask:
        mask = torch.arange(start + n)[None, :] <= torch.arange(start, start + n)[:, None]

    def rotate(t: Any) -> Any:
        half = t.shape[-1] // 2
        return t * cos + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin

    states: list[Any] = []
    kept: list[tuple[Any, Any]] = []
    for i, (layer, (qkv, gate_up)) in enumerate(zip(model.layers, fused, strict=True), start=1):
        q, k, v = qkv(layer.input_layernorm(x)).split([heads * dim, kv * dim, kv * dim], dim=-1)
        q = rotate(q.view(n, heads, dim).transpose(0, 1))
        k = rotate(k.view(n, kv, dim).transpose(0, 1))
        v = v.view(n, kv, dim).transpose(0, 1)
        if past is not None:
            k = torch.cat([past[i - 1][0], k], dim=1)
            v = torch.cat([past[i - 1][1], v], dim=1)
        kept.append((k, v))
        att = torch.nn.functional.scaled_dot_product_attention(
            q[None],
            k[None],
            v[None],
            attn_mask=mask,
            is_causal=mask is None,
            enable_gqa=True,
            scale=layer.self_attn.scaling,
        )
        x = x + layer.self_attn.o_proj(att[0].transpose(0, 1).reshape(n, heads * dim))
        g, u = gate_up(layer.post_attention_layernorm(x)).chunk(2, dim=-1)
        x = x + layer.mlp.down_proj(torch.nn.functional.silu(g) * u)
        if i in read:
            states.append(model.norm(x))
    return states, kept
