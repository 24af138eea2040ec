"""The vocabulary of inspection: a Severity, a Finding, what one file is (FileReport), and the whole Inspection."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from weightwarden.errors import WardenError

SCHEMA = "weightwarden.inspect/1"


class InspectionError(WardenError):
    """Something `warden inspect`, `bom`, `sign` or `verify` cannot do with what it was given."""


class SignatureMismatch(WardenError):
    """A model or BOM whose bytes no longer match its signature; exit code 1, like a failed check."""

    exit_code = 1


class Severity(enum.StrEnum):
    """How much a finding matters: critical means loading the file can run code or the file lies about itself."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical up to 4 for info, so sorting by rank puts the worst first."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Finding:
    """One thing worth knowing: what kind, how bad, and a sentence that says what and where.

    kind: a short stable word, e.g. pickle-import, template-code, template-injection, structure, license, lineage-gap.
    file: the file it is about, relative to the model folder (None for the model as a whole).
    """

    severity: Severity
    kind: str
    detail: str
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": str(self.severity), "kind": self.kind, "detail": self.detail}
        if self.file is not None:
            out["file"] = self.file
        return out


@dataclass
class FileReport:
    """What one file is, read from its own bytes: format, hash, and format-specific facts in `details`."""

    path: str  # relative to the model folder, or the file name for a single file
    format: str
    size_bytes: int
    sha256: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def worst(findings: list[Finding]) -> Severity | None:
    """The most severe finding's severity, or None when there are none."""
    return min((f.severity for f in findings), key=lambda s: s.rank, default=None)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then by file and kind, so reports are stable from run to run."""
    return sorted(findings, key=lambda f: (f.severity.rank, f.file or "", f.kind, f.detail))


@dataclass
class Inspection:
    """Everything `warden inspect` learned about one model; `as_json()` is the stable, documented shape."""

    ref: str
    path: str
    name: str
    format: str
    sha256: str
    size_bytes: int
    files: list[FileReport] = field(default_factory=list)
    architecture: str | None = None
    parameters: int | None = None
    quantization: dict[str, Any] = field(default_factory=dict)
    context_length: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chat_template: dict[str, Any] = field(default_factory=dict)
    license: dict[str, Any] = field(default_factory=dict)
    use: dict[str, Any] | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    inspected_at: str = ""
    tool: dict[str, str] = field(default_factory=dict)

    @property
    def worst(self) -> Severity | None:
        return worst(self.findings)

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def counts(self) -> dict[str, int]:
        """Number of findings per severity, every severity present (zero when none)."""
        out = {str(s): 0 for s in Severity}
        for f in self.findings:
            out[str(f.severity)] += 1
        return out

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON types with stable keys (see DESIGN: sha256, format, ..., findings)."""
        report: dict[str, Any] = plain(
            {
                "schema": SCHEMA,
                "ref": self.ref,
                "path": self.path,
                "name": self.name,
                "format": self.format,
                "sha256": self.sha256,
                "size_bytes": self.size_bytes,
                "architecture": self.architecture,
                "parameters": self.parameters,
                "quantization": self.quantization,
                "context_length": self.context_length,
                "license": self.license,
                "use": self.use,
                "lineage": self.lineage,
                "chat_template": self.chat_template,
                "findings": [f.as_dict() for f in sort_findings(self.findings)],
                "counts": self.counts(),
                "worst": str(self.worst) if self.worst else None,
                "files": [f.as_dict() for f in self.files],
                "metadata": self.metadata,
                "inspected_at": self.inspected_at,
                "tool": self.tool,
            }
        )
        return report


def plain(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities (possible in GGUF float keys) become strings, which PostgreSQL accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
