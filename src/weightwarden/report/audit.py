"""`warden audit`: every stage that exists, on one model, into one report and one ledger run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weightwarden import __version__
from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.eval import available_suites, load_suite, run_eval
from weightwarden.guard.quality import guard_stage
from weightwarden.inspect import inspection_stage
from weightwarden.ledger import ItemRecord, Ledger
from weightwarden.provenance.audit import provenance_stage
from weightwarden.report.charts import interval_bars
from weightwarden.report.facts import model_facts
from weightwarden.report.html import write_report
from weightwarden.runtimes import Artifact, GenerationParams, Message, Runtime
from weightwarden.runtimes.platform_info import PLATFORM_KEY, describe, platform_info
from weightwarden.runtimes.speed import measure_speed

SMOKE_PROMPTS = (
    "What is the capital of France? Answer in one word.",
    "Write one sentence about the sea.",
    "What is 2 + 3? Reply with the number only.",
    "Name three colours.",
)

# The guard stage runs one attack and one harmless text through the default policy: the first must be blocked.


@dataclass
class StageResult:
    key: str
    title: str
    status: str  # ok, warn, fail
    summary: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditContext:
    artifact: Artifact
    runtime: Runtime
    ledger: Ledger
    run_id: str
    quick: bool = False
    settings: Settings | None = None
    train: Path | None = None
    bench: Path | None = None
    eval_limit: int | None = None  # items per eval task; None: AUDIT_EVAL_LIMIT, 0: all
    item_progress: Callable[[int, int, str], None] | None = None  # (done, total, task) inside a stage


Stage = Callable[[AuditContext], StageResult]


def stage_facts(ctx: AuditContext) -> StageResult:
    facts = model_facts(ctx.artifact)
    facts["load_seconds"] = round(ctx.runtime.info.load_seconds, 3)
    facts["runtime"] = ctx.runtime.info.name
    params = facts.get("parameters")
    summary = f"{facts['format']} · {facts.get('architecture') or '?'}"
    if params:
        summary += f" · {params / 1e6:.0f}M parameters"
    if facts.get("quantization"):
        summary += " · " + "/".join(list(facts["quantization"])[:2])
    summary += f" · license: {facts.get('license') or 'not stated in the file'}"
    status = "ok" if facts.get("license") or ctx.artifact.format == "remote" else "warn"
    rows = [{"fact": k, "value": v} for k, v in facts.items() if v is not None]
    return StageResult("facts", "Basic facts", status, summary, rows, facts)


def stage_inspect(ctx: AuditContext) -> StageResult:
    """Inspection: format, unsafe content, license and lineage, read from the file without running it."""
    r = inspection_stage(ctx.artifact, ctx.ledger)
    return StageResult("inspect", "Inspection", r["status"], r["summary"], r["rows"], r["data"])


def stage_smoke(ctx: AuditContext) -> StageResult:
    """Greedy chat answers; the first asked twice (temperature 0 must repeat), one sampled twice with a seed."""
    rt = ctx.runtime
    greedy = GenerationParams(max_tokens=48, temperature=0.0)
    rows: list[dict[str, Any]] = []
    items: list[ItemRecord] = []
    for i, prompt in enumerate(SMOKE_PROMPTS):
        gen = rt.chat([Message("user", prompt)], greedy)
        rows.append(
            {
                "prompt": prompt,
                "answer": gen.text.strip(),
                "tokens": gen.completion_tokens,
                "seconds": round(gen.seconds, 3),
            }
        )
        items.append(
            ItemRecord(
                key=f"smoke-{i}",
                input={"prompt": prompt},
                output={"text": gen.text},
                scores={"tokens": gen.completion_tokens},
            )
        )
    again = rt.chat([Message("user", SMOKE_PROMPTS[0])], greedy).text.strip()
    deterministic = again == rows[0]["answer"]
    sampled = GenerationParams(max_tokens=24, temperature=0.9, seed=1234)
    s1 = rt.chat([Message("user", SMOKE_PROMPTS[1])], sampled).text
    s2 = rt.chat([Message("user", SMOKE_PROMPTS[1])], sampled).text
    seeded = s1 == s2
    ctx.ledger.add_items(ctx.run_id, items)
    empty = sum(1 for r in rows if not r["answer"])
    status = "ok" if deterministic and seeded and not empty else "fail"
    summary = (
        f"{len(rows)} answers ({empty} empty); temperature 0 repeats: {'yes' if deterministic else 'NO'}; "
        f"seeded sampling repeats: {'yes' if seeded else 'NO'}"
    )
    return StageResult(
        "smoke", "Smoke generations", status, summary, rows, {"deterministic": deterministic, "seeded": seeded}
    )


def stage_loglikelihood(ctx: AuditContext) -> StageResult:
    """One scored continuation, so a broken scoring path shows up here before an eval trusts it."""
    try:
        ll = ctx.runtime.loglikelihood("The capital of France is", " Paris")
    except WardenError as exc:
        return StageResult("loglikelihood", "Log-likelihood", "warn", f"cannot score text: {exc}")
    row = {
        "context": "The capital of France is",
        "continuation": " Paris",
        "logprob": round(ll.total, 4),
        "greedy": ll.is_greedy,
    }
    status = "ok" if ll.total > -3.0 else "warn"
    return StageResult(
        "loglikelihood",
        "Log-likelihood",
        status,
        f"log P(' Paris' | 'The capital of France is') = {ll.total:.3f}",
        [row],
        row,
    )


def stage_speed(ctx: AuditContext) -> StageResult:
    speed = measure_speed(ctx.runtime, repeats=1 if ctx.quick else 2)
    d = speed.as_dict()
    summary = (
        f"{speed.prompt_tokens_per_s:.0f} prompt tok/s · {speed.generation_tokens_per_s:.1f} generated tok/s · "
        f"first token {speed.first_token_s * 1000:.0f} ms · peak RSS {speed.peak_rss_mb:.0f} MB"
    )
    return StageResult(
        "speed", "Speed on this machine", "ok", summary, [{"measure": k, "value": round(v, 3)} for k, v in d.items()], d
    )


# Items per task in a --quick audit (the full suites otherwise): on two busy cores the robustness suite's
# 128-token instruction items take about 30 s each under five perturbations, so quick stays small.
# Items per task the audit evaluates: a spread-out sample (its intervals show how little n is), so `make demo` takes
# minutes, not the hour or more the full suites take on two cores; `warden eval` or `audit --eval-limit 0` runs all.
AUDIT_EVAL_LIMIT = 10
QUICK_EVAL_LIMIT = 3


def stage_eval(ctx: AuditContext) -> StageResult:
    """Evaluation: the built-in suites (a few items per task when quick), each metric with its 95% interval."""
    suites = available_suites()
    if not suites:
        return StageResult(
            "eval", "Evaluation", "warn", "the built-in eval suites are not installed: reinstall weightwarden"
        )
    tasks = [t for suite in suites for t in load_suite(suite)]
    wanted = ctx.eval_limit if ctx.eval_limit is not None else AUDIT_EVAL_LIMIT
    if ctx.quick:
        wanted = min(wanted, QUICK_EVAL_LIMIT) if wanted else QUICK_EVAL_LIMIT
    limit = wanted or None  # 0: every item
    result = run_eval(ctx.runtime, ctx.artifact.sha256, tasks, ctx.ledger, limit=limit, progress=ctx.item_progress)
    rows: list[dict[str, Any]] = []
    charts: dict[str, str] = {}
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for t in result.tasks:
        for name, m in t.metrics.items():
            row = {"suite": t.suite, "task": t.task_id, "metric": name, **m.as_dict()}
            rows.append(row)
            by_suite.setdefault(t.suite, []).append(row)
    for suite, suite_rows in by_suite.items():
        bars = [{"label": f"{r['task'].split('.', 1)[-1]} · {r['metric']}", **r} for r in suite_rows]
        charts[suite] = interval_bars(bars, f"{suite} (95% intervals)")
    headline = []
    for r in rows:
        if r["metric"] in ("acc", "exact_match", "balance", "worst_case_acc", "stereotype_preference"):
            headline.append(f"{r['task']} {r['metric']} {r['value']:.2f}")
    n_items = sum(t.n for t in result.tasks)
    summary = (
        f"{len(result.tasks)} tasks in {', '.join(suites)}, {n_items} items"
        + (f" (at most {limit} per task)" if limit else "")
        + f"; {result.requests} model calls, {result.cached} cached; "
        + "; ".join(headline[:6])
    )
    data = {"run_id": result.run_id, "limit": limit, "charts": charts, "result": result.as_dict()}
    return StageResult("eval", "Evaluation", "ok", summary, rows, data)


def stage_guard(ctx: AuditContext) -> StageResult:
    """The guard's build-time figures with their provenance, and its built-in labelled sample scored now."""
    r = guard_stage()  # the guard's weights load here, not when the audit module is imported
    return StageResult("guard", "Guard quality", r["status"], r["summary"], r["rows"], r["data"])


def stage_provenance(ctx: AuditContext) -> StageResult:
    """Watermark round trip on this model, and benchmark contamination (a self-check without --train/--bench)."""
    r = provenance_stage(ctx.artifact, ctx.runtime, settings=ctx.settings, train=ctx.train, bench=ctx.bench)
    return StageResult("provenance", "Watermark and contamination", r["status"], r["summary"], r["rows"], r["data"])


STAGES: tuple[Stage, ...] = (
    stage_facts,
    stage_inspect,
    stage_smoke,
    stage_loglikelihood,
    stage_speed,
    stage_eval,
    stage_guard,
    stage_provenance,
)


def run_audit(
    artifact: Artifact,
    runtime: Runtime,
    ledger: Ledger,
    report_root: Path,
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    settings: Settings | None = None,
    train: Path | None = None,
    bench: Path | None = None,
    eval_limit: int | None = None,
    item_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Run every stage, record the run in the ledger, write the report; returns the report (with its paths).

    progress: called with each stage's key as it starts; item_progress: (done, total, task) within the eval stage.
    """
    ledger.upsert_model(artifact.model_record())
    started = datetime.now(UTC)
    where = platform_info(threads=runtime.info.details.get("threads")).as_dict()
    run_id = ledger.start_run(
        "audit",
        artifact.sha256,
        {"ref": artifact.ref, "quick": quick, "runtime": runtime.info.name, PLATFORM_KEY: where},
    )
    ctx = AuditContext(artifact, runtime, ledger, run_id, quick, settings, train, bench, eval_limit, item_progress)
    results: list[StageResult] = []
    status = "ok"
    try:
        for stage in STAGES:
            name = (stage.__doc__ or stage.__name__).split("\n")[0]
            if progress:
                progress(stage.__name__.removeprefix("stage_"))
            t0 = time.perf_counter()
            try:
                result = stage(ctx)
            except WardenError as exc:
                result = StageResult(stage.__name__.removeprefix("stage_"), name, "fail", str(exc))
            result.data["seconds"] = round(time.perf_counter() - t0, 3)
            results.append(result)
            ledger.add_event(
                "audit.stage", {"stage": result.key, "status": result.status, "summary": result.summary}, run_id
            )
    except BaseException:
        ledger.finish_run(run_id, "interrupted", {"stages": [r.key for r in results]})
        raise
    if any(r.status == "fail" for r in results):
        status = "failed"
    folder = report_root / artifact.short_hash
    report: dict[str, Any] = {
        "version": __version__,
        "run_id": run_id,
        "started_at": started.isoformat(),
        "ended_at": datetime.now(UTC).isoformat(),
        "status": status,
        "model": {"name": artifact.name, "ref": artifact.ref, "sha256": artifact.sha256, "format": artifact.format},
        # What the evidence ran on: scores differ in the last bits, and greedy answers at near ties, between builds.
        "platform": {**where, "runtime": runtime.info.name, "summary": describe(where)},
        "stages": [asdict(r) for r in results],
    }
    json_path, html_path = write_report(report, folder)
    report["paths"] = {"json": str(json_path), "html": str(html_path)}
    ledger.finish_run(
        run_id,
        status,
        {"report": str(html_path), "stages": {r.key: {"status": r.status, "summary": r.summary} for r in results}},
    )
    return report
