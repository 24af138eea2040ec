"""Watermark and contamination: does the watermark round-trip on this model, and is a benchmark in the training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.audit.stages.check import Check, worst
from weightwarden.audit.stages.watermark import watermark_check
from weightwarden.errors import WardenError
from weightwarden.provenance.bench import BenchItem, load_bench
from weightwarden.provenance.corpus import Block, Corpus
from weightwarden.provenance.exact import exact_overlap
from weightwarden.provenance.report import check_contamination
from weightwarden.runtimes.base import Runtime
from weightwarden.runtimes.distribution import LogitsRuntime

# A tiny benchmark and corpus written for this self-check: item "planted" sits in the corpus verbatim, "reworded" with
# two words changed, "fresh" nowhere.
_SELF_ITEMS = (
    BenchItem(
        "planted",
        "A kettle holding two litres of water at twelve degrees needs about 0.26 kilowatt hours to reach the boil.",
    ),
    BenchItem(
        "reworded",
        "The ferry leaves the harbour at seven each morning and returns after dark, except on the first Sunday of the "
        "month when it does not sail at all.",
    ),
    BenchItem("fresh", "Which of these rivers is longest: the Severn, the Thames or the Trent? Answer with one name."),
)
_SELF_CORPUS = (
    "Notes from the workshop. A kettle holding two litres of water at twelve degrees needs about 0.26 kilowatt hours "
    "to reach the boil, so boil only what you pour. The ferry leaves the harbour at seven every morning and comes back "
    "after dark, except on the first Sunday of the month when it does not sail at all. Rivers rise in the hills."
)


def contamination_self_check() -> dict[str, Any]:
    """The exact tests on the built-in items: "planted" must be contaminated, "fresh" clean."""
    results = {r.id: r for r in exact_overlap(_SELF_ITEMS, [Block("self-check", _SELF_CORPUS, True)])}
    passed = results["planted"].verdict == "contaminated" and results["fresh"].verdict == "clean"
    return {"passed": passed, "verdicts": {k: v.verdict for k, v in results.items()}}


def contamination_check(runtime: Runtime, train: Path | None, bench: Path | None) -> Check:
    """A benchmark against a training corpus; the built-in self-check without them."""
    if train is None or bench is None:
        selfcheck = contamination_self_check()
        summary = "contamination: no training corpus given; " + (
            "the exact-overlap self-check passed" if selfcheck["passed"] else "the exact-overlap self-check FAILED"
        )
        return Check("ok" if selfcheck["passed"] else "fail", summary, data={"self_check": selfcheck})
    items = load_bench(bench)
    scorer = runtime if isinstance(runtime, LogitsRuntime) else None
    report = check_contamination(items, Corpus(train), scorer)
    counts = report.counts()
    status: Status = "warn" if counts["contaminated"] or counts["partial"] else "ok"
    summary = (
        f"contamination of {bench.name} in {train.name}: {counts['contaminated']} contaminated, {counts['partial']} "
        f"partial, {counts['clean']} clean of {len(items)} items"
    )
    rows = [{k: v for k, v in r.items() if k != "spans"} for r in report.rows() if r.get("verdict") != "clean"]
    return Check(status, summary, rows, report.as_dict())


class Provenance:
    name = "provenance"
    title = "Watermark and contamination"
    description = (
        "Watermarked and unmarked answers through the detector at a 1e-4 false-positive rate (the configured key, "
        "else a throw-away one), and benchmark contamination of --train by --bench (a built-in exact-overlap "
        "self-check without them)."
    )

    def run(self, ctx: AuditContext) -> StageResult:
        mark = watermark_check(ctx.runtime, ctx.settings)
        try:
            cont = contamination_check(ctx.runtime, ctx.train, ctx.bench)
        except WardenError as exc:
            cont = Check("warn", f"contamination not checked: {exc}")
        rows = [
            {"check": "watermark", "status": mark.status, "detail": mark.summary},
            {"check": "contamination", "status": cont.status, "detail": cont.summary},
            *cont.rows,
        ]
        data = {"model": ctx.artifact.sha256, "watermark": mark.data, "contamination": cont.data}
        summary = f"{mark.summary}; {cont.summary}"
        return StageResult(self.name, self.title, worst(mark.status, cont.status), summary, rows, data)
