"""Model: what inspect found (facts, licence verdict with its clauses, findings), lineage, BOM, signature, runs.

Everything comes from the ledger: the newest inspect run's stored report, the model row's lineage (tune writes
it), and the model's runs. The BOM is rebuilt from the stored report with inspect's own builder; nothing is rerun.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from weightwarden.gateway.auth import Caller
from weightwarden.inspect.base import FileReport, Finding, Inspection, Severity
from weightwarden.inspect.bom import build_bom
from weightwarden.inspect.signing import default_paths
from weightwarden.ledger import ModelRecord
from weightwarden.ui import queries
from weightwarden.ui.pages.common import not_found, require_admin, ui_context

router = APIRouter()
Admin = Annotated[Caller, Depends(require_admin)]
FIELDS: tuple[str, ...] = ("ref", "path", "name", "format", "sha256", "size_bytes", "architecture", "parameters")
FIELDS += (
    "quantization",
    "context_length",
    "metadata",
    "chat_template",
    "license",
    "use",
    "lineage",
    "inspected_at",
    "tool",
)


def inspection_from_report(report: dict[str, Any]) -> Inspection:
    """The Inspection that `as_json()` wrote, back as an object (for inspect's BOM builder)."""
    known = {k: report[k] for k in FIELDS if k in report and report[k] is not None}
    return Inspection(
        **known,
        files=[FileReport(**f) for f in report.get("files") or []],
        findings=[
            Finding(Severity(f["severity"]), f["kind"], f["detail"], f.get("file"))
            for f in report.get("findings") or []
        ],
    )


def signature_status(model: ModelRecord) -> dict[str, Any]:
    """Whether `warden sign` left a signature beside the model file: found or not, never verified here."""
    where = (model.metadata or {}).get("path")
    if not where or not Path(str(where)).exists():
        return {
            "state": "unknown",
            "text": "the model's file is not on this machine, so its signature cannot be looked for",
        }
    bom, sig = default_paths(Path(str(where)))
    if sig.is_file():
        return {
            "state": "found",
            "text": f"a signature is at {sig} (with its BOM at {bom}); check it with `warden verify {where} --pub KEY`",
        }
    return {"state": "none", "text": f"no signature at {sig}: sign the model with `warden sign {where} --key KEY`"}


def lineage(model: ModelRecord, report: dict[str, Any] | None) -> dict[str, Any]:
    """Base models and data: from a tune's record on the model row, and from what inspect read in the file."""
    tuned = (model.metadata or {}).get("lineage") or {}
    found = (report or {}).get("lineage") or {}
    return {
        "base": tuned.get("base_model") if isinstance(tuned, dict) else None,
        "dataset": tuned.get("dataset") if isinstance(tuned, dict) else None,
        "tune_run": tuned.get("tune_run") if isinstance(tuned, dict) else None,
        "declared_bases": found.get("base_models") or [],
        "datasets": found.get("datasets") or [],
        "gaps": found.get("gaps") or [],
        "quantized_by": found.get("quantized_by"),
        "source_url": found.get("source_url"),
    }


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(request: Request, model_id: str, _: Admin) -> HTMLResponse:
    ui = ui_context(request)
    model = queries.find_model(ui.ledger, model_id)
    if model is None:
        return not_found(
            request, f"model {model_id}", "Models appear once inspected, evaluated or served; see the runs"
        )
    inspect_run = queries.latest_run(ui.ledger, model.hash, "inspect")
    report = inspect_run.summary if inspect_run and isinstance(inspect_run.summary, dict) else None
    return ui.render(
        request,
        "model.html",
        model=model,
        inspect_run=inspect_run,
        report=report,
        licence=(report or {}).get("license") or {},
        use=(report or {}).get("use"),
        findings=(report or {}).get("findings") or [],
        lineage=lineage(model, report),
        signature=signature_status(model),
        runs=ui.ledger.runs(model_hash=model.hash, limit=50),
    )


@router.get("/models/{model_id}/bom.cdx.json")
def model_bom(request: Request, model_id: str, _: Admin) -> Response:
    ui = ui_context(request)
    model = queries.find_model(ui.ledger, model_id)
    inspect_run = queries.latest_run(ui.ledger, model.hash, "inspect") if model else None
    if model is None or inspect_run is None or not isinstance(inspect_run.summary, dict):
        return not_found(request, f"inspection of model {model_id}", "Run `warden inspect MODEL` to store one")
    bom = build_bom(inspection_from_report(inspect_run.summary))
    return Response(
        json.dumps(bom, indent=2, ensure_ascii=False) + "\n",
        media_type="application/vnd.cyclonedx+json",
        headers={"Content-Disposition": f'attachment; filename="{model.hash[:12]}.cdx.json"'},
    )
