"""A probe, before any build: the decoder's mean vector read after other layers than the shipped 16.

The fifteenth session chose layer 16 of SmolLM2's 30 among layers 4, 8, 12 and 16 on 64-token texts; the layers
above 16 were never read. Here every training chunk goes once through all 30 layers (int8, one chunk at a time, as
the run time embeds), and the mean over tokens of the final-normed state is kept after layers 12, 16, 20, 24 and 30
(`weightwarden.guard.decoder.Decoder` with that many layers gives the same vector: the int8 layers are quantized one
by one; the layer-16 vectors are checked against the build's own cache). Heads are fitted as `probe_heads` fits
them (multiple-instance logistic heads, MiniLM's vector beside the decoder's; 8 groups of sources, each left out in
turn) with each layer's vector, and two pairs of layers side by side, in the decoder's place, on the same folds.

    PYTHONPATH=src:. python -m training.guard.probe_layers --wheels /tmp/gsrc7 --cache /tmp/exp/cache.npz \\
        --layers-cache /tmp/exp/layers.npz --out FILE.json

Pre-registered in the data card (2026-12-07, twenty-second session) before it was run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.corpus import HELD_OUT, build
from training.guard.embed import cached_vectors, embed_all, embed_decoder, key
from training.guard.probe_heads import metrics
from training.guard.sources import LABELS

from weightwarden.guard.decoder import DIMS, MAX_TOKENS
from weightwarden.guard.encoder import chunks

READ_AT = (12, 16, 20, 24, 30)


class Layered:
    def __init__(self) -> None:
        import torch

        from weightwarden.guard.decoder import Decoder

        self.dec = Decoder(30)
        assert self.dec.lean
        self.torch = torch

    def forward(self, ids: Any) -> list[Any]:
        """decoder.lean_llama_forward, reading the mean of the final-normed state after each layer in READ_AT."""
        torch = self.torch
        model, fused = self.dec.model, self.dec.fused
        cfg = model.config
        heads, kv, dim = cfg.num_attention_heads, cfg.num_key_value_heads, model.layers[0].self_attn.head_dim
        x = model.embed_tokens(ids)
        n = len(ids)
        cos, sin = model.rotary_emb(x, torch.arange(n)[None])
        cos, sin = cos[0][None], sin[0][None]

        def rotate(t: Any) -> Any:
            half = t.shape[-1] // 2
            return t * cos + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin

        out = []
        for i, (layer, (qkv, gate_up)) in enumerate(zip(model.layers, fused, strict=True), start=1):
            q, k, v = qkv(layer.input_layernorm(x)).split([heads * dim, kv * dim, kv * dim], dim=-1)
            q = rotate(q.view(n, heads, dim).transpose(0, 1))
            k = rotate(k.view(n, kv, dim).transpose(0, 1))
            v = v.view(n, kv, dim).transpose(0, 1)
            att = torch.nn.functional.scaled_dot_product_attention(
                q[None], k[None], v[None], is_causal=True, enable_gqa=True, scale=layer.self_attn.scaling
            )
            x = x + layer.self_attn.o_proj(att[0].transpose(0, 1).reshape(n, heads * dim))
            g, u = gate_up(layer.post_attention_layernorm(x)).chunk(2, dim=-1)
            x = x + layer.mlp.down_proj(torch.nn.functional.silu(g) * u)
            if i in READ_AT:
                out.append(model.norm(x).mean(dim=0))
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        rows = np.zeros((len(texts), len(READ_AT) * DIMS), dtype=np.float32)
        with torch.inference_mode():
            for i, t in enumerate(texts):
                ids = self.dec.tokenizer.encode(t if t.strip() else " ", add_special_tokens=False).ids[:MAX_TOKENS]
                rows[i] = torch.cat(self.forward(torch.tensor(ids or [self.dec.eos]))).numpy()
        return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheels", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True, help="train.py's embedding cache (MiniLM, decoder 16)")
    ap.add_argument("--layers-cache", type=Path, required=True, help="cache for the per-layer vectors (filled here)")
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    import torch

    torch.set_num_threads(2)
    items, _ = build(args.wheels)
    texts = [it.text for it in items]
    x = embed_all(texts, args.cache, say, int8=loso.ENCODER_INT8)
    pieces = [chunks(t, loso.CHUNK) for t in texts]
    first = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    flat = [t[s:e] for t, ps in zip(texts, pieces, strict=True) for s, e in ps]
    ch = loso.Chunked(embed_all(flat, args.cache, say, int8=loso.ENCODER_INT8), first)
    dec = embed_decoder(flat, args.cache.with_name(f"{args.cache.stem}.dec16.npz"), 16, say)
    holder: dict[str, Layered] = {}

    def loader() -> Any:
        holder["m"] = holder.get("m") or Layered()
        return holder["m"].embed

    lay = cached_vectors(flat, args.layers_cache, lambda t: "L:" + key(t), loader, 500, "layers", say)
    at = {layer: lay[:, j * DIMS : (j + 1) * DIMS] for j, layer in enumerate(READ_AT)}
    same = float(np.abs(at[16] - dec).max())
    say(f"layer 16 from this pass against the build's cache: largest difference {same:.3g}")
    feats: dict[str, np.ndarray] = {"shipped (mean, 16)": dec}
    feats.update({f"mean, {layer}": at[layer] for layer in READ_AT if layer != 16})
    feats["mean 16 + mean 24"] = np.hstack([dec, at[24]])
    feats["mean 12 + mean 20"] = np.hstack([at[12], at[20]])
    train = np.array([it.source not in HELD_OUT for it in items])
    group_of = loso.source_groups(items, train, args.groups)
    text_group = np.array([group_of.get(it.source, -1) for it in items])
    scores = {k: np.full((len(items), len(LABELS)), np.nan) for k in feats}
    for g in range(args.groups):
        fit = train & (text_group != g)
        left = train & (text_group == g)
        for name, f in feats.items():
            xs, chs = loso.with_decoder(x, ch, f, np.repeat(fit, ch.counts()))
            w, b = loso.fit_heads_mil(xs, chs, items, fit)
            scores[name][left] = chs.per_text_max(chs.x @ w + b)[left]
            del xs, chs
        say(f"group {g + 1}/{args.groups}")
    result: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "PYTHONPATH=src:. python -m training.guard.probe_layers " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "groups": args.groups,
        "layer_16_largest_difference_from_build_cache": same,
        "variants": {name: metrics(s, items, train) for name, s in scores.items()},
    }
    base = result["variants"]["shipped (mean, 16)"]
    for name, m in result["variants"].items():
        print(f"{name:<20}", end="")
        for label in LABELS:
            print(
                f"  {label} {m[label]['auc']:.4f} ({m[label]['auc'] - base[label]['auc']:+.4f})"
                f" r2 {m[label]['recall_at_2pct_fpr']:.3f}",
                end="",
            )
        print()
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
