"""For a model `warden tune` made: its base, its data, the tune run, and the proof against the base, from the ledger."""

from __future__ import annotations

from typing import Any

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status


class Lineage:
    name = "lineage"
    title = "Tuned from"
    description = (
        "For a model tuned with `warden tune`: the base and data hashes, the training run, and the paired comparison "
        "with the base (gates and niche gain) that the tune recorded."
    )

    def run(self, ctx: AuditContext) -> StageResult:
        record = ctx.ledger.model(ctx.artifact.sha256)
        lineage = (record.metadata or {}).get("lineage") if record is not None else None
        if not isinstance(lineage, dict) or not lineage.get("tune_run"):
            return StageResult(
                self.name, self.title, "ok", "not a tune recorded in this ledger (declared lineage: see Inspect)"
            )
        base, data, run_id = lineage.get("base_model") or {}, lineage.get("dataset") or {}, str(lineage["tune_run"])
        rows: list[dict[str, Any]] = [
            {"what": "base model", "name": base.get("name"), "detail": f"sha256 {base.get('sha256')}"},
            {
                "what": "training data",
                "name": data.get("name"),
                "detail": f"sha256 {data.get('sha256')}; source {data.get('source')}; licence {data.get('license')}",
            },
        ]
        run = ctx.ledger.run(run_id)  # None when the tune ran against another ledger
        summary = dict(run.summary or {}) if run is not None else {}
        if run is not None:
            energy = summary.get("energy") or {}
            rows.append(
                {
                    "what": "tune run",
                    "name": run_id,
                    "detail": f"{summary.get('steps')} steps, {summary.get('tokens_seen')} tokens, "
                    f"{summary.get('wall_s')} s, final loss {summary.get('final_loss')}, "
                    f"energy {energy.get('kwh', '?')} kWh ({energy.get('source', 'not recorded')})",
                }
            )
        proofs = [e.payload for e in ctx.ledger.events(run_id) if e.kind == "tune.proof"] if run is not None else []
        if not proofs:
            return StageResult(
                self.name,
                self.title,
                "warn",
                f"tuned from {base.get('name')} by run {run_id}, with no comparison against the base recorded: run "
                "`warden compare` on the two models",
                rows=rows,
                data={"lineage": lineage, "tune": summary},
            )
        proof = proofs[0]
        gates = list(proof.get("gates") or [])
        failed = [g.get("metric") for g in gates if not g.get("passed")]
        for g in gates:
            rows.append(
                {
                    "what": f"gate {g.get('metric')}",
                    "name": "passed" if g.get("passed") else "FAILED",
                    "detail": f"drop {g.get('drop')} (allowed {g.get('max_drop')}), p {g.get('p_value')}, "
                    f"n {g.get('n')}",
                }
            )
        for metric, n in (proof.get("niche") or {}).items():
            rows.append(
                {
                    "what": f"niche {metric}",
                    "name": f"{n.get('base')} -> {n.get('tuned')}",
                    "detail": f"delta {n.get('delta')}, p {n.get('p')}, n {n.get('n')}",
                }
            )
        status: Status = "fail" if failed else "ok"
        line = (
            f"against its base {base.get('name')}: gate{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} "
            "failed"
            if failed
            else f"against its base {base.get('name')}: every gate passed ({len(gates)})"
        )
        line += f" (eval runs {proof.get('base_run')} vs {proof.get('tuned_run')})"
        return StageResult(
            self.name, self.title, status, line, rows=rows, data={"lineage": lineage, "tune": summary, "proof": proof}
        )
