"""The report of an audit run, read from the ledger alone: header, timing and every stage's stored result."""

from __future__ import annotations

from typing import Any

from weightwarden.audit.result import AuditHeader
from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger

AUDIT_RUN_KIND = "audit"


def audit_document(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """The report of one audit run as plain JSON types, in the shape report.json has; a bench run's report is
    report.bench's document (it has "kind": "bench").

    Raises a WardenError when the ledger has no such run, or the run is neither an audit nor a bench.
    """
    run = ledger.run(run_id)
    if run is None:
        raise WardenError(
            f"no run {run_id!r} in {ledger.url}: `warden audit` prints the run id it writes; "
            "check --db names the ledger it wrote to"
        )
    if run.kind == "bench":
        from weightwarden.report.bench import bench_document

        return bench_document(ledger, run_id)
    if run.kind != AUDIT_RUN_KIND:
        raise WardenError(
            f"run {run_id} is a{'n' if run.kind[:1] in 'aeiou' else ''} {run.kind} run, not an audit: "
            "`warden report` renders the runs that `warden audit` and `warden bench` write"
        )
    header = AuditHeader.from_config(run.config)
    return {
        "version": header.version,
        "run_id": run.id,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "status": run.status,
        "model": header.model,
        "platform": header.report_platform(),
        "stages": [rec.result for rec in ledger.stage_results(run_id)],
    }
