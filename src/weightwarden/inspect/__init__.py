"""Inspect a model artifact without running it: formats, unsafe content, license and obligations, lineage, an
ML-BOM and a signature.

from weightwarden.inspect import inspect_model, UsePlan
ins = inspect_model("model.gguf", plan=UsePlan("commercial", users=2_000_000, distribute=True))
ins.as_json()["findings"]  # [{"severity": "critical", "kind": "pickle-import", "detail": ...}, ...]
"""

from weightwarden.inspect.base import (
    FileReport,
    Finding,
    Inspection,
    InspectionError,
    Severity,
    SignatureMismatch,
)
from weightwarden.inspect.inspector import UsePlan, detect_format, inspect_model
from weightwarden.inspect.record import record_inspection

__all__ = [
    "FileReport",
    "Finding",
    "Inspection",
    "InspectionError",
    "Severity",
    "SignatureMismatch",
    "UsePlan",
    "detect_format",
    "inspect_model",
    "record_inspection",
]
