"""GGUF header parsing and the structural checks that keep corrupt files away from llama.cpp."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from weightwarden.errors import CorruptModel
from weightwarden.runtimes import artifact as art
from weightwarden.runtimes.gguf_file import read_gguf
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

F32 = 0


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def handmade_gguf(tensors: list[tuple[str, tuple[int, ...], int]], data_bytes: int, kv_count: int = 1) -> bytes:
    """A GGUF v3 file built byte by byte: one string key, the given tensors (F32), data_bytes of data."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), kv_count)
    out += _s("general.architecture") + struct.pack("<I", 8) + _s("llama")
    for name, shape, offset in tensors:
        out += _s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", F32, offset)
    out += b"\0" * (-len(out) % 32)
    return out + b"\0" * data_bytes


def test_default_model_header_matches_the_gguf_reference_reader(default_artifact: art.Artifact) -> None:
    from gguf import GGUFReader

    assert default_artifact.path is not None
    ours = read_gguf(default_artifact.path)
    ref = GGUFReader(default_artifact.path)
    assert ours.version == 3
    assert [t.name for t in ours.tensors] == [t.name for t in ref.tensors]
    assert [t.offset for t in ours.tensors] == [int(t.data_offset) for t in ref.tensors]
    assert [t.n_bytes for t in ours.tensors] == [int(t.n_bytes) for t in ref.tensors]
    assert [t.type_name for t in ours.tensors] == [t.tensor_type.name for t in ref.tensors]
    assert ours.metadata["general.architecture"] == "llama"
    assert 130e6 < ours.n_parameters < 140e6
    assert "Q4_1" in ours.quantization
    assert "<|im_start|>" in ours.metadata["tokenizer.chat_template"]


def test_handmade_file_parses(tmp_path: Path) -> None:
    f = tmp_path / "ok.gguf"
    f.write_bytes(handmade_gguf([("a", (4, 2), 0), ("b", (8,), 32)], 64))
    g = read_gguf(f)
    assert [(t.name, t.shape, t.n_bytes) for t in g.tensors] == [("a", (4, 2), 32), ("b", (8,), 32)]
    assert g.n_parameters == 16


def test_writer_output_parses(tmp_path: Path) -> None:
    from gguf import GGUFWriter

    f = tmp_path / "w.gguf"
    w = GGUFWriter(str(f), "llama")
    w.add_uint32("llama.context_length", 64)
    w.add_tensor("x", np.arange(64, dtype=np.float32).reshape(8, 8))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    g = read_gguf(f)
    assert g.metadata["llama.context_length"] == 64
    assert g.tensors[0].shape == (8, 8) and g.tensors[0].n_bytes == 256


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "no GGUF header"),
        (b"PK\x03\x04" + b"\0" * 40, "no GGUF header"),
        (b"GGUF" + struct.pack("<IQQ", 99, 0, 0), "version 99"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0), "corrupt"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40), "corrupt"),
        (handmade_gguf([("a", (4, 2), 0)], 64)[:60], "truncated"),
        (handmade_gguf([("a", (4, 2), 0)], 16), "truncated"),
        (handmade_gguf([("a", (4, 2), 0), ("b", (8,), 16)], 64), "overlap"),
        (handmade_gguf([("a", (1 << 40, 1 << 20), 0)], 16), "truncated"),
    ],
    ids=["empty", "zip", "version", "tensor-count", "string-length", "cut-header", "cut-data", "overlap", "huge"],
)
def test_corrupt_files_are_refused_with_a_reason(tmp_path: Path, content: bytes, words: str) -> None:
    f = tmp_path / "bad.gguf"
    f.write_bytes(content)
    with pytest.raises(CorruptModel, match=words):
        read_gguf(f)


def test_truncated_real_model_never_reaches_llama_cpp(tmp_path: Path, default_artifact: art.Artifact) -> None:
    assert default_artifact.path is not None
    data = default_artifact.path.read_bytes()
    f = tmp_path / "half.gguf"
    f.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(CorruptModel, match="truncated"):
        LlamaCppRuntime(f)
