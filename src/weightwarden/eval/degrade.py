"""A deliberately broken copy of a GGUF model: one layer's weights scrambled, everything else byte-identical.

Used to test that `warden compare` gates catch a real regression. Quantized tensors are scrambled by permuting
whole quantization blocks (each block keeps its own scale, so the values stay in range but land in the wrong
places); float tensors by permuting their values. The permutation is seeded, so the copy is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from weightwarden.errors import CorruptModel, WardenError

# the 2-D weight matrices of one transformer block, in llama.cpp's names
LAYER_WEIGHTS = (
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_output.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
)


def layer_tensors(layer: int) -> list[str]:
    """The weight matrices of block `layer` (norms are left alone)."""
    return [f"blk.{layer}.{w}" for w in LAYER_WEIGHTS]


def _scrambled(data: np.ndarray, block_bytes: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of one tensor's data with its blocks (quantized) or values (float) permuted."""
    # quantized tensors come as raw bytes: permute whole blocks; float tensors: permute single values
    width = block_bytes if data.dtype == np.uint8 else 1
    units = np.ascontiguousarray(data).reshape(-1, width)
    return units[rng.permutation(units.shape[0])].reshape(data.shape)


def scramble_gguf(src: Path, dst: Path, tensors: Sequence[str], *, seed: int = 0) -> list[str]:
    """Write dst: a copy of the GGUF file src with the named tensors scrambled. Returns the names scrambled."""
    import gguf

    if Path(dst).resolve() == Path(src).resolve():
        raise WardenError(f"refusing to scramble {src} in place: give another output path")
    try:
        reader = gguf.GGUFReader(src)
    except (ValueError, OSError) as exc:
        raise CorruptModel(f"cannot read GGUF file {src}: {exc}") from None
    names = {t.name for t in reader.tensors}
    missing = [n for n in tensors if n not in names]
    if missing:
        raise WardenError(f"no tensor {', '.join(missing)} in {src}: list them with `warden inspect {src}`")
    arch_field = reader.fields.get(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise CorruptModel(f"{src} has no general.architecture")
    writer = gguf.GGUFWriter(dst, str(arch_field.contents()), endianess=reader.endianess)
    writer.data_alignment = reader.alignment
    for field in reader.fields.values():
        # the writer adds the architecture and the GGUF.* header fields itself
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    chosen = set(tensors)
    for t in reader.tensors:
        data = t.data
        if t.name in chosen:
            _, block_bytes = gguf.GGML_QUANT_SIZES[t.tensor_type]
            data = _scrambled(data, block_bytes, rng)
        writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    writer.close()
    return [n for n in (t.name for t in reader.tensors) if n in chosen]
