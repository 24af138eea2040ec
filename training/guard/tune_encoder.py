"""Fine-tune MiniLM's top layers for the guard's heads, per group of sources, on two CPU cores (train.py --tune).

Tried on 2026-12-06 and not shipped: out of source the cascade ranked a little better (AUC 0.854 / 0.955 / 0.928
against 0.841 / 0.953 / 0.926) but recall at 1% and 2% FPR moved by less than 0.02 either way, for a build eight
times as long and weights twice the size (the data card has the figures). All six layers tuned (TUNED_LAYERS = 6,
eighth session, 4,994 s on two cores) moved no curve more than two did, so the limit is the data, not the encoder's
capacity. The option stays, with its tests, for builds on other data.

The heads on frozen MiniLM vectors had reached their ceiling (the data card lists the trials), so the build can
fine-tune MiniLM's top TUNED_LAYERS layers with a linear head per label, then fit the shipped heads on the tuned
encoder's own int8 vectors exactly as before. The lower layers stay as installed: their output for every chunk is
computed once (stored as float16) and the top layers train on it, about two minutes for two passes over the chunks.

The targets are the heads' own multiple-instance ones (loso.fit_heads_mil on the frozen vectors): every chunk of a
benign text is negative for every label, and an attack text's chunk that the frozen head scores highest is positive
for that label, weighted as the heads weigh them; an attack's other chunks are not used.

Out-of-source evidence: the sources are split into TUNE_GROUPS groups of similar size, and each group's texts are
embedded by an encoder tuned without that group. The heads and the gate are then trained without each left-out
source as before, on those vectors, so nothing that scores a source has seen it: the encoder was tuned on 4/5 of the
training sources, not all but one, which if anything understates what the shipped encoder (tuned on all of them)
does on a new source.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from training.guard import loso
from training.guard.sources import LABELS, Item

TUNED_LAYERS = 2  # MiniLM's top layers that are fine-tuned (of 6)
TUNE_GROUPS = 5
EPOCHS = 2
LR = 3e-5  # the layers' learning rate (AdamW, weight decay 0.01, 50 warm-up steps, then linear decay)
HEAD_LR = 1e-3
BATCH = 32
SEED = 0


def run_layers(layers: object, x: object, keep: object) -> object:
    """transformers' own BertLayers on a padded batch (keep: (batch, tokens), True at real tokens), with the boolean
    mask BertModel gives its layers under PyTorch's scaled_dot_product_attention ("sdpa", Lower checks it)."""
    mask = keep[:, None, None, :]  # type: ignore[index]
    for layer in layers:  # type: ignore[attr-defined]
        x = layer(x, attention_mask=mask)
    return x


class Lower:
    """The output of MiniLM's layers below the tuned ones for every chunk (float16, tokens of all chunks end to
    end), cached on disk by the chunks' hash."""

    def __init__(self, flat: list[str], cache: Path, progress: Callable[[str], None]) -> None:
        import torch

        from weightwarden.guard.encoder import Encoder

        digest = hashlib.sha256("\x00".join(flat).encode("utf-8", "replace")).hexdigest()[:16]
        path = cache.with_name(f"{cache.stem}_lower{TUNED_LAYERS}_{digest}.npz")
        enc = Encoder.load()
        self.bert = enc.transformer
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                self.hidden, self.lens = z["hidden"], z["lens"]
            self.offs = np.r_[0, np.cumsum(self.lens)]
            return
        if self.bert.config._attn_implementation != "sdpa":
            raise RuntimeError(
                f"MiniLM loaded with {self.bert.config._attn_implementation!r} attention; run_layers passes the "
                "boolean mask that sdpa attention reads"
            )
        lens = [
            len(enc.tokenizer(t if t.strip() else " ", truncation=True, max_length=enc.max_tokens)["input_ids"])
            for t in flat
        ]
        self.lens = np.array(lens)
        self.offs = np.r_[0, np.cumsum(self.lens)]
        self.hidden = np.zeros((int(self.offs[-1]), 384), np.float16)
        order = np.argsort(-self.lens, kind="stable")
        n = len(self.bert.encoder.layer)
        with torch.inference_mode():
            for b in range(0, len(order), 32):
                idx = order[b : b + 32]
                batch = enc.tokenizer(
                    [flat[i] if flat[i].strip() else " " for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=enc.max_tokens,
                    return_tensors="pt",
                )
                x = self.bert.embeddings(input_ids=batch["input_ids"])
                x = run_layers(self.bert.encoder.layer[: n - TUNED_LAYERS], x, batch["attention_mask"].bool())
                for j, i in enumerate(idx):
                    self.hidden[self.offs[i] : self.offs[i + 1]] = x[j, : self.lens[i]].numpy()
                if b % 6400 == 0:
                    progress(f"lower layers: {b}/{len(order)} chunks")
        part = path.with_name(path.stem + ".part.npz")  # written whole, then renamed: a crash leaves no bad cache
        np.savez(part, hidden=self.hidden, lens=self.lens)
        os.replace(part, path)

    def batch(self, idx: np.ndarray) -> tuple[object, object]:
        import torch

        x = torch.zeros((len(idx), int(self.lens[idx].max()), self.hidden.shape[1]))
        keep = torch.zeros(x.shape[:2], dtype=torch.bool)
        for j, i in enumerate(idx):
            x[j, : self.lens[i]] = torch.from_numpy(self.hidden[self.offs[i] : self.offs[i + 1]].astype(np.float32))
            keep[j, : self.lens[i]] = True
        return x, keep


def targets(
    items: list[Item], ch: loso.Chunked, mask: np.ndarray, weights: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(Y, W) per chunk and label: the frozen heads' multiple-instance targets and weights (0: not used)."""
    n_chunks = ch.counts()
    owner = np.repeat(np.arange(len(items)), n_chunks)
    tw = loso.source_weights(items, mask)
    benign_t = mask & np.array([not it.labels for it in items])
    bc = np.flatnonzero(benign_t[owner])
    neg_w = tw[owner[bc]] / np.sqrt(n_chunks[owner[bc]])
    y = np.zeros((len(ch.x), len(LABELS)), np.float32)
    w = np.zeros_like(y)
    logits = ch.x @ weights + bias
    for h, label in enumerate(LABELS):
        pos_t = np.flatnonzero(mask & np.array([label in it.labels for it in items]))
        w[bc, h] = neg_w
        if len(pos_t):
            pick = ch.argmax_chunk(logits[:, h], pos_t)
            np.add.at(w[:, h], pick, tw[pos_t] * neg_w.sum() / tw[pos_t].sum())  # classes balanced by weight
            y[pick, h] = 1.0
    return y, w / w[w > 0].mean()


@contextmanager
def _two_threads() -> Iterator[None]:
    """Torch on two threads (the cores the build was measured on) for the block, then as it was."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@_two_threads()
def tune(
    lower: Lower,
    y: np.ndarray,
    w: np.ndarray,
    head: tuple[np.ndarray, np.ndarray],
    seed: int,
    say: Callable[[str], None],
) -> dict[str, np.ndarray]:
    """Fine-tune the top layers (and a head per label, started from `head`) on the chunks with a target; returns
    the tuned layers' parameters by Encoder's names, rounded to float16 as stored."""
    import copy

    import torch
    import torch.nn.functional as fn

    torch.manual_seed(seed)
    n = len(lower.bert.encoder.layer)
    layers = [copy.deepcopy(layer) for layer in lower.bert.encoder.layer[n - TUNED_LAYERS :]]
    lin = torch.nn.Linear(lower.hidden.shape[1], len(LABELS))
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(head[0].T)))
        lin.bias.copy_(torch.from_numpy(head[1]))
    params = [p for layer in layers for p in layer.parameters()]
    opt = torch.optim.AdamW(
        [{"params": params, "lr": LR}, {"params": lin.parameters(), "lr": HEAD_LR, "weight_decay": 0.0}],
        weight_decay=0.01,
    )
    use = np.flatnonzero(w.sum(axis=1) > 0)
    total = EPOCHS * math.ceil(len(use) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1.0 - s / total))
    rng = np.random.default_rng(seed)
    step = 0
    for _ in range(EPOCHS):
        # batches of similar length: a shuffled order, sorted by length within windows of 50 batches
        perm = rng.permutation(use)
        batches: list[np.ndarray] = []
        for a in range(0, len(perm), BATCH * 50):
            win = perm[a : a + BATCH * 50]
            win = win[np.argsort(lower.lens[win], kind="stable")]
            batches += [win[i : i + BATCH] for i in range(0, len(win), BATCH)]
        for j in rng.permutation(len(batches)):
            idx = batches[j]
            x, keep = lower.batch(idx)
            x = run_layers(layers, x, keep)
            m = keep.unsqueeze(-1).to(x.dtype)  # type: ignore[attr-defined]
            pooled = fn.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=1)  # type: ignore[operator]
            loss = fn.binary_cross_entropy_with_logits(lin(pooled), torch.from_numpy(y[idx]), reduction="none")
            loss = (loss * torch.from_numpy(w[idx])).sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0:
                say(f"tuning step {step}/{total} loss {loss.item():.4f}")
    out = {}
    for k, layer in enumerate(layers):
        for name, p in layer.named_parameters():
            out[f"{n - TUNED_LAYERS + k}.{name}"] = p.detach().numpy().astype(np.float16)
    return out


def groups(items: list[Item], mask: np.ndarray) -> dict[str, int]:
    """Each training source's tuning group: largest sources first, each to the group with fewest texts so far."""
    return loso.source_groups(items, mask, TUNE_GROUPS)


def embed(texts: list[str], tuned: dict[str, np.ndarray], say: Callable[[str], None]) -> np.ndarray:
    """Unit vectors of `texts` by the run-time encoder with these tuned layers (int8 as loso.ENCODER_INT8)."""

    from weightwarden.guard.encoder import Encoder

    enc = Encoder.load(int8=loso.ENCODER_INT8, tuned=tuned)
    out = np.zeros((len(texts), 384), np.float32)
    for i in range(0, len(texts), 2048):
        out[i : i + 2048] = enc.embed_windows(texts[i : i + 2048])
        say(f"embedded {min(i + 2048, len(texts))}/{len(texts)} with the tuned encoder")
    return out
