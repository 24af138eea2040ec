"""Provenance checks as ledger runs, keyed by the model's hash: one item per benchmark item or document."""

from __future__ import annotations

from typing import Any

from weightwarden.ledger import ItemRecord, Ledger, ModelRecord
from weightwarden.provenance.regurgitation import RegurgitationReport
from weightwarden.provenance.report import ContaminationReport
from weightwarden.runtimes.artifact import Artifact


def _start(ledger: Ledger, artifact: Artifact, kind: str, config: dict[str, Any]) -> str:
    ledger.upsert_model(ModelRecord.of(artifact))
    return ledger.start_run(kind, artifact.sha256, config)


def record_contamination(
    ledger: Ledger, artifact: Artifact, report: ContaminationReport, config: dict[str, Any]
) -> str:
    """A `contamination` run with the exact verdicts and membership scores of each item; returns the run id."""
    run_id = _start(ledger, artifact, "contamination", {**config, **report.settings})
    items = [
        ItemRecord(
            key=row["id"],
            input={"text": item.text},
            output={"verdict": row.get("verdict"), "spans": row.get("spans", [])},
            scores={k: row[k] for k in ("word_coverage", "char_coverage", "min_k", "min_k_pp") if k in row},
        )
        for item, row in zip(report.items, report.rows(), strict=True)
    ]
    ledger.add_items(run_id, items)
    summary: dict[str, Any] = {"items": len(items)}
    if report.overlaps is not None:
        summary["counts"] = report.counts()
    ledger.finish_run(run_id, "ok", summary)
    return run_id


def record_regurgitation(
    ledger: Ledger, artifact: Artifact, report: RegurgitationReport, config: dict[str, Any]
) -> str:
    """A `regurgitation` run with one item per document; returns the run id."""
    run_id = _start(ledger, artifact, "regurgitation", {**config, **report.settings})
    items = [
        ItemRecord(
            key=doc.doc,
            input={"tokens": doc.tokens, "note": doc.note},
            output={"probes": [p.as_dict() for p in doc.probes]},
            scores={"longest_chars": doc.longest_chars, "ngram_overlap": doc.ngram_overlap},
        )
        for doc in report.documents
    ]
    ledger.add_items(run_id, items)
    flagged = [d.doc for d in report.flagged()]
    ledger.finish_run(run_id, "ok", {"documents": len(items), "flagged": flagged})
    return run_id
