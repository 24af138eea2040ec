"""Read a GGUF file's header and check its structure before llama.cpp sees it (llama.cpp can crash on bad files)."""

from __future__ import annotations

import itertools
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.errors import CorruptModel

MAX_COUNT = 1 << 20  # tensors or metadata keys; real models have a few thousand
MAX_STRING = 1 << 26  # 64 MiB: a chat template or a token is far smaller
MAX_DIMS = 8

# GGUF metadata value types (gguf spec)
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_name: str
    offset: int  # absolute offset of the data in the file
    n_bytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class GGUFSummary:
    path: Path
    version: int
    metadata: dict[str, Any]  # scalars and strings; arrays as {"array": type, "length": n} except short ones
    tensors: list[TensorInfo] = field(default_factory=list)
    data_offset: int = 0
    file_size: int = 0

    @property
    def n_parameters(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def quantization(self) -> dict[str, int]:
        """Tensor count per storage type, e.g. {"Q4_1": 180, "F32": 61}."""
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type_name] = out.get(t.type_name, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


class _Reader:
    """Walks the header in a memory map: no per-field syscalls, and nothing past the header is read."""

    def __init__(self, buf: mmap.mmap | bytes, path: Path, size: int) -> None:
        self.buf, self.path, self.size, self.pos = buf, path, size, 0

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise CorruptModel(
                f"{self.path} ends inside its GGUF header (needs byte {self.pos + n:,}, file has {self.size:,}): "
                "the file is truncated or not GGUF; download it again"
            )

    def take(self, n: int) -> bytes:
        self._need(n)
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self._need(n)
        self.pos += n

    def unpack(self, fmt: str, n: int) -> Any:
        self._need(n)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return value

    def string(self, keep: bool = True) -> str:
        n = self.unpack("<Q", 8)
        if n > MAX_STRING:
            raise CorruptModel(f"{self.path}: a header string claims {n:,} bytes; the GGUF header is corrupt")
        if not keep:
            self.skip(n)
            return ""
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(*_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.unpack("<I", 4)
            count = self.unpack("<Q", 8)
            if count > self.size:
                raise CorruptModel(f"{self.path}: a metadata array claims {count:,} items; the GGUF header is corrupt")
            if itype in _SCALARS:
                fmt, width = _SCALARS[itype]
                if count <= 64:
                    return list(struct.unpack("<" + fmt[1] * count, self.take(width * count)))
                self.skip(width * count)
                return {"array": fmt[1], "length": count}
            if itype == _STRING and count > 64:  # token lists: hop over 50k strings without decoding them
                pos, buf, size, unpack_from = self.pos, self.buf, self.size, struct.unpack_from
                for _ in range(count):
                    if pos + 8 > size:
                        break
                    pos += 8 + unpack_from("<Q", buf, pos)[0]
                self._need(pos - self.pos)
                self.pos = pos
                return {"array": "string", "length": count}
            return [self.value(itype) for _ in range(count)]
        raise CorruptModel(f"{self.path}: unknown GGUF metadata type {vtype}; the header is corrupt or too new")


def read_gguf(path: Path) -> GGUFSummary:
    """Parse the header and tensor table and check that every tensor's bytes lie inside the file, without overlap."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    size = path.stat().st_size
    if size < 24:
        raise CorruptModel(
            f"no GGUF header in {path} ({size} bytes): is this a model file at all? try `warden inspect`"
        )
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        r = _Reader(buf, path, size)
        if r.take(4) != b"GGUF":
            raise CorruptModel(f"no GGUF header in {path}: is this a PyTorch or safetensors file? try `warden inspect`")
        version = r.unpack("<I", 4)
        if version not in (2, 3):
            raise CorruptModel(f"{path}: GGUF version {version} is not supported (2 and 3 are)")
        n_tensors = r.unpack("<Q", 8)
        n_kv = r.unpack("<Q", 8)
        if n_tensors > MAX_COUNT or n_kv > MAX_COUNT:
            raise CorruptModel(f"{path}: header claims {n_tensors:,} tensors and {n_kv:,} keys; the file is corrupt")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            metadata[key] = r.value(r.unpack("<I", 4))
        raw_tensors = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.unpack("<I", 4)
            if n_dims > MAX_DIMS:
                raise CorruptModel(f"{path}: tensor {name!r} claims {n_dims} dimensions; the file is corrupt")
            shape = tuple(r.unpack("<Q", 8) for _ in range(n_dims))
            ttype = r.unpack("<I", 4)
            offset = r.unpack("<Q", 8)
            raw_tensors.append((name, shape, ttype, offset))
        alignment = int(metadata.get("general.alignment", 32) or 32)
        pos = r.pos
        data_offset = pos + (-pos % alignment)

    tensors: list[TensorInfo] = []
    for name, shape, ttype, offset in raw_tensors:
        try:
            qtype = GGMLQuantizationType(ttype)
            block, type_size = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise CorruptModel(
                f"{path}: tensor {name!r} has unknown type {ttype}; corrupt, or newer than this gguf"
            ) from None
        n_el = 1
        for d in shape:
            n_el *= d
        if block and n_el % block:
            raise CorruptModel(f"{path}: tensor {name!r} has {n_el} elements, not a multiple of its block {block}")
        n_bytes = n_el // block * type_size
        start = data_offset + offset
        if start + n_bytes > size:
            raise CorruptModel(
                f"{path}: tensor {name!r} needs bytes {start:,}..{start + n_bytes:,} but the file has {size:,}: "
                "the file is truncated; download it again"
            )
        tensors.append(TensorInfo(name, shape, qtype.name, start, n_bytes))
    ordered = sorted(tensors, key=lambda t: t.offset)
    for a, b in itertools.pairwise(ordered):
        if a.offset + a.n_bytes > b.offset:
            raise CorruptModel(f"{path}: tensors {a.name!r} and {b.name!r} overlap; the file is corrupt")
    return GGUFSummary(path, version, metadata, tensors, data_offset, size)
