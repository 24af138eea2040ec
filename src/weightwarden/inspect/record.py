"""Store an inspection in the ledger: the model row, a run of kind "inspect" whose summary is the JSON report,
and one item per finding, all keyed by the model's sha256."""

from __future__ import annotations

from typing import Any

from weightwarden.inspect.base import Inspection, sort_findings
from weightwarden.ledger import ItemRecord, Ledger, ModelRecord


def record_inspection(ledger: Ledger, ins: Inspection, config: dict[str, Any] | None = None) -> str:
    """Record the inspection; returns the run id. config: how it was asked for (ref, planned use)."""
    ledger.upsert_model(
        ModelRecord(
            hash=ins.sha256,
            name=ins.name,
            format=ins.format,
            size_bytes=ins.size_bytes,
            metadata={"ref": ins.ref, "path": ins.path},
        )
    )
    run_id = ledger.start_run("inspect", ins.sha256, {"ref": ins.ref, **(config or {})})
    try:
        items = [
            ItemRecord(
                key=f"finding-{i:04d}",
                input={"kind": f.kind, "file": f.file},
                output={"detail": f.detail},
                scores={"severity": str(f.severity), "rank": f.severity.rank},
            )
            for i, f in enumerate(sort_findings(ins.findings))
        ]
        ledger.add_items(run_id, items)
    except BaseException:
        ledger.finish_run(run_id, "failed", {"error": "could not record the findings"})
        raise
    ledger.finish_run(run_id, "ok", ins.as_json())
    return run_id
