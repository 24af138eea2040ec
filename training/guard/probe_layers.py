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

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from training.guard import probe_common as common
from training.guard.embed import cached_vectors, key

from weightwarden.guard.decoder import DIMS, MAX_TOKENS

READ_AT = (12, 16, 20, 24, 30)


class Layered:
    def __init__(self) -> None:
        import torch

        from weightwarden.guard.decoder import Decoder

        self.dec = Decoder(30)
        assert self.dec.lean
        self.torch = torch

    def forward(self, ids: Any) -> list[Any]:
        """The mean over tokens of the final-normed state after each layer in READ_AT."""
        states, _ = common.decoder_states(self.dec.model, self.dec.fused, ids, READ_AT)
        return [h.mean(dim=0) for h in states]

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        rows = np.zeros((len(texts), len(READ_AT) * DIMS), dtype=np.float32)
        with torch.inference_mode():
            for i, t in enumerate(texts):
                ids = self.dec.tokenizer.encode(t if t.strip() else " ", add_special_tokens=False).ids[:MAX_TOKENS]
                rows[i] = torch.cat(self.forward(torch.tensor(ids or [self.dec.eos]))).numpy()
        return rows


def main() -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--layers-cache", type=Path, required=True, help="cache for the per-layer vectors (filled here)")
    args, say, data = common.begin(ap)
    dec, flat, items, train = data.dec, data.flat, data.items, data.train
    assert dec is not None
    lay = cached_vectors(flat, args.layers_cache, lambda t: "L:" + key(t), common.lazily(Layered), 500, "layers", say)
    at = {layer: lay[:, j * DIMS : (j + 1) * DIMS] for j, layer in enumerate(READ_AT)}
    same = float(np.abs(at[16] - dec).max())
    say(f"layer 16 from this pass against the build's cache: largest difference {same:.3g}")
    feats: dict[str, np.ndarray] = {"shipped (mean, 16)": dec}
    feats.update({f"mean, {layer}": at[layer] for layer in READ_AT if layer != 16})
    feats["mean 16 + mean 24"] = np.hstack([dec, at[24]])
    feats["mean 12 + mean 20"] = np.hstack([at[12], at[20]])
    scores = common.feature_scores(data, feats, args.groups, say)
    result: dict[str, Any] = {
        **common.header("probe_layers", args.groups),
        "layer_16_largest_difference_from_build_cache": same,
        "variants": {name: common.metrics(s, items, train) for name, s in scores.items()},
    }
    common.print_variants(result["variants"], "shipped (mean, 16)")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
