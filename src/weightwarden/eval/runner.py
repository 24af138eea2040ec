"""Run tasks on a runtime into a ledger run of kind `eval`: one item per (task, item id), cached, resumable.

with Ledger(url) as ledger:
    result = run_eval(runtime, artifact.sha256, load_suite("quality"), ledger, limit=20)
    print(result.tasks[0].metrics["acc"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from weightwarden.errors import TaskError
from weightwarden.eval.base import EvalResult, ItemScore, Metric, PerturbationTask, Task, TaskResult
from weightwarden.eval.cache import CachedRuntime, GenerationRequest
from weightwarden.eval.metrics import task_metrics
from weightwarden.eval.perturb import perturb
from weightwarden.eval.refusal import refusal_detector_accuracy
from weightwarden.eval.scorers import score_generation
from weightwarden.eval.suites import EvalTask, refusal_heldout_path
from weightwarden.eval.task import render_prompt
from weightwarden.ledger import ItemRecord, Ledger, RunRecord
from weightwarden.runtimes.base import Runtime
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_differences, platform_info

RESUMED_ELSEWHERE = "eval.resumed_on_other_platform"  # event of a run resumed on another build or CPU
EVAL_FORMAT = 1  # bump when item scores change meaning, so old runs are never resumed into new ones
DEFAULT_BATCH_ITEMS = 16  # items per batch: 16 four-way multiple-choice items are 64 sequences
ProgressFn = Callable[[int, int, str], None]
"""Called after each item with (items done, items in all, task id); raising from it stops the run (resumable)."""

# Item fields the metrics need, copied into each stored item's input.
META_FIELDS = (
    "group",
    "pair_id",
    "context_condition",
    "stereotyped_choice",
    "unknown_choice",
    "should_refuse",
    "category",
)


def run_config(tasks: Sequence[EvalTask], limit: int | None, backend: str) -> dict[str, Any]:
    """What makes two eval runs the same run: the tasks (by content), the limit, the backend."""
    digests: dict[str, str] = {}
    for t in tasks:
        if isinstance(t, PerturbationTask):
            digests[t.id] = t.digest + "+" + "+".join(b.digest for b in t.resolved)
        else:
            digests[t.id] = t.digest
    return {"format": EVAL_FORMAT, "tasks": digests, "limit": limit, "backend": backend}


def limited(items: Sequence[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """At most limit items, evenly spaced through the file, so a sorted file (harmful first) still gives a mix."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def _items(task: Task, limit: int | None) -> list[dict[str, Any]]:
    return limited(task.items, limit)


def eval_work(tasks: Sequence[EvalTask], limit: int | None) -> list[tuple[EvalTask, Task, dict[str, Any]]]:
    """Every (task, underlying task, item) to run, in order."""
    out: list[tuple[EvalTask, Task, dict[str, Any]]] = []
    for t in tasks:
        if isinstance(t, PerturbationTask):
            if not t.resolved and t.tasks:
                raise TaskError(f"{t.path}: its tasks were not resolved: load it through load_suite or resolve_tasks")
            out.extend((t, base, item) for base in t.resolved for item in _items(base, limit))
        else:
            out.extend((t, t, item) for item in _items(t, limit))
    return out


def item_key(task_id: str, item_id: str) -> str:
    """The ledger key of an item of an eval run."""
    return f"{task_id}/{item_id}"


def _meta(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in META_FIELDS if k in item}


def _mc_requests(task: Task, item: dict[str, Any], prompt: str) -> list[tuple[str, str]]:
    return [(prompt, task.choice_prefix + str(c)) for c in item[task.choices_field]]


def _pair_requests(item: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["prefix"], " " + item["more"]), (item["prefix"], " " + item["less"])]


def _variant_prompts(spec: PerturbationTask, task: Task, item: dict[str, Any]) -> dict[str, str]:
    prompt = render_prompt(task, item)
    key = f"{task.id}/{item['id']}"
    return {
        name: prompt if name == "original" else perturb(prompt, name, spec.seed, key)
        for name in ("original", *spec.perturbations)
    }


def loglikelihood_requests(spec: EvalTask, task: Task, item: dict[str, Any]) -> list[tuple[str, str]]:
    """The (context, continuation) pairs scoring this item will ask for, so a batch of items can be scored at once."""
    if task.kind == "pair_preference":
        return _pair_requests(item)
    if task.kind != "multiple_choice":
        return []
    if isinstance(spec, PerturbationTask):
        return [r for text in _variant_prompts(spec, task, item).values() for r in _mc_requests(task, item, text)]
    return _mc_requests(task, item, render_prompt(task, item))


def generation_requests(spec: EvalTask, task: Task, item: dict[str, Any]) -> list[GenerationRequest]:
    """The greedy generations scoring this item will ask for, so a batch of items can be answered at once."""
    if task.kind != "generate":
        return []
    prompts = (
        list(_variant_prompts(spec, task, item).values())
        if isinstance(spec, PerturbationTask)
        else [render_prompt(task, item)]
    )
    return [(p, task.chat, task.max_tokens, tuple(task.stop)) for p in prompts]


def _score_mc(
    rt: CachedRuntime, task: Task, item: dict[str, Any], prompt: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    choices = [str(c) for c in item[task.choices_field]]
    lls = [rt.loglikelihood(context, continuation) for context, continuation in _mc_requests(task, item, prompt)]
    totals = [ll.total for ll in lls]
    # acc_norm divides by the choice's length in bytes, as lm-evaluation-harness does (it uses characters).
    per_byte = [ll.total / max(1, len(c.encode("utf-8"))) for ll, c in zip(lls, choices, strict=True)]
    pred = max(range(len(choices)), key=lambda i: totals[i])
    pred_norm = max(range(len(choices)), key=lambda i: per_byte[i])
    target = int(item[task.target_field])
    output = {"loglikelihoods": [round(t, 6) for t in totals], "pred": pred, "pred_norm": pred_norm}
    acc = int(pred == target)
    return output, {"acc": acc, "acc_norm": int(pred_norm == target), "primary": acc}


def _score_generate(
    rt: CachedRuntime, task: Task, item: dict[str, Any], prompt: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    assert task.scorer is not None
    answer = rt.generate(prompt, chat=task.chat, max_tokens=task.max_tokens, stop=task.stop)
    raw = score_generation(task.scorer, answer.text, item, task.target_field)
    correct = int(raw["correct"])
    # Item scores carry the task metric's own name, so a paired comparison can line items up by metric.
    if task.scorer.type == "refusal":
        scores = {"refused": int(raw["refused"]), "correct": correct, "primary": correct}
    else:
        scores = {"exact_match": correct, "primary": correct}
    output = {"text": answer.text, "finish_reason": answer.finish_reason, "completion_tokens": answer.completion_tokens}
    if "parsed" in raw:
        output["parsed"] = raw["parsed"]
    return output, scores


def _score_pair(rt: CachedRuntime, item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    more, less = (rt.loglikelihood(context, continuation) for context, continuation in _pair_requests(item))
    diff = more.total / max(1, len(more.tokens)) - less.total / max(1, len(less.tokens))
    prefers = int(more.total > less.total)
    output = {"more": round(more.total, 6), "less": round(less.total, 6)}
    return output, {"prefers_more": prefers, "diff_per_token": round(diff, 6), "primary": prefers}


def score_item(
    rt: CachedRuntime, task: Task, item: dict[str, Any], prompt: str | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Ask one item (with prompt in place of the rendered one, if given); return (input, output, scores)."""
    if task.kind == "pair_preference":
        output, scores = _score_pair(rt, item)
        return {"prefix": item["prefix"], "more": item["more"], "less": item["less"]}, output, scores
    prompt = render_prompt(task, item) if prompt is None else prompt
    inp: dict[str, Any] = {"prompt": prompt}
    if task.kind == "multiple_choice":
        inp |= {"choices": item[task.choices_field], "target": item[task.target_field]}
        output, scores = _score_mc(rt, task, item, prompt)
    else:
        inp["target"] = item.get(task.target_field, item.get("constraint"))
        output, scores = _score_generate(rt, task, item, prompt)
    return inp, output, scores


def _score_perturbed(
    rt: CachedRuntime, spec: PerturbationTask, task: Task, item: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    variants: dict[str, int] = {}
    prompts: dict[str, str] = {}
    answers: dict[str, Any] = {}
    for name, text in _variant_prompts(spec, task, item).items():
        _, output, scores = score_item(rt, task, item, text)
        variants[name] = int(scores["primary"])
        prompts[name] = text
        answers[name] = output.get("text", output.get("pred"))
    worst = min(variants.values())
    inp = {"task_of_item": task.id, "prompts": prompts}
    return inp, {"answers": answers}, {"variants": variants, "worst_case_acc": worst, "primary": worst}


def same_work(stored: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a stored run's config asks for the same work as config; where it ran (its platform) is not compared."""
    return {k: v for k, v in stored.items() if k != PLATFORM_KEY} == {
        k: v for k, v in config.items() if k != PLATFORM_KEY
    }


def _find_resumable(ledger: Ledger, model_hash: str, config: dict[str, Any]) -> RunRecord | None:
    for run in ledger.runs(model_hash=model_hash, kind="eval", limit=50):
        if same_work(run.config, config):
            return run if run.status != "ok" else None
    return None


@dataclass
class EvalStart:
    """A run opened for work: its id, every (task, underlying task, item) in order, and the keys already stored."""

    run_id: str
    work: list[tuple[EvalTask, Task, dict[str, Any]]]
    done_keys: set[str]
    notes: list[str]
    started: float


def check_eval_args(tasks: Sequence[EvalTask], limit: int | None, batch_size: int) -> None:
    """The argument checks both the in-process and the Ray runner make, before any model loads."""
    if limit is not None and limit < 1:
        raise TaskError(f"--limit must be at least 1, not {limit}")
    if batch_size < 0:
        raise TaskError(f"--batch-size must be 0 (no batching) or more, not {batch_size}")
    if not tasks:
        raise TaskError("no tasks to run: name a suite or pass --task PATH.yaml")


def begin_eval(
    ledger: Ledger,
    model_hash: str,
    tasks: Sequence[EvalTask],
    *,
    backend: str,
    here: dict[str, Any],
    limit: int | None,
    resume: str | None,
    auto_resume: bool,
    extra_config: dict[str, Any] | None,
    batch_generations: bool,
) -> EvalStart:
    """Open a new eval run, or reopen the one to resume; here: the platform the items will be scored on."""
    started = time.perf_counter()
    work = eval_work(tasks, limit)
    config = run_config(tasks, limit, backend) | (extra_config or {})
    if batch_generations:  # batched answers differ from one-at-a-time ones: never resume one kind into the other
        config["batch_generations"] = True
    run: RunRecord | None = None
    if resume is not None:
        run = ledger.run(resume)
        if run is None or run.kind != "eval":
            raise TaskError(f"no eval run {resume} in {ledger.url}: `warden eval` prints the run id it writes")
        if run.model_hash != model_hash:
            raise TaskError(f"eval run {resume} is of model {run.model_hash[:12]}, not {model_hash[:12]}")
        if not same_work(run.config, config):
            raise TaskError(
                f"eval run {resume} was made with other tasks, task files, limit or backend: "
                "run it with the same ones, or start afresh without --resume"
            )
    elif auto_resume:
        run = _find_resumable(ledger, model_hash, config)
    if run is not None:
        notes = _resumed_elsewhere(ledger, run, here)
        ledger.reopen_run(run.id)
        return EvalStart(run.id, work, {it.key for it in ledger.items(run.id)}, notes, started)
    run_id = ledger.start_run("eval", model_hash, config | {PLATFORM_KEY: here})
    return EvalStart(run_id, work, set(), [], started)


def work_key(spec: EvalTask, task: Task, item: dict[str, Any]) -> str:
    """The ledger key of one piece of work."""
    return item_key(spec.id, item_id(spec, task, item))


def score_items(
    rt: CachedRuntime,
    todo: Sequence[tuple[EvalTask, Task, dict[str, Any]]],
    *,
    prefetch: bool,
    batch_generations: bool = False,
) -> Iterator[ItemRecord]:
    """Score items in order, yielding each one's ledger record as it is done (shared by the in-process and Ray runs).

    prefetch: send the items' log-likelihood requests (and with batch_generations their greedy generations) to the
    runtime together first; generations otherwise run one at a time.
    """
    if prefetch and todo:
        rt.prefetch([r for s, t, it in todo for r in loglikelihood_requests(s, t, it)])
        if batch_generations:
            rt.prefetch_generations([r for s, t, it in todo for r in generation_requests(s, t, it)])
    for spec, task, item in todo:
        if isinstance(spec, PerturbationTask):
            inp, output, scores = _score_perturbed(rt, spec, task, item)
        else:
            inp, output, scores = score_item(rt, task, item)
        inp = {"task": spec.id, "item": item_id(spec, task, item), **_meta(item), **inp}
        yield ItemRecord(key=work_key(spec, task, item), input=inp, output=output, scores=scores)


def finish_eval(
    ledger: Ledger,
    model_hash: str,
    tasks: Sequence[EvalTask],
    start: EvalStart,
    *,
    requests: int,
    cached: int,
    resumed: int,
) -> EvalResult:
    """Every task's metrics from the run's stored items; mark the run ok with them as its summary."""
    stored = load_run_items(ledger, start.run_id)
    results = [task_metrics(t, list(stored.get(t.id, {}).values())) for t in tasks]
    heldout = refusal_heldout_path()
    for t, r in zip(tasks, results, strict=True):
        # The refusal detector's own accuracy goes with every task it scores (the safety suite's refusal task):
        # on the held-out test half, which was never used to write it.
        if isinstance(t, Task) and t.scorer is not None and t.scorer.type == "refusal" and heldout.is_file():
            r.metrics["refusal_detector_acc"] = refusal_detector_accuracy(heldout, split="test").accuracy
    result = EvalResult(
        run_id=start.run_id,
        model_hash=model_hash,
        tasks=results,
        requests=requests,
        cached=cached,
        resumed_items=resumed,
        seconds=time.perf_counter() - start.started,
        warnings=start.notes,
    )
    summary = {"tasks": [r.as_dict() for r in results], "seconds": round(result.seconds, 3)}
    ledger.finish_run(start.run_id, "ok", summary)
    return result


def run_eval(
    runtime: Runtime,
    model_hash: str,
    tasks: Sequence[EvalTask],
    ledger: Ledger,
    *,
    limit: int | None = None,
    resume: str | None = None,
    auto_resume: bool = True,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    extra_config: dict[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_ITEMS,
    batch_generations: bool = False,
) -> EvalResult:
    """Run tasks on runtime into a new eval run, or continue an unfinished one; return every task's metrics.

    model_hash: a model already recorded in the ledger (Ledger.upsert_model).
    resume: the id of an eval run to continue; else, with auto_resume, the latest unfinished eval run of the same
    model with the same config (tasks, limit, backend) is continued. Items it already holds are not run again.
    limit: at most this many items per task, evenly spaced through its file.
    batch_size: items whose log-likelihood requests are sent to the runtime in one batch; 0: each request alone.
      Batched log-likelihoods equal one-at-a-time ones (llama.cpp: exactly; transformers: to about 1e-5).
    batch_generations: also decode the chunk's greedy answers together (llama.cpp), about 2x faster; but a batch
      changes the shapes of llama.cpp's sums, so near ties can go the other way and many answers differ in their
      wording from one-at-a-time answers (19 of 72 identical in bench/eval_batching.py), and an answer then
      depends on which items shared its batch (a resumed run can differ from an uninterrupted one). Off by default.
    """
    check_eval_args(tasks, limit, batch_size)
    here = platform_info(threads=runtime.info.details.get("threads")).as_dict()
    start = begin_eval(
        ledger,
        model_hash,
        tasks,
        backend=runtime.info.name,
        here=here,
        limit=limit,
        resume=resume,
        auto_resume=auto_resume,
        extra_config=extra_config,
        batch_generations=batch_generations,
    )
    run_id, work, done_keys = start.run_id, start.work, start.done_keys
    rt = CachedRuntime(runtime, model_hash, ledger if use_cache else None, batch_generations=batch_generations)
    total = len(work)
    resumed = added = 0
    try:
        for first in range(0, total, batch_size or 1):
            chunk = work[first : first + (batch_size or 1)]
            todo = [w for w in chunk if work_key(*w) not in done_keys]
            # The chunk's log-likelihood requests go to the runtime together; generations run one at a time.
            records = score_items(rt, todo, prefetch=bool(batch_size), batch_generations=batch_generations)
            for done, w in enumerate(chunk, start=first + 1):
                if work_key(*w) in done_keys:
                    resumed += 1
                else:
                    ledger.add_items(run_id, [next(records)])
                    added += 1
                if progress is not None:
                    progress(done, total, w[0].id)
    except BaseException:
        ledger.finish_run(run_id, "interrupted", {"items_stored": len(done_keys) + added, "items": total})
        raise
    return finish_eval(ledger, model_hash, tasks, start, requests=rt.calls, cached=rt.hits, resumed=resumed)


def _resumed_elsewhere(ledger: Ledger, run: RunRecord, here: dict[str, Any]) -> list[str]:
    """Warn (and record an event) when a run is resumed on another build, CPU or library versions than it began on.

    Resuming is allowed: the items stored so far stay valid evidence of where they ran, and the event says where the
    rest ran. A run made before platforms were recorded has nothing to compare with and is resumed silently.
    """
    stored = run.config.get(PLATFORM_KEY)
    if not isinstance(stored, dict):
        return []
    differs = platform_differences(stored, here, backend=run.config.get("backend"))
    if not differs:
        return []
    ledger.add_event(RESUMED_ELSEWHERE, {PLATFORM_KEY: here, "differs": differs}, run.id)
    return [
        f"eval run {run.id} began on another machine or build and is resumed here ({'; '.join(differs)}): "
        "its items now come from both; scores may differ in the last bits and greedy answers at near ties"
    ]


def item_id(spec: EvalTask, task: Task, item: dict[str, Any]) -> str:
    """An item's id within its task; a robustness item is named by the quality task it comes from too."""
    return f"{task.id}/{item['id']}" if isinstance(spec, PerturbationTask) else str(item["id"])


def load_run_items(ledger: Ledger, run_id: str) -> dict[str, dict[str, ItemScore]]:
    """Every stored item of an eval run, as {task id: {item id: ItemScore}}, in the order they were stored."""
    out: dict[str, dict[str, ItemScore]] = {}
    for rec in ledger.items(run_id):
        inp = rec.input if isinstance(rec.input, dict) else {}
        task_id = str(inp.get("task") or rec.key.split("/", 1)[0])
        iid = str(inp.get("item") or rec.key.split("/", 1)[-1])
        output = rec.output if isinstance(rec.output, dict) else {"value": rec.output}
        out.setdefault(task_id, {})[iid] = ItemScore(task_id, iid, inp, output, dict(rec.scores))
    return out


def load_run_result(ledger: Ledger, run_id: str) -> list[TaskResult]:
    """The task metrics a finished eval run recorded in its summary (no model needed)."""
    run = ledger.run(run_id)
    if run is None or run.kind != "eval":
        raise TaskError(f"no eval run {run_id} in {ledger.url}: `warden eval` prints the run id it writes")
    if run.status != "ok" or not run.summary:
        raise TaskError(f"eval run {run_id} is {run.status}, not finished: run `warden eval --resume {run_id}`")
    return [
        TaskResult(
            t["task"],
            t["suite"],
            t["kind"],
            int(t["n"]),
            {k: Metric.from_dict(m) for k, m in t["metrics"].items()},
            dict(t.get("extra", {})),
        )
        for t in run.summary["tasks"]
    ]


def latest_eval_run(
    ledger: Ledger, model_hash: str, tasks: Sequence[EvalTask], limit: int | None, backend: str
) -> RunRecord | None:
    """The newest finished eval run of this model with exactly these tasks, limit and backend, if any."""
    config = run_config(tasks, limit, backend)
    for run in ledger.runs(model_hash=model_hash, kind="eval", limit=100):
        if run.status == "ok" and same_work(run.config, config):
            return run
    return None
