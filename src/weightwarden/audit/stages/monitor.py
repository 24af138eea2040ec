"""The latest `warden monitor` result for the model: a drift report or a rule check, read from the ledger."""

from __future__ import annotations

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.monitor.record import latest_result


class Monitor:
    name = "monitor"
    title = "Monitoring in service"
    description = "The newest drift report, alert-rule check or canary run of this model (as served), from the ledger."

    def run(self, ctx: AuditContext) -> StageResult:
        latest = latest_result(ctx.ledger, ctx.artifact.sha256)
        if latest is None:
            return StageResult(
                self.name,
                self.title,
                "ok",
                "no monitor result yet: serve the model, then run `warden monitor drift` or `warden monitor check`",
            )
        summary = latest["summary"] or {}
        what = (latest["config"] or {}).get("what", "check")
        status: Status = "ok"
        if what == "drift":
            drifted = bool(summary.get("drifted"))
            status = "warn" if drifted else "ok"
            smallest = float(summary.get("min_p_adjusted", 1.0))
            line = f"drift {'found' if drifted else 'not found'} (smallest Holm-adjusted p {smallest:.3g})"
            rows = [
                {"test": name, "p (Holm)": t.get("p_adjusted"), "effect": t.get("effect")}
                for name, t in (summary.get("tests") or {}).items()
            ]
        elif what == "canary":
            regressions = list(summary.get("regressions") or [])
            status = "fail" if summary.get("regressed") else "ok"
            if summary.get("baseline"):
                line = f"canary: first run {summary.get('run_id')} is the baseline"
            elif regressions:
                line = f"canary: significantly worse than its first run on {', '.join(regressions)}"
            else:
                line = f"canary: no significant change from its first run ({summary.get('flips', 0)} items flipped)"
            rows = [
                {"metric": name, "delta": m.get("delta"), "p": m.get("p_value"), "n": m.get("n")}
                for name, m in (summary.get("metrics") or {}).items()
            ]
        else:
            firing = list(summary.get("firing") or [])
            status = "warn" if firing else "ok"
            line = f"alert rules: {', '.join(firing)} firing" if firing else "alert rules: none firing"
            rows = [
                {
                    "rule": r.get("name"),
                    "value": r.get("value"),
                    "threshold": r.get("threshold"),
                    "firing": r.get("firing"),
                }
                for r in summary.get("results") or []
            ]
        return StageResult(
            self.name, self.title, status, f"{line}, {latest['time'][:16]} UTC", rows=rows, data={"latest": latest}
        )
