"""Any run as a report document, in the shape report/ renders (see weightwarden.report.document).

Audit runs use report's own audit_document. Other kinds get the same shape: one section per eval task (its metrics
as interval bars, like an audit's eval stage) or one section holding the run's stored summary.
"""

from __future__ import annotations

from typing import Any

from weightwarden import __version__
from weightwarden.ledger import Ledger, RunRecord
from weightwarden.report import audit_document

AUDIT = "audit"


def _eval_sections(summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for task in summary.get("tasks") or []:
        metrics = task.get("metrics") or {}
        bars = [
            {"label": name, "value": m["value"], "low": m["low"], "high": m["high"], "n": m.get("n", "")}
            for name, m in metrics.items()
            if isinstance(m, dict) and {"value", "low", "high"} <= m.keys()
        ]
        head = ", ".join(f"{b['label']} {b['value']:.3f} [{b['low']:.3f}, {b['high']:.3f}]" for b in bars[:3])
        out.append(
            {
                "title": str(task.get("task", "task")),
                "status": "ok",
                "summary": f"{task.get('n', '?')} items; {head}" if head else f"{task.get('n', '?')} items",
                "figures": [{"title": f"{task.get('task')} (95% intervals)", "bars": bars}] if bars else [],
                "rows": [{"metric": b["label"], "value": b["value"], "low": b["low"], "high": b["high"]} for b in bars],
            }
        )
    return out


def _summary_section(run: RunRecord) -> dict[str, Any]:
    summary = run.summary or {}
    rows = [{"field": k, "value": v} for k, v in summary.items()]
    return {
        "title": f"{run.kind} summary",
        "status": run.status,
        "summary": f"{len(rows)} fields stored by the {run.kind} run" if rows else "the run stored no summary",
        "figures": [],
        "rows": rows,
    }


def run_document(ledger: Ledger, run: RunRecord, model_name: str) -> dict[str, Any]:
    """The report document of any run: audit runs exactly as `warden report` reads them."""
    if run.kind == AUDIT:
        return audit_document(ledger, run.id)
    sections = _eval_sections(run.summary or {}) if run.kind == "eval" else []
    return {
        "version": __version__,
        "run_id": run.id,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "status": run.status,
        "model": {"name": model_name, "sha256": run.model_hash},
        "platform": None,
        "stages": sections or [_summary_section(run)],
    }
