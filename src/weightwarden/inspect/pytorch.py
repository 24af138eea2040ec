"""What a PyTorch checkpoint holds (tensor names, dtypes, shapes, parameter count), read from the symbolic pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightwarden.inspect.base import FileReport, Finding
from weightwarden.inspect.pickle_scan import PickleReport, iter_roots, scan_file
from weightwarden.inspect.pickle_vm import Call, Global, PDict, PersistentRef

MAX_NODES = 2_000_000  # values visited while looking for tensors; a state dict of 10k tensors needs ~200k

# torch's legacy typed storages, by the name the pickle imports, as GGUF/safetensors spell their dtypes
STORAGE_DTYPES = {
    "FloatStorage": "F32", "DoubleStorage": "F64", "HalfStorage": "F16", "BFloat16Storage": "BF16",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8",
    "BoolStorage": "BOOL", "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128", "QInt8Storage": "Q8",
    "QUInt8Storage": "QU8", "QInt32Storage": "Q32", "Float8_e4m3fnStorage": "F8_E4M3", "Float8_e5m2Storage": "F8_E5M2",
}  # fmt: skip
_REBUILD_TENSOR = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}
_REBUILD_PARAM = {"_rebuild_parameter", "_rebuild_parameter_with_state"}


def _is(func: Any, module: str, names: set[str]) -> bool:
    return isinstance(func, Global) and func.module == module and func.name in names


def _tensor(call: Call) -> dict[str, Any] | None:
    """Read (storage, offset, size, ...) from a _rebuild_tensor_v2 call; None if it is not one we understand."""
    args = call.args if isinstance(call.args, tuple) else ()
    if len(args) < 3 or not isinstance(args[0], PersistentRef) or not isinstance(args[2], tuple):
        return None
    pid = args[0].pid
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        return None
    storage = pid[1]
    dtype = STORAGE_DTYPES.get(storage.name, storage.name) if isinstance(storage, Global) else "?"
    shape = tuple(int(d) for d in args[2] if isinstance(d, int))
    return {
        "dtype": dtype,
        "shape": list(shape),
        "storage": str(pid[2]),
        "offset": args[1] if isinstance(args[1], int) else 0,
    }


def find_tensors(root: Any) -> list[dict[str, Any]]:
    """Walk a state dict (nested dicts, OrderedDicts, lists) and name every tensor by its dotted key path."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", root)]
    visited = 0
    while stack and visited < MAX_NODES:
        prefix, value = stack.pop()
        visited += 1
        if isinstance(value, Call):
            if _is(value.func, "torch._utils", _REBUILD_TENSOR):
                t = _tensor(value)
                if t is not None:
                    out.append({"name": prefix, **t})
                continue
            if _is(value.func, "torch._utils", _REBUILD_PARAM) and isinstance(value.args, tuple) and value.args:
                stack.append((prefix, value.args[0]))
                continue
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, PDict | Call):
            pairs = value.items
            for key, child in reversed(pairs):
                stack.append((f"{prefix}.{key}" if prefix else str(key), child))
            if isinstance(value, Call):
                stack.append((prefix, value.state))
                stack.extend((f"{prefix}[{i}]", c) for i, c in enumerate(value.appended))
        elif isinstance(value, list | tuple):
            stack.extend((f"{prefix}[{i}]", c) for i, c in enumerate(value))
    out.sort(key=lambda t: t["name"])
    return out


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def inspect_pickle_file(path: Path, rel: str) -> tuple[FileReport, list[Finding], PickleReport]:
    """Scan a .bin/.pt/.pth/.ckpt/.pkl file: imports with severities, and the tensor table when it is a state dict."""
    report = scan_file(path)
    tensors: list[dict[str, Any]] = []
    for _where, root in iter_roots(report):
        tensors.extend(find_tensors(root))
    unique = {(t["storage"], t["offset"], tuple(t["shape"])): t for t in tensors}  # tied weights count once
    dtypes: dict[str, int] = {}
    for t in tensors:
        dtypes[t["dtype"]] = dtypes.get(t["dtype"], 0) + 1
    details: dict[str, Any] = {
        "container": report.kind,
        "pickles": report.pickles,
        "imports": report.import_table(),
        "tensor_count": len(tensors),
        "parameters": sum(_numel(t["shape"]) for t in unique.values()) if tensors else None,
        "dtypes": dtypes,
        "tensors": [{"name": t["name"], "dtype": t["dtype"], "shape": t["shape"]} for t in tensors],
    }
    if report.zip_members:
        details["zip_members"] = len(report.zip_members)
    fmt = "pytorch" if report.kind.startswith("torch") or tensors else "pickle"
    file_report = FileReport(rel, fmt, path.stat().st_size, details=details)
    return file_report, report.findings(rel), report
