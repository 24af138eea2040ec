"""Outputs of a tune: the PEFT adapter, a merged Hugging Face folder, and GGUF files llama.cpp loads.

The GGUF writer handles Llama-architecture models: it keeps the base GGUF's metadata (tokenizer, chat template,
hyper-parameters) and writes the merged weights under llama.cpp's tensor names. llama.cpp orders the rows of the
query and key projections for its rotary embedding differently from Hugging Face (interleaved pairs against two
halves), so those two are permuted back the way llama.cpp's own converter does; transformers undoes exactly that
permutation when it loads a GGUF.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.runtimes.llamacpp import quiet_stderr
from weightwarden.tune.base import TuneError

QUANT_TYPES = {"q8_0": 7, "q4_k_m": 15, "q4_0": 2, "q5_k_m": 17}  # llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers
_SKIP_KEYS = (
    "GGUF.",
    "general.architecture",
    "general.file_type",
    "general.name",
    "general.base_model.",
    "general.dataset.",
    "weightwarden.",
)


@dataclass(frozen=True)
class Lineage:
    """What a tuned model came from, written into the GGUF's metadata."""

    base_name: str
    base_sha256: str
    data_name: str
    data_sha256: str
    data_source: str
    data_license: str
    run_id: str


def save_adapter(peft_model: Any, out: Path) -> Path:
    """The LoRA adapter as PEFT writes it: adapter_config.json and adapter_model.safetensors."""
    peft_model.save_pretrained(str(out), safe_serialization=True)
    return out / "adapter_model.safetensors"


def save_merged(model: Any, tokenizer: Any, out: Path) -> Path:
    """A Hugging Face folder of the merged model (config.json, model.safetensors, tokenizer files).

    Written by hand because transformers refuses save_pretrained on a model it loaded from GGUF.
    """
    from safetensors.torch import save_model

    out.mkdir(parents=True, exist_ok=True)
    save_model(model, str(out / "model.safetensors"))
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = [type(model).__name__]
    (out / "config.json").write_text(json.dumps(config, indent=1, default=str), encoding="utf-8")
    tokenizer.save_pretrained(str(out))
    return out


def permute_rotary(weight: Any, n_head: int) -> Any:
    """Hugging Face's q/k row order to llama.cpp's (the inverse of what transformers does when it loads a GGUF)."""
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _hf_tensors_for_gguf(model: Any, n_blocks: int) -> dict[str, Any]:
    """The merged model's tensors as numpy arrays, under llama.cpp's names, q/k permuted."""
    import gguf

    cfg = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_blocks)
    out: dict[str, Any] = {}
    for hf_name, tensor in model.state_dict().items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise TuneError(f"no llama.cpp name for tensor {hf_name}: only Llama-architecture models export to GGUF")
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = permute_rotary(data, cfg.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = permute_rotary(data, cfg.num_key_value_heads)
        out[name] = data
    if "output.weight" not in out and "token_embd.weight" in out:
        out["output.weight"] = out["token_embd.weight"]  # tied: used only if the base file has its own output
    return out


def _copy_metadata(reader: Any, writer: Any) -> None:
    import gguf

    for field in reader.fields.values():
        if field.name.startswith(_SKIP_KEYS):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub)


def write_gguf_f16(model: Any, base_gguf: Path, out: Path, lineage: Lineage) -> Path:
    """A GGUF (F16 weights, F32 norms) of the merged model, with the base GGUF's metadata and the tune's lineage."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(base_gguf))
    arch_field = reader.fields.get("general.architecture")
    arch = arch_field.contents() if arch_field is not None else ""
    if arch != "llama":
        raise TuneError(
            f"GGUF export writes Llama-architecture models; {base_gguf.name} is {arch!r}: use the merged folder"
        )
    n_blocks = int(reader.fields["llama.block_count"].contents())
    tensors = _hf_tensors_for_gguf(model, n_blocks)
    wanted = [t.name for t in reader.tensors]
    missing = [n for n in wanted if n not in tensors]
    if missing:
        raise TuneError(f"the merged model lacks tensor {missing[0]} that the base GGUF has: cannot export")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch)
    _copy_metadata(reader, writer)
    writer.add_name(
        f"{reader.fields['general.name'].contents() if 'general.name' in reader.fields else lineage.base_name} (tuned)"
    )
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_base_model_count(1)
    writer.add_base_model_name(0, lineage.base_name)
    writer.add_base_model_description(0, f"sha256 {lineage.base_sha256}")
    writer.add_dataset_count(1)
    writer.add_dataset_name(0, lineage.data_name)
    writer.add_dataset_description(
        0, f"sha256 {lineage.data_sha256}; source {lineage.data_source}; license {lineage.data_license}"
    )
    writer.add_string("weightwarden.base_sha256", lineage.base_sha256)
    writer.add_string("weightwarden.data_sha256", lineage.data_sha256)
    writer.add_string("weightwarden.tune_run", lineage.run_id)
    for name in wanted:
        data = tensors[name]
        data = data.astype(np.float32) if data.ndim == 1 else data.astype(np.float16)
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def quantize(src: Path, out: Path, kind: str = "q8_0", threads: int = 0) -> Path:
    """Quantize a GGUF with llama.cpp's own quantizer (llama_model_quantize)."""
    import llama_cpp

    ftype = QUANT_TYPES.get(kind.lower())
    if ftype is None:
        raise TuneError(f"unknown quantization {kind!r}: use one of {', '.join(QUANT_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    with quiet_stderr():  # the quantizer logs every tensor on fd 2; the CLI shows its own summary
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0 or not out.exists():
        raise TuneError(f"llama.cpp could not quantize {src.name} to {kind} (code {rc}): try --quant q8_0")
    return out
