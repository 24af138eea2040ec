"""The built-in suites (the registry SUITES; their tasks live in data/eval/<suite>/*.yaml), and resolving the quality
tasks a robustness task names."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from weightwarden.errors import TaskError
from weightwarden.eval.base import PerturbationTask, Task
from weightwarden.eval.task import load_task

EvalTask = Task | PerturbationTask


@dataclass(frozen=True)
class Suite:
    """A built-in suite: a folder of task files under data/eval/ with a CARD.md saying where its items came from."""

    name: str
    description: str


# Listed in the order `--suite all` runs them; robustness last, as it asks quality's items again.
SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("quality", "knowledge, arithmetic, reading and instruction following, scored against known answers"),
        Suite("safety", "harmful requests that should be refused and alarming-looking safe ones that should not"),
        Suite("bias", "accuracy gaps between groups and preference for stereotyped sentences (BBQ-style, pairs)"),
        Suite("robustness", "quality's tasks asked again under typos, casing, whitespace and rewording (worst case)"),
    )
}


def builtin_root() -> Path:
    """The folder of the built-in suites (inside the installed package)."""
    return Path(__file__).resolve().parent.parent / "data" / "eval"


def refusal_labels_path(root: Path | None = None) -> Path:
    """The labelled responses the refusal detector's patterns were written against (its in-sample accuracy)."""
    return (root or builtin_root()) / "refusal_labels.jsonl"


def refusal_heldout_path(root: Path | None = None) -> Path:
    """Labels written without seeing the detector; its test half is the detector's out-of-sample measure."""
    return (root or builtin_root()) / "refusal_heldout.jsonl"


def suite_files(suite: str, root: Path | None = None) -> list[Path]:
    """The task files of one suite folder, sorted by name."""
    return sorted(((root or builtin_root()) / suite).glob("*.yaml"))


def available_suites(root: Path | None = None) -> list[str]:
    """The built-in suites that are installed (have at least one task file)."""
    return [s for s in SUITES if suite_files(s, root)]


def load_suite(name: str, root: Path | None = None) -> list[EvalTask]:
    """Every task of a built-in suite ("all": of every suite), with robustness tasks resolved."""
    names = tuple(SUITES) if name == "all" else (name,)
    if name != "all" and name not in SUITES:
        raise TaskError(f"unknown suite {name!r}: use one of {', '.join(SUITES)} or all, or --task PATH.yaml")
    tasks: list[EvalTask] = []
    for suite in names:
        files = suite_files(suite, root)
        if not files and name != "all":
            raise TaskError(
                f"the built-in suite {suite!r} is not installed (no task files in {(root or builtin_root()) / suite}): "
                "reinstall weightwarden, or pass your own tasks with --task PATH.yaml"
            )
        tasks.extend(load_task(f) for f in files)
    if not tasks:
        raise TaskError(f"no built-in suites are installed under {root or builtin_root()}: pass --task PATH.yaml")
    return resolve_tasks(tasks, root)


def resolve_tasks(tasks: Sequence[EvalTask], root: Path | None = None) -> list[EvalTask]:
    """Fill in the tasks each robustness task names: from the list itself, then from task files beside it
    (its folder and the sibling suite folder), then from the built-in suites. Duplicate ids are refused."""
    seen: dict[str, Path] = {}
    for t in tasks:
        if t.id in seen:
            raise TaskError(f"two tasks have the id {t.id}: {seen[t.id]} and {t.path}; rename one (field 'name')")
        seen[t.id] = t.path
    known = {t.id: t for t in tasks if isinstance(t, Task)}
    out: list[EvalTask] = []
    for t in tasks:
        if isinstance(t, PerturbationTask):
            base = []
            for wanted in t.tasks:
                found = known.get(wanted) or _find(wanted, t.path, root)
                if found is None:
                    raise TaskError(
                        f"{t.path}: field 'tasks' names {wanted}, which is neither loaded nor a built-in task"
                    )
                if found.kind == "pair_preference":
                    raise TaskError(f"{t.path}: field 'tasks' names {wanted}, a pair_preference task: it has no answer")
                base.append(found)
            t = dataclasses.replace(t, resolved=tuple(base))
        out.append(t)
    return out


def _find(task_id: str, near: Path, root: Path | None) -> Task | None:
    suite = task_id.split(".", 1)[0]
    folders = [near.parent, near.parent.parent / suite, (root or builtin_root()) / suite]
    for folder in dict.fromkeys(folders):
        for f in sorted(folder.glob("*.yaml")):
            try:
                task = load_task(f)
            except TaskError:
                continue
            if isinstance(task, Task) and task.id == task_id:
                return task
    return None
