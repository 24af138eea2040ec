"""Load and check task files (YAML beside a JSONL data file) and render an item's prompt with its few-shot examples."""

from __future__ import annotations

import hashlib
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from weightwarden.errors import TaskError
from weightwarden.eval.base import (
    DEFAULT_METRICS,
    KNOWN_METRICS,
    PERTURBATIONS,
    TASK_KINDS,
    PerturbationTask,
    ScorerSpec,
    Task,
)
from weightwarden.eval.scorers import SCORERS

_TASK_KEYS = {
    "name",
    "suite",
    "kind",
    "data",
    "description",
    "template",
    "choices_field",
    "target_field",
    "choice_prefix",
    "chat",
    "max_tokens",
    "stop",
    "scorer",
    "fewshot",
    "metrics",
}
_PERTURBATION_KEYS = {"name", "suite", "kind", "tasks", "perturbations", "seed", "description"}


@lru_cache(maxsize=256)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(source)


def render_template(source: str, item: dict[str, Any]) -> str:
    """Render a task template over an item's fields, in a sandbox; a missing field is an error, not ''."""
    return str(_compile(source).render(**item))


def load_task(path: Path | str) -> Task | PerturbationTask:
    """Read and check a task file; every mistake raises TaskError naming the file and the field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskError(f"cannot read task file {path} ({exc.strerror or exc}): check the path") from None
    try:
        spec = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise TaskError(f"{path} is not valid YAML ({exc}): fix the syntax") from None
    if not isinstance(spec, dict):
        raise TaskError(f"{path} must hold a YAML mapping with name, kind, data and template")
    where = str(path)
    kind = spec.get("kind")
    if kind == "perturbation":
        return _load_perturbation(path, spec, raw)
    if kind not in TASK_KINDS:
        raise TaskError(
            f"{where}: field 'kind' is {kind!r}; use one of {', '.join(TASK_KINDS)} (or perturbation, for robustness)"
        )
    if unknown := sorted(set(spec) - _TASK_KEYS):
        raise TaskError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(_TASK_KEYS))}")
    name = _word(spec, "name", where)
    suite = _word(spec, "suite", where, default="custom")
    data_name = spec.get("data")
    if not isinstance(data_name, str) or not data_name:
        raise TaskError(f"{where}: field 'data' must name the JSONL file of items, relative to the task file")
    data_path = (path.parent / data_name).resolve()
    if not data_path.is_file():
        raise TaskError(f"{where}: field 'data' names {data_name}, but {data_path} does not exist")
    data = data_path.read_bytes()
    items = _read_items(data_path, data)
    template = spec.get("template", "")
    if not isinstance(template, str) or (kind != "pair_preference" and not template):
        raise TaskError(f"{where}: field 'template' must be a Jinja template string over the item's fields")
    try:
        _compile(template)
    except TemplateError as exc:
        raise TaskError(f"{where}: field 'template' does not compile ({exc}): fix its Jinja syntax") from None

    scorer = _scorer(spec, kind, where)
    fewshot = spec.get("fewshot") or {}
    if not isinstance(fewshot, dict) or set(fewshot) - {"n", "seed"}:
        raise TaskError(f"{where}: field 'fewshot' must be a mapping like {{n: 3, seed: 1234}}")
    n_shot = _int(fewshot.get("n", 0), "fewshot.n", where, low=0)
    if n_shot and n_shot >= len(items):
        raise TaskError(f"{where}: field 'fewshot.n' is {n_shot}, but the data has only {len(items)} items")
    stop = spec.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise TaskError(f"{where}: field 'stop' must be a list of non-empty strings")
    task = Task(
        name=name,
        suite=suite,
        kind=kind,
        path=path,
        items=tuple(items),
        template=template,
        description=str(spec.get("description", "")),
        choices_field=_word(spec, "choices_field", where, default="choices"),
        target_field=_word(spec, "target_field", where, default="answer"),
        choice_prefix=str(spec.get("choice_prefix", " ")),
        chat=bool(spec.get("chat", True)),
        max_tokens=_int(spec.get("max_tokens", 64), "max_tokens", where, low=1),
        stop=tuple(stop),
        scorer=scorer,
        fewshot_n=n_shot,
        fewshot_seed=_int(fewshot.get("seed", 1234), "fewshot.seed", where),
        metrics=_metrics(spec, kind, scorer, where),
        digest=hashlib.sha256(raw + b"\0" + data).hexdigest(),
    )
    for item in task.items:
        _check_item(task, item, where)
    return task


def _load_perturbation(path: Path, spec: dict[str, Any], raw: bytes) -> PerturbationTask:
    where = str(path)
    if unknown := sorted(set(spec) - _PERTURBATION_KEYS):
        raise TaskError(f"{where}: unknown field {unknown[0]!r}; known: {', '.join(sorted(_PERTURBATION_KEYS))}")
    tasks = spec.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and "." in t for t in tasks):
        raise TaskError(f"{where}: field 'tasks' must list task ids such as quality.world_mc")
    perturbations = spec.get("perturbations") or list(PERTURBATIONS)
    if not isinstance(perturbations, list) or (bad := [p for p in perturbations if p not in PERTURBATIONS]):
        raise TaskError(
            f"{where}: field 'perturbations' has {bad[0] if bad else perturbations!r}; use {', '.join(PERTURBATIONS)}"
        )
    return PerturbationTask(
        name=_word(spec, "name", where),
        suite=_word(spec, "suite", where, default="robustness"),
        path=path,
        tasks=tuple(tasks),
        perturbations=tuple(perturbations),
        seed=_int(spec.get("seed", 1234), "seed", where),
        description=str(spec.get("description", "")),
        digest=hashlib.sha256(raw).hexdigest(),
    )


def _word(spec: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{where}: field {key!r} must be a non-empty string")
    return value


def _int(value: Any, key: str, where: str, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        floor = f" of at least {low}" if low is not None else ""
        raise TaskError(f"{where}: field {key!r} is {value!r}; it must be a whole number{floor}")
    return value


def _scorer(spec: dict[str, Any], kind: str, where: str) -> ScorerSpec | None:
    raw = spec.get("scorer")
    if kind != "generate":
        if raw is not None:
            raise TaskError(f"{where}: field 'scorer' is only for kind generate, not {kind}")
        return None
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or raw.get("type") not in SCORERS:
        got = raw.get("type") if isinstance(raw, dict) else raw
        raise TaskError(f"{where}: field 'scorer.type' is {got!r}; use one of {', '.join(SCORERS)}")
    if unknown := sorted(set(raw) - {"type", "tolerance", "pattern"}):
        raise TaskError(f"{where}: unknown field 'scorer.{unknown[0]}'; known: type, tolerance, pattern")
    tolerance = raw.get("tolerance", 1e-6)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise TaskError(f"{where}: field 'scorer.tolerance' must be a number >= 0, not {tolerance!r}")
    pattern = raw.get("pattern")
    if pattern is not None:
        import re

        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise TaskError(f"{where}: field 'scorer.pattern' is not a regular expression ({exc})") from None
    return ScorerSpec(str(raw["type"]), float(tolerance), None if pattern is None else str(pattern))


def _metrics(spec: dict[str, Any], kind: str, scorer: ScorerSpec | None, where: str) -> tuple[str, ...]:
    raw = spec.get("metrics")
    if raw is None:
        return SCORERS[scorer.type].default_metrics if scorer is not None else DEFAULT_METRICS[kind]
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        raise TaskError(f"{where}: field 'metrics' must be a list of metric names")
    for m in raw:
        if m.split(":", 1)[0] not in KNOWN_METRICS:
            raise TaskError(f"{where}: field 'metrics' has unknown metric {m!r}; known: {', '.join(KNOWN_METRICS)}")
    return tuple(raw)


def _read_items(data_path: Path, data: bytes) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{data_path}:{number}: not a JSON object ({exc.msg}): one item per line") from None
        if not isinstance(item, dict):
            raise TaskError(f"{data_path}:{number}: an item must be a JSON object, not {type(item).__name__}")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise TaskError(
                f"{data_path}:{number}: the item has no field 'id' (a non-empty string): give every item one"
            )
        if item_id in seen:
            raise TaskError(f"{data_path}:{number}: duplicate id {item_id!r} (first on line {seen[item_id]})")
        seen[item_id] = number
        items.append(item)
    if not items:
        raise TaskError(f"{data_path} holds no items: write one JSON object per line")
    return items


def _check_item(task: Task, item: dict[str, Any], where: str) -> None:
    at = f"{where}: item {item['id']!r}"
    if task.kind == "pair_preference":
        for key in ("more", "less", "prefix"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise TaskError(f"{at} needs field {key!r} (a non-empty string) for pair_preference")
        return
    try:
        render_template(task.template, item)
    except SecurityError as exc:
        raise TaskError(f"{at}: field 'template' tried an unsafe operation ({exc})") from None
    except TemplateError as exc:
        raise TaskError(f"{at}: field 'template' fails to render ({exc}): add the field or fix the template") from None
    except Exception as exc:  # a template can raise anything (a division by zero, a bad filter argument)
        raise TaskError(f"{at}: field 'template' fails to render ({type(exc).__name__}: {exc})") from None
    if task.kind == "multiple_choice":
        choices = item.get(task.choices_field)
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
            raise TaskError(f"{at}: field {task.choices_field!r} must be a list of at least two non-empty strings")
        target = item.get(task.target_field)
        if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < len(choices):
            raise TaskError(
                f"{at}: field {task.target_field!r} is {target!r}; it must be the index of the right choice "
                f"(0 to {len(choices) - 1})"
            )
        for key in ("stereotyped_choice", "unknown_choice"):
            value = item.get(key)
            if value is not None and (not isinstance(value, int) or not 0 <= value < len(choices)):
                raise TaskError(
                    f"{at}: field {key!r} is {value!r}; it must be a choice index (0 to {len(choices) - 1})"
                )
        return
    spec = task.scorer
    assert spec is not None
    problem = SCORERS[spec.type].check_item(spec, item, task.target_field)
    if problem is not None:
        raise TaskError(f"{at}: {problem}")


def fewshot_examples(task: Task, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The task's n few-shot items for this item: drawn from the same file, never the item itself, same every run."""
    if task.fewshot_n <= 0:
        return []
    rng = random.Random(f"{task.fewshot_seed}:{task.id}:{item['id']}")
    pool = [it for it in task.items if it["id"] != item["id"]]
    return rng.sample(pool, task.fewshot_n)


def _answer_text(task: Task, item: dict[str, Any]) -> str:
    if task.kind == "multiple_choice":
        return task.choice_prefix + str(item[task.choices_field][item[task.target_field]])
    target = item.get(task.target_field)
    if isinstance(target, list):
        target = target[0] if target else ""
    return "" if target is None else " " + str(target)


def render_prompt(task: Task, item: dict[str, Any]) -> str:
    """The item's prompt: each few-shot example with its answer, a blank line apart, then the item's own prompt."""
    shots = [render_template(task.template, ex) + _answer_text(task, ex) for ex in fewshot_examples(task, item)]
    return "\n\n".join([*shots, render_template(task.template, item)])
