"""`warden audit`: every stage on one model; each stage's typed result goes to the ledger, and `report/` renders it.

from weightwarden.audit import run_audit
run = run_audit(artifact, runtime, ledger)      # an AuditRun: run_id, status, results
# then: weightwarden.report.render_run(ledger, run.run_id, folder)

Importing this package loads no stage: the registry and the orchestrator load on first use, so a renderer can import
the typed records (StageResult, AuditHeader) alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from weightwarden.audit.base import Stage
from weightwarden.audit.result import AuditHeader, Figure, StageResult, Status

if TYPE_CHECKING:
    from weightwarden.audit.context import AuditContext
    from weightwarden.audit.pipeline import AuditRun, run_audit
    from weightwarden.audit.registry import STAGES

__all__ = [
    "STAGES",
    "AuditContext",
    "AuditHeader",
    "AuditRun",
    "Figure",
    "Stage",
    "StageResult",
    "Status",
    "run_audit",
]

_LAZY = {
    "STAGES": "weightwarden.audit.registry",
    "AuditContext": "weightwarden.audit.context",
    "AuditRun": "weightwarden.audit.pipeline",
    "run_audit": "weightwarden.audit.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'weightwarden.audit' has no attribute {name!r}")
