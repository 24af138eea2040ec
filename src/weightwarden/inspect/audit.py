"""The inspection stage of `warden audit`: inspect the audited artifact and say ok, warn or fail."""

from __future__ import annotations

from typing import Any

from weightwarden.errors import WardenError
from weightwarden.inspect.base import Severity
from weightwarden.inspect.inspector import inspect_model
from weightwarden.ledger import Ledger
from weightwarden.runtimes.artifact import Artifact, HashCache


def inspection_stage(
    artifact: Artifact, ledger: Ledger | None = None, cache: HashCache | None = None
) -> dict[str, Any]:
    """{"status": ok|warn|fail, "summary", "rows", "data"} for the audit report; never raises a WardenError.

    fail: a critical finding (loading can run code) or a corrupt file; warn: a high or medium finding, or a license
    the table does not know; ok otherwise. ledger: when given, the inspection is also recorded as its own run.
    """
    if artifact.format == "remote" or artifact.path is None:
        return {
            "status": "warn",
            "summary": "remote model: its weights are not on this machine, so they cannot be inspected",
            "rows": [],
            "data": {},
        }
    known = dict(artifact.files) if artifact.format == "hf" else {artifact.path.name: artifact.sha256}
    try:
        ins = inspect_model(artifact.path, cache=cache, known_hashes=known)
    except WardenError as exc:
        return {"status": "fail", "summary": f"cannot inspect: {exc}", "rows": [], "data": {}}
    run_id = None
    if ledger is not None:
        from weightwarden.inspect.record import record_inspection

        run_id = record_inspection(ledger, ins, {"from": "audit"})
    worst = ins.worst
    counts = ins.counts()
    if worst is Severity.CRITICAL:
        status = "fail"
    elif worst in (Severity.HIGH, Severity.MEDIUM) or ins.license.get("id") in ("unknown", "none"):
        status = "warn"
    else:
        status = "ok"
    params = f"{ins.parameters / 1e6:.0f}M parameters" if ins.parameters else "parameters unknown"
    quant = "/".join(k for k in list(ins.quantization)[:2])
    shown = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n and sev != "info") or "no findings"
    summary = (
        f"{ins.format} · {ins.architecture or '?'} · {params}{' · ' + quant if quant else ''} · "
        f"license {ins.license.get('id')} · {shown}"
    )
    rows = [
        {"severity": f["severity"], "kind": f["kind"], "detail": f["detail"], "file": f.get("file") or ""}
        for f in ins.as_json()["findings"]
    ]
    data = ins.as_json()
    for f in data["files"]:  # tensor tables can run to thousands of rows; the ledger run keeps them
        f["details"].pop("tensors", None)
    if run_id:
        data["run_id"] = run_id
    return {"status": status, "summary": summary, "rows": rows, "data": data}
