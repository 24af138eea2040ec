"""The orchestrator: run every registered stage on one model and write each result to the ledger as it finishes.

It renders nothing: a report is made from what the ledger holds (weightwarden.report), so a past audit can be
rendered again, byte for byte, with `warden report RUN_ID`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from weightwarden import __version__
from weightwarden.audit.base import Stage
from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import AuditHeader, StageResult
from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger, ModelRecord, StageRecord
from weightwarden.runtimes import Artifact, Runtime
from weightwarden.runtimes.platform_info import describe, platform_info

AUDIT_RUN_KIND = "audit"


@dataclass
class AuditRun:
    """A finished audit: its ledger run, its overall status (ok or failed) and every stage's result."""

    run_id: str
    status: str
    results: list[StageResult]


def run_stage(stage: Stage, ctx: AuditContext) -> StageResult:
    """One stage, timed; a WardenError that escapes it becomes a failed result instead of ending the audit."""
    t0 = time.perf_counter()
    try:
        result = stage.run(ctx)
    except WardenError as exc:
        result = StageResult(stage.name, stage.title, "fail", str(exc))
    result.seconds = round(time.perf_counter() - t0, 3)
    # What is stored is what is rendered: JSON types only, so a report made now and one made later agree.
    return StageResult.from_json(result.to_json())


def run_audit(
    artifact: Artifact,
    runtime: Runtime,
    ledger: Ledger,
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    settings: Settings | None = None,
    train: Path | None = None,
    bench: Path | None = None,
    eval_limit: int | None = None,
    item_progress: Callable[[int, int, str], None] | None = None,
    stages: Mapping[str, type[Stage]] | None = None,
) -> AuditRun:
    """Run every stage, writing each result to the ledger as an audit run; returns the run.

    progress: called with each stage's name as it starts; item_progress: (done, total, task) within a stage;
    stages: the stages to run (default: audit.registry.STAGES, in its order).
    """
    if stages is None:
        from weightwarden.audit.registry import STAGES

        stages = STAGES
    ledger.upsert_model(ModelRecord.of(artifact))
    # What the evidence ran on: scores differ in the last bits, and greedy answers at near ties, between builds.
    where = platform_info(threads=runtime.info.details.get("threads")).as_dict()
    header = AuditHeader(
        version=__version__,
        model={"name": artifact.name, "ref": artifact.ref, "sha256": artifact.sha256, "format": artifact.format},
        runtime=runtime.info.name,
        platform=where,
        platform_summary=describe(where),
    )
    config = {"ref": artifact.ref, "quick": quick, **header.to_config()}
    run_id = ledger.start_run(AUDIT_RUN_KIND, artifact.sha256, config)
    ctx = AuditContext(artifact, runtime, ledger, run_id, quick, settings, train, bench, eval_limit, item_progress)
    results: list[StageResult] = []
    try:
        for position, (name, stage_class) in enumerate(stages.items()):
            if progress:
                progress(name)
            result = run_stage(stage_class(), ctx)
            results.append(result)
            ledger.add_stage_result(StageRecord(run_id, position, result.key, result.status, result.to_json()))
            ledger.add_event(
                "audit.stage", {"stage": result.key, "status": result.status, "summary": result.summary}, run_id
            )
    except BaseException:
        ledger.finish_run(run_id, "interrupted", {"stages": [r.key for r in results]})
        raise
    status = "failed" if any(r.status == "fail" for r in results) else "ok"
    ledger.finish_run(run_id, status, {"stages": {r.key: {"status": r.status, "summary": r.summary} for r in results}})
    return AuditRun(run_id, status, results)
