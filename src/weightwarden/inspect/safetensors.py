"""Read a safetensors header (and sharded index files) and check its structure: bounded header, offsets inside the
file, sizes that match shapes and dtypes, no overlapping tensors, no bytes outside every tensor."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from weightwarden.inspect.base import FileReport, Finding, Severity

MAX_HEADER = 100_000_000  # the safetensors library's own limit on the JSON header

# element size in bits; the 4- and 6-bit float formats pack several elements per byte
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64, "F4": 4,
    "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip


def _structure(detail: str, rel: str) -> Finding:
    return Finding(Severity.HIGH, "structure", detail, rel)


def read_header(path: Path, rel: str) -> tuple[dict[str, Any] | None, int, list[Finding]]:
    """The parsed JSON header and the data section's start, or None and findings that say why not."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return (
                None,
                0,
                [_structure(f"{size} bytes: too short for a safetensors header (8-byte length + JSON)", rel)],
            )
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            return (
                None,
                0,
                [_structure(f"the header claims {n:,} bytes, over the {MAX_HEADER:,}-byte limit loaders enforce", rel)],
            )
        if 8 + n > size:
            return (
                None,
                0,
                [
                    _structure(
                        f"the header claims {n:,} bytes but the file has {size:,}: truncated or not safetensors", rel
                    )
                ],
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, 0, [_structure(f"the header is not valid JSON ({exc})", rel)]
    if not isinstance(header, dict):
        return None, 0, [_structure("the header is JSON but not an object of tensors", rel)]
    return header, 8 + n, []


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _check_tensor(name: str, entry: Any, data_len: int, rel: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    if not isinstance(entry, dict):
        return None, [_structure(f"tensor {name!r} is not an object in the header", rel)]
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BITS:
        return None, [_structure(f"tensor {name!r} has unknown dtype {dtype!r}", rel)]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return None, [_structure(f"tensor {name!r} has a bad shape {shape!r}", rel)]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and o >= 0 for o in offsets)):
        return None, [_structure(f"tensor {name!r} has bad data_offsets {offsets!r}", rel)]
    begin, end = offsets
    bits = _numel(shape) * DTYPE_BITS[dtype]
    need = bits // 8
    problems = []
    if bits % 8:
        problems.append(_structure(f"tensor {name!r}: {_numel(shape)} {dtype} elements do not fill whole bytes", rel))
    if end < begin or end - begin != need:
        problems.append(
            _structure(f"tensor {name!r} {dtype}{shape} needs {need:,} bytes but its offsets span {end - begin:,}", rel)
        )
    if end > data_len:
        problems.append(
            _structure(
                f"tensor {name!r} ends at byte {end:,} of the data section, which has {data_len:,}: "
                "the file is truncated or the header lies about its size",
                rel,
            )
        )
    row = {"name": name, "dtype": dtype, "shape": shape, "begin": begin, "end": end}
    return row, problems


def inspect_safetensors(path: Path, rel: str) -> tuple[FileReport, list[Finding]]:
    """Header facts (dtypes, shapes, parameter count, __metadata__) and every structural problem as a finding."""
    size = path.stat().st_size
    header, data_start, findings = read_header(path, rel)
    report = FileReport(rel, "safetensors", size)
    if header is None:
        report.details = {"valid": False}
        return report, findings
    data_len = size - data_start
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        findings.append(_structure("__metadata__ must map strings to strings", rel))
        meta = None
    rows: list[dict[str, Any]] = []
    for name, entry in header.items():
        row, problems = _check_tensor(name, entry, data_len, rel)
        findings.extend(problems)
        if row is not None:
            rows.append(row)
    ordered = sorted(rows, key=lambda r: (r["begin"], r["end"]))
    covered, last = 0, None
    for r in ordered:
        if r["begin"] < covered and r["end"] > r["begin"] and last is not None:
            findings.append(_structure(f"tensors {last['name']!r} and {r['name']!r} overlap", rel))
        elif r["begin"] > covered:
            findings.append(
                Finding(
                    Severity.MEDIUM,
                    "structure",
                    f"{r['begin'] - covered:,} bytes before tensor {r['name']!r} belong to no tensor: "
                    "the safetensors library refuses such files, and the gap could carry other data",
                    rel,
                )
            )
        if r["end"] >= covered:
            covered, last = r["end"], r
    if rows and covered < data_len:
        findings.append(
            Finding(
                Severity.MEDIUM,
                "structure",
                f"{data_len - covered:,} bytes after the last tensor belong to no tensor",
                rel,
            )
        )
    dtypes: dict[str, int] = {}
    for r in rows:
        dtypes[r["dtype"]] = dtypes.get(r["dtype"], 0) + 1
    report.details = {
        "valid": not any(f.severity is Severity.HIGH for f in findings),
        "header_bytes": data_start - 8,
        "tensor_count": len(rows),
        "parameters": sum(_numel(r["shape"]) for r in rows),
        "dtypes": dict(sorted(dtypes.items(), key=lambda kv: -kv[1])),
        "metadata": meta or {},
        "tensors": [
            {"name": r["name"], "dtype": r["dtype"], "shape": r["shape"]} for r in sorted(rows, key=lambda r: r["name"])
        ],
    }
    return report, findings


def inspect_index(path: Path, rel: str, root: Path) -> tuple[FileReport, list[Finding]]:
    """Check a sharded index (model.safetensors.index.json or pytorch_model.bin.index.json): every shard exists."""
    report = FileReport(rel, "shard-index", path.stat().st_size)
    try:
        data = json.loads(path.read_text())
        weight_map = data["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return report, [_structure(f"the shard index cannot be read ({exc})", rel)]
    shards = sorted({str(v) for v in weight_map.values()})
    findings = []
    base = path.parent
    for shard in shards:
        target = (base / shard).resolve()
        if not target.is_relative_to(root.resolve()):
            findings.append(
                Finding(Severity.HIGH, "structure", f"the index points outside the model folder: {shard}", rel)
            )
        elif not target.is_file():
            findings.append(
                Finding(Severity.MEDIUM, "structure", f"the index names shard {shard}, which is missing", rel)
            )
    report.details = {
        "shards": shards,
        "tensor_count": len(weight_map),
        "total_size": (data.get("metadata") or {}).get("total_size"),
        "weight_map": weight_map,
    }
    return report, findings


def check_index_against_shards(index: FileReport, shards: dict[str, FileReport], rel: str) -> list[Finding]:
    """Every tensor the index maps to a shard must be in that shard's header."""
    weight_map: dict[str, str] = index.details.get("weight_map", {})
    findings = []
    names = {s: {row["name"] for row in r.details.get("tensors", [])} for s, r in shards.items()}
    missing = [(t, s) for t, s in weight_map.items() if s in names and t not in names[s]]
    if missing:
        t, s = missing[0]
        findings.append(
            Finding(
                Severity.MEDIUM,
                "structure",
                f"{len(missing)} tensors in the index are not in their shard (e.g. {t} in {s})",
                rel,
            )
        )
    return findings
