"""The typed records of an audit: one StageResult per stage, and the header that says what was audited where.

Both are stored in the ledger as plain JSON (see `to_json`/`from_json`) and read back by `report/` to render; they
import no stage, so a renderer can use them without loading any work code.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

Status = Literal["ok", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail")


def plain_json(value: Any) -> Any:
    """A JSON-safe copy: tuples become lists, keys strings, NaN and infinities strings, anything else its str().

    The ledger refuses NaN, and what is stored is what is rendered: stages pass their data through this first.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.loads(json.dumps(value, default=str))


@dataclass
class Figure:
    """A chart of metric values with 95% intervals; bars: dicts with label, value, low, high and n."""

    title: str
    bars: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StageResult:
    """What one stage found: a verdict, a one-line summary, a table, details, and charts.

    key: the stage's registered name; rows: the table the report shows (one dict per row, same keys);
    data: everything else worth keeping (JSON types); seconds: how long the stage ran.
    """

    key: str
    title: str
    status: Status
    summary: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = plain_json(asdict(self))
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StageResult:
        status = d["status"] if d["status"] in STATUSES else "fail"
        return cls(
            key=d["key"],
            title=d["title"],
            status=cast(Status, status),
            summary=d["summary"],
            rows=list(d.get("rows") or []),
            data=dict(d.get("data") or {}),
            figures=[Figure(f["title"], list(f.get("bars") or [])) for f in d.get("figures") or []],
            seconds=float(d.get("seconds") or 0.0),
        )


@dataclass(frozen=True)
class AuditHeader:
    """What was audited and on what, kept in the audit run's config so a report needs nothing but the ledger.

    model: name, ref, sha256, format; platform: the run's PlatformInfo as a dict (config["platform"], as every run
    keeps it); platform_summary: that platform in one line.
    """

    version: str
    model: dict[str, Any]
    runtime: str
    platform: dict[str, Any]
    platform_summary: str

    def to_config(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model": self.model,
            "runtime": self.runtime,
            "platform": self.platform,
            "platform_summary": self.platform_summary,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AuditHeader:
        return cls(
            version=str(config.get("version", "")),
            model=dict(config.get("model") or {}),
            runtime=str(config.get("runtime", "")),
            platform=dict(config.get("platform") or {}),
            platform_summary=str(config.get("platform_summary", "")),
        )

    def report_platform(self) -> dict[str, Any]:
        """The platform block of report.json: the stored platform, the runtime, and the one-line summary."""
        return {**self.platform, "runtime": self.runtime, "summary": self.platform_summary}
