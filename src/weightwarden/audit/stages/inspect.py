"""Inspection: format, unsafe content, license and lineage, read from the file without running it."""

from __future__ import annotations

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.errors import WardenError
from weightwarden.inspect import Severity, record_inspection


class Inspect:
    name = "inspect"
    title = "Inspection"
    description = (
        "Unsafe content (pickle imports, chat-template code), license and lineage, read without running the model; "
        "the inspection is also recorded as its own ledger run."
    )

    def run(self, ctx: AuditContext) -> StageResult:
        """fail: a critical finding (loading can run code) or a corrupt file; warn: a high or medium finding, or a
        license the table does not know; ok otherwise."""
        if ctx.artifact.format == "remote" or ctx.artifact.path is None:
            summary = "remote model: its weights are not on this machine, so they cannot be inspected"
            return StageResult(self.name, self.title, "warn", summary)
        try:
            ins = ctx.inspection()
        except WardenError as exc:
            return StageResult(self.name, self.title, "fail", f"cannot inspect: {exc}")
        run_id = record_inspection(ctx.ledger, ins, {"from": "audit"})
        worst = ins.worst
        status: Status
        if worst is Severity.CRITICAL:
            status = "fail"
        elif worst in (Severity.HIGH, Severity.MEDIUM) or ins.license.get("id") in ("unknown", "none"):
            status = "warn"
        else:
            status = "ok"
        params = f"{ins.parameters / 1e6:.0f}M parameters" if ins.parameters else "parameters unknown"
        quant = "/".join(k for k in list(ins.quantization)[:2])
        shown = ", ".join(f"{n} {sev}" for sev, n in ins.counts().items() if n and sev != "info") or "no findings"
        summary = (
            f"{ins.format} · {ins.architecture or '?'} · {params}{' · ' + quant if quant else ''} · "
            f"license {ins.license.get('id')} · {shown}"
        )
        data = ins.as_json()
        rows = [
            {"severity": f["severity"], "kind": f["kind"], "detail": f["detail"], "file": f.get("file") or ""}
            for f in data["findings"]
        ]
        for f in data["files"]:  # tensor tables can run to thousands of rows; the inspection's own run keeps them
            f["details"].pop("tensors", None)
        data["run_id"] = run_id
        return StageResult(self.name, self.title, status, summary, rows, data)
