"""The provenance stage of `warden audit`: does the watermark round-trip, and is a benchmark in the training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.provenance.bench import BenchItem, load_bench
from weightwarden.provenance.corpus import Block, Corpus
from weightwarden.provenance.exact import exact_overlap
from weightwarden.provenance.report import check_contamination
from weightwarden.runtimes.artifact import Artifact
from weightwarden.runtimes.base import Runtime
from weightwarden.runtimes.distribution import LogitsRuntime
from weightwarden.watermark.audit import watermark_check

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


def contamination_check(runtime: Runtime, train: Path | None, bench: Path | None) -> dict[str, Any]:
    """{"status", "summary", "rows", "data"} for a benchmark against a training corpus; a self-check without them."""
    if train is None or bench is None:
        selfcheck = contamination_self_check()
        status = "ok" if selfcheck["passed"] else "fail"
        summary = "contamination: no training corpus given; " + (
            "the exact-overlap self-check passed" if selfcheck["passed"] else "the exact-overlap self-check FAILED"
        )
        return {"status": status, "summary": summary, "rows": [], "data": {"self_check": selfcheck}}
    items = load_bench(bench)
    scorer = runtime if isinstance(runtime, LogitsRuntime) else None
    report = check_contamination(items, Corpus(train), scorer)
    counts = report.counts()
    status = "warn" if counts["contaminated"] or counts["partial"] else "ok"
    summary = (
        f"contamination of {bench.name} in {train.name}: {counts['contaminated']} contaminated, {counts['partial']} "
        f"partial, {counts['clean']} clean of {len(items)} items"
    )
    rows = [{k: v for k, v in r.items() if k != "spans"} for r in report.rows() if r.get("verdict") != "clean"]
    return {"status": status, "summary": summary, "rows": rows, "data": report.as_dict()}


def provenance_stage(
    artifact: Artifact,
    runtime: Runtime,
    *,
    settings: Settings | None = None,
    train: Path | None = None,
    bench: Path | None = None,
) -> dict[str, Any]:
    """{"status": ok|warn|fail, "summary", "rows", "data"} for the audit report; never raises a WardenError.

    settings: when its watermark key is configured the round trip uses it, else a throw-away key; train, bench: a
    training corpus and a benchmark file to check for contamination (without them, a built-in self-check runs).
    """
    mark = watermark_check(runtime, settings)
    try:
        cont = contamination_check(runtime, train, bench)
    except WardenError as exc:
        cont = {"status": "warn", "summary": f"contamination not checked: {exc}", "rows": [], "data": {}}
    order = {"ok": 0, "warn": 1, "fail": 2}
    status = max(mark["status"], cont["status"], key=order.__getitem__)
    rows = [
        {"check": "watermark", "status": mark["status"], "detail": mark["summary"]},
        {"check": "contamination", "status": cont["status"], "detail": cont["summary"]},
        *cont["rows"],
    ]
    data = {"model": artifact.sha256, "watermark": mark["data"], "contamination": cont["data"]}
    return {"status": status, "summary": f"{mark['summary']}; {cont['summary']}", "rows": rows, "data": data}
